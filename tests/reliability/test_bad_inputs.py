"""Bad inputs across every script: a non-zero exit, one error line naming the problem, no
traceback, and no existing output changed."""

import hashlib
import json
from pathlib import Path

import pytest

from conftest import run_cli

META = "Self_Instruct/Meta_sample/Meta_Hotpotqa.json"
EASY = "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa/easy.jsonl"
HOTPOT = "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa"
DEAD = "http://127.0.0.1:9/v1"

SI = "Self_Instruct/data_generation.py"
TS = "Self_Planning/Tool_Selection/tool_selected.py"
RT = "Self_Planning/Traj_Syn/run_task.py"
FD = "Scripts/filter_data.py"
TL = "Self_Planning/Train/train_lora.py"
RE = "Self_Planning/Group_Planning/run_eval.py"


def si(t, **kw):
    a = {"source_data": META, "target_data": f"{t}/out.json", "dataset_name": "hotpotqa",
         "generate_all_num": "10", "model_name": "m", **kw}
    return [SI, *[x for k, v in a.items() for x in (f"--{k}", v)]]


def rt(t, **kw):
    a = {"agent_name": "ZeroshotThink_HotPotQA_run_Agent", "llm_name": "m", "task": "HotpotQA",
         "task_path": EASY, "save_path": f"{t}/traj.jsonl", "max_retries": "0", **kw}
    return [RT, *[x for k, v in a.items() for x in (f"--{k}", v)]]


def re_(t, **kw):
    a = {"agent_name": "ZeroshotThink_HotPotQA_run_Agent", "task": "HotpotQA", "task_path": HOTPOT,
         "save_path": f"{t}/eval", "max_retries": "0", **kw}
    return [RE, *[x for k, v in a.items() for x in (f"--{k}", v)]]


def fd(t, **kw):
    a = {"source_path": f"{t}/traj.jsonl", "save_path": f"{t}/data", "task_name": "HotpotQA",
         "filter_num": "5", **kw}
    return [FD, *[x for k, v in a.items() for x in (f"--{k}", v)]]


def tl(t, *extra, data=None):
    return [TL, "--model_name_or_path", "{tiny}", "--data_path", data or f"{t}/bad.json", "--output_dir",
            f"{t}/lora", "--fp16", "False", *extra]


def write(t: Path, name: str, text: str) -> None:
    (t / name).parent.mkdir(parents=True, exist_ok=True)
    (t / name).write_text(text)


GOOD_TRAJ = json.dumps({"id": "a", "question": "Q?", "answer": "x", "task": "HotpotQA", "correct": True,
                        "finished": True, "halted": False, "error": None, "steps": [],
                        "prompt": "I\nQuestion: Q?"}) + "\n"

# (name, files to create {name: text}, argv builder, expected text in the error line)
CASES = [
    ("si-missing-source", {}, lambda t: si(t, source_data=f"{t}/nope.json"), "no such file"),
    ("si-source-not-list", {"s.json": '{"Question": "q", "Answer": "a"}'},
     lambda t: si(t, source_data=f"{t}/s.json"), "expected a JSON list"),
    ("si-source-no-question", {"s.json": '[{"Answer": "a"}]'}, lambda t: si(t, source_data=f"{t}/s.json"),
     'expected an object with "Question"'),
    ("si-source-empty", {"s.json": ""}, lambda t: si(t, source_data=f"{t}/s.json"), "empty file"),
    ("si-source-malformed", {"s.json": "[{oops"}, lambda t: si(t, source_data=f"{t}/s.json"), "invalid JSON"),
    ("si-unknown-task", {}, lambda t: si(t, dataset_name="webshop"), "unknown task 'webshop'"),
    ("si-negative-count", {}, lambda t: si(t, generate_all_num="-5"), "expected a positive integer"),
    ("si-zero-per-round", {}, lambda t: si(t, generate_per_round_num="0"), "expected a positive integer"),
    ("si-unwritable-target", {"afile": "x"}, lambda t: si(t, target_data=f"{t}/afile/out.json"),
     "cannot create output folder"),
    ("si-unreachable-server", {}, lambda t: si(t, base_url=DEAD, max_retries="0"), "cannot reach the model server"),
    ("si-bad-temperatures", {}, lambda t: si(t, min_temperature="0.9", max_temperature="0.1"),
     "--min_temperature must be"),
    ("ts-unknown-task", {}, lambda t: [TS, "--task_name", "webshop", "--tool_save_path", f"{t}/tools.json"],
     "unknown task 'webshop'"),
    ("ts-zero-max-tokens", {}, lambda t: [TS, "--max_tokens", "0", "--tool_save_path", f"{t}/tools.json"],
     "expected a positive integer"),
    ("ts-unreachable-server", {}, lambda t: [TS, "--tool_save_path", f"{t}/tools.json", "--base_url", DEAD,
                                             "--max_retries", "0"], "cannot reach the model server"),
    ("ts-corrupt-existing", {"tools.json": "[{broken"}, lambda t: [TS, "--tool_save_path", f"{t}/tools.json",
                                                                   "--base_url", DEAD], "invalid JSON"),
    ("ts-unknown-scripted-policy", {}, lambda t: [TS, "--tool_save_path", f"{t}/tools.json", "--scripted_policy",
                                                  "oracle"], "unknown scripted policy 'oracle'"),
    ("rt-unknown-agent", {}, lambda t: rt(t, agent_name="Smart_Agent", base_url=DEAD), "unknown agent 'Smart_Agent'"),
    ("rt-agent-task-mismatch", {}, lambda t: rt(t, task="ScienceQA", base_url=DEAD), "is for hotpotqa, not ScienceQA"),
    ("rt-missing-task-path", {}, lambda t: rt(t, task_path=f"{t}/none.json", base_url=DEAD), "no such file"),
    ("rt-malformed-task-file", {"q.jsonl": '{"question": "q", "answer": "a"}\n{bad\n'},
     lambda t: rt(t, task_path=f"{t}/q.jsonl", base_url=DEAD), "q.jsonl:2: invalid JSON line"),
    ("rt-unknown-tool", {"tools.json": '[{"name": "Teleport"}]'}, lambda t: rt(t, tools=f"{t}/tools.json", base_url=DEAD),
     "unknown tool 'Teleport'"),
    ("rt-missing-tools-file", {}, lambda t: rt(t, tools=f"{t}/none.json", base_url=DEAD), "no such file"),
    ("rt-save-path-is-folder", {"dir/x": "x"}, lambda t: rt(t, save_path=f"{t}/dir", base_url=DEAD), "is a folder"),
    ("rt-unreachable-server", {}, lambda t: rt(t, base_url=DEAD), "cannot reach the model server"),
    ("rt-corrupt-log", {"traj.jsonl": '{"id": "a"}\nnot json\n{"id": "b"}\n'}, lambda t: rt(t, base_url=DEAD),
     "traj.jsonl:2"),
    ("rt-bad-wiki", {}, lambda t: rt(t, wiki="encyclopedia", base_url=DEAD), "invalid choice: 'encyclopedia'"),
    ("rt-missing-database", {}, lambda t: rt(t, database=f"{t}/none.sqlite", base_url=DEAD), "--database"),
    ("fd-zero-filter-num", {"traj.jsonl": GOOD_TRAJ}, lambda t: fd(t, filter_num="0"), "expected a positive integer"),
    ("fd-missing-source", {}, lambda t: fd(t), "no such file"),
    ("fd-not-a-log", {"traj.jsonl": '{"id": 1, "x": 2}\n'}, lambda t: fd(t), "has no 'question'"),
    ("fd-task-mismatch", {"traj.jsonl": GOOD_TRAJ}, lambda t: fd(t, task_name="ScienceQA"),
     "is a HotpotQA trajectory, not ScienceQA"),
    ("fd-save-path-is-file", {"traj.jsonl": GOOD_TRAJ, "data": "x"}, lambda t: fd(t), "is a file, expected a folder"),
    ("tl-malformed-data", {"bad.json": '[{"input": "x"}]'}, lambda t: tl(t), 'needs a string "output"'),
    ("tl-unknown-flag", {"bad.json": '[{"input": "x", "output": "y"}]'}, lambda t: tl(t, "--frobnicate", "1"),
     "unknown arguments: --frobnicate 1"),
    ("tl-qlora-on-cpu", {"bad.json": '[{"input": "x", "output": "y"}]'}, lambda t: tl(t, "--q_lora", "True"),
     "needs a CUDA GPU"),
    ("tl-missing-data", {}, lambda t: tl(t, data=f"{t}/none.json"), "no such file"),
    ("tl-bad-warmup", {"bad.json": '[{"input": "x", "output": "y"}]'}, lambda t: tl(t, "--warmup_ratio", "2"),
     "--warmup_ratio must be in [0, 1)"),
    ("re-unknown-method", {}, lambda t: re_(t, method="magic", base_url=DEAD), "invalid choice: 'magic'"),
    ("re-bad-adapter-path", {}, lambda t: re_(t, backend="hf", base_model="{tiny}", plan_agent=f"{t}/nope"),
     "is not a LoRA adapter folder"),
    ("re-unknown-level", {}, lambda t: re_(t, levels="extreme", base_url=DEAD), "unknown level(s) extreme"),
    ("re-unreachable-server", {}, lambda t: re_(t, base_url=DEAD), "cannot reach the model server"),
    ("re-save-path-is-file", {"eval": "x"}, lambda t: re_(t, base_url=DEAD), "is a file, expected a folder"),
    ("re-unserved-adapter", {}, lambda t: re_(t, base_url="{fake}", plan_agent="planner"),
     "model 'planner' is not served"),
    ("report-missing-run", {}, lambda t: ["Scripts/report.py", f"{t}/nope", "--out", f"{t}/rep"], "no summary.json"),
    ("analysis-missing-log", {}, lambda t: ["Scripts/analysis.py", f"{t}/nope.jsonl"], "no such file or folder"),
    ("corpus-missing-source", {}, lambda t: ["Scripts/build_corpus.py", "--source", f"{t}/none.jsonl",
                                             "--index", f"{t}/c.sqlite"], "none.jsonl"),
    ("corpus-index-exists", {"c.sqlite": "keep"}, lambda t: ["Scripts/build_corpus.py", "--source", "hotpotqa",
                                                             "--index", f"{t}/c.sqlite"], "--overwrite"),
    ("pipeline-unknown-key", {}, lambda t: ["-m", "autoact.pipeline", "--work_dir", f"{t}/w", "--set",
                                            "eval.colour=blue"], "unknown key eval.colour"),
    ("spec-unknown-key", {"bad.yaml": "name: X\ndescription: y\ncolour: blue\nseed_examples: []\n"},
     lambda t: [TS, "--task_spec", f"{t}/bad.yaml", "--task_name", "X"], "unknown key(s) colour"),
]


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from autoact.testing.fake_server import FakeServer
    with FakeServer(models=["tiny", "plan", "tool", "reflect"]) as srv:
        yield srv.url


def test_matrix_has_enough_cases():
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)
    scripts = {next(a for a in c[2](Path("/t")) if a.endswith(".py") or a == "-m") for c in CASES}
    assert len(scripts) >= 9


@pytest.mark.parametrize("name,files,argv,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, tiny_model, served, name, files, argv, expected):
    for fname, text in files.items():
        write(tmp_path, fname, text)
    (tmp_path / "existing-output.json").write_text('{"keep": true}')
    before = snapshot(tmp_path)
    args = [a.replace("{tiny}", str(tiny_model)).replace("{fake}", served) for a in argv(tmp_path)]
    proc = run_cli(*args, env={"OPENAI_BASE_URL": ""}, timeout=300)
    assert proc.returncode != 0, (name, proc.stdout[-500:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:") or ": error:" in line]
    assert len(errors) == 1, proc.stderr[-2000:]
    assert expected in errors[0], (expected, errors[0])
    assert snapshot(tmp_path) == before, "an existing file was changed"


def test_debug_shows_the_traceback(tmp_path):
    proc = run_cli(SI, "--source_data", str(tmp_path / "nope.json"), "--target_data",
                   str(tmp_path / "o.json"), "--dataset_name", "hotpotqa", "--debug")
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "DataError" in proc.stderr
