"""The Table Verbalizer tool: turn a small table into one plain sentence per row.

:func:`verbalize_table` reads a Markdown pipe table (``| a | b |`` rows, with or without the
``|---|---|`` separator row) or CSV (comma or tab separated, read with :mod:`csv`, so quoted
fields may hold commas); the first row is the header. Each data row becomes
``Row 1: Name is Alice, Age is 30.``, leaving out empty cells.

Input that is not a table (one line, or a CSV whose header has fewer than two columns) gives the
observation starting with :data:`PARSE_ERROR`.
"""

from __future__ import annotations

import csv
import io
import re

PARSE_ERROR = "Could not parse a table"
_EXPECTED = ": expected a header row and at least one data row (CSV or Markdown)"

_FENCE = re.compile(r"^\s*```[^\n]*\n(.*?)(?:\n\s*```\s*)?$", re.S)
_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_PIPE = re.compile(r"(?<!\\)\|")


def verbalize_table(table: str, max_rows: int = 50) -> str:
    """One sentence per data row of ``table`` (Markdown or CSV), at most ``max_rows`` of them."""
    m = _FENCE.match(table)
    text = (m.group(1) if m else table).strip("\n")
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return PARSE_ERROR + _EXPECTED
    rows = _markdown_rows(lines) if _is_markdown(lines) else _csv_rows(text)
    if rows is None:
        return PARSE_ERROR + _EXPECTED
    header, data = rows[0], rows[1:]
    sentences = []
    for row in data:
        facts = [f"{_column(header, i)} is {cell}" for i, cell in enumerate(row) if cell]
        if facts:
            sentences.append(f"Row {len(sentences) + 1}: {', '.join(facts)}.")
    if not sentences:
        return PARSE_ERROR + _EXPECTED
    if len(sentences) > max_rows:
        rest = len(sentences) - max_rows
        sentences = sentences[:max_rows] + [f"... ({rest} more rows)"]
    return "\n".join(sentences)


def _column(header: list[str], i: int) -> str:
    return header[i] if i < len(header) and header[i] else f"Column {i + 1}"


def _is_markdown(lines: list[str]) -> bool:
    if "|" in lines[0] and _SEPARATOR.match(lines[1]) and "-" in lines[1]:
        return True
    return all(line.strip().startswith("|") for line in lines)


def _markdown_rows(lines: list[str]) -> list[list[str]] | None:
    rows = []
    for line in lines:
        if _SEPARATOR.match(line) and "-" in line:
            continue
        body = line.strip()
        body = body[1:] if body.startswith("|") else body
        body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
        rows.append([cell.strip().replace("\\|", "|") for cell in _PIPE.split(body)])
    return rows if len(rows) >= 2 else None


def _csv_rows(text: str) -> list[list[str]] | None:
    first = text.lstrip("\n").split("\n", 1)[0]
    delimiter = "\t" if "\t" in first else ","
    try:
        rows = [[cell.strip() for cell in row]
                for row in csv.reader(io.StringIO(text), delimiter=delimiter,
                                      skipinitialspace=True)]
    except csv.Error:
        return None
    rows = [row for row in rows if any(row)]
    if len(rows) < 2 or len(rows[0]) < 2 or not any(len(row) >= 2 for row in rows[1:]):
        return None
    return rows
