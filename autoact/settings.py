"""Stage settings as dataclasses, and the command-line front ends generated from them.

A stage declares ``@dataclass class Settings`` whose fields carry their flag in the metadata
(:func:`option`); :func:`build_parser` turns the class into the stage script's argparse parser
(the same flags, aliases, types and ``--help``), :func:`from_args` turns the parsed flags into a
settings object, and :func:`from_mapping` builds one from a config mapping (the pipeline's
sections), checking each value as its flag would. A stage's ``run(settings)`` takes the object.
The flags' value types (``positive_int``, ``top_p_value``, ...) are here too.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable

from autoact.errors import ConfigError

# ----------------------------------------------------------------------------- value types

def str2bool(value: str | bool) -> bool:
    """Parse ``True/False/yes/no/1/0`` the way the seed's shell scripts spell booleans."""
    if isinstance(value, bool):
        return value
    v = value.strip().lower()
    if v in ("true", "t", "yes", "y", "1"):
        return True
    if v in ("false", "f", "no", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {value!r}")


def positive_int(value: str) -> int:
    n = _number(value, int)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return n


def _number(value: str, kind=float):
    try:
        n = kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if kind is float and not math.isfinite(n):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value}")
    return n


def positive_float(value: str) -> float:
    n = _number(value)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return n


def non_negative_float(value: str) -> float:
    n = _number(value)
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return n


def unit_fraction(value: str) -> float:
    """A share in [0, 1]."""
    n = _number(value)
    if not 0 <= n <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {value}")
    return n


def top_p_value(value: str) -> float:
    n = _number(value)
    if not 0 < n <= 1:
        raise argparse.ArgumentTypeError(f"expected 0 < top_p <= 1, got {value}")
    return n


def top_k_value(value: str) -> int:
    n = _number(value, int)
    if n < -1 or n == 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer or -1 (off), got {value}")
    return n


def non_negative_int(value: str) -> int:
    n = _number(value, int)
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return n


# ----------------------------------------------------------------------------- settings

#: settings never written to config files or records
SECRET_FIELDS = frozenset({"api_key"})


@dataclass(frozen=True)
class Flag:
    """How a settings field appears on the command line."""
    help: str | None = None
    aliases: tuple[str, ...] = ()       # other spellings, e.g. the reference's
    type: Callable[[str], Any] | None = None
    choices: tuple | None = None
    metavar: str | None = None
    kind: str = "value"                 # value | switch (store_true) | append | positional
    nargs: str | None = None            # positional: "+" or "*"
    group: str | None = None            # the --help section
    required: bool = False
    hidden: bool = False                # accepted but left out of --help


def option(default: Any = None, *, factory: Callable[[], Any] | None = None, **flag) -> Any:
    """A settings field with its flag: ``option(0.2, type=..., help=...)``; list defaults and
    defaults read from the environment go through ``factory``."""
    meta = {"flag": Flag(**flag)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    if isinstance(default, (list, dict, set)):
        raise TypeError("a mutable default needs factory=")
    return field(default=default, metadata=meta)


def flag_of(f) -> Flag | None:
    return f.metadata.get("flag")


def default_of(f) -> Any:
    return f.default_factory() if f.default is MISSING else f.default


def flags(cls) -> dict[str, Flag]:
    """Field name -> :class:`Flag` of every command-line field of ``cls``."""
    return {f.name: flag_of(f) for f in fields(cls) if flag_of(f) is not None}


def add_options(parser, cls, *, own_first: bool = False) -> None:
    """Add the flags of ``cls``'s fields to ``parser`` (argument groups by :attr:`Flag.group`).
    ``own_first``: the fields ``cls`` itself declares come before those it inherits."""
    items = [f for f in fields(cls) if flag_of(f) is not None]
    if own_first:
        own = set(getattr(cls, "__annotations__", {}))
        items.sort(key=lambda f: f.name not in own or flag_of(f).group is not None)
    groups: dict[str, Any] = {}
    for f in items:
        fl = flag_of(f)
        target = parser if fl.group is None else \
            groups.get(fl.group) or groups.setdefault(fl.group, parser.add_argument_group(fl.group))
        kw: dict[str, Any] = {"help": argparse.SUPPRESS if fl.hidden else fl.help}
        if fl.metavar:
            kw["metavar"] = fl.metavar
        if fl.kind == "positional":
            kw["nargs"] = fl.nargs
            if fl.type:
                kw["type"] = fl.type
            if fl.nargs == "*":
                kw["default"] = default_of(f)
            target.add_argument(f.name, **kw)
            continue
        names = [f"--{f.name}", *fl.aliases]
        if fl.kind == "switch":
            target.add_argument(*names, dest=f.name, action="store_true", **kw)
            continue
        if fl.kind == "append":
            kw["action"] = "append"
        if fl.type:
            kw["type"] = fl.type
        if fl.choices is not None:
            kw["choices"] = fl.choices
        if fl.required:
            kw["required"] = True
        else:
            kw["default"] = default_of(f)
        target.add_argument(*names, dest=f.name, **kw)


def build_parser(cls, description: str | None) -> argparse.ArgumentParser:
    """A stage script's parser: ``description`` (its usage text) and the flags of ``cls``."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, cls, own_first=True)
    return parser


def from_args(cls, args: argparse.Namespace | Any):
    """The settings object of parsed flags (fields the namespace lacks keep their default)."""
    if isinstance(args, cls):
        return args
    values = {f.name: getattr(args, f.name) for f in fields(cls) if f.init and hasattr(args, f.name)}
    return cls(**values)


def from_mapping(cls, values: dict, where: str = ""):
    """The settings object of a config mapping; each value is checked and converted as its
    flag's parser would (a :class:`ConfigError` naming ``where.key`` otherwise)."""
    known = flags(cls)
    prefix = f"{where}." if where else ""
    converted = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown key {prefix}{key}")
        converted[key] = convert(known[key], value, f"{prefix}{key}")
    for name, fl in known.items():
        if fl.required and converted.get(name) is None:
            raise ConfigError(f"{prefix}{name} is required")
    return cls(**{k: v for k, v in converted.items() if v is not None})


def convert(fl: Flag, value, name: str):
    """``value`` (from YAML/JSON or ``--set``) as the flag would have parsed it."""
    if value is None:
        return None
    where = f"{name}={json.dumps(value)}"
    if isinstance(value, dict):
        raise ConfigError(f"{where}: a flag value cannot be a mapping")
    if fl.kind == "switch":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false")
        return value
    many = fl.kind == "append" or fl.nargs in ("+", "*")
    if isinstance(value, list) and not many:
        raise ConfigError(f"{where}: expected one value, not a list")
    out = []
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, (list, dict)):
            raise ConfigError(f"{where}: expected a plain value")
        text = json.dumps(v) if isinstance(v, bool) else str(v)
        try:
            parsed = fl.type(text) if callable(fl.type) else text
        except (argparse.ArgumentTypeError, ValueError, TypeError) as err:
            raise ConfigError(f"{where}: {err or 'invalid value'}") from None
        if fl.choices is not None and parsed not in fl.choices:
            raise ConfigError(f"{where}: choose from {', '.join(map(str, fl.choices))}")
        out.append(parsed)
    return out if many else out[0]


def public(settings) -> dict:
    """The settings for a stage's ``*.config.json`` and records, without secrets."""
    return {f.name: getattr(settings, f.name) for f in fields(settings) if f.name not in SECRET_FIELDS}


# ----------------------------------------------------------------------------- shared groups

@dataclass
class CommonSettings:
    """What every stage takes: extra task spec files and --debug."""
    task_spec: list = option(factory=list, kind="append", metavar="FILE",
                             help="register a task from a spec file (YAML/JSON; repeatable); specs in "
                                  "./tasks/ are found by name without it")
    debug: bool = option(False, kind="switch",
                         help="show full tracebacks and debug logging instead of one-line errors")


@dataclass
class PromptsSettings:
    prompts: str | None = option(None, metavar="FILE",
                                 help="prompts file (YAML/JSON) overriding any of the shipped templates "
                                      "(autoact/assets/prompts.yaml; slots in docs/prompts.md); give "
                                      "every stage the same file")
