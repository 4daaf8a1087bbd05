"""Generated bad inputs across every script, run in-process (the subprocess matrix in
test_bad_inputs.py covers the real command lines).

The cases are generated, not hand-picked: every numeric flag of every stage parser gets the
values its validator refuses; every input-file flag gets each kind of broken file (missing, a
folder, empty, not UTF-8, not JSON, the wrong top-level type, fields of the wrong type); every
existing output gets corrupted; outputs are pointed at inputs (also through symlinks). Each case
asserts: a non-zero exit, exactly one error line that names the flag or file, no traceback, and
every file that existed before byte-identical after.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from autoact import cli, settings

REPO = Path(__file__).resolve().parents[2]
META = str(REPO / "Self_Instruct/Meta_sample/Meta_Hotpotqa.json")
HOTPOT = str(REPO / "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa")
EASY = HOTPOT + "/easy.jsonl"
DEAD = "http://127.0.0.1:9/v1"

SCRIPTS = {
    "si": "Self_Instruct/data_generation.py",
    "ts": "Self_Planning/Tool_Selection/tool_selected.py",
    "rt": "Self_Planning/Traj_Syn/run_task.py",
    "fd": "Scripts/filter_data.py",
    "re": "Self_Planning/Group_Planning/run_eval.py",
    "bc": "Scripts/build_corpus.py",
    "rp": "Scripts/report.py",
    "an": "Scripts/analysis.py",
}
_modules: dict = {}


def script(name: str):
    if name not in _modules:
        path = REPO / SCRIPTS[name]
        spec = importlib.util.spec_from_file_location(f"_matrix_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _modules[name] = module
    return _modules[name]


# ----------------------------------------------------------------------------- base commands


def base(name: str, t: Path, fake: str) -> dict[str, str]:
    """Flags of a command that would run (given a reachable server); cases replace one."""
    return {
        "si": {"--source_data": META, "--target_data": f"{t}/out/si.json",
               "--dataset_name": "hotpotqa", "--generate_all_num": "4", "--model_name": "tiny",
               "--base_url": fake, "--max_retries": "0"},
        "ts": {"--task_name": "HotpotQA", "--tool_save_path": f"{t}/out/tools.json",
               "--model_name": "tiny", "--base_url": fake, "--max_retries": "0"},
        "rt": {"--agent_name": "ZeroshotThink_HotPotQA_run_Agent", "--llm_name": "tiny",
               "--task": "HotpotQA", "--task_path": EASY, "--save_path": f"{t}/out/traj.jsonl",
               "--max_retries": "0", "--base_url": fake, "--wiki": "distractor"},
        "fd": {"--source_path": f"{t}/in/traj.jsonl", "--save_path": f"{t}/out/data",
               "--task_name": "HotpotQA", "--filter_num": "5"},
        "re": {"--agent_name": "ZeroshotThink_HotPotQA_run_Agent", "--task": "HotpotQA",
               "--task_path": HOTPOT, "--save_path": f"{t}/out/eval", "--max_retries": "0",
               "--base_url": fake, "--plan_agent": "tiny", "--wiki": "distractor"},
        "bc": {"--source": f"{t}/in/corpus.jsonl", "--index": f"{t}/out/corpus.sqlite"},
        "rp": {"": f"{t}/in/run", "--out": f"{t}/out/report"},
        "an": {"": f"{t}/in/traj.jsonl"},
    }[name]


def argv(flags: dict[str, str]) -> list[str]:
    out: list[str] = []
    for k, v in flags.items():
        out += [v] if k == "" else [k] if v is None else [k, v]
    return out


GOOD_TRAJ = json.dumps({"id": "a", "question": "Q?", "answer": "x", "task": "HotpotQA",
                        "correct": True, "finished": True, "halted": False, "error": None,
                        "steps": [], "prompt": "I\nQuestion: Q?"}) + "\n"


def invoke(name: str, args: list[str], capsys) -> tuple[int, str]:
    """Run one script's command in this process: (exit status, stderr)."""
    capsys.readouterr()
    try:
        if name == "tl":
            old = sys.argv
            sys.argv = ["train_lora.py", *args]
            try:
                code = script_tl().main()
            finally:
                sys.argv = old
        elif name == "pl":
            from autoact.pipeline import cli as pipeline_cli
            code = pipeline_cli(args)
        else:
            module = script(name)
            code = cli.run(module.main, module.make_parser(), args)
    except SystemExit as stop:          # argparse
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.err


def script_tl():
    if "tl" not in _modules:
        path = REPO / "Self_Planning/Train/train_lora.py"
        spec = importlib.util.spec_from_file_location("_matrix_tl", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _modules["tl"] = module
    return _modules["tl"]


# ----------------------------------------------------------------------------- generation

BAD_NUMBERS = {
    settings.positive_int: ["0", "-3", "1.5", "x", "nan"],
    settings.non_negative_int: ["-1", "x", "2.5"],
    settings.positive_float: ["0", "-1", "nan", "inf", "x"],
    settings.non_negative_float: ["-0.5", "nan", "x"],
    settings.unit_fraction: ["-0.1", "1.5", "nan"],
    settings.top_p_value: ["0", "1.5", "nan"],
    settings.top_k_value: ["-2", "0", "x"],
}

# (script, flag, bad value): training flags checked after parsing
TRAIN_NUMBERS = [("--num_train_epochs", "0"), ("--num_train_epochs", "-1"),
                 ("--learning_rate", "nan"), ("--learning_rate", "0"), ("--learning_rate", "-1e-4"),
                 ("--weight_decay", "-1"), ("--per_device_train_batch_size", "0"),
                 ("--gradient_accumulation_steps", "0"), ("--model_max_length", "1"),
                 ("--logging_steps", "0"), ("--save_steps", "0"), ("--lora_r", "0"),
                 ("--lora_alpha", "0"), ("--lora_alpha", "inf"), ("--lora_dropout", "1"),
                 ("--lora_dropout", "-0.1"), ("--max_steps", "0"), ("--warmup_ratio", "2")]


def number_cases() -> list[tuple]:
    cases = []
    for name in ("si", "ts", "rt", "fd", "re", "bc"):
        for action in script(name).make_parser()._actions:
            bad = BAD_NUMBERS.get(action.type)
            if not bad or not action.option_strings:
                continue
            flag = action.option_strings[0]
            for value in bad:
                cases.append((f"{name}{flag}={value}", name, {flag: value}, {}, flag))
    for flag, value in TRAIN_NUMBERS:
        cases.append((f"tl{flag}={value}", "tl", {flag: value}, {}, flag))
    return cases


NOT_UTF8 = b"\xff\xfe\x00{\x80bad\xc3\x28"

# kinds of broken file: name -> content (bytes), None = a folder, "missing" = nothing
BROKEN = {
    "missing": "missing",
    "folder": None,
    "empty": b"",
    "not_utf8": NOT_UTF8,
    "not_json": b"[{oops",
    "wrong_top": b"42",
}

# input-file flags: (script, flag, file name, {extra broken kind: content})
FILE_FLAGS = [
    ("si", "--source_data", "seed.json", {"wrong_fields": b'[{"Question": 5, "Answer": ["a"]}]'}),
    ("si", "--prompts", "prompts.yaml", {"wrong_fields": b"self_instruct: 5\n"}),
    ("si", "--task_spec", "spec.yaml", {"wrong_fields": b"name: 5\ndescription: []\n"}),
    ("ts", "--prompts", "prompts.yaml", {"wrong_fields": b"tool_selection: [1]\n"}),
    ("ts", "--task_spec", "spec.yaml", {"wrong_fields": b"name: [x]\ndescription: 3\n"}),
    ("rt", "--task_path", "q.jsonl", {"wrong_fields": b'{"question": 5, "answer": "a"}\n'}),
    ("rt", "--tools", "tools.json", {"wrong_fields": b'[{"name": 5}]'}),
    ("rt", "--prompts", "prompts.yaml", {"wrong_fields": b"react_instruction: {a: 1}\n"}),
    ("rt", "--knowledge_graph", "kg.jsonl", {"wrong_fields": b'{"head": 1, "relation": "r"}\n'}),
    ("rt", "--database", "db.sqlite", {}),
    ("rt", "--corpus_index", "corpus.sqlite", {}),
    ("fd", "--source_path", "traj.jsonl", {"wrong_fields": b'{"id": 5, "question": ["q"]}\n'}),
    ("fd", "--prompts", "prompts.yaml", {"wrong_fields": b"plan_instruction: 7\n"}),
    ("re", "--tools", "tools.json", {"wrong_fields": b'{"tools": "Retrieve"}'}),
    ("re", "--prompts", "prompts.yaml", {"wrong_fields": b"reflect_instruction: [1]\n"}),
    ("tl", "--data_path", "train.json", {"wrong_fields": b'[{"input": 5, "output": "y"}]'}),
    ("tl", "--deepspeed", "ds.json",
     {"wrong_fields": b'{"zero_optimization": {"stage": "three"}}',
      "unknown_key": b'{"zero_optimization": {"stagee": 3}}'}),
    ("bc", "--source", "corpus.jsonl", {"wrong_fields": b'{"title": 5, "text": "x"}\n'}),
    ("pl", "--config", "config.yaml", {"wrong_fields": b"model: 5\n"}),
]
# what the error names where it is not the file: the key inside it
EXPECT = {("pl", "--config", "wrong_fields"): "model"}
NOT_JSON_KINDS = {"--database", "--corpus_index"}   # SQLite files: text is the broken form
SQLITE_BROKEN = {"text": b"SQLite? no, a text file\n", "not_utf8": NOT_UTF8}


def file_cases() -> list[tuple]:
    cases = []
    for name, flag, fname, extra in FILE_FLAGS:
        kinds = dict(BROKEN)
        if flag in NOT_JSON_KINDS:
            kinds = {"missing": "missing", "folder": None, **SQLITE_BROKEN}
        kinds.update(extra)
        # the offline corpus is read only in the offline setting
        also = {"--wiki": "offline"} if flag == "--corpus_index" else {}
        for kind, content in kinds.items():
            named = EXPECT.get((name, flag, kind), fname)
            cases.append((f"{name}{flag}:{kind}", name, {flag: f"{{t}}/bad/{fname}", **also},
                          {f"bad/{fname}": content}, named))
    return cases


def other_cases() -> list[tuple]:
    """Folders of level files, existing outputs, in==out, pipeline settings, URLs."""
    log_good = GOOD_TRAJ.encode()
    cases = [
        # run_eval's task folder: level files
        ("re--task_path:missing", "re", {"--task_path": "{t}/bad/levels"}, {}, "levels"),
        ("re--task_path:file", "re", {"--task_path": "{t}/bad/levels"},
         {"bad/levels": b"x"}, "levels"),
        ("re--task_path:no_levels", "re", {"--task_path": "{t}/bad/levels"},
         {"bad/levels/other.txt": b"x"}, "levels"),
        ("re--task_path:level_not_json", "re", {"--task_path": "{t}/bad/levels"},
         {"bad/levels/easy.jsonl": b"{oops\n"}, "easy.jsonl"),
        ("re--task_path:level_not_utf8", "re", {"--task_path": "{t}/bad/levels"},
         {"bad/levels/easy.jsonl": NOT_UTF8}, "easy.jsonl"),
        ("re--task_path:level_wrong_fields", "re", {"--task_path": "{t}/bad/levels"},
         {"bad/levels/easy.jsonl": b'{"question": ["q"], "answer": 1}\n'}, "easy.jsonl"),
        # existing outputs that are not ours or are corrupt
        ("rt-existing-log-not-utf8", "rt", {}, {"out/traj.jsonl": log_good + NOT_UTF8 + b"\n"},
         "traj.jsonl"),
        ("rt-existing-log-wrong-types", "rt", {},
         {"out/traj.jsonl": b'{"id": 5, "question": "q", "steps": "none"}\n'}, "traj.jsonl"),
        ("rt-existing-log-not-objects", "rt", {}, {"out/traj.jsonl": b'[1, 2]\n'}, "traj.jsonl"),
        ("si-progress-not-utf8", "si", {}, {"out/si.progress.jsonl": NOT_UTF8}, "si.progress"),
        ("si-progress-wrong-types", "si", {},
         {"out/si.progress.jsonl": b'{"round": "one", "items": 5}\n'}, "si.progress"),
        ("si-target-not-json", "si", {}, {"out/si.json": b"[{oops"}, "si.json"),
        ("ts-existing-not-utf8", "ts", {}, {"out/tools.json": NOT_UTF8}, "tools.json"),
        ("re-existing-level-log-wrong-types", "re", {"--levels": "easy"},
         {"out/eval/easy.jsonl": b'{"id": [1], "question": 3}\n'}, "easy.jsonl"),
        ("re-existing-level-log-not-utf8", "re", {"--levels": "easy"},
         {"out/eval/easy.jsonl": NOT_UTF8}, "easy.jsonl"),
        ("fd-source-not-utf8-line", "fd", {}, {"in/traj.jsonl": log_good + NOT_UTF8}, "traj.jsonl"),
        # outputs pointed at inputs
        ("si-target-is-source", "si", {"--target_data": "{t}/in/seed.json",
                                       "--source_data": "{t}/in/seed.json"},
         {"in/seed.json": Path(META).read_bytes()}, "seed.json"),
        ("si-target-symlink-to-source", "si", {"--target_data": "{t}/in/link.json",
                                               "--source_data": "{t}/in/seed.json"},
         {"in/seed.json": Path(META).read_bytes(), "in/link.json": ("symlink", "seed.json")},
         "seed.json"),
        ("rt-save-is-task", "rt", {"--save_path": "{t}/in/q.jsonl", "--task_path": "{t}/in/q.jsonl"},
         {"in/q.jsonl": Path(EASY).read_bytes()}, "q.jsonl"),
        ("rt-save-symlink-to-task", "rt", {"--save_path": "{t}/in/link.jsonl",
                                           "--task_path": "{t}/in/q.jsonl"},
         {"in/q.jsonl": Path(EASY).read_bytes(), "in/link.jsonl": ("symlink", "q.jsonl")},
         "q.jsonl"),
        ("ts-save-is-spec", "ts", {"--tool_save_path": "{t}/in/spec.yaml",
                                   "--task_spec": "{t}/in/spec.yaml", "--task_name": "Mini"},
         {"in/spec.yaml": b"name: Mini\ndescription: A tiny task.\nseed_examples:\n"
                          b"  - {question: 'q1?', answer: 'a1'}\n  - {question: 'q2?', answer: 'a2'}\n"},
         "spec.yaml"),
        ("bc-index-is-source", "bc", {"--index": "{t}/in/corpus.jsonl"},
         {"in/corpus.jsonl": b'{"title": "A", "text": "B"}\n'}, "corpus.jsonl"),
        ("fd-save-holds-source", "fd", {"--save_path": "{t}/in", "--source_path": "{t}/in/data_plan.json"},
         {"in/data_plan.json": log_good}, "data_plan.json"),
        # pipeline settings of the wrong type or place
        ("pl-set-in-flight-word", "pl", {"--set": "eval.max_in_flight=many"}, {}, "max_in_flight"),
        ("pl-set-temperature-word", "pl", {"--set": "trajectories.temperature=hot"}, {}, "temperature"),
        ("pl-set-epochs-list", "pl", {"--set": "train.num_train_epochs=[1,2]"}, {}, "num_train_epochs"),
        ("pl-set-count-negative", "pl", {"--set": "self_instruct.generate_all_num=-1"}, {},
         "generate_all_num"),
        ("pl-set-model-list", "pl", {"--set": "model.base_url=[1]"}, {}, "base_url"),
        ("pl-set-no-equals", "pl", {"--set": "eval.levels"}, {}, "eval.levels"),
        ("pl-work-dir-is-file", "pl", {"--work_dir": "{t}/in/afile"}, {"in/afile": b"x"}, "afile"),
        ("pl-unknown-stage", "pl", {"--only": "teleport"}, {}, "teleport"),
        ("pl-compare-unknown-method", "pl", {"--set": "compare=[zeroshot,magic]"}, {}, "compare"),
        ("pl-compare-not-a-list", "pl", {"--set": "compare=zeroshot"}, {}, "compare"),
        ("pl-compare-twice", "pl", {"--set": 'compare=["single","single"]'}, {}, "compare"),
        ("tl-output-dir-is-file", "tl", {"--output_dir": "{t}/in/afile"}, {"in/afile": b"x"},
         "afile"),
        ("tl-lora-target-unknown", "tl", {"--lora_target_modules": "no_such_proj"}, {},
         "--lora_target_modules"),
        # the report and the analysis read finished runs
        ("rp-summary-not-json", "rp", {}, {}, "summary.json"),
        ("rp-summary-not-utf8", "rp", {}, {"in/run/summary.json": NOT_UTF8}, "summary.json"),
        ("rp-summary-wrong-types", "rp", {},
         {"in/run/summary.json": b'{"method": 5, "levels": "all"}'}, "summary.json"),
        ("an-log-not-utf8", "an", {}, {"in/traj.jsonl": NOT_UTF8}, "traj.jsonl"),
        ("an-log-wrong-types", "an", {}, {"in/traj.jsonl": b'{"id": 1, "steps": 5}\n'},
         "traj.jsonl"),
    ]
    for url in ("not a url", "http://[::1", "ftp://127.0.0.1/v1", "http://127.0.0.1:99999/v1"):
        for name in ("rt", "ts"):
            cases.append((f"{name}-base_url={url}", name, {"--base_url": url}, {}, "--base_url"))
    return cases


CASES = number_cases() + file_cases() + other_cases()


def test_matrix_is_large_and_covers_every_script():
    assert len(CASES) >= 150, len(CASES)
    assert len({c[0] for c in CASES}) == len(CASES)
    assert {c[1] for c in CASES} >= {"si", "ts", "rt", "fd", "re", "tl", "bc", "pl"}


# ----------------------------------------------------------------------------- the test


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def materialise(t: Path, files: dict) -> None:
    for rel, content in files.items():
        path = t / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content == "missing":
            continue
        if content is None:
            path.mkdir()
            (path / "inside.txt").write_text("x")
        elif isinstance(content, tuple):
            path.symlink_to(content[1])
        else:
            path.write_bytes(content)


@pytest.fixture(scope="module")
def fake():
    from autoact.testing.fake_server import FakeServer
    with FakeServer(models=["tiny", "plan", "tool", "reflect"]) as srv:
        yield srv.url


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, tmp_path, tiny_model, fake, capsys, monkeypatch):
    label, name, overrides, files, names = case
    monkeypatch.setenv("AUTOACT_WIKI", "distractor")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    t = tmp_path
    materialise(t, {"in/traj.jsonl": GOOD_TRAJ.encode(),
                    "in/corpus.jsonl": b'{"title": "A", "text": "B."}\n',
                    "in/run/summary.json": b'{"oops": ',
                    "keep/existing.json": b'{"keep": true}', **files})
    if name == "tl":
        (t / "in/train.json").write_text('[{"input": "x", "output": "y"}]')
        flags = {"--model_name_or_path": str(tiny_model), "--data_path": f"{t}/in/train.json",
                 "--output_dir": f"{t}/out/lora", "--fp16": "False", "--report_to": "none"}
    elif name == "pl":
        flags = {"--work_dir": f"{t}/out/work"}
    else:
        flags = base(name, t, fake)
    flags.update({k: v.replace("{t}", str(t)) for k, v in overrides.items()})
    before = snapshot(t)
    code, err = invoke(name, argv(flags), capsys)
    assert code not in (0, None), (label, err[-800:])
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines()
             if line.startswith("error:") or ": error:" in line]
    assert len(lines) == 1, err[-3000:]
    assert names in lines[0], (names, lines[0])
    assert snapshot(t) == before, "an existing file was changed"
