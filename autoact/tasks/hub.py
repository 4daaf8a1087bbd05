"""Questions from a Hugging Face dataset: ``--task_path hf:NAME[:CONFIG]:SPLIT``.

``NAME`` is a Hub dataset id (``hotpotqa/hotpot_qa``) or a local folder in the Hub's layout (the
dataset repo as downloaded: data files plus a README whose ``configs:`` block names them); the
dataset is read with ``datasets.load_dataset(NAME, CONFIG, split=SPLIT)``, so a Hub dataset is
downloaded once into the ``datasets`` cache and read from there afterwards, also offline.

    hf:hotpotqa/hotpot_qa:distractor:validation     the full HotpotQA dev set, distractor setting
    hf:hotpotqa/hotpot_qa:fullwiki:validation       the same questions, full-wiki contexts
    hf:derek-thomas/ScienceQA:test                  the full ScienceQA test split

Each row becomes a record exactly as the task's shipped files hold it (the task's
``hub_record``), then an :class:`~autoact.tasks.base.Example` through the same code that reads
the files, so scoring, ids and the tools' fields behave as with the shipped subsets. Levels come
from the rows (HotpotQA ``level``; ScienceQA ``grade`` -> grade1-4 / grade5-8 / grade9-12), and
``--levels`` picks among them as it does among a folder's files. Every failure (no network, an
unknown dataset, config or split, a missing field) is a one-line :class:`DataError` or
:class:`ConfigError` naming the dataset; the network ones also name the shipped subset to use
instead.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from autoact.errors import ConfigError, DataError

if TYPE_CHECKING:
    from autoact.tasks.base import Example, Task

PREFIX = "hf:"
#: what the error for a malformed spec shows
FORM = ("hf:NAME:SPLIT or hf:NAME:CONFIG:SPLIT (NAME a Hub dataset id such as hotpotqa/hotpot_qa "
        "or a local folder), e.g. hf:hotpotqa/hotpot_qa:distractor:validation")


@dataclass(frozen=True)
class HubPath:
    """A parsed ``hf:NAME[:CONFIG]:SPLIT``."""
    text: str                  # as given: errors and logs name the dataset by it
    name: str
    config: str | None
    split: str

    @property
    def folder(self) -> Path | None:
        """The local folder ``name`` names, or ``None`` (a Hub id)."""
        p = Path(self.name).expanduser()
        return p if p.is_dir() else None

    @property
    def names_a_path(self) -> bool:
        """``name`` is spelled as a file system path (never a Hub id)."""
        return self.name.startswith(("/", "./", "../", "~")) or self.name in (".", "..")


def is_hub_path(path) -> bool:
    """``path`` is an ``hf:`` dataset spec (a string or path starting with ``hf:``)."""
    try:
        return os.fspath(path).startswith(PREFIX)
    except TypeError:
        return False


def parse_hub_path(path, flag: str = "--task_path") -> HubPath:
    """``hf:NAME:SPLIT`` or ``hf:NAME:CONFIG:SPLIT``; anything else is a one-line ConfigError."""
    text = os.fspath(path)
    parts = text[len(PREFIX):].split(":")
    if len(parts) not in (2, 3) or not all(p.strip() for p in parts):
        raise ConfigError(f"{flag} {text!r}: expected {FORM}")
    parts = [p.strip() for p in parts]
    return HubPath(text, parts[0], parts[1] if len(parts) == 3 else None, parts[-1])


def hub_inputs(path) -> list[str]:
    """What a run reads through an ``hf:`` path, for the check that no output overwrites an
    input: a local folder's files; nothing on this machine for a Hub id (the ``hf:`` string
    itself is part of the run's settings, which the up-to-date check compares)."""
    folder = parse_hub_path(path).folder
    return sorted(str(f) for f in folder.rglob("*") if f.is_file()) if folder is not None else []


def shipped_subsets(task: Task) -> str:
    """The task's shipped evaluation questions, as the errors suggest them."""
    p = getattr(task, "eval_path", None)
    if p is None or not Path(p).exists():
        return f"{task.name} ships no evaluation subset: pass a local file or folder to --task_path"
    p = Path(p)
    try:
        shown = os.path.relpath(p) if not os.path.relpath(p).startswith("..") else str(p)
    except ValueError:
        shown = str(p)
    files = sorted(f.name for f in p.iterdir() if f.suffix in (".json", ".jsonl")) if p.is_dir() else [p.name]
    return f"the shipped subset: --task_path {shown} ({', '.join(files)})"


def _errors():
    """(network errors, every error loading may raise) as exception tuples."""
    network: list[type[BaseException]] = [ConnectionError, TimeoutError]
    every: list[type[BaseException]] = [OSError, ValueError]
    try:
        from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled
        network += [OfflineModeIsEnabled, LocalEntryNotFoundError]
    except ImportError:
        pass
    try:
        import requests
        network += [requests.exceptions.ConnectionError, requests.exceptions.Timeout]
    except ImportError:
        pass
    try:
        import httpx
        network.append(httpx.TransportError)
        every.append(httpx.HTTPError)
    except ImportError:
        pass
    try:
        from datasets.exceptions import DatasetsError
        every.append(DatasetsError)
    except ImportError:
        pass
    return tuple(network), tuple(network + every)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _offline_env() -> str | None:
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return var
    return None


def load_rows(hp: HubPath, task: Task):
    """``datasets.load_dataset(NAME, CONFIG, split=SPLIT)`` with images left undecoded; every
    failure a one-line DataError naming the dataset."""
    try:
        import datasets
    except ImportError:
        raise ConfigError(f"--task_path {hp.text}: reading a Hugging Face dataset needs the datasets "
                          f"package (pip install datasets)") from None
    folder = hp.folder
    if folder is None and hp.names_a_path:
        raise DataError(f"{hp.text}: no such folder {hp.name}; use {shipped_subsets(task)}")
    network, every = _errors()
    hub_log = logging.getLogger("huggingface_hub")
    level = hub_log.level
    hub_log.setLevel(logging.ERROR)       # its retry warnings would precede our one-line error
    try:
        ds = datasets.load_dataset(str(folder) if folder is not None else hp.name, hp.config, split=hp.split)
    except network as err:
        why = (f"offline mode: {_offline_env()} is set" if _offline_env()
               else f"no network or the Hub is unreachable: {_one_line(err)}")
        raise DataError(f"{hp.text}: cannot download dataset {hp.name!r} from the Hugging Face Hub "
                        f"({why}); load it once on a machine with network (it is cached), pass a local "
                        f"copy as hf:FOLDER[:CONFIG]:SPLIT, or use {shipped_subsets(task)}") from None
    except every as err:
        not_found = isinstance(err, FileNotFoundError) or type(err).__name__ in (
            "DatasetNotFoundError", "RepositoryNotFoundError", "GatedRepoError")
        if not_found and folder is None:
            raise DataError(f"{hp.text}: no dataset {hp.name!r} on the Hugging Face Hub or as a local "
                            f"folder ({_one_line(err)}); use {shipped_subsets(task)}") from None
        # an unknown config or split, an unreadable data file: the library's message says which
        raise DataError(f"{hp.text}: cannot load dataset {hp.name!r}"
                        f"{f' config {hp.config!r}' if hp.config else ''} split {hp.split!r}: "
                        f"{_one_line(err)}") from None
    finally:
        hub_log.setLevel(level)
    if not isinstance(ds, datasets.Dataset):
        raise DataError(f"{hp.text}: split {hp.split!r} did not give one table of rows")
    for col, feature in ds.features.items():     # only whether a row has an image is read
        if isinstance(feature, datasets.Image) and feature.decode:
            ds = ds.cast_column(col, datasets.Image(decode=False))
    return ds


def load_hub_levels(task: Task, path, levels: list[str] | None = None) -> dict[str, list[Example]]:
    """The questions of an ``hf:`` dataset grouped by level, in the task's level order;
    ``levels`` (canonical names) picks some, in the order given, as with a folder."""
    hp = parse_hub_path(path)
    if levels:
        unknown = [lv for lv in levels if lv not in task.levels]
        if unknown:
            raise DataError(f"unknown level(s) {', '.join(unknown)} for {task.name}; "
                            f"levels are {', '.join(task.levels)}")
    ds = load_rows(hp, task)
    missing = [c for c in task.hub_columns(task.levels) if c not in ds.column_names]
    if missing:
        raise DataError(f"{hp.text}: dataset {hp.name!r} has no {', '.join(repr(c) for c in missing)} "
                        f"field, which {task.name} questions need (its fields: {', '.join(ds.column_names)})")
    groups: dict[str, list[tuple[int, dict]]] = {}
    found: dict[str, int] = {}
    no_caption = 0
    for i, row in enumerate(ds):
        where = f"{hp.text}: row {i}"
        rec = task.hub_record(row, where)
        level = task.hub_level(rec, task.levels, where)
        found[level] = found.get(level, 0) + 1
        if levels and level not in levels:
            continue
        no_caption += rec.get("caption") == CAPTION_UNAVAILABLE
        groups.setdefault(level, []).append((i, rec))
    if no_caption:
        logging.getLogger(__name__).warning(
            "%s: %d questions have an image but the dataset has no caption or OCR text of it; "
            "Image2Text says so for them (the shipped subsets carry the reference's captions)", hp.text, no_caption)
    out: dict[str, list[Example]] = {}
    seen: set[str] = set()
    for level in levels or task.levels:
        if level in groups:
            out[level] = task.examples_from(groups[level], hp.text, level, seen)
        elif levels:
            raise DataError(f"{hp.text}: no questions of level {level!r} "
                            f"(levels found: {', '.join(lv for lv in task.levels if lv in found) or 'none'})")
    if not out:
        raise DataError(f"{hp.text}: no questions (split {hp.split!r} has {len(ds)} rows)")
    return out


def context_documents(examples: Iterable[Example]) -> Iterator[tuple[str, str]]:
    """``(title, text)`` of every context paragraph of HotpotQA examples, as
    :func:`autoact.tools.corpus.hotpotqa_documents` yields them from the shipped files: the
    documents of a distractor corpus for an ``hf:`` dataset's questions (the shipped distractor
    corpus holds the shipped questions' paragraphs only)."""
    for ex in examples:
        for title, sentences in ex.fields.get("context") or []:
            yield title, " ".join(s.strip() for s in sentences if isinstance(s, str) and s.strip())


def hub_contexts(path, examples: Iterable[Example]) -> list[tuple[str, str]] | None:
    """The distractor corpus of an ``hf:`` dataset's questions (their own context paragraphs);
    None for other paths (the shipped subset's corpus) or questions without contexts."""
    if not is_hub_path(path):
        return None
    docs = list(dict.fromkeys(context_documents(examples)))
    return docs or None


def hub_examples(task: Task, path, limit: int | None = None) -> list[Example]:
    """Every question of an ``hf:`` dataset, level after level (trajectory synthesis)."""
    examples = [ex for exs in load_hub_levels(task, path).values() for ex in exs]
    return examples[:limit] if limit else examples


# ----------------------------------------------------------------------------- row helpers

#: a ScienceQA image question's caption and OCR text when the dataset has none (the Hub's
#: ScienceQA holds the image only): Image2Text then says that no caption is available
CAPTION_UNAVAILABLE = "not available (the dataset has the image but no caption of it)"
OCR_UNAVAILABLE = "not available"


def text_field(row: dict, name: str, where: str, *, why_empty: str = "") -> str:
    """``row[name]``, a non-empty string; otherwise a one-line error naming the field."""
    value = row.get(name)
    if value is None:
        raise DataError(f"{where}: no {name!r} field")
    if not isinstance(value, str):
        raise DataError(f"{where}: field {name!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise DataError(f"{where}: field {name!r} is empty{why_empty}")
    return value


def as_pairs(value, keys: tuple[str, str], where: str, name: str) -> list[list]:
    """A Hub sequence feature of two lists (``{"title": [...], "sent_id": [...]}``) as the
    shipped files' list of pairs (``[[title, sent_id], ...]``); a list of pairs is kept."""
    if isinstance(value, dict):
        if set(keys) - set(value) or not all(isinstance(value[k], list) for k in keys) \
                or len(value[keys[0]]) != len(value[keys[1]]):
            raise DataError(f"{where}: field {name!r} must hold lists {keys[0]!r} and {keys[1]!r} of "
                            f"equal length")
        return [[a, b] for a, b in zip(value[keys[0]], value[keys[1]])]
    if isinstance(value, list) and all(isinstance(x, (list, tuple)) and len(x) == 2 for x in value):
        return [list(x) for x in value]
    raise DataError(f"{where}: field {name!r} must be {{{keys[0]!r}: [...], {keys[1]!r}: [...]}} or a "
                    f"list of [{keys[0]}, {keys[1]}] pairs")
