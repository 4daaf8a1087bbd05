"""What every task provides: loading, the text later prompts use, and scoring."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from autoact.errors import DataError
from autoact.io import iter_records, record_error


@dataclass
class Example:
    """One question of a task, in the shape every stage uses."""

    id: str
    question: str              # the full text the agent sees (ScienceQA: with its Options line)
    answer: str                # the gold answer as written in records
    level: str | None = None   # easy/medium/hard, grade1-4, ...
    fields: dict = field(default_factory=dict)   # task-specific: caption, orc, choices, context...


@dataclass(frozen=True)
class Score:
    correct: bool      # exact match (HotpotQA normalisation) / option match (ScienceQA)
    reward: float      # token F1 (HotpotQA) / 0 or 1 (ScienceQA)


class Task:
    """Base class of a task. Subclasses set the class attributes and implement the methods."""

    name: str = ""                 # canonical spelling, e.g. "HotpotQA"
    description: str = ""          # used by the self-instruct and tool-selection prompts
    levels: tuple[str, ...] = ()   # evaluation splits, in report order
    answer_type: str = "free"      # "free" (exact match / F1) or "choice" (multiple choice)
    multimodal: bool = False       # records carry an image's caption and OCR text
    level_labels: dict[str, str] = {}
    #: how the agents' instruction addresses them ("a good multi-hop question answerer")
    agent_role: str = "a good question answerer"
    #: the example in the instruction's Finish usage
    finish_example: str = "Finish[Richard Nixon]"
    #: the tools used when a stage is given no tool-selection file
    default_tools: tuple[str, ...] = ()
    #: the task's own retrieval corpus (JSONL of {title, text}), or None: Wikipedia
    corpus: Path | None = None
    #: the evaluation questions: a file, or a folder with one file per level (None: none shipped)
    eval_path: Path | None = None
    #: the self-instruct seed examples, a JSON list of {"Question", "Answer"} (None: none shipped)
    seed_path: Path | None = None

    #: what the error says a record's "Answer" must be
    answer_hint: str = "a string"

    def make_example(self, rec: dict, question: str, answer: str, path: str | Path, line: int,
                     level: str | None) -> Example:
        """One record (question and answer already checked to be strings) -> an Example."""
        raise NotImplementedError

    def load_file(self, path: str | Path, level: str | None = None) -> list[Example]:
        """Records of a JSON list or JSONL file; ``Question``/``question`` and
        ``Answer``/``answer`` are both accepted. Errors name the file and line."""
        return self.examples_from(iter_records(path), path, level)

    def examples_from(self, records: Iterable[tuple[int, dict]], path: str | Path, level: str | None,
                      seen: set[str] | None = None) -> list[Example]:
        """``(line, record)`` pairs -> Examples, as :meth:`load_file` reads a file's records
        (``path`` and ``line`` name a record in errors; ``seen`` the ids already taken)."""
        out: list[Example] = []
        seen = set() if seen is None else seen
        for line, rec in records:
            q = rec.get("Question", rec.get("question"))
            a = rec.get("Answer", rec.get("answer"))
            if not isinstance(q, str) or not q.strip():
                raise record_error(path, line, 'expected an object with "Question" (a non-empty string)')
            if not isinstance(a, str) or not a.strip():
                raise record_error(path, line, f'expected an object with "Answer" ({self.answer_hint})')
            ex = self.make_example(rec, q.strip(), a.strip(), path, line, level)
            ex.id = unique_id(ex.id, seen, line)
            out.append(ex)
        return out

    #: file names (``{level}`` filled in) that may hold a level inside an evaluation folder
    level_files: tuple[str, ...] = ("{level}.jsonl", "{level}.json")
    #: other names of levels (the reference's file names), alias -> level
    level_aliases: dict[str, str] = {}

    def canonical_level(self, name: str) -> str:
        """``name`` or the level it is an alias of."""
        return self.level_aliases.get(name, name)

    def level_names(self, level: str) -> list[str]:
        """A level's own name, then its aliases."""
        return [level] + [a for a, lv in self.level_aliases.items() if lv == level]

    def level_file(self, folder: Path, level: str) -> Path | None:
        """The file that holds ``level`` inside an evaluation folder, or ``None``."""
        for name in self.level_names(level):
            for pattern in self.level_files:
                f = folder / pattern.format(level=name)
                if f.is_file():
                    return f
        return None

    def score(self, prediction: str | None, example: Example) -> Score:
        raise NotImplementedError

    # -- rows of a Hugging Face dataset (``--task_path hf:...``, autoact.tasks.hub) -------------
    def hub_columns(self, levels: tuple[str, ...]) -> tuple[str, ...]:
        """The fields a dataset's rows must have for a task with ``levels``."""
        return ("question", "answer") + (("level",) if len(levels) > 1 else ())

    def hub_record(self, row: dict, where: str) -> dict:
        """One dataset row -> a record as the task's shipped files hold it (read on by
        :meth:`make_example`); errors name ``where`` (the dataset and row) and the field."""
        from autoact.tasks.hub import text_field
        rec = {"question": text_field(row, "question", where)}
        answer = row.get("answer")
        rec["answer"] = str(answer) if isinstance(answer, (int, float)) and not isinstance(answer, bool) \
            else text_field(row, "answer", where)
        return {**row, **rec}

    def hub_level(self, rec: dict, levels: tuple[str, ...], where: str) -> str:
        """The level of a converted record: its ``level`` field (a task with one level: that one)."""
        level = rec.get("level")
        if level is None or level == "":
            if len(levels) == 1:
                return levels[0]
            raise DataError(f"{where}: no 'level' field (levels are {', '.join(levels)})")
        level = self.canonical_level(str(level))
        if level not in levels:
            raise DataError(f"{where}: field 'level' is {level!r}, none of the levels {', '.join(levels)}")
        return level

    # -- shared -------------------------------------------------------------------------------
    def load_levels(self, path: str | Path, levels: list[str] | None = None) -> dict[str, list[Example]]:
        """Load an evaluation folder (one file per level) or a single file (one level named
        after the file), or a Hugging Face dataset (``hf:NAME[:CONFIG]:SPLIT``: see
        :mod:`autoact.tasks.hub`). ``levels`` picks a subset, in the order given."""
        from autoact.tasks.hub import is_hub_path, load_hub_levels
        if is_hub_path(path):
            return load_hub_levels(self, path, [self.canonical_level(lv) for lv in levels] if levels else None)
        p = Path(path)
        if not p.exists():
            raise DataError(f"{p}: no such file or folder")
        if p.suffix in (".joblib", ".pkl", ".pickle"):
            raise DataError(f"{p}: pickled files are never loaded (unpickling can run code); the "
                            f"shipped JSONL files hold the same questions")
        levels = [self.canonical_level(lv) for lv in levels] if levels else None
        if p.is_file():
            level = self.canonical_level(self.level_of(p))
            if levels and level not in levels:
                raise DataError(f"{p}: holds level {level!r}, not {', '.join(levels)}")
            return {level: self.load_file(p, level)}
        wanted = list(levels) if levels else list(self.levels)
        unknown = [lv for lv in wanted if lv not in self.levels]
        if unknown:
            raise DataError(f"unknown level(s) {', '.join(unknown)} for {self.name}; "
                            f"levels are {', '.join(self.levels)}")
        out: dict[str, list[Example]] = {}
        for lv in wanted:
            f = self.level_file(p, lv)
            if f is None:
                if levels:
                    raise DataError(f"{p}: no file for level {lv!r}")
                continue
            out[lv] = self.load_file(f, lv)
        if not out:
            raise DataError(f"{p}: no {self.name} level files found (expected one of: "
                            f"{', '.join(self.levels)})")
        return out

    def level_of(self, path: Path) -> str:
        return path.stem


def unique_id(candidate: str, seen: set[str], line: int) -> str:
    """``candidate``, or ``candidate-<line>`` if an earlier record of the file took it."""
    ex_id = candidate if candidate not in seen else f"{candidate}-{line}"
    seen.add(ex_id)
    return ex_id
