"""Every prompt text in one file: ``autoact/assets/prompts.yaml``, or a copy passed as ``--prompts FILE``.

A prompts file is a YAML (or JSON) mapping of sections to slots to templates with Python format
fields (``{question}``). A user file may hold any subset of the slots; the rest keep the shipped
wording. :data:`SLOTS` lists every slot with the fields it may use: an unknown section, slot or
field, a template that does not parse, or a tool outside the pool is a one-line error naming the
file and the slot. The ``tools`` section replaces the pool's ``definition``/``usage`` texts.

Every stage that builds prompts takes the same :class:`Prompts` object, so a prompt built for
training (the filter) and one built for inference (group planning) come from the same
templates, byte for byte. Each stage records :meth:`Prompts.describe` (file and content hash) in
its config.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import string
from pathlib import Path

from autoact.errors import DataError

DEFAULT_FILE = Path(__file__).with_name("assets") / "prompts.yaml"

#: section -> slot -> the format fields the slot may use
SLOTS: dict[str, dict[str, frozenset[str]]] = {
    "self_instruct": {
        "system": frozenset({"task_name", "task_description"}),
        "request_free": frozenset({"examples", "n"}),
        "request_choice": frozenset({"examples", "n", "format"}),
        "format_choice": frozenset({"image"}),
        "format_choice_image": frozenset(),
        "example_free": frozenset({"question", "answer"}),
        "example_choice": frozenset({"question", "options", "image", "answer"}),
        "example_choice_image": frozenset({"caption", "ocr"}),
        "example_separator": frozenset(),
    },
    "tool_selection": {
        "system": frozenset({"task_name", "task_description", "num_tools"}),
        "user": frozenset({"tool_pool", "task_name", "task_description", "num_tools"}),
        "pool_line": frozenset({"index", "name", "definition", "usage"}),
    },
    "agent": {
        "instruction_free": frozenset({"role", "count", "actions", "tools", "finish", "reflect",
                                       "reflect_note", "task_name", "task_description"}),
        "instruction_choice": frozenset({"role", "count", "actions", "tools", "finish", "reflect",
                                         "reflect_note", "task_name", "task_description"}),
        "reflect_note": frozenset(),
        "action_line": frozenset({"index", "usage", "name"}),
        "finish_free": frozenset({"example"}),
        "finish_choice": frozenset({"example"}),
        "reflect": frozenset(),
        "question": frozenset({"question"}),
        "thought_label": frozenset({"n"}),
        "action_label": frozenset({"n"}),
        "observation_label": frozenset({"n"}),
    },
    "observations": {
        "please_reflect": frozenset(),
        "try_again": frozenset(),
        "correct": frozenset(),
        "incorrect": frozenset(),
        "reflect_only_after_finish": frozenset(),
        "reflect_argument": frozenset(),
        "invalid_action": frozenset({"tools"}),
    },
    "baselines": {
        "react_instruction": frozenset({"instruction", "examples"}),
        "react_examples_free": frozenset(),
        "react_examples_choice": frozenset(),
        "cot_instruction": frozenset({"note", "examples"}),
        "cot_note_free": frozenset(),
        "cot_note_choice": frozenset(),
        "cot_examples_free": frozenset(),
        "cot_examples_choice": frozenset(),
        "cot_thought_label": frozenset(),
        "cot_answer_label": frozenset(),
        "rewoo_planner": frozenset({"tools", "question", "max_steps", "example"}),
        "rewoo_example_free": frozenset(),
        "rewoo_example_choice": frozenset(),
        "rewoo_evidence": frozenset({"plan", "name", "action", "evidence"}),
        "rewoo_solver": frozenset({"evidence", "question", "note"}),
        "chameleon_planner": frozenset({"tools", "question", "max_steps", "example"}),
        "chameleon_example_free": frozenset(),
        "chameleon_example_choice": frozenset(),
        "chameleon_input": frozenset({"module", "usage", "cache", "question"}),
        "chameleon_cache_line": frozenset({"module", "input", "output"}),
        "chameleon_solver": frozenset({"cache", "question", "note"}),
        "bolaa_controller": frozenset({"agents", "question", "scratchpad"}),
        "bolaa_agent_line": frozenset({"name", "usage"}),
        "bolaa_worker": frozenset({"name", "usage", "message", "question", "scratchpad"}),
        "reflexion_memory": frozenset({"reflections"}),
        "reflexion_judge": frozenset({"trajectory", "answer"}),
        "reflexion_reflect": frozenset({"trajectory"}),
    },
}
TOOL_KEYS = frozenset({"definition", "usage"})
#: slots whose text must not be empty (labels the parsers look for)
NON_EMPTY = {"agent.thought_label", "agent.action_label", "agent.observation_label",
             "baselines.cot_answer_label"}


def name_key(name: str) -> str:
    """How tool names are compared: case, spaces, hyphens and underscores do not matter."""
    return re.sub(r"[\s_-]+", "", name).lower()


def template_fields(template: str, where: str) -> set[str]:
    """The named fields of a format template; a malformed one is a :class:`DataError`."""
    fields: set[str] = set()
    try:
        for _, name, spec, _ in string.Formatter().parse(template):
            if name is None:
                continue
            if name == "" or not name.isidentifier():
                raise DataError(f"{where}: use named fields such as {{question}}, got "
                                f"{{{name}}} (write a literal brace as {{{{ or }}}})")
            fields.add(name)
            if spec and "{" in spec:
                raise DataError(f"{where}: nested fields are not supported")
    except ValueError as err:
        raise DataError(f"{where}: bad template ({err}; write a literal brace as {{{{ or }}}})") from None
    return fields


class Prompts:
    """A validated, complete set of templates (the defaults overlaid with a user file)."""

    def __init__(self, slots: dict[str, str], tools: dict[str, dict[str, str]], source: str | None):
        self._slots = slots
        self.tools = tools            # canonical tool name -> {"definition", "usage"}
        self.source = source          # the user file, or None for the shipped defaults
        blob = json.dumps({"slots": slots, "tools": tools}, sort_keys=True, ensure_ascii=False)
        self.sha256 = hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def text(self, slot: str) -> str:
        """The raw template of ``"section.slot"``."""
        return self._slots[slot]

    def render(self, slot: str, **fields) -> str:
        return self._slots[slot].format(**fields)

    def tool_text(self, name: str, key: str, fallback: str) -> str:
        return (self.tools.get(name) or {}).get(key) or fallback

    def describe(self) -> dict:
        """What a stage records in its config."""
        return {"file": self.source, "sha256": self.sha256}

    def __eq__(self, other) -> bool:
        return isinstance(other, Prompts) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __repr__(self) -> str:
        return f"Prompts({self.source or 'defaults'!r}, sha256={self.sha256[:12]})"


def _parse(data: dict, where: str, *, known_tools: list[str] | None
           ) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Check a prompts mapping. ``known_tools``: the pool's names (``None`` for the shipped file,
    which defines the pool's texts and therefore its names); the shipped file must be complete."""
    complete = known_tools is None
    slots: dict[str, str] = {}
    tools: dict[str, dict[str, str]] = {}
    for section, body in data.items():
        if section == "tools":
            if not isinstance(body, dict):
                raise DataError(f"{where}: \"tools\" must map tool names to {{definition, usage}}")
            by_key = {name_key(n): n for n in known_tools or ()}
            for name, texts in body.items():
                canonical = str(name) if complete else by_key.get(name_key(str(name)))
                if canonical is None:
                    raise DataError(f"{where}: tools.{name}: not a tool of the pool; valid tools: "
                                    f"{', '.join(known_tools)}")
                if not isinstance(texts, dict) or not set(texts) <= TOOL_KEYS or not all(
                        isinstance(v, str) and v.strip() for v in texts.values()):
                    raise DataError(f"{where}: tools.{name}: expected non-empty \"definition\" "
                                    f"and/or \"usage\" strings")
                tools[canonical] = dict(texts)
            continue
        if section not in SLOTS:
            raise DataError(f"{where}: unknown section {section!r}; sections: "
                            f"{', '.join([*SLOTS, 'tools'])}")
        if not isinstance(body, dict):
            raise DataError(f"{where}: section {section!r} must map slot names to templates")
        for slot, template in body.items():
            key = f"{section}.{slot}"
            if slot not in SLOTS[section]:
                raise DataError(f"{where}: unknown slot {key}; slots of {section}: "
                                f"{', '.join(SLOTS[section])}")
            if not isinstance(template, str):
                raise DataError(f"{where}: {key} must be a string, got {type(template).__name__}")
            unknown = template_fields(template, f"{where}: {key}") - SLOTS[section][slot]
            if unknown:
                allowed = ", ".join("{" + f + "}" for f in sorted(SLOTS[section][slot])) or "none"
                raise DataError(f"{where}: {key} uses unknown field(s) "
                                f"{', '.join('{' + f + '}' for f in sorted(unknown))}; it may use: {allowed}")
            if key in NON_EMPTY and not template.strip():
                raise DataError(f"{where}: {key} must not be empty")
            slots[key] = template
    if complete:
        missing = [f"{s}.{k}" for s, body in SLOTS.items() for k in body if f"{s}.{k}" not in slots]
        if missing:
            raise DataError(f"{where}: missing slot(s) {', '.join(missing)}")
    return slots, tools


@functools.lru_cache(maxsize=1)
def _defaults() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    from autoact.io import read_mapping
    return _parse(read_mapping(DEFAULT_FILE, "prompts file"), str(DEFAULT_FILE), known_tools=None)


@functools.lru_cache(maxsize=1)
def default_prompts() -> Prompts:
    slots, tools = _defaults()
    return Prompts(dict(slots), {k: dict(v) for k, v in tools.items()}, None)


def load_prompts(path: str | Path | None = None) -> Prompts:
    """The shipped prompts overlaid with ``path`` (YAML or JSON); ``None``: the shipped ones."""
    if path is None or str(path) == "":
        return default_prompts()
    from autoact.io import read_mapping
    data = read_mapping(path, "prompts file")
    slots, tools = _defaults()
    user_slots, user_tools = _parse(data, str(path), known_tools=list(tools))
    merged_tools = {k: dict(v) for k, v in tools.items()}
    for name, texts in user_tools.items():
        merged_tools.setdefault(name, {}).update(texts)
    return Prompts({**slots, **user_slots}, merged_tools, str(path))


def resolve(prompts: Prompts | None) -> Prompts:
    return prompts if prompts is not None else default_prompts()
