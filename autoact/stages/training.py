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


@functools.lru_cache(maxsize=1)
def field_types() -> dict[str, type]:
    """Setting name -> int, float, bool, list or str (the dataclass fields' types)."""
    out: dict[str, type] = {}
    for dc in argument_classes():
        hints = typing.get_type_hints(dc)
        for f in fields(dc):
            t = hints.get(f.name)
            if typing.get_origin(t) in (typing.Union, types.UnionType):      # Optional[X] -> X
                t = next(a for a in typing.get_args(t) if a is not type(None))
            out[f.name] = next((k for k in (bool, int, float, list) if t is k
                                or typing.get_origin(t) is k), str)
    return out


def names() -> set[str]:
    return {f.name for dc in argument_classes() for f in fields(dc) if f.init}


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


def run(settings: Settings) -> dict:
    """Train the adapter; returns its record (``<output_dir>/autoact_train.json``)."""
    from autoact.train.lora import train_with
    return train_with(settings.model, settings.data, settings.lora, settings.train)
