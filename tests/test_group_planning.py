"""Group planning (run_eval.py): role routing, control flow, baselines, summaries, the report,
and end to end on the tiny model with trained adapters (local backend and a real vLLM server)."""

import json
import re

import pytest

from autoact.agents.baselines import exemplar_questions
from autoact.prompting import default_prompts
from autoact.testing.fake_server import react_policy
from autoact.report.summary import run_summary
from autoact.tasks import get_task

from conftest import REPO, run_cli

RUN_EVAL = "Self_Planning/Group_Planning/run_eval.py"
HOTPOT = "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa"
SCIENCE = "Self_Planning/Group_Planning/benchmark_run/data/scienceqa"
MARK = "\n### Response:\n"


def seed_command(save, *extra, task="HotpotQA", path=HOTPOT, agent="ZeroshotThink_HotPotQA_run_Agent"):
    return [RUN_EVAL, "--agent_name", agent, "--plan_agent", "plan", "--tool_agent", "tool",
            "--reflect_agent", "reflect", "--max_context_len", "4096", "--task", task, "--task_path",
            path, "--save_path", str(save), *extra]


def role_of(prompt: str) -> str:
    """Which agent a group-planning prompt is for, from its shape alone."""
    assert prompt.endswith(MARK)
    body = prompt[:-len(MARK)]
    if body.endswith("["):
        return "tool"
    n = int(re.search(r"(?:Thought|Action) (\d+):(?: [^\n]*)?$", body).group(1))
    return "reflect" if f"\nObservation {n - 1}: Please reflect your answer.\n" in body else "plan"


def test_seed_command_routes_every_role_to_its_model(tmp_path, fake_server):
    srv = fake_server(react_policy, models=["llama-2-13b-chat", "plan", "tool", "reflect"])
    save = tmp_path / "13b"
    proc = run_cli(*seed_command(save, "--limit", "4"), env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-3000:]
    reqs = [r for r in srv.requests if r["path"] == "/v1/completions"]
    assert len(reqs) == 3 * 4 * 8               # 3 levels x 4 questions x (3 + 3 + 2) calls
    for r in reqs:
        assert r["model"] == role_of(r["prompt"]), r["prompt"][-120:]
    assert {r["model"] for r in reqs} == {"plan", "tool", "reflect"}
    p = reqs[0]["params"]
    assert (p["temperature"], p["top_p"], p["top_k"], p["stop"]) == (0.5, 0.75, 40, ["\n"])
    for level in ("easy", "medium", "hard"):
        recs = [json.loads(x) for x in (save / f"{level}.jsonl").read_text().splitlines()]
        assert len(recs) == 4 and all(r["finished"] and r["n_steps"] == 3 for r in recs)
        assert recs[0]["roles"] == {"plan": "plan", "tool": "tool", "reflect": "reflect"}
        assert [s["action"].split("[")[0] for s in recs[0]["steps"]] == ["Retrieve", "Finish", "Reflect"]
    summary = json.loads((save / "summary.json").read_text())
    assert summary["method"] == "autoact" and summary["backbone"] == "llama-2-13b-chat"
    assert set(summary["levels"]) == {"easy", "medium", "hard"} and summary["all"]["questions"] == 12


def test_reflect_wrong_sends_the_plan_agent_back_then_a_second_finish_ends(tmp_path, fake_server):
    verdicts = iter(["Reflect[wrong]"] + ["Reflect[right]"] * 100)

    def policy(req):
        body = req.prompt[:-len(MARK)]
        role = role_of(req.prompt)
        if role == "reflect":
            return "Hmm." if body.endswith(":") and "Thought" in body.rsplit("\n", 1)[-1] else next(verdicts)
        if role == "tool":
            return "Badr Hari" if body.endswith("Finish[") else "Badr Hari"
        last = body.rsplit("\n", 1)[-1]
        n = int(re.search(r"(\d+):", last).group(1))
        if last.startswith("Thought"):
            return f"Step {n}."
        return "Retrieve" if n == 1 else "Finish"

    srv = fake_server(policy, models=["llama-2-13b-chat", "plan", "tool", "reflect"])
    save = tmp_path / "run"
    proc = run_cli(*seed_command(save, "--limit", "1", "--levels", "easy", "--workers", "1"),
                   env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = json.loads((save / "easy.jsonl").read_text())
    acts = [s["action"] for s in rec["steps"]]
    obs = [s["observation"] for s in rec["steps"]]
    assert acts == ["Retrieve[Badr Hari]", "Finish[Badr Hari]", "Reflect[wrong]", "Finish[Badr Hari]"]
    assert obs[2] == "The answer may be wrong, please try to solve the question again."
    assert obs[3] == "Answer is CORRECT" and rec["correct"] and rec["reflection"] == ["wrong"]
    models = [r["model"] for r in srv.requests if r["path"] == "/v1/completions"]
    assert models == ["plan", "plan", "tool", "plan", "plan", "tool", "reflect", "reflect",
                      "plan", "plan", "tool"]


def test_no_reflect_single_and_action_agent_alias(tmp_path, fake_server):
    srv = fake_server(react_policy, models=["llama-2-13b-chat", "plan", "tool", "reflect", "all"])
    env = {"OPENAI_BASE_URL": srv.url}
    proc = run_cli(*seed_command(tmp_path / "nr", "--limit", "2", "--levels", "easy", "--method", "no_reflect"), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = json.loads((tmp_path / "nr" / "easy.jsonl").read_text().splitlines()[0])
    assert [s["action"].split("[")[0] for s in rec["steps"]] == ["Retrieve", "Finish"]
    assert rec["steps"][-1]["observation"] in ("Answer is CORRECT", "Answer is INCORRECT")
    n = len(srv.requests)
    cmd = seed_command(tmp_path / "single", "--limit", "2", "--levels", "easy", "--method", "single",
                       "--single_agent", "all")
    proc = run_cli(*cmd, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {r["model"] for r in srv.requests[n:] if r["path"] == "/v1/completions"} == {"all"}
    cmd = seed_command(tmp_path / "alias", "--limit", "1", "--levels", "easy")
    cmd[cmd.index("--tool_agent")] = "--action_agent"
    n = len(srv.requests)
    assert run_cli(*cmd, env=env).returncode == 0
    assert "tool" in {r["model"] for r in srv.requests[n:]}


@pytest.mark.parametrize("method", ["zeroshot", "react", "cot"])
def test_baselines_use_the_base_model(tmp_path, fake_server, method):
    srv = fake_server(react_policy, models=["llama-2-13b-chat", "plan", "tool", "reflect"])
    save = tmp_path / method
    proc = run_cli(*seed_command(save, "--limit", "2", "--levels", "hard", "--method", method),
                   env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {r["model"] for r in srv.requests if r["path"] == "/v1/completions"} == {"llama-2-13b-chat"}
    prompt = srv.requests[-1]["prompt"]
    rec = json.loads((save / "hard.jsonl").read_text().splitlines()[0])
    if method == "react":
        assert "Here are some examples:" in prompt and "Reflect[" not in prompt.split("Question:")[0]
    if method == "cot":
        assert prompt.endswith("\nThought:") and rec["n_steps"] == 1
    if method == "zeroshot":
        assert "(5) Reflect[right/wrong]" in prompt


def test_exemplars_are_not_test_questions():
    qs = exemplar_questions()
    assert len(qs) == 4
    shipped = set()
    for lv in get_task("hotpotqa").load_levels(REPO / HOTPOT).values():
        shipped |= {e.question.strip().lower() for e in lv}
    for lv in get_task("scienceqa").load_levels(REPO / SCIENCE).values():
        shipped |= {e.question.split("\n")[0].strip().lower() for e in lv}
    assert not shipped & {q.strip().lower() for q in qs}
    p = default_prompts()
    assert all("Action 1:" in p.text(f"baselines.react_examples_{k}") and
               "Answer:" in p.text(f"baselines.cot_examples_{k}") for k in ("free", "choice"))


def test_scienceqa_grades_scored_by_option_matching(tmp_path, fake_server):
    """A policy that always answers (B), by its text when that fits on one line, else by its
    letter: the scores follow the gold letters."""
    from autoact.tasks.scienceqa import parse_options

    def policy(req):
        body = req.prompt[:-len(MARK)] if req.prompt.endswith(MARK) else req.prompt
        q = body[body.rfind("\nQuestion: ") + 11:].split("\nThought 1:")[0]
        if role_of(req.prompt) == "reflect":
            return "Fine." if body.rsplit("\n", 1)[-1].startswith("Thought") else "Reflect[right]"
        if body.endswith("["):
            b = parse_options(q)[1]
            return b if "\n" not in b else "B"
        return "Answer." if body.rsplit("\n", 1)[-1].startswith("Thought") else "Finish"

    srv = fake_server(policy, models=["llama-2-13b-chat", "plan", "tool", "reflect"])
    save = tmp_path / "sci"
    proc = run_cli(*seed_command(save, "--limit", "20", "--levels", "grade1-4", task="ScienceQA",
                                 path=SCIENCE, agent="ZeroshotThink_ScienceQA_run_Agent"),
                   env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    exs = get_task("scienceqa").load_file(REPO / SCIENCE / "format_scienceqa_grade1-4.json")[:20]
    gold_b = {e.id for e in exs if e.fields["answer_index"] == 1}
    recs = {r["id"]: r for r in map(json.loads, (save / "grade1-4.jsonl").read_text().splitlines())}
    assert {i for i, r in recs.items() if r["correct"]} == gold_b
    summary = json.loads((save / "summary.json").read_text())
    assert summary["metrics"] == ["accuracy"]
    assert summary["levels"]["grade1-4"]["accuracy"] == pytest.approx(len(gold_b) / 20)


def test_summary_numbers_by_hand(tmp_path):
    rows = {
        "easy": [{"id": "1", "correct": True, "reward": 1.0, "n_steps": 3, "halted": False, "error": None,
                  "usage": {"calls": 8, "prompt_tokens": 100, "completion_tokens": 10}},
                 {"id": "2", "correct": False, "reward": 0.5, "n_steps": 5, "halted": True, "error": None}],
        "hard": [{"id": "3", "correct": False, "reward": 0.25, "n_steps": 4, "halted": False, "error": None},
                 {"id": "4", "correct": False, "reward": 0.0, "n_steps": 0, "error": "server down"}],
    }
    for level, recs in rows.items():
        (tmp_path / f"{level}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    s = run_summary(get_task("hotpotqa"), tmp_path, {}, method="autoact", backbone="tiny", settings={},
                    roles={}, seconds=1.0)
    assert s["levels"]["easy"]["em"] == 0.5 and s["levels"]["easy"]["f1"] == 0.75
    assert s["levels"]["hard"]["em"] == 0.0 and s["levels"]["hard"]["f1"] == 0.125    # error scores 0
    assert s["levels"]["hard"]["errors"] == 1 and s["levels"]["easy"]["halted"] == 1
    assert s["all"]["em"] == 0.25 and s["all"]["f1"] == pytest.approx((1 + 0.5 + 0.25) / 4)
    assert s["levels"]["easy"]["mean_steps"] == 4.0 and s["all"]["usage"]["calls"] == 8
    assert "medium" not in s["levels"]


def test_one_statistics_convention_in_the_summary_the_report_and_the_analysis(tmp_path):
    """Four questions, one of them errored after two steps with a partial reward and a stray
    ``correct``: the run summary, the report's cell and the analysis row all count it as wrong
    and keep it in every denominator (the paper's denominators are the full question sets)."""
    from autoact.agents.runner import summarize
    from autoact.report.analysis import analyse
    from autoact.report.summary import level_row

    recs = [
        {"id": "1", "level": "easy", "correct": True, "reward": 1.0, "n_steps": 3, "halted": False, "error": None,
         "usage": {"calls": 7, "prompt_tokens": 70, "completion_tokens": 7}},
        {"id": "2", "level": "easy", "correct": False, "reward": 0.5, "n_steps": 5, "halted": True, "error": None},
        {"id": "3", "level": "easy", "correct": True, "reward": 1.0, "n_steps": 2, "halted": False, "error": None},
        {"id": "4", "level": "easy", "correct": True, "reward": 0.8, "n_steps": 2, "halted": True,
         "error": "RuntimeError: server gone", "usage": {"calls": 2, "prompt_tokens": 20, "completion_tokens": 2}},
    ]
    run = summarize(recs)
    cell = level_row(recs, ["em", "f1"])
    log = tmp_path / "easy.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in recs))
    (row,) = analyse([log])
    assert run["accuracy"] == cell["em"] == row["accuracy"] == 0.5            # 2 of 4, not 2 of 3
    assert run["mean_reward"] == cell["f1"] == row["f1"] == 0.625             # (1 + .5 + 1 + 0) / 4
    assert run["mean_steps"] == cell["mean_steps"] == row["steps"] == 3.0     # (3 + 5 + 2 + 2) / 4
    assert run["halted"] == cell["halted"] == 1 and row["halted"] == 0.25     # the errored one did not halt
    assert run["errors"] == cell["errors"] == 1 and row["errors"] == 0.25
    assert run["usage"] == cell["usage"] == {"calls": 9, "prompt_tokens": 90, "completion_tokens": 9}
    assert row["prompt_tokens"] == 90
    assert summarize([])["accuracy"] == level_row([], ["em"])["em"] == 0.0


def test_report_table_csv_and_png(tmp_path):
    runs = []
    for method, f1 in (("autoact", 0.5), ("react", 0.25)):
        d = tmp_path / method
        d.mkdir()
        lv = {k: {"questions": 2, "em": f1 / 2, "f1": f1} for k in ("easy", "medium", "hard")}
        (d / "summary.json").write_text(json.dumps({"task": "HotpotQA", "method": method, "backbone": "tiny",
                                                    "metrics": ["em", "f1"], "levels": lv,
                                                    "all": {"em": f1 / 2, "f1": f1}}))
        runs.append(str(d))
    sci = tmp_path / "sci"
    sci.mkdir()
    (sci / "summary.json").write_text(json.dumps({"task": "ScienceQA", "method": "autoact", "backbone": "tiny",
                                                  "metrics": ["accuracy"], "levels": {"grade1-4": {"accuracy": 0.75}},
                                                  "all": {"accuracy": 0.75}}))
    out = tmp_path / "report"
    proc = run_cli("Scripts/report.py", *runs, str(sci), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    md = (out / "report.md").read_text()
    assert "| Method | Backbone | Easy F1 (EM) | Medium F1 (EM) | Hard F1 (EM) | All F1 (EM) |" in md
    # the paper's order (react before autoact); the best of each column of a backbone in bold
    assert "| react | tiny | 25.00 (12.50) | 25.00 (12.50) | 25.00 (12.50) | 25.00 (12.50) |\n" \
           "| autoact | tiny | **50.00 (25.00)** | **50.00 (25.00)** | **50.00 (25.00)** | **50.00 (25.00)** |" in md
    assert "- questions: Easy 2, Medium 2, Hard 2" in md
    tex = (out / "report.tex").read_text()
    assert "\\toprule" in tex and "autoact & tiny & \\textbf{50.00 (25.00)}" in tex and "\\bottomrule" in tex
    assert "| autoact | tiny | 75.00 | - | - | 75.00 |" in md                # ScienceQA, G1-4 only
    assert proc.stdout.startswith("### HotpotQA")
    png = (out / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image
    img = matplotlib.image.imread(out / "report.png")
    assert img.shape[0] > 200 and img.shape[1] > 400
    assert "autoact,tiny,50.00 (25.00)" in (out / "report.csv").read_text()
    bad = run_cli("Scripts/report.py", str(tmp_path / "nope"), "--out", str(out))
    assert bad.returncode == 2 and "no summary.json" in bad.stderr


def test_report_learning_curves_sample_trajectory_and_timings(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    lv = {"test": {"questions": 2, "em": 0.5, "f1": 0.5}}
    (run / "summary.json").write_text(json.dumps({
        "task": "Arithmetic", "method": "autoact", "backbone": "tiny", "metrics": ["em", "f1"],
        "levels": lv, "all": lv["test"], "roles": {"plan": "plan", "tool": "tool", "reflect": "reflect"}}))
    wrong = {"id": "a", "question": "What is 2+2?", "answer": "4", "correct": False,
             "steps": [{"thought": "guess", "action": "Finish[5]", "observation": "Please reflect your answer."}]}
    right = {"id": "b", "question": "What is 3+3?", "answer": "6", "correct": True,
             "steps": [{"thought": "compute", "action": "Calculator[3+3]", "observation": "6" + "x" * 300},
                       {"thought": "done", "action": "Finish[6]", "observation": "Please reflect your answer."}]}
    (run / "test.jsonl").write_text(json.dumps(wrong) + "\n" + json.dumps(right) + "\n")
    lora = tmp_path / "lora"
    for agent, losses in (("plan", [3.0, 2.0, 1.5]), ("tool", [4.0, 1.0])):
        (lora / agent).mkdir(parents=True)
        history = [{"step": 5 * (i + 1), "loss": v} for i, v in enumerate(losses)] + [{"step": 99, "train_loss": 1.0}]
        (lora / agent / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    (lora / "notes").mkdir()                              # a folder without a Trainer state is skipped
    timings = tmp_path / "timings.json"
    timings.write_text(json.dumps({"train": 12.25, "eval": 3.5}))
    out = tmp_path / "report"
    proc = run_cli("Scripts/report.py", str(run), "--out", str(out), "--curves", str(lora),
                   "--sample", "1", "--timings", str(timings))
    assert proc.returncode == 0, proc.stderr
    md = (out / "report.md").read_text()
    # the sample is the first correct trajectory, its long observation cut short
    assert "autoact on Arithmetic (correct; gold answer 6; agents plan: plan, tool: tool, reflect: reflect)" in md
    assert "Action 1: Calculator[3+3]" in md and "What is 2+2" not in md and "x" * 200 not in md
    assert "| plan | 15 | 3.000 | 1.500 |" in md and "| tool | 10 | 4.000 | 1.000 |" in md
    assert "notes" not in md and "| train | 12.2 |" in md and "| total | 15.8 |" in md
    assert (out / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a level log under the name the reference gave it (ScienceQA's 1-4.jsonl) is found too
    sci = tmp_path / "sci"
    sci.mkdir()
    row = {"questions": 1, "accuracy": 1.0}
    (sci / "summary.json").write_text(json.dumps({"task": "ScienceQA", "method": "autoact", "backbone": "tiny",
                                                  "metrics": ["accuracy"], "levels": {"grade1-4": row}, "all": row}))
    (sci / "1-4.jsonl").write_text(json.dumps({**right, "question": "Which is a mammal?", "answer": "B"}) + "\n")
    both = run_cli("Scripts/report.py", str(sci), "--out", str(tmp_path / "sci_report"), "--sample", "1")
    assert both.returncode == 0, both.stderr
    assert "Question: Which is a mammal?" in (tmp_path / "sci_report" / "report.md").read_text()
    plain = run_cli("Scripts/report.py", str(run), "--out", str(tmp_path / "plain"))
    assert "Sample" not in (tmp_path / "plain" / "report.md").read_text()
    bad = run_cli("Scripts/report.py", str(run), "--out", str(out), "--curves", str(tmp_path / "nope"))
    assert bad.returncode == 2 and "not a folder of adapters" in bad.stderr
    assert plain.returncode == 0


def test_the_sample_trajectory_does_not_depend_on_the_order_questions_finished_in(tmp_path):
    """Questions finish in any order with several in flight; two runs with the same records
    must show the same sample (the pipeline's report did not)."""
    from autoact.report.extras import sample_trajectory
    records = [{"id": f"q{i}", "question": f"What is {i}+{i}?", "answer": str(2 * i), "correct": False,
                "steps": [{"thought": "guess", "action": f"Finish[{i}]", "observation": "wrong"}]}
               for i in range(1, 5)]
    samples = []
    for name, order in (("a", records), ("b", records[::-1])):
        run = tmp_path / name
        run.mkdir()
        (run / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in order))
        samples.append(sample_trajectory({"_path": str(run), "task": "Arithmetic", "method": "autoact",
                                          "levels": {"test": {}}}))
    assert samples[0] == samples[1] and "What is 1+1?" in samples[0]


@pytest.mark.parametrize("extra,msg", [
    (["--method", "magic"], "invalid choice: 'magic'"),
    (["--levels", "extreme"], "unknown level(s) extreme"),
    (["--task_path", "nowhere"], "nowhere: no such file or folder"),
])
def test_bad_inputs(tmp_path, extra, msg):
    proc = run_cli(*seed_command(tmp_path / "o", *extra), env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert proc.returncode == 2 and msg in proc.stderr and "Traceback" not in proc.stderr


def test_hf_backend_with_a_bad_adapter_path(tmp_path, tiny_model):
    proc = run_cli(*seed_command(tmp_path / "o", "--backend", "hf", "--base_model", str(tiny_model),
                                 "--limit", "1", "--levels", "easy"))
    assert proc.returncode == 2 and "adapter 'plan': plan is not a LoRA adapter folder" in proc.stderr


# --- end to end on the tiny model --------------------------------------------------------------

@pytest.mark.slow
def test_local_backend_with_trained_adapters_completes_a_level(tmp_path, tiny_model, trained_adapters):
    save = tmp_path / "hf"
    cmd = seed_command(save, "--backend", "hf", "--base_model", str(tiny_model), "--levels", "easy",
                       "--limit", "4", "--max_steps", "4", "--max_tokens", "12", "--max_context_len", "2000")
    for role in ("plan", "tool", "reflect"):
        cmd[cmd.index(f"--{role}_agent") + 1] = str(trained_adapters[role])
    proc = run_cli(*cmd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = [json.loads(x) for x in (save / "easy.jsonl").read_text().splitlines()]
    assert len(recs) == 4 and not any(r["error"] for r in recs)
    assert all(r["finished"] or r["halted"] for r in recs)
    assert recs[0]["llm"]["adapters"] == ["plan", "tool", "reflect"] and recs[0]["llm"]["backend"] == "hf"
    summary = json.loads((save / "summary.json").read_text())
    assert summary["levels"]["easy"]["questions"] == 4 and summary["backbone"] == tiny_model.name


@pytest.mark.vllm
@pytest.mark.slow
def test_real_vllm_server_serves_all_three_trained_agents(tmp_path, vllm_server):
    save = tmp_path / "vllm"
    cmd = seed_command(save, "--base_url", vllm_server.url, "--levels", "easy", "--limit", "4",
                       "--max_steps", "4", "--max_tokens", "12", "--max_context_len", "2000")
    for role in ("plan", "tool", "reflect"):
        cmd[cmd.index(f"--{role}_agent") + 1] = f"trained-{role}"
    proc = run_cli(*cmd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = [json.loads(x) for x in (save / "easy.jsonl").read_text().splitlines()]
    assert len(recs) == 4 and not any(r["error"] for r in recs)
    assert recs[0]["roles"] == {"plan": "trained-plan", "tool": "trained-tool", "reflect": "trained-reflect"}
    log = vllm_server.log.read_text()
    for role in ("plan", "tool", "reflect"):
        assert f"trained-{role}" in log, role
