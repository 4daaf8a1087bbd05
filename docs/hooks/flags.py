"""MkDocs hook: the flag tables of the docs, generated from the scripts' own parsers at build time.

A page line ``<!-- flags: NAME -->`` becomes a table (flag, default, help) of the command NAME's
argparse parser, so the docs cannot drift from ``--help``. NAME is a stage front end,
``autoact/commands/<NAME>.py`` with ``make_parser()`` (self_instruct, tool_selection,
trajectories, filtering, evaluation, report, analysis, build_corpus), ``pipeline``
(``autoact/pipeline.py``) or ``train``: transformers' ``HfArgumentParser`` over the training
dataclasses, whose rows are kept in the user cache under the key of the training stage's own
cached flag table (library versions and sources: ``autoact.stages.training.cache_key``), since
building that parser imports transformers (seconds).

Registered in ``mkdocs.yml`` under ``hooks:``; ``tests/test_docs.py`` renders every page with
:func:`render` and checks each parser's flags are in it.
"""

from __future__ import annotations

import argparse
import enum
import html
import importlib
import json
import re
from pathlib import Path

MARKER = re.compile(r"^<!--\s*flags:\s*([a-z_]+)\s*-->[ \t]*$", re.MULTILINE)

#: NAME -> (the seed command, as the user types it) for the table's caption
COMMANDS = {
    "self_instruct": "python Self_Instruct/data_generation.py",
    "tool_selection": "python Self_Planning/Tool_Selection/tool_selected.py",
    "trajectories": "python Self_Planning/Traj_Syn/run_task.py",
    "filtering": "python Scripts/filter_data.py",
    "train": "python Self_Planning/Train/train_lora.py",
    "evaluation": "python Self_Planning/Group_Planning/run_eval.py",
    "report": "python Scripts/report.py",
    "analysis": "python Scripts/analysis.py",
    "build_corpus": "python Scripts/build_corpus.py",
    "pipeline": "python -m autoact.pipeline",
}


def make_parser(name: str) -> argparse.ArgumentParser:
    """The parser of command NAME, as its script builds it."""
    if name not in COMMANDS:
        raise KeyError(f"no command {name!r} (known: {', '.join(COMMANDS)})")
    if name == "pipeline":
        from autoact import pipeline
        return pipeline.make_parser()
    if name == "train":
        from autoact.train.lora import make_parser as train_parser
        return train_parser()
    return importlib.import_module(f"autoact.commands.{name}").make_parser()


def _default(action: argparse.Action) -> str:
    value = action.default
    if value is argparse.SUPPRESS or value is None or isinstance(action, argparse._HelpAction):
        return ""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    if isinstance(value, str) and value == "":
        return '""'
    return str(value)


def _expand(action: argparse.Action, prog: str) -> str:
    """``action.help`` with its ``%(...)s`` fields filled in as argparse fills them, without the
    `` (default: ...)`` some formatters append (the table has its own column)."""
    params = {k: v for k, v in dict(vars(action), prog=prog).items() if v is not argparse.SUPPRESS}
    params = {k: getattr(v, "__name__", v) for k, v in params.items()}
    if params.get("choices") is not None:
        params["choices"] = ", ".join(map(str, params["choices"]))
    try:
        return action.help % params
    except (KeyError, TypeError, ValueError):
        return action.help


def parser_rows(parser: argparse.ArgumentParser) -> list[dict]:
    """One row per action: ``options`` (option strings; empty for a positional), ``invocation``
    (the metavar part as ``--help`` shows it), ``default``, ``required``, ``help``
    (``%(default)s`` expanded) and ``hidden`` (left out of ``--help``)."""
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        hidden = action.help == argparse.SUPPRESS
        if action.option_strings:
            metavar = "" if action.nargs == 0 else formatter._format_args(
                action, formatter._get_default_metavar_for_optional(action))
        else:
            metavar = formatter._format_args(action, formatter._get_default_metavar_for_positional(action))
        rows.append({
            "options": list(action.option_strings),
            "invocation": metavar,
            "default": _default(action),
            "required": bool(action.required and (action.option_strings or action.nargs not in ("*", "?"))),
            "help": "" if hidden or not action.help else _expand(action, formatter._prog),
            "hidden": hidden,
        })
    return rows


def rows(name: str) -> list[dict]:
    """The rows of command NAME's parser; ``train``'s come from the user cache while its key (the
    training stage's: library versions and sources; and this file) is unchanged."""
    if name != "train":
        return parser_rows(make_parser(name))
    from autoact.io import cached_text
    from autoact.stages import training
    key = [*training.cache_key(), Path(__file__).read_text(encoding="utf-8")]   # + this renderer
    text = cached_text("train-flag-docs", key,
                       lambda: json.dumps(parser_rows(make_parser("train"))))
    try:
        return json.loads(text)
    except ValueError:             # a damaged cache file: the rows from the parser itself
        return parser_rows(make_parser("train"))


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def escape(text: str) -> str:
    """Text for one Markdown table cell: whitespace (newlines included) collapsed, HTML and the
    characters Markdown or a table would read (``\\ ` * _ [ ] | #``) escaped; text between a
    pair of backticks (transformers' help marks names so) becomes a code span."""
    parts = " ".join(text.split()).split("`")
    if len(parts) % 2 == 0:                       # an unpaired backtick: all of it is text
        parts = ["`".join(parts)]
    return "".join(code(part) if i % 2 else _MD_SPECIAL.sub(r"\\\1", html.escape(part, quote=False))
                   for i, part in enumerate(parts))


def code(text: str) -> str:
    """``text`` as a code span that survives inside a table cell (Python-Markdown's tables do not
    split cells at a pipe inside a code span)."""
    text = " ".join(text.split())
    if not text:
        return ""
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def metavar(text: str) -> str:
    """The value part of a flag (``N``, ``{a,b,c}``) in italics, breakable after each comma of
    a long list of choices (the flag itself, a code span, is kept on one line by the site's
    stylesheet)."""
    return "<em>" + escape(text).replace(",", ",<wbr>") + "</em>"


def flag_table(name: str) -> str:
    """The Markdown table of command NAME's flags (as ``--help`` lists them), with the flags it
    accepts but does not list named under it."""
    lines = [f"Generated from the parser of `{COMMANDS[name]}` when the docs were built: the "
             f"flags and help texts its `--help` prints.", "",
             "| Flag | Default | Help |", "|---|---|---|"]
    hidden = []
    for row in rows(name):
        if row["hidden"]:
            hidden.append(row)
            continue
        if row["options"]:
            flag = ", ".join(code(o) for o in row["options"])
            if row["invocation"]:
                flag += " " + metavar(row["invocation"])
        else:
            flag = metavar(row["invocation"]) + " (positional)"
        default = "required" if row.get("required") else code(row["default"])
        lines.append(f"| {flag} | {default} | {escape(row['help'])} |")
    if hidden:
        names = ", ".join(", ".join(code(o) for o in r["options"])
                          + (f" (default {code(r['default'])})" if r["default"] else "") for r in hidden)
        lines += ["", f"Also accepted, though `--help` does not list them: {names}."]
    return "\n".join(lines) + "\n"


def render(markdown: str) -> str:
    """``markdown`` with every ``<!-- flags: NAME -->`` line replaced by NAME's table."""
    return MARKER.sub(lambda m: flag_table(m.group(1)), markdown)


def on_page_markdown(markdown: str, page=None, config=None, files=None, **_) -> str:
    return render(markdown)
