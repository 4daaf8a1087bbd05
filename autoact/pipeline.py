"""The whole AutoAct pipeline in one command, into one work folder.

    python -m autoact.pipeline                      # --preset learning: offline, CPU, ~30 min on 2 cores
    python -m autoact.pipeline --preset smoke       # offline plumbing check, ~1 min
    python -m autoact.pipeline --preset hotpotqa --set model.base_model=/models/Llama-2-13b-chat-hf
    python -m autoact.pipeline --config my.yaml --set train.num_train_epochs=3

Stages, each the ``run(settings)`` of its module in :mod:`autoact.stages`, the code its script
runs: self_instruct (Self_Instruct/data_generation.py) -> tool_selection (tool_selected.py) ->
trajectories (run_task.py) -> filter (Scripts/filter_data.py) -> train (train_lora.py, once per
agent) -> eval (run_eval.py) -> report (Scripts/report.py). A stage whose complete output exists
is skipped, so a rerun after a crash continues where it stopped. Settings: a preset, then a
YAML/JSON config file, then ``--set section.key=value``; the keys of a stage's section are the
fields of its ``Settings`` (its script's flags; unknown keys are an error);
``train.plan``, ``train.tool``, ``train.reflect`` and ``train.single`` hold one agent's own
training flags, merged over the section's.

The ``learning`` preset (the default when no server is configured) needs no GPU, network or
weights: on two tasks (WikiFacts, Arithmetic) it pre-trains the small ``demo`` base once (cached),
lets the scripted DEMO TEACHER play the Meta-Agent for the first three stages, then runs the real
chain (filter, LoRA training of the three agents and of the single agent, group planning on
held-out questions) and reports autoact beside the untrained base (zeroshot), single and
no_reflect: the method learning, in miniature. The ``smoke`` preset needs no GPU, network or
weights either and takes about a minute: it builds the tiny random model, uses the scripted DEMO
TEACHER (:mod:`autoact.testing.demo_teacher`, not a model) for the first three stages, then
really filters, really LoRA-trains the three agents on the tiny model, really runs group
planning with them on the distractor corpus (the evaluation questions' own contexts: a closed
setting), and writes the report. It shows that every stage and hand-off works on this machine;
its scores mean nothing. The ``hotpotqa``/``scienceqa`` presets
run the reference's protocol: its decoding (the stages' defaults) and live Wikipedia.

``tasks: [a, b]`` (with ``per_task: {a: {...}}``) runs the whole pipeline once per task, each in
``<work_dir>/<task>``, then one report of every task (the ``learning`` preset does so).

Top-level keys besides the stage sections: ``task``, ``task_spec``, ``work_dir``, ``model``,
``prompts`` (a prompts file for every stage), ``wiki`` and ``corpus_index`` (the retrieval
setting of synthesis and evaluation), ``compare`` (methods evaluated beside the main one, each
into ``eval_<method>/``: zeroshot, single, fireact, no_reflect, react, cot, reflexion, rewoo,
chameleon, bolaa, autoact_per_tool, no_filter). ``eval.methods`` lists the main method and the
others in one key: ``--set eval.methods=autoact,cot,react,chameleon,reflexion,bolaa,rewoo,fireact``
is the paper's table. Methods that need more agents get them in the train stage: ``single``/
``fireact`` (``lora/single``), ``autoact_per_tool`` (``lora/tool_<Name>``, one per tool, on the
filter's ``data_tool_<Name>.json``) and ``no_filter`` (autoact on ``lora_unfiltered/``, trained on
``data_unfiltered/``: every trajectory without an error; the row ``autoact -filtering``).
Each stage's seconds go to ``timings.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from autoact.cli import run
from autoact.data import deepspeed_config
from autoact.errors import ConfigError
from autoact.llm.models import ROLES

#: the agents trained in the train stage; each may have its own settings (train.plan: {...})
TRAIN_ROLES = (*ROLES, "single")
#: rows only the pipeline can make, by the run_eval.py method they run: no_filter is autoact on
#: agents trained, in the same run, on the unfiltered trajectories (the paper's -filtering ablation)
PIPELINE_METHODS = {"no_filter": "autoact"}
#: their labels in the report
PIPELINE_LABELS = {"no_filter": "autoact -filtering"}

STAGES = ("self_instruct", "tool_selection", "trajectories", "filter", "train", "eval", "report")
#: each stage's seed script and its module (autoact/stages/<module>.py: ``Settings``, ``run``)
FRONT_ENDS = {
    "self_instruct": ("Self_Instruct/data_generation.py", "self_instruct"),
    "tool_selection": ("Self_Planning/Tool_Selection/tool_selected.py", "tool_selection"),
    "trajectories": ("Self_Planning/Traj_Syn/run_task.py", "trajectories"),
    "filter": ("Scripts/filter_data.py", "filtering"),
    "eval": ("Self_Planning/Group_Planning/run_eval.py", "evaluation"),
    "report": ("Scripts/report.py", "report"),
}
#: keys the pipeline fills itself (paths between stages); a config may not set them
WIRED = {
    "self_instruct": {"source_data", "target_data", "dataset_name", "prompts"},
    "tool_selection": {"task_name", "tool_save_path", "prompts"},
    "trajectories": {"task", "task_path", "save_path", "tools", "agent_name", "prompts"},
    "filter": {"source_path", "save_path", "task_name", "prompts"},
    "train": {"data_path", "output_dir", "model_name_or_path"},
    "eval": {"task", "task_path", "save_path", "tools", "plan_agent", "tool_agent",
             "reflect_agent", "agent_name", "prompts", "tool_agents"},
    "report": {"runs", "out", "trajectories", "filter_data"},
}

#: the preset of ``python -m autoact.pipeline`` without --preset when no server is configured
DEFAULT_OFFLINE_PRESET = "learning"
#: the presets: one YAML file each in autoact/configs/ (a preset may ``extends:`` another)
PRESET_DIR = Path(__file__).with_name("configs")


def load_preset(name: str, _seen: tuple = ()) -> dict:
    """The settings of preset ``name`` (``autoact/configs/<name>.yaml``), ``extends`` resolved."""
    import yaml
    path = PRESET_DIR / f"{name}.yaml"
    if name in _seen or not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(preset_names())}"
                          if name not in _seen else f"preset {name!r} extends itself")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if isinstance(data.get("prompts"), str) and not Path(data["prompts"]).is_absolute():
        data["prompts"] = str((PRESET_DIR / data["prompts"]).resolve())    # beside the preset
    base = data.pop("extends", None)
    return merge(load_preset(base, _seen + (name,)), data) if base else data


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_train_flags(name: str) -> list[str]:
    """``train_lora.py`` flags from a preset's ``train`` section, without the launcher and the
    DeepSpeed config (the caller's choice): what ``Scripts/train_agents.sh`` passes. (A
    preset's settings for one agent, ``train.<agent>``, are the pipeline's alone.)"""
    train = {k: v for k, v in PRESETS[name].get("train", {}).items()
             if k not in ("launcher", "deepspeed", *TRAIN_ROLES)}
    return to_argv(train)


MODEL_KEYS = {"teacher", "meta_agent", "base_model", "base_url", "api_key", "backend"}
TOP_KEYS = {"task", "tasks", "per_task", "work_dir", "model", "task_spec", "prompts", "wiki", "corpus_index",
            "compare"} | set(STAGES)
#: stages that take --prompts, and those that take the retrieval flags
PROMPT_STAGES = ("self_instruct", "tool_selection", "trajectories", "filter", "eval")
RETRIEVAL_STAGES = ("trajectories", "eval")


# ----------------------------------------------------------------------------- configuration

def load_config_file(path: str) -> dict:
    from autoact.io import read_mapping
    return read_mapping(path, "config file")


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


PRESETS: dict[str, dict] = {name: load_preset(name) for name in preset_names()}


def yield_to(per_task: dict, user: dict) -> dict:
    """A preset's ``per_task`` settings without those the user set for every task: the user's
    ``--set self_instruct.generate_all_num=50`` (or the same key in ``--config``) beats the
    preset's per-task value of it, as it beats the preset's shared one. The user's own
    ``per_task`` still applies over everything."""
    def prune(target: dict, over: dict) -> dict:
        out = {}
        for k, v in target.items():
            if k not in over:
                out[k] = v
            elif isinstance(v, dict) and isinstance(over[k], dict):
                if kept := prune(v, over[k]):
                    out[k] = kept
        return out
    shared = {k: v for k, v in user.items() if k not in ("per_task", "tasks", "task")}
    return {task: prune(settings, shared) if isinstance(settings, dict) else settings
            for task, settings in per_task.items()}


def parse_value(text: str):
    """``--set`` values: JSON when they parse (numbers, true/false, lists), a YAML flow list
    (``[arithmetic, wikifacts]``), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if text.startswith("[") and text.endswith("]"):
        import yaml
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            return text
        return value if isinstance(value, list) else text
    return text


def apply_sets(config: dict, sets: Sequence[str]) -> dict:
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--set expects section.key=value or key=value, got {item!r}")
        parts = key.split(".")
        node = config
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item}: {part} is not a section")
        node[parts[-1]] = parse_value(value)
    return config


def stage_module(stage: str):
    """The stage's module: ``autoact.stages.<module>`` (``Settings``, ``run``)."""
    import importlib
    return importlib.import_module(f"autoact.stages.{FRONT_ENDS[stage][1]}")


def stage_flags(stage: str) -> dict:
    """The settings a stage takes (field name -> :class:`autoact.settings.Flag`; for training,
    the names of its dataclasses' fields -> None)."""
    if stage == "train":
        from autoact.stages.training import names
        return {n: None for n in names()} | {"launcher": None}
    from autoact.settings import flags
    return flags(stage_module(stage).Settings)


def _is_text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def validate(config: dict) -> None:
    """Every key known and every value of the right type, before any stage runs (a wrong
    value would otherwise stop the run midway, after hours of earlier stages)."""
    unknown = sorted(set(config) - TOP_KEYS)
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; valid: {', '.join(sorted(TOP_KEYS))}")
    if config.get("tasks") is not None or config.get("per_task") is not None:
        for sub in task_configs(config):
            try:
                validate(sub)
            except ConfigError as err:
                raise ConfigError(f"task {sub['task']}: {err}") from None
        return
    for key in ("task", "work_dir", "prompts", "corpus_index"):
        if config.get(key) is not None and not _is_text(config[key]):
            raise ConfigError(f"{key} must be a non-empty string, got {json.dumps(config[key])}")
    if not all(_is_text(s) for s in _as_list(config.get("task_spec"))):
        raise ConfigError(f"task_spec must be a file name or a list of them, got {json.dumps(config['task_spec'])}")
    if config.get("model") is not None and not isinstance(config["model"], dict):
        raise ConfigError(f"model must be a mapping (model.base_model=..., model.base_url=...), "
                          f"got {json.dumps(config['model'])}")
    bad = sorted(set(config.get("model") or {}) - MODEL_KEYS)
    if bad:
        raise ConfigError(f"unknown model key(s) {', '.join(bad)}; valid: {', '.join(sorted(MODEL_KEYS))}")
    model = config.get("model") or {}
    for key, value in model.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            model[key] = value = str(value)         # e.g. a numeric key given with --set
        if value is not None and not (_is_text(value) or (key == "base_url" and isinstance(value, list)
                                                          and all(_is_text(v) for v in value))):
            shown = "(hidden)" if key == "api_key" else json.dumps(value)
            raise ConfigError(f"model.{key} must be a string, got {shown}")
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    if train.get("launcher", "python") not in ("python", "deepspeed"):
        raise ConfigError(f"train.launcher must be python or deepspeed, got {json.dumps(train['launcher'])}")
    if train.get("deepspeed") is not None and not isinstance(train["deepspeed"], dict):
        from autoact.io import read_mapping
        read_mapping(deepspeed_config(train["deepspeed"]), "DeepSpeed config")
    compare = config.get("compare")
    if compare is not None:
        from autoact.stages.evaluation import ALIASES, METHODS
        allowed = [m for m in (*METHODS, *ALIASES, *PIPELINE_METHODS) if m != "autoact"]   # beside the main one
        if not isinstance(compare, list) or len(set(map(str, compare))) != len(compare) \
                or any(m not in allowed for m in compare):
            raise ConfigError(f"compare must be a list of distinct methods of {', '.join(allowed)}, "
                              f"got {json.dumps(compare)}")
    main, compare = eval_methods(config)
    filter_sec = config.get("filter") if isinstance(config.get("filter"), dict) else {}
    if "no_filter" in (main, *compare) and filter_sec.get("criterion") == "none":
        raise ConfigError("no_filter trains on the unfiltered trajectories beside the filtered ones; with "
                          "filter.criterion=none every agent already is: drop one of the two")
    if config.get("wiki") is not None and config["wiki"] not in ("live", "offline", "distractor"):
        raise ConfigError(f"wiki must be live, offline or distractor, got {config['wiki']!r}")
    for stage in STAGES:
        section = config.get(stage) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"config section {stage!r} must be a mapping of flags")
        flags = stage_flags(stage)
        parts = [("", section)]             # (agent, settings): train.plan: {...} is one agent's
        if stage == "train":
            for role in TRAIN_ROLES:
                if section.get(role) is not None and not isinstance(section[role], dict):
                    raise ConfigError(f"train.{role} must be a mapping of training flags for the {role} "
                                      f"agent, got {json.dumps(section[role])}")
            parts = [("", {k: v for k, v in section.items() if k not in TRAIN_ROLES})] + \
                [(role, section[role]) for role in TRAIN_ROLES if section.get(role) is not None]
        for agent, settings in parts:
            for key in settings:
                name = f"{stage}.{agent + '.' if agent else ''}{key}"
                if agent and (key in WIRED[stage] or key == "launcher" or key in TRAIN_ROLES):
                    raise ConfigError(f"{name} cannot be set for one agent")
                if key in WIRED[stage]:
                    raise ConfigError(f"{name} is set by the pipeline (it wires the stages together)")
                if stage == "eval" and key == "methods":
                    continue                # the pipeline's own key (eval_methods)
                if key not in flags:
                    raise ConfigError(f"unknown key {name}: not a flag of {FRONT_ENDS.get(stage, ('train_lora.py',))[0]}")
                check_value(stage, key, settings[key], flags[key], agent=agent)


def eval_methods(config: dict) -> tuple[str, list[str]]:
    """The main method (its run in ``eval/``) and the others (each in ``eval_<method>/``):
    ``eval.methods`` (a list, or names separated by commas: the first is the main one), else
    ``eval.method`` and ``compare``."""
    from autoact.stages.evaluation import ALIASES, METHODS
    section = config.get("eval") if isinstance(config.get("eval"), dict) else {}
    main = str(section.get("method") or "autoact")
    compare = [str(m) for m in _as_list(config.get("compare"))]
    listed = section.get("methods")
    if listed is None:
        return main, [m for m in compare if m != main]
    names = [m.strip() for m in listed.split(",")] if isinstance(listed, str) else \
        [str(m).strip() for m in listed] if isinstance(listed, list) else None
    known = (*METHODS, *ALIASES, *PIPELINE_METHODS)
    if not names or any(n not in known for n in names) or len(set(names)) != len(names):
        raise ConfigError(f"eval.methods must list distinct methods of {', '.join(known)}, got {json.dumps(listed)}")
    if section.get("method") and str(section["method"]) != names[0]:
        raise ConfigError(f"eval.method {section['method']} and eval.methods (first {names[0]}) disagree on "
                          f"the main method; set one of them")
    return names[0], [m for m in dict.fromkeys(compare + names[1:]) if m != names[0]]


def task_configs(config: dict) -> list[dict]:
    """The one-task configs a config runs: itself, or with ``tasks: [a, b]`` one per task, each
    in ``<work_dir>/<task>`` with its ``per_task.<task>`` settings merged over the shared ones."""
    tasks, per_task = config.get("tasks"), config.get("per_task") or {}
    if tasks is None:
        if per_task:
            raise ConfigError("per_task is set without tasks: give the list of tasks it belongs to")
        return [config]
    if not isinstance(tasks, list) or not tasks or not all(_is_text(t) for t in tasks) \
            or len({str(t).lower() for t in tasks}) != len(tasks):
        raise ConfigError(f"tasks must be a list of distinct task names, got {json.dumps(tasks)}")
    if config.get("task") is not None:
        raise ConfigError("task and tasks are both set; run one task of a multi-task preset with "
                          "--task NAME")
    if not isinstance(per_task, dict) or not all(isinstance(v, dict) for v in per_task.values()):
        raise ConfigError(f"per_task must map task names to settings, got {json.dumps(per_task)}")
    from autoact.tasks import get_task, register_spec
    for spec in _as_list(config.get("task_spec")):
        register_spec(spec)
    running = {str(t).lower() for t in tasks}
    for name in sorted(k for k in per_task if str(k).lower() not in running):   # kept for later
        try:
            get_task(str(name))
        except ConfigError:
            raise ConfigError(f"per_task names {name}, which is not a task "
                              f"(tasks: {', '.join(map(str, tasks))})") from None
    work = Path(str(config.get("work_dir", "runs/smoke")))
    return [one_task(config, str(t)) | {"work_dir": str(work / str(t).lower())} for t in tasks]


def one_task(config: dict, task: str) -> dict:
    """``config`` narrowed to ``task``: a multi-task config's ``per_task`` settings for it
    merged in, ``tasks`` dropped."""
    per_task = config.get("per_task") if isinstance(config.get("per_task"), dict) else {}
    out = {k: v for k, v in config.items() if k not in ("tasks", "per_task")}
    for key, settings in per_task.items():          # the task's name in any case
        if str(key).lower() == task.lower() and isinstance(settings, dict):
            out = merge(out, settings)
    return out | {"task": task}


def check_value(stage: str, key: str, value, flag, *, agent: str = "") -> None:
    """A stage setting parses as its flag would (the flag's own type and choices; for training,
    the dataclass field's type), else a :class:`ConfigError` naming ``stage.key`` (with the
    agent's name between them for one agent's training setting)."""
    if value is None:
        return
    name = f"{stage}.{agent + '.' if agent else ''}{key}"
    if stage != "train":
        from autoact.settings import convert
        convert(flag, value, name)
        return
    where = f"{name}={json.dumps(value)}"
    if isinstance(value, dict):
        raise ConfigError(f"{where}: a flag value cannot be a mapping")
    from autoact.stages.training import field_types
    kind = field_types().get(key)
    ok = {int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          # YAML reads 1e-4 (no dot) as a string
          float: lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool)) or _float_text(v),
          bool: lambda v: isinstance(v, bool) or str(v).lower() in ("true", "false"),
          }.get(kind, lambda v: not isinstance(v, (list, dict)) or kind is list)
    if not ok(value):
        raise ConfigError(f"{where}: expected {kind.__name__ if kind else 'a value'}")


def _float_text(value) -> bool:
    import math
    try:
        return isinstance(value, str) and math.isfinite(float(value))
    except ValueError:
        return False


def to_argv(values: dict) -> list[str]:
    """Training settings as ``train_lora.py`` flags: what a DeepSpeed launch and
    ``Scripts/train_agents.sh`` pass, and what transformers' own parser reads (with the seed
    spellings it renamed mapped)."""
    argv: list[str] = []
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, list):
            argv += [f"--{key}", *map(str, value)]
        else:
            argv += [f"--{key}", str(value)]
    return argv


# ----------------------------------------------------------------------------- the run

class Pipeline:
    def __init__(self, config: dict, debug: bool = False):
        from autoact.tasks import get_task, register_spec
        self.config = config
        self.debug = debug
        for spec in _as_list(config.get("task_spec")):
            register_spec(spec)
        self.task = get_task(config.get("task", "hotpotqa"))
        self.work = Path(config.get("work_dir", "runs/smoke"))
        self.model = dict(config.get("model") or {})
        self.paths = {
            "seeds": self.work / "seed_examples.json",
            "self_instruct": self.work / "self_instruct.json",
            "tools": self.work / "tools.json",
            "trajectories": self.work / "trajectories.jsonl",
            "data": self.work / "data",
            "lora": self.work / "lora",
            "data_unfiltered": self.work / "data_unfiltered",      # no_filter: criterion none
            "lora_unfiltered": self.work / "lora_unfiltered",
            "eval": self.work / "eval",
            "report": self.work / "report",
            "timings": self.work / "timings.json",
        }
        self.main_method, self.compare = eval_methods(config)
        self.retrained: set[Path] = set()     # adapters trained in this run (their evaluations start afresh)

    # -- helpers -----------------------------------------------------------------------------
    def section(self, stage: str) -> dict:
        sec = dict(self.config.get(stage) or {})
        if stage == "eval":
            sec.pop("methods", None)        # the pipeline's own key: the runs eval_dirs lists
        return sec

    def llm_settings(self, teacher_ok: bool) -> dict:
        """The model backend of a Meta-Agent stage: the scripted teacher where the config names
        one, else the configured server."""
        m = self.model
        if teacher_ok and m.get("teacher"):
            return {"scripted_policy": m["teacher"]}
        return {key: m[key] for key in ("base_url", "api_key", "backend") if m.get(key)}

    def common(self, stage: str | None = None) -> dict:
        """Settings every stage gets: task specs, debug, and by stage the prompts file and the
        retrieval setting (a stage section's own wiki/corpus_index win)."""
        out: dict = {"task_spec": [str(spec) for spec in _as_list(self.config.get("task_spec"))]}
        if stage in PROMPT_STAGES and self.config.get("prompts"):
            out["prompts"] = str(self.config["prompts"])
        if stage in RETRIEVAL_STAGES:
            sec = self.section(stage)
            for key in ("wiki", "corpus_index"):
                value = self.config.get(key)
                if key == "wiki" and value == "distractor" and self.task.corpus is not None:
                    continue      # a task with its own corpus reads it, not HotpotQA's contexts
                if value and key not in sec:
                    out[key] = str(value)
        return out | ({"debug": True} if self.debug else {})

    def call(self, stage: str, *parts: dict):
        """Run ``stage`` on the settings ``parts`` merge to: a later part's value wins, except
        for repeatable flags (task specs, server URLs, adapters), whose values add up as
        repeated flags do."""
        from autoact.settings import flags, from_mapping
        from autoact.tasks import register_spec
        module = stage_module(stage)
        repeatable = {name for name, fl in flags(module.Settings).items() if fl.kind == "append"}
        values: dict = {}
        for part in parts:
            for key, value in part.items():
                if key in repeatable and value is not None and values.get(key) is not None:
                    values[key] = _as_list(values[key]) + _as_list(value)
                else:
                    values[key] = value
        settings = from_mapping(module.Settings, values, stage)
        for spec in settings.task_spec:
            register_spec(spec)
        return module.run(settings)

    def base_model(self) -> str:
        name = str(self.model.get("base_model") or "")
        if name in ("tiny", "demo"):
            from autoact.testing.tiny import SIZES, build_tiny_model, cached_tiny_model
            config = SIZES[name]
            if config.pretrain_steps:          # minutes to build: kept in the user's cache
                return str(cached_tiny_model(name, config))
            return str(build_tiny_model(self.work / f"{name}-model", config))
        if not name:
            raise ConfigError("model.base_model is not set: the model the agents are trained on "
                              "(a folder, hub id or alias), e.g. --set model.base_model=/models/Llama-2-13b-chat-hf")
        return name

    def seed_file(self) -> Path:
        if self.task.seed_path is not None:
            return Path(self.task.seed_path)
        from autoact.io import write_json_atomic
        seeds = getattr(self.task, "seed_examples", None)
        if not seeds:
            raise ConfigError(f"task {self.task.name} has no seed examples for self-instruct")
        write_json_atomic(self.paths["seeds"], seeds)
        return self.paths["seeds"]

    def eval_path(self) -> Path:
        path = self.task.eval_path
        if path is None:
            raise ConfigError(f"task {self.task.name} has no eval_path: set it in its spec file")
        return Path(path)

    # -- stages ----------------------------------------------------------------------------
    def self_instruct(self) -> tuple[str, Path]:
        out = self.paths["self_instruct"]
        sec = self.section("self_instruct")
        n = int(sec.get("generate_all_num", 800))
        if out.exists():
            from autoact.io import read_records
            if len(read_records(out, list_only=True)) >= n:
                return "skip", out
        wired = {"source_data": str(self.seed_file()), "target_data": str(out), "dataset_name": self.task.name,
                 "model_name": self.model.get("meta_agent", "llama-2-13b-chat")}
        self.call("self_instruct", wired, sec, self.llm_settings(True), self.common("self_instruct"))
        return "done", out

    def tool_selection(self) -> tuple[str, Path]:
        out = self.paths["tools"]
        if out.exists():
            return "skip", out
        wired = {"task_name": self.task.name, "tool_save_path": str(out),
                 "model_name": self.model.get("meta_agent", "llama-2-13b-chat")}
        self.call("tool_selection", wired, self.section("tool_selection"), self.llm_settings(True),
                  self.common("tool_selection"))
        return "done", out

    def trajectories(self) -> tuple[str, Path]:
        out = self.paths["trajectories"]
        if _log_complete(out, self.task.load_file(self.paths["self_instruct"])):
            return "skip", out
        wired = {"agent_name": "ZeroshotThink_run_Agent", "llm_name": self.model.get("meta_agent", "llama-2-13b-chat"),
                 "task": self.task.name, "task_path": str(self.paths["self_instruct"]), "save_path": str(out),
                 "tools": str(self.paths["tools"])}
        self.call("trajectories", wired, self.section("trajectories"), self.llm_settings(True),
                  self.common("trajectories"))
        return "done", out

    def methods(self) -> set[str]:
        return {self.main_method, *self.compare}

    def filter(self) -> tuple[str, Path]:
        sec = {"filter_num": 200, **self.section("filter")}
        if "autoact_per_tool" in self.methods():
            sec["per_tool"] = True              # data_tool_<Name>.json: one tool agent per tool
        wired = {"source_path": str(self.paths["trajectories"]), "save_path": str(self.paths["data"]),
                 "task_name": self.task.name}
        built = bool(self.call("filter", wired, sec, self.common("filter")))
        if "no_filter" in self.methods():      # the same trajectories, unfiltered, for -filtering
            built = bool(self.call("filter", wired, sec, {"save_path": str(self.paths["data_unfiltered"]),
                                                          "criterion": "none"}, self.common("filter"))) or built
        return ("done" if built else "skip"), self.paths["data"]

    def per_tool_agents(self) -> dict[str, str]:
        """``{tool: agent name}`` of the per-tool agents (``autoact_per_tool``): one per tool
        with training data, the folder name ``tool_<Name>`` under ``lora/``."""
        from autoact.io import read_json
        entries = read_json(self.paths["data"] / "data_config.json").get("per_tool") or {}
        return {tool: Path(entry["file"]).stem.removeprefix("data_") for tool, entry in entries.items()}

    def train_jobs(self) -> list[tuple[str, str, Path, Path]]:
        """``(label, settings key, data file, adapter folder)`` of every agent the methods need."""
        data, lora = self.paths["data"], self.paths["lora"]
        jobs = [(role, role, data / f"data_{role}.json", lora / role) for role in ROLES]
        if {"single", "fireact"} & self.methods():      # one adapter on every role's data
            jobs.append(("single", "single", self.single_data(), lora / "single"))
        if "autoact_per_tool" in self.methods():
            jobs += [(f"{name} ({tool})", "tool", data / f"data_{name}.json", lora / name)
                     for tool, name in self.per_tool_agents().items()]
        if "no_filter" in self.methods():
            jobs += [(f"{role} (unfiltered)", role, self.paths["data_unfiltered"] / f"data_{role}.json",
                      self.paths["lora_unfiltered"] / role) for role in ROLES]
        return jobs

    def train(self) -> tuple[str, Path]:
        from autoact.train import RECORD_FILE
        sec = self.section("train")
        launcher = sec.pop("launcher", "python")
        if isinstance(sec.get("deepspeed"), str):
            sec["deepspeed"] = str(deepspeed_config(sec["deepspeed"]).resolve())
        per_role = {role: sec.pop(role) or {} for role in TRAIN_ROLES if role in sec}
        base = self.base_model()
        trained = 0
        for label, role, data, out in self.train_jobs():
            values = {"model_name_or_path": base, "data_path": str(data),
                      "output_dir": str(out)} | sec | per_role.get(role, {})
            request = train_request(values, launcher, data)
            if _trained_for(out, request):
                print(f"  the {label} agent is up to date: {out}")
                continue
            before = _sha256(out / RECORD_FILE) if (out / RECORD_FILE).is_file() else None
            print(f"  training the {label} agent -> {out}")
            if launcher == "python":         # one process: the base is loaded once for every agent
                from autoact.stages import training
                training.run(training.from_mapping(values), keep_base=True)
            else:
                self._train_subprocess(launcher, to_argv(values))
            if not (out / RECORD_FILE).exists():
                raise ConfigError(f"training the {label} agent did not produce {out / RECORD_FILE}")
            from autoact.io import write_json_atomic
            after = _sha256(out / RECORD_FILE)
            if after != before:       # trained now (not an adapter the trainer found up to date)
                trained += 1
                self.retrained.add(out)
            write_json_atomic(out / REQUEST_FILE, request | {"record_sha256": after})
        from autoact.stages.training import release_bases
        release_bases()
        return ("done" if trained else "skip"), self.paths["lora"]

    def single_data(self) -> Path:
        """``data/data_single.json``: the three roles' examples in one file, for ``single``
        (rewritten only when they changed: the report's up-to-date check reads its time)."""
        from autoact.io import read_json, write_json_atomic
        out = self.paths["data"] / "data_single.json"
        rows = [row for role in ROLES for row in read_json(self.paths["data"] / f"data_{role}.json")]
        write_json_atomic(out, rows, only_if_changed=True)
        return out

    def _train_subprocess(self, launcher: str, argv: list[str]) -> None:
        import subprocess
        if launcher != "deepspeed":
            raise ConfigError(f"train.launcher must be python or deepspeed, got {launcher!r}")
        cmd = ["deepspeed"]
        if os.environ.get("DS_ACCELERATOR") == "cpu":
            cmd += ["--num_gpus", "1"]
        cmd += ["--module", "autoact.commands.train", *argv]
        proc = subprocess.run(cmd)
        if proc.returncode != 0:
            raise ConfigError(f"training failed (exit {proc.returncode}): {' '.join(cmd[:6])} ...")

    def eval_dirs(self) -> dict[str, Path]:
        """The evaluation folders by method: the main one in ``eval/``, each ``compare``
        method in ``eval_<method>/``."""
        return {self.main_method: self.paths["eval"]} | {m: self.work / f"eval_{m}" for m in self.compare}

    def eval(self) -> tuple[str, Path]:
        ran = False
        for method, out in self.eval_dirs().items():
            if out != self.paths["eval"]:
                print(f"  comparing: {method} -> {out}", flush=True)
            ran = self.eval_one(method, out) is not False or ran
        return ("done" if ran else "skip"), self.paths["eval"] / "summary.json"

    def eval_one(self, method: str, out: Path):
        from autoact.stages.evaluation import ALIASES, TUNED_METHODS
        run_as = PIPELINE_METHODS.get(method, method)
        sec = self.section("eval") | {"method": run_as}
        if method in PIPELINE_LABELS:
            sec.setdefault("label", PIPELINE_LABELS[method])
        kind = ALIASES.get(run_as, run_as)          # fireact is single
        lora = self.paths["lora_unfiltered"] if method == "no_filter" else self.paths["lora"]
        served = {role: f"{role}_unfiltered" if method == "no_filter" else role for role in ROLES}
        wired = {"agent_name": "ZeroshotThink_run_Agent", "task": self.task.name,
                 "task_path": str(self.eval_path()), "save_path": str(out), "tools": str(self.paths["tools"])}
        if self.model.get("base_url") and not sec.get("backend") == "hf":
            wired["base_url"] = self.model["base_url"]
            if kind not in TUNED_METHODS and self.model.get("base_model"):
                wired["llm_name"] = str(self.model["base_model"])
            for role in ROLES:        # a server serving the adapters under their role names
                wired[f"{role}_agent"] = served[role]
            if kind == "single":
                wired["single_agent"] = "single"
            if kind == "autoact_per_tool":       # ... and the per-tool agents under their folders' names
                wired["tool_agents"] = [f"{tool}={name}" for tool, name in self.per_tool_agents().items()]
        else:
            wired |= {"backend": "hf", "base_model": self.base_model()}
            for role in ROLES:
                wired[f"{role}_agent"] = str(lora / role)
            if kind == "single":
                wired["single_agent"] = str(self.paths["lora"] / "single")
            if kind == "autoact_per_tool":
                wired["tool_agents"] = [f"{tool}={lora / name}" for tool, name in self.per_tool_agents().items()]
        used = {Path(str(wired.get("single_agent")))} if kind == "single" else \
            {Path(str(wired.get(f"{r}_agent"))) for r in ROLES} | \
            {Path(spec.split("=", 1)[1]) for spec in wired.get("tool_agents", [])}
        if kind in TUNED_METHODS and used & self.retrained:
            # answers of the agents this run replaced are not kept: the evaluation starts afresh
            wired["overwrite"] = True
        if self.section("filter").get("criterion") == "none" and "label" not in sec and kind in TUNED_METHODS:
            # agents trained on unfiltered trajectories: the paper's -filtering ablation
            wired["label"] = f"{method} -filtering"
        return self.call("eval", wired, sec, self.common("eval"))

    def report(self) -> tuple[str, Path]:
        out = self.paths["report"]
        runs = [str(d) for d in self.eval_dirs().values() if (d / "summary.json").exists()]
        wired: dict = {"runs": runs, "out": str(out), "sample": 1}
        wired["curves"] = [str(self.paths[d]) for d in ("lora", "lora_unfiltered") if self.paths[d].is_dir()]
        if self.paths["timings"].exists():
            wired["timings"] = [str(self.paths["timings"])]
        wired |= self.synthesis_log()
        inputs = report_inputs(wired, self.section("report"), self.common())
        stamp = out / REPORT_INPUTS_FILE
        complete = all((out / name).is_file() for name in ("report.md", "index.html"))
        if complete and stamp.is_file() and stamp.read_text(encoding="utf-8") == inputs:
            return "skip", out / "report.png"
        self.call("report", wired, self.section("report"), self.common())
        from autoact.io import write_text_atomic
        write_text_atomic(stamp, inputs)
        return "done", out / "report.png"

    def synthesis_log(self) -> dict:
        """The report's view of the synthesis log: the trajectories and the filter's data
        folder (when the filter has run on them)."""
        if not self.paths["trajectories"].is_file():
            return {}
        wired = {"trajectories": [str(self.paths["trajectories"])]}
        if (self.paths["data"] / "data_config.json").is_file():
            wired["filter_data"] = [str(self.paths["data"])]
        return wired

    def check_work_dir(self) -> None:
        """A work folder belongs to one task: its stages' outputs would not fit another."""
        from autoact.io import read_json
        recorded = self.work / "pipeline.json"
        if recorded.is_file():
            old = read_json(recorded)
            if isinstance(old, dict) and old.get("task") and \
                    str(old["task"]).lower() != str(self.config.get("task", "")).lower():
                raise ConfigError(f"{self.work} holds a {old['task']} run; pass another --work_dir "
                                  f"for {self.config.get('task')}")

    def run(self, only: Sequence[str] | None = None) -> None:
        from autoact.io import OutputLock, prepare_output
        if self.work.exists() and not self.work.is_dir():
            raise ConfigError(f"--work_dir {self.work}: is a file, expected a folder")
        self.check_work_dir()
        prepare_output(self.work / "pipeline.json")
        with OutputLock(self.work):
            self._run(only)

    def _run(self, only: Sequence[str] | None) -> None:
        from autoact.io import write_json_atomic
        write_json_atomic(self.work / "pipeline.json", self.config)
        t_all = time.monotonic()
        for stage in STAGES:
            if only and stage not in only:
                continue
            t0 = time.monotonic()
            print(f"[{stage}] ...", flush=True)
            state, artefact = getattr(self, stage)()
            seconds = time.monotonic() - t0
            word = "skipped (complete)" if state == "skip" else f"done in {seconds:.1f} s"
            print(f"[{stage}] {word}: {artefact}", flush=True)
            if state != "skip" and stage != "report":
                self.record_time(stage, seconds)
        print(f"pipeline finished in {time.monotonic() - t_all:.0f} s; work folder {self.work}")

    def record_time(self, stage: str, seconds: float) -> None:
        """``timings.json``: the seconds the last run of each stage took (a skipped stage
        keeps the time of the run that made its output)."""
        from autoact.io import read_json, write_json_atomic
        path = self.paths["timings"]
        from autoact.errors import DataError
        try:
            times = read_json(path) if path.exists() else {}
        except DataError:        # a damaged timings file is only a record: start it afresh
            times = {}
        times = times if isinstance(times, dict) else {}
        times[stage] = round(seconds, 1)
        write_json_atomic(path, {s: times[s] for s in STAGES if s in times})


class MultiTaskRun:
    """A config with ``tasks``: the whole pipeline once per task, each in its own folder
    (``<work_dir>/<task>``), then one report of every task in ``<work_dir>/report``."""

    def __init__(self, config: dict, debug: bool = False):
        self.config = config
        self.debug = debug
        self.work = Path(str(config.get("work_dir", "runs/smoke")))
        self.pipelines = [Pipeline(sub, debug=debug) for sub in task_configs(config)]

    def run(self, only: Sequence[str] | None = None) -> None:
        from autoact.io import OutputLock, prepare_output, read_json, write_json_atomic
        if self.work.exists() and not self.work.is_dir():
            raise ConfigError(f"--work_dir {self.work}: is a file, expected a folder")
        recorded = self.work / "pipeline.json"
        if recorded.is_file():
            old = read_json(recorded)
            if isinstance(old, dict) and old.get("tasks") != self.config.get("tasks"):
                held = old.get("tasks") or old.get("task")
                raise ConfigError(f"{self.work} holds a run of {held}; pass another --work_dir")
        prepare_output(recorded)
        t_all = time.monotonic()
        with OutputLock(self.work):
            write_json_atomic(recorded, self.config)
        stages = [s for s in (only or STAGES) if s != "report"]
        for pipe in self.pipelines if stages else []:
            print(f"=== {pipe.task.name}: {pipe.work}", flush=True)
            pipe.run(stages)
        if not only or "report" in only:
            with OutputLock(self.work):
                print("[report] ...", flush=True)
                out = self.report()
                print(f"[report] done: {out}", flush=True)
        print(f"pipeline finished in {time.monotonic() - t_all:.0f} s; work folder {self.work}")

    def report(self) -> Path:
        runs, curves, timings, logs, folders = [], [], [], [], []
        for pipe in self.pipelines:
            runs += [str(d) for d in pipe.eval_dirs().values() if (d / "summary.json").exists()]
            if pipe.paths["lora"].is_dir():
                curves.append(str(pipe.paths["lora"]))
            if pipe.paths["timings"].exists():
                timings.append(str(pipe.paths["timings"]))
            log = pipe.synthesis_log()
            logs += log.get("trajectories", [])
            folders += log.get("filter_data", [])
        if not runs:
            raise ConfigError(f"nothing to report: no evaluation under {self.work}/*/eval yet")
        out = self.work / "report"
        first = self.pipelines[0]
        first.call("report", {"runs": runs, "out": str(out), "sample": 1, "curves": curves, "timings": timings,
                              "trajectories": logs, "filter_data": folders},
                   first.section("report"), first.common())
        return out / "report.png"


#: beside each adapter the pipeline trained: the settings it asked for (a rerun that asks for the
#: same skips the agent without loading the training libraries)
REQUEST_FILE = "autoact_request.json"


#: in the report folder: what the pipeline's report was made from (unchanged -> not made again)
REPORT_INPUTS_FILE = ".inputs.json"


def report_inputs(*settings: dict) -> str:
    """The report's settings and the files it reads (summaries and level logs, timings, training
    records, the synthesis log and the filter's data), each by size and modification time."""
    files = []
    for part in settings:
        for key in ("runs", "curves", "timings", "trajectories", "filter_data"):
            for folder in _as_list(part.get(key)):
                root = Path(folder)
                found = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()
                                                               and p.suffix in (".json", ".jsonl"))
                files += [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in found]
    return json.dumps({"settings": settings, "files": files}, sort_keys=True, default=str) + "\n"


def _sha256(path: Path) -> str:
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_request(values: dict, launcher: str, data: Path) -> dict:
    """What one agent's training depends on: its settings, the launcher and its data's bytes."""
    return {"settings": json.loads(json.dumps(values, sort_keys=True, default=str)), "launcher": launcher,
            "data_sha256": _sha256(data) if data.is_file() else None}


def _trained_for(out: Path, request: dict) -> bool:
    """``out`` holds the adapter this request trained (and its record is the one written then:
    an adapter retrained by hand in its place is not taken for it)."""
    from autoact.errors import DataError
    from autoact.io import read_json
    from autoact.train import RECORD_FILE
    path, record = out / REQUEST_FILE, out / RECORD_FILE
    if not (path.is_file() and record.is_file() and (out / "adapter_config.json").is_file()):
        return False
    try:
        old = read_json(path)
    except DataError:
        return False
    return isinstance(old, dict) and old.get("record_sha256") == _sha256(record) and \
        {k: v for k, v in old.items() if k != "record_sha256"} == request


def _uses_retrieval(config: dict) -> bool:
    """Whether the task reads HotpotQA's evaluation contexts: its default tools retrieve and it
    has no corpus of its own."""
    from autoact.tasks import get_task, register_spec
    from autoact.tools import RETRIEVAL_TOOLS
    for spec in _as_list(config.get("task_spec")):
        register_spec(spec)
    task = get_task(config.get("task", "hotpotqa"))
    return bool(RETRIEVAL_TOOLS & set(task.default_tools)) and task.corpus is None


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _log_complete(path: Path, examples) -> bool:
    if not path.exists():
        return False
    from autoact.io import read_jsonl_latest
    done = {r["id"] for r in read_jsonl_latest(path) if not r.get("error")}
    return all(ex.id in done for ex in examples)


# ----------------------------------------------------------------------------- the command

def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autoact.pipeline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="learning (the default when OPENAI_BASE_URL is not set: offline, two tasks, "
                        "the demo base pre-trained and the agents trained on the CPU through every "
                        "stage, rows autoact/zeroshot/single/no_reflect; ~30 min on 2 cores), smoke "
                        "(offline plumbing check on a tiny random model, ~1 min; scores mean "
                        "nothing), hotpotqa or scienceqa (the paper's recipe with the seed's "
                        "hyper-parameters; the default when OPENAI_BASE_URL is set)")
    p.add_argument("--config", default=None, help="YAML/JSON config merged over the preset")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one setting, e.g. --set train.num_train_epochs=3 --set "
                        "model.base_url=http://127.0.0.1:8000/v1 (repeatable)")
    p.add_argument("--task", default=None, help="task name (overrides the preset's)")
    p.add_argument("--task_spec", action="append", default=[], metavar="FILE",
                   help="register a task from a spec file (repeatable)")
    p.add_argument("--work_dir", default=None, help="work folder (default runs/<preset>)")
    p.add_argument("--only", default=None, help=f"comma-separated stages to run (of {', '.join(STAGES)})")
    p.add_argument("--debug", action="store_true", help="full tracebacks instead of one-line errors")
    p.add_argument("--train_flags", action="store_true",
                   help="print the preset's train_lora.py flags, one per line, and exit (what "
                        "Scripts/train_agents.sh reads)")
    return p


def resolve_config(args: argparse.Namespace) -> tuple[str, dict]:
    preset = args.preset or ("hotpotqa" if os.environ.get("OPENAI_BASE_URL") else DEFAULT_OFFLINE_PRESET)
    config = copy.deepcopy(PRESETS[preset])
    user = merge(load_config_file(args.config), {}) if args.config else {}
    user = apply_sets(user, args.set)
    # the user's task or tasks replace the preset's (a preset names one of the two)
    if "tasks" in user and "task" not in user:
        config.pop("task", None)
    task = args.task or (user.pop("task") if "task" in user and "tasks" not in user
                         and config.get("tasks") is not None else None)
    if isinstance(config.get("per_task"), dict):
        config["per_task"] = yield_to(config["per_task"], user)
    config = merge(config, user)
    if task and config.get("tasks") is not None:
        config = one_task(config, task)
        if not args.work_dir:          # one work folder per task: runs/learning-arithmetic
            config["work_dir"] = f"{config.get('work_dir', 'runs/' + preset)}-{task.lower()}"
    elif args.task and args.task.lower() != str(config.get("task", "")).lower():
        config["task"] = args.task
        if not args.work_dir:          # one work folder per task: runs/smoke-arithmetic
            config["work_dir"] = f"{config.get('work_dir', 'runs/' + preset)}-{args.task.lower()}"
    if args.task_spec:
        config["task_spec"] = _as_list(config.get("task_spec")) + list(args.task_spec)
    if args.work_dir:
        config["work_dir"] = args.work_dir
    from autoact import secrets
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    secrets.register(str(model["api_key"]) if model.get("api_key") is not None else None)
    for url in _as_list(model.get("base_url")):
        if isinstance(url, str):
            secrets.register_url(url)
    validate(config)
    return preset, config


def main(args: argparse.Namespace) -> None:
    if args.train_flags:
        print("\n".join(preset_train_flags(args.preset or "hotpotqa")))
        return
    preset, config = resolve_config(args)
    subs = task_configs(config)
    tasks = ", ".join(str(c.get("task")) for c in subs)
    print(f"preset {preset}; task{'s' if len(subs) > 1 else ''} {tasks}; work folder {config.get('work_dir')}")
    if preset == "smoke" or (config.get("model") or {}).get("teacher"):
        print("note: the first three stages use the DEMO TEACHER, a scripted stand-in for the "
              "Meta-Agent (not a model); " + ("scores are meaningless, the point is that every stage runs"
                                              if preset == "smoke" else "everything after it is the real chain"))
    if any(c.get("wiki") == "distractor" and _uses_retrieval(c) for c in subs):
        print("note: retrieval is the distractor setting (the evaluation questions' own context "
              "paragraphs, gold included): a closed setting, not the paper's open Wikipedia")
    only = [s.strip() for s in args.only.split(",")] if args.only else None
    if only:
        bad = [s for s in only if s not in STAGES]
        if bad:
            raise ConfigError(f"unknown stage(s) {', '.join(bad)}; stages: {', '.join(STAGES)}")
    if config.get("tasks") is None:
        Pipeline(config, debug=args.debug).run(only)
    else:
        MultiTaskRun(config, debug=args.debug).run(only)


def cli(argv: Sequence[str] | None = None) -> int:
    return run(main, make_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
