"""The training stage: LoRA fine-tuning of one agent on its data file
(``Self_Planning/Train/train_lora.py``; the training code is :mod:`autoact.train.lora`).

Its settings are the four dataclasses transformers' ``HfArgumentParser`` reads (model, data,
LoRA, ``TrainingArguments``), so every Trainer flag is a setting; :func:`from_mapping` builds
them from a config's ``train`` section, :func:`from_flags` from the script's flags.
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import dataclass, fields
from typing import Any

from autoact.errors import ConfigError


@dataclass
class Settings:
    """One agent's training run."""
    model: Any      # autoact.train.lora.ModelArguments
    data: Any       # DataArguments
    lora: Any       # LoraArguments
    train: Any      # TrainingArguments (transformers', with the seed's spellings)


def argument_classes() -> tuple:
    from autoact.train.lora import DataArguments, LoraArguments, ModelArguments, TrainingArguments
    return ModelArguments, DataArguments, LoraArguments, TrainingArguments


def cache_key() -> list[str]:
    """What the training flags depend on: the libraries' versions and the code declaring them
    (the key of the flag table and ``--help`` text kept in the user cache)."""
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path
    out = []
    for package in ("transformers", "peft", "torch"):
        try:
            out.append(f"{package}={version(package)}")
        except PackageNotFoundError:
            out.append(f"{package}=none")
    here = Path(__file__).resolve()
    for source in (here, here.parent.parent / "train" / "lora.py"):
        out.append(source.read_text(encoding="utf-8"))
    return out


@functools.lru_cache(maxsize=1)
def _flag_table() -> dict:
    """``{"types": {name: kind}, "names": [...]}`` of the training dataclasses, computed once per
    library version and source (importing transformers takes seconds) and then read from the
    user cache."""
    import json

    from autoact.io import cached_text

    def build() -> str:
        kinds: dict[str, str] = {}
        for dc in argument_classes():
            hints = typing.get_type_hints(dc)
            for f in fields(dc):
                t = hints.get(f.name)
                if typing.get_origin(t) in (typing.Union, types.UnionType):      # Optional[X] -> X
                    t = next(a for a in typing.get_args(t) if a is not type(None))
                kinds[f.name] = next((k.__name__ for k in (bool, int, float, list) if t is k
                                      or typing.get_origin(t) is k), "str")
        init = sorted(f.name for dc in argument_classes() for f in fields(dc) if f.init)
        return json.dumps({"types": kinds, "names": init})
    try:
        return json.loads(cached_text("train-flags", cache_key(), build))
    except ValueError:            # a damaged cache file: the table from the classes themselves
        return json.loads(build())


def help_text() -> str:
    """``train_lora.py --help``: made by the flag parser once per library version, source, program
    name and terminal width, then read from the user cache (under a second instead of the
    seconds importing transformers takes)."""
    import os
    import shutil
    import sys

    from autoact.io import cached_text

    def build() -> str:
        from autoact.train.lora import make_parser
        return make_parser().format_help()
    prog = os.path.basename(sys.argv[0])
    return cached_text("train-help", [*cache_key(), prog, str(shutil.get_terminal_size().columns)], build)


def field_types() -> dict[str, type]:
    """Setting name -> int, float, bool, list or str (the dataclass fields' types)."""
    kinds = {"bool": bool, "int": int, "float": float, "list": list, "str": str}
    return {name: kinds[kind] for name, kind in _flag_table()["types"].items()}


def names() -> set[str]:
    return set(_flag_table()["names"])


def typed(key: str, value):
    """``value`` (from YAML/JSON or ``--set``) as the field's type, as the flag parser reads it."""
    kind = field_types().get(key, str)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            from autoact.settings import str2bool
            return str2bool(str(value))
        if kind in (int, float):
            return kind(value)
        if kind is list:
            return [str(v) for v in value] if isinstance(value, list) else [str(value)]
        return value if isinstance(value, str) else str(value)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"train.{key}={value!r}: {err}") from None


def from_mapping(values: dict) -> Settings:
    """Settings from a mapping of setting name -> value (unknown names are errors)."""
    from autoact.train.lora import parse_mapping
    unknown = sorted(set(values) - names())
    if unknown:
        raise ConfigError(f"unknown training setting(s) {', '.join(unknown)}")
    return Settings(*parse_mapping({k: typed(k, v) for k, v in values.items() if v is not None}))


def from_flags(argv: list[str] | None = None) -> Settings:
    from autoact.train.lora import parse_args
    return Settings(*parse_args(argv))


def run(settings: Settings, keep_base: bool = False) -> dict:
    """Train the adapter; returns its record (``<output_dir>/autoact_train.json``). ``keep_base``:
    keep the loaded base in this process for the next agent (:func:`release_bases` frees it)."""
    from autoact.train.lora import train_with
    return train_with(settings.model, settings.data, settings.lora, settings.train, keep_base)


def release_bases() -> None:
    """Free the base models kept by ``run(..., keep_base=True)`` (nothing to do when none was)."""
    import sys
    lora = sys.modules.get("autoact.train.lora")
    if lora is not None:
        lora.release_bases()
