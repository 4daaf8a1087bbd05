"""Tasks from a spec file (YAML or JSON): a new task for every stage without code.

    name: Arithmetic                       # required; the --task / --dataset_name value
    description: Arithmetic word problems ...   # required; shown to the Meta-Agent
    answer_type: free                      # free (exact match + token F1) or choice (multiple choice)
    seed_examples:                         # or seed_path: a JSON list; at least one
      - {Question: "...", Answer: "..."}
    tools: [Calculator]                    # optional tool hints: the default tool selection
    eval_path: arithmetic_eval.jsonl       # optional: a file or a folder with one file per level
    levels: [test]                         # optional: level names (default: from eval_path)
    corpus: articles.jsonl                 # optional: the task's own retrieval corpus, JSONL of
                                           # {title, text}: Retrieve/Lookup/BingSearch read it
                                           # unless a stage is given --wiki
    agent_role: a careful solver of arithmetic word problems   # optional
    finish_example: Finish[42]             # optional
    level_labels: {test: Test}             # optional: column names in the report
    implementation: hotpotqa               # optional: the class that reads records and scores
                                           # (hotpotqa or scienceqa; default by answer_type)

HotpotQA and ScienceQA are spec files like this one (``specs/hotpotqa.yaml``, ``specs/scienceqa.yaml``)
whose ``implementation`` is their class: its record format, level file names and metric.

Relative paths are relative to the spec file. Records use the keys of the shipped data:
``Question``/``Answer`` (free; ``question``/``answer`` also work) or ``Question`` with an
``Options: (A) ... (B) ...`` line and ``Answer`` naming an option (choice). Specs are registered
with ``--task_spec FILE`` on any stage, or found in a ``tasks/`` folder of the working directory
(or ``$AUTOACT_TASKS_DIR``).
"""

from __future__ import annotations

import os
from pathlib import Path

from autoact.errors import ConfigError, DataError
from autoact.io import read_mapping, read_records
from autoact.tasks.base import Example, Score, Task
from autoact.tasks.hotpotqa import HotpotQA
from autoact.tasks.scienceqa import ScienceQA

SPEC_SUFFIXES = (".yaml", ".yml", ".json")
_KEYS = {"name", "description", "answer_type", "metric", "seed_examples", "seed_path", "tools",
         "eval_path", "levels", "agent_role", "finish_example", "corpus", "implementation", "level_labels"}
#: the classes a spec's ``implementation`` names: how records are read and answers scored
IMPLEMENTATIONS: dict[str, type[Task]] = {"hotpotqa": HotpotQA, "scienceqa": ScienceQA}


class SpecTask(Task):
    def __init__(self, spec: dict, source: Path):
        self.source = source
        unknown = sorted(set(spec) - _KEYS)
        if unknown:
            raise DataError(f"{source}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(_KEYS))}")
        for key in ("name", "description"):
            if not isinstance(spec.get(key), str) or not spec[key].strip():
                raise DataError(f"{source}: \"{key}\" must be a non-empty string")
        self.name = spec["name"].strip()
        self.description = spec["description"].strip()
        impl = spec.get("implementation")
        if impl is not None and impl not in IMPLEMENTATIONS:
            raise DataError(f"{source}: \"implementation\" must be one of {', '.join(IMPLEMENTATIONS)}, got {impl!r}")
        self.answer_type = spec.get("answer_type", IMPLEMENTATIONS[impl].answer_type if impl else "free")
        if impl is not None and self.answer_type != IMPLEMENTATIONS[impl].answer_type:
            raise DataError(f"{source}: answer_type {self.answer_type} does not fit implementation {impl}")
        if self.answer_type not in ("free", "choice"):
            raise DataError(f"{source}: \"answer_type\" must be free or choice, got {self.answer_type!r}")
        metric = spec.get("metric")
        expected = "accuracy" if self.answer_type == "choice" else "em_f1"
        if metric is not None and metric != expected:
            raise DataError(f"{source}: \"metric\" {metric!r} does not fit answer_type "
                            f"{self.answer_type} (use {expected})")
        self._impl: Task = IMPLEMENTATIONS[impl]() if impl else (
            ScienceQA() if self.answer_type == "choice" else HotpotQA())
        self.implementation = impl
        self.answer_hint = self._impl.answer_hint
        if impl:        # the class's record format: level file names, aliases, images
            self.multimodal = self._impl.multimodal
            self.level_files = self._impl.level_files
            self.level_aliases = self._impl.level_aliases
        self.agent_role = spec.get("agent_role") or (
            "a good multiple-choice question answerer" if self.answer_type == "choice"
            else "a good question answerer")
        self.finish_example = spec.get("finish_example") or (
            "Finish[A]" if self.answer_type == "choice" else "Finish[Richard Nixon]")
        tools = spec.get("tools") or []
        if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
            raise DataError(f"{source}: \"tools\" must be a list of tool names")
        from autoact.tools import resolve_tool_name
        bad = [t for t in tools if resolve_tool_name(t) is None]
        if bad:
            from autoact.tools import POOL
            raise DataError(f"{source}: unknown tool(s) {', '.join(bad)}; valid tools: "
                            f"{', '.join(t.name for t in POOL)}")
        self.default_tools = tuple(resolve_tool_name(t) for t in tools)
        seeds = self._seeds(spec)
        self.seed_examples = [{**r, "Answer": str(r["Answer"])} for r in seeds]
        # the seed file goes to self-instruct as it is only where it needs no change (every
        # Answer a string already); otherwise the pipeline writes the normalised examples
        self.seed_path = self._path(spec["seed_path"]) if "seed_path" in spec and all(
            isinstance(r["Answer"], str) for r in seeds) else None
        self.eval_path = self._path(spec.get("eval_path")) if spec.get("eval_path") else None
        if self.eval_path is not None and not self.eval_path.exists():
            raise DataError(f"{source}: eval_path {self.eval_path} does not exist")
        self.corpus = self._path(spec["corpus"]) if spec.get("corpus") else None
        if self.corpus is not None and not self.corpus.is_file():
            raise DataError(f"{source}: corpus {self.corpus} does not exist")
        levels = spec.get("levels")
        if levels is not None and (not isinstance(levels, list) or not levels
                                   or not all(isinstance(x, str) for x in levels)):
            raise DataError(f"{source}: \"levels\" must be a non-empty list of names")
        if self.eval_path is not None and self.eval_path.is_file() and levels and len(levels) != 1:
            raise DataError(f"{source}: one eval_path file holds one level; name one in \"levels\"")
        if levels is None and self.eval_path is not None:
            levels = ([self.eval_path.stem] if self.eval_path.is_file() else
                      sorted(p.stem for p in self.eval_path.iterdir() if p.suffix in (".json", ".jsonl")))
        self.levels = tuple(levels or ("test",))
        labels = spec.get("level_labels") or {}
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()) \
                or set(labels) - set(self.levels):
            raise DataError(f"{source}: \"level_labels\" must map some of the levels to names")
        self.level_labels = {lv: labels.get(lv, lv.capitalize()) for lv in self.levels}

    def _path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else Path(os.path.normpath(self.source.parent / p))

    def _seeds(self, spec: dict) -> list[dict]:
        if "seed_path" in spec:
            seeds = read_records(self._path(spec["seed_path"]), required=["Question", "Answer"], list_only=True)
        else:
            seeds = spec.get("seed_examples")
            if not isinstance(seeds, list) or not seeds:
                raise DataError(f"{self.source}: needs \"seed_examples\" (a non-empty list) or \"seed_path\"")
            for i, rec in enumerate(seeds):
                if not isinstance(rec, dict) or not {"Question", "Answer"} <= set(rec):
                    raise DataError(f"{self.source}: seed_examples[{i}] needs \"Question\" and \"Answer\"")
        return seeds

    def level_file(self, folder: Path, level: str) -> Path | None:
        if self.eval_path is not None and self.eval_path.is_file() and len(self.levels) == 1 \
                and level in self.levels:
            return self.eval_path         # one evaluation file: the task's single level
        return super().level_file(folder, level)

    def level_of(self, path: Path) -> str:
        if self.eval_path is not None and path.resolve() == self.eval_path.resolve() and len(self.levels) == 1:
            return self.levels[0]
        return self._impl.level_of(path) if self.implementation else super().level_of(path)

    def make_example(self, rec, question, answer, path, line, level) -> Example:
        return self._impl.make_example(rec, question, answer, path, line, level)

    def score(self, prediction: str | None, example: Example) -> Score:
        return self._impl.score(prediction, example)

    # rows of a Hugging Face dataset: the implementation's record format, this spec's levels
    def hub_columns(self, levels):
        return self._impl.hub_columns(levels)

    def hub_record(self, row, where) -> dict:
        return self._impl.hub_record(row, where)

    def hub_level(self, rec, levels, where) -> str:
        return self._impl.hub_level(rec, levels, where)


def load_spec(path: str | Path) -> SpecTask:
    return SpecTask(read_mapping(path, "task spec file"), Path(path))


#: the spec tasks that ship with the package (arithmetic, wikifacts)
SHIPPED_DIR = Path(__file__).with_name("specs")


def spec_dirs() -> list[Path]:
    """Where specs are found by name, first match wins: ``$AUTOACT_TASKS_DIR``, ``./tasks``,
    then the shipped ones (package data, so an installed package finds them from any folder)."""
    dirs = [Path.cwd() / "tasks", SHIPPED_DIR]
    env = os.environ.get("AUTOACT_TASKS_DIR")
    if env:
        dirs.insert(0, Path(env))
    return [d for d in dirs if d.is_dir()]


def find_spec(name: str) -> SpecTask | None:
    """A spec in the task folders whose ``name`` is ``name`` (case-insensitive)."""
    for folder in spec_dirs():
        for f in sorted(folder.iterdir()):
            if f.suffix in SPEC_SUFFIXES:
                try:
                    task = load_spec(f)
                except (DataError, ConfigError):
                    continue
                if task.name.lower() == name.strip().lower():
                    return task
    return None
