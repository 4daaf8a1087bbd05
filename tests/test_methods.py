"""The comparison methods beside AutoAct in the group-planning harness: each one's protocol."""

import json

import pytest

from autoact.agents.rewoo import ReWOOAgent, parse_plan, substitute
from autoact.agents.setup import make_solver
from autoact.llm.scripted import ScriptedLLM
from autoact.tasks import get_task
from autoact.tasks.base import Example
from autoact.tools import Environment, default_selection

from conftest import run_cli

RUN_EVAL = "Self_Planning/Group_Planning/run_eval.py"
HOTPOT = "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa"


class Settings:
    max_steps, max_context_len, max_tokens, temperature, top_p, top_k, seed = 10, 4096, 256, 0.0, 1.0, -1, 0


def test_rewoo_parses_a_plan_tolerantly():
    plan = parse_plan("Here is my plan.\n1. Plan: find the sum\n#E1 = Calculator[2 + 3]\n"
                      "#E2: Calculator[#E1 * 2]\nPlan 3: check it\n  #E3 = Calculator[#E2 - 1]\nDone.")
    assert plan == [("find the sum", "#E1", "Calculator[2 + 3]"), ("", "#E2", "Calculator[#E1 * 2]"),
                    ("check it", "#E3", "Calculator[#E2 - 1]")]
    assert substitute("Calculator[#E1 * #E12 + #E3]", {"#E1": "5", "#E12": "7"}) == "Calculator[5 * 7 + #E3]"


def test_rewoo_makes_one_planner_and_one_solver_call_and_resolves_the_variables():
    task = get_task("arithmetic")
    prompts_seen = []

    def model(req):
        prompts_seen.append(req.prompt)
        if "Plan how to answer" in req.prompt:
            return ("Plan: add the two numbers.\n#E1 = Calculator[2 + 3]\n"
                    "Plan: double the sum.\n#E2 = Calculator[#E1 * 2]\n")
        return "Answer: 10"
    llm = ScriptedLLM(model)
    solve = make_solver(task, default_selection(task.default_tools), Environment(), llm, ReWOOAgent(llm),
                        Settings, {"method": "rewoo"}, reflect=False)
    rec = solve(Example("q1", "What is twice the sum of 2 and 3?", "10"))
    assert rec["error"] is None and rec["usage"]["calls"] == 2 == len(prompts_seen)
    assert [s["action"] for s in rec["steps"]] == ["Calculator[2 + 3]", "Calculator[5 * 2]", "Finish[10]"]
    assert rec["steps"][0]["thought"] == "add the two numbers." and rec["correct"] is True
    planner, solver = prompts_seen
    assert "Calculator[" in planner and "Question: What is twice the sum of 2 and 3?" in planner
    # the solver sees each planned step with its evidence, the second with #E1 resolved
    assert "#E1 = Calculator[2 + 3]\nEvidence: 5" in solver and "#E2 = Calculator[5 * 2]\nEvidence: 10" in solver


def test_rewoo_answers_without_tools_when_the_plan_is_empty_and_keeps_to_max_steps():
    task = get_task("arithmetic")
    tools = default_selection(task.default_tools)
    llm = ScriptedLLM(lambda req: "I will just answer." if "Plan how" in req.prompt else "7")
    rec = make_solver(task, tools, Environment(), llm, ReWOOAgent(llm), Settings, {}, reflect=False)(
        Example("q", "What is 3 + 4?", "7"))
    assert [s["action"] for s in rec["steps"]] == ["Finish[7]"] and rec["usage"]["calls"] == 2
    many = "".join(f"#E{i} = Calculator[{i} + 1]\n" for i in range(1, 30))
    llm = ScriptedLLM(lambda req: many if "Plan how" in req.prompt else "7")
    rec = make_solver(task, tools, Environment(), llm, ReWOOAgent(llm), Settings, {}, reflect=False)(
        Example("q", "What is 3 + 4?", "7"))
    assert rec["n_steps"] == Settings.max_steps and rec["steps"][-1]["action"] == "Finish[7]"
    assert not rec["halted"] and rec["finished"]


def test_rewoo_through_run_eval_uses_the_base_model(tmp_path, fake_server):
    def policy(req):
        if "Plan how to answer" in req.prompt:
            return "Plan: look up the first entity.\n#E1 = Retrieve[Milhouse]\nPlan: search.\n#E2 = BingSearch[#E1]\n"
        return "yes"
    srv = fake_server(policy, models=["llama-2-13b-chat", "plan", "tool", "reflect"])
    save = tmp_path / "rewoo"
    proc = run_cli(RUN_EVAL, "--task", "HotpotQA", "--task_path", HOTPOT, "--save_path", str(save),
                   "--levels", "hard", "--limit", "2", "--method", "rewoo", "--wiki", "distractor",
                   env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {r["model"] for r in srv.requests if r["path"] == "/v1/completions"} == {"llama-2-13b-chat"}
    records = [json.loads(x) for x in (save / "hard.jsonl").read_text().splitlines()]
    assert len(records) == 2
    for rec in records:
        assert rec["method"] == "rewoo" and rec["usage"]["calls"] == 2 and rec["error"] is None
        retrieve, search, finish = (s["action"] for s in rec["steps"])
        assert retrieve == "Retrieve[Milhouse]" and finish == "Finish[yes]"
        assert search == f"BingSearch[{rec['steps'][0]['observation']}]"        # #E1 resolved
    assert json.loads((save / "summary.json").read_text())["method"] == "rewoo"


@pytest.mark.parametrize("bad", ["", "no plan at all", "#E1 = NoSuchTool[x]"])
def test_a_useless_plan_is_that_questions_outcome_not_a_crash(bad):
    task = get_task("arithmetic")
    llm = ScriptedLLM(lambda req: bad if "Plan how" in req.prompt else "")
    rec = make_solver(task, default_selection(task.default_tools), Environment(), llm, ReWOOAgent(llm),
                      Settings, {}, reflect=False)(Example("q", "What is 3 + 4?", "7"))
    assert rec["error"] is None and rec["correct"] is False and rec["steps"][-1]["action"] == "Finish[]"


# --- Reflexion -------------------------------------------------------------------------------

def reflexion_model(verdicts, answers, seen):
    """Judge calls get ``verdicts`` in turn; trial n's Finish is ``answers[n-1]`` (the trial is
    known by how many reflections its prompt carries)."""
    def reply(req):
        seen.append(req.prompt)
        if req.prompt.endswith("Verdict:"):
            return verdicts.pop(0)
        if req.prompt.endswith("Reflection:"):
            return f"Reflection {req.prompt.count('Verdict') + 1}: I should have multiplied."
        trial = req.prompt.count("I should have multiplied.")
        if req.prompt.rsplit("\n", 1)[-1].startswith("Action"):
            return f"Finish[{answers[trial]}]"
        return "I know this one."
    return reply


def reflexion_solve(model, **kw):
    from autoact.agents.baselines import react_instruction
    from autoact.agents.reflexion import ReflexionAgent
    task = get_task("arithmetic")
    tools = default_selection(task.default_tools)
    llm = ScriptedLLM(model)
    solve = make_solver(task, tools, Environment(), llm, ReflexionAgent(llm, **kw), Settings, {"method": "reflexion"},
                        instruction=react_instruction(task, tools), reflect=False)
    return solve(Example("q", "What is 2 times 3?", "6"))


def test_reflexion_carries_the_first_trials_reflection_into_the_second_trial():
    seen = []
    rec = reflexion_solve(reflexion_model(["wrong", "right"], ["5", "6"], seen), max_trials=3)
    assert rec["error"] is None and rec["prediction"] == "6" and rec["correct"] is True
    assert [(t["answer"], t["verdict"], t["judge"]) for t in rec["trials"]] == [("5", "wrong", "self"),
                                                                               ("6", "right", "self")]
    reflection = rec["trials"][0]["reflection"]
    assert reflection.endswith("I should have multiplied.") and "reflection" not in rec["trials"][1]
    second_trial = [p for p in seen if not p.endswith(("Verdict:", "Reflection:")) and reflection in p]
    assert second_trial and all("Finish[5]" not in p for p in second_trial)        # a fresh scratchpad
    assert reflection in rec["prompt"] and "Finish[6]" in rec["prompt"] and "Finish[5]" not in rec["prompt"]
    # two ReAct calls per trial, a judge call per trial and one reflection: every call counted
    assert rec["usage"]["calls"] == len(seen) == 2 + 1 + 1 + 2 + 1
    assert [a["answer"] for a in rec["answers"]] == ["5", "6"] and rec["n_steps"] == 2


def test_reflexion_trusts_its_own_verdict_not_the_gold_answer_and_stops_at_max_trials():
    seen = []
    rec = reflexion_solve(reflexion_model(["right"], ["5"], seen), max_trials=3)
    assert len(rec["trials"]) == 1 and rec["prediction"] == "5" and rec["correct"] is False
    seen = []
    rec = reflexion_solve(reflexion_model(["wrong"] * 5, ["1", "2", "3", "4"], seen), max_trials=2)
    assert [t["answer"] for t in rec["trials"]] == ["1", "2"] and rec["prediction"] == "2"
    assert sum(p.endswith("Reflection:") for p in seen) == 1          # none after the last trial


def test_reflexion_oracle_judges_by_the_gold_answer_without_asking():
    seen = []
    rec = reflexion_solve(reflexion_model([], ["5", "6"], seen), max_trials=3, oracle=True)
    assert [(t["verdict"], t["judge"]) for t in rec["trials"]] == [("wrong", "oracle"), ("right", "oracle")]
    assert not any(p.endswith("Verdict:") for p in seen) and rec["usage"]["calls"] == 5


def test_reflexion_through_run_eval_and_its_oracle_label(tmp_path, fake_server):
    def policy(req):
        if req.prompt.endswith("Verdict:"):
            return "wrong"
        if req.prompt.endswith("Reflection:"):
            return "Search for the other entity first."
        return "Finish[yes]" if req.prompt.rsplit("\n", 1)[-1].startswith("Action") else "I think so."
    srv = fake_server(policy, models=["llama-2-13b-chat"])
    for extra, label in (([], "reflexion"), (["--reflexion_oracle"], "reflexion (oracle)")):
        save = tmp_path / label.replace(" ", "_")
        proc = run_cli(RUN_EVAL, "--task", "HotpotQA", "--task_path", HOTPOT, "--save_path", str(save),
                       "--levels", "hard", "--limit", "2", "--method", "reflexion", "--max_trials", "2",
                       "--wiki", "distractor", *extra, env={"OPENAI_BASE_URL": srv.url})
        assert proc.returncode == 0, proc.stderr[-2000:]
        records = [json.loads(x) for x in (save / "hard.jsonl").read_text().splitlines()]
        assert all(1 <= len(r["trials"]) <= 2 and r["error"] is None for r in records)
        assert json.loads((save / "summary.json").read_text())["method"] == label
    assert {r["model"] for r in srv.requests if r["path"] == "/v1/completions"} == {"llama-2-13b-chat"}


def test_fireact_is_the_single_agent_under_its_papers_name(tmp_path, fake_server):
    srv = fake_server(lambda req: "Finish", models=["llama-2-13b-chat", "plan", "all-roles"])
    save = tmp_path / "fireact"
    proc = run_cli(RUN_EVAL, "--task", "HotpotQA", "--task_path", HOTPOT, "--save_path", str(save),
                   "--levels", "hard", "--limit", "1", "--method", "fireact", "--single_agent", "all-roles",
                   "--max_steps", "2", "--wiki", "distractor", env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {r["model"] for r in srv.requests if r["path"] == "/v1/completions"} == {"all-roles"}
    rec = json.loads((save / "hard.jsonl").read_text().splitlines()[0])
    assert rec["method"] == "single"
    assert json.loads((save / "summary.json").read_text())["method"] == "fireact"


def test_autoact_per_tool_through_run_eval_asks_each_actions_own_agent(tmp_path, fake_server):
    def policy(req):              # the plan agent chooses Finish; every tool agent answers in its name
        if req.model == "plan":
            return "Finish" if "Thought 1: Done.\nAction 1:" in req.prompt else "Done."
        return f"from {req.model}"
    srv = fake_server(policy, models=["llama-2-13b-chat", "plan", "tool", "reflect", "finisher", "searcher"])
    save = tmp_path / "pt"
    proc = run_cli(RUN_EVAL, "--task", "HotpotQA", "--task_path", HOTPOT, "--save_path", str(save),
                   "--levels", "hard", "--limit", "1", "--method", "autoact_per_tool", "--max_steps", "1",
                   "--tool_agents", "finish=finisher", "--tool_agents", "Search=searcher", "--wiki", "distractor",
                   env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = json.loads((save / "hard.jsonl").read_text().splitlines()[0])
    assert rec["steps"][0]["action"] == "Finish[from finisher]" and rec["method"] == "autoact_per_tool"
    assert [r["model"] for r in srv.requests if r["path"] == "/v1/completions"] == ["plan", "plan", "finisher"]
    summary = json.loads((save / "summary.json").read_text())
    assert summary["roles"]["tool_agents"] == {"Finish": "finisher", "BingSearch": "searcher"}
    for flags, msg in (([], "needs --tool_agents TOOL=ADAPTER"),
                       (["--tool_agents", "Teleport=x"], "--tool_agents expects TOOL=ADAPTER"),
                       (["--tool_agents", "Finish"], "--tool_agents expects TOOL=ADAPTER")):
        proc = run_cli(RUN_EVAL, "--task", "HotpotQA", "--task_path", HOTPOT, "--save_path", str(tmp_path / "x"),
                       "--method", "autoact_per_tool", *flags, env={"OPENAI_BASE_URL": srv.url})
        assert proc.returncode == 2 and msg in proc.stderr, proc.stderr[-500:]
        assert not (tmp_path / "x" / "summary.json").exists()


# --- Chameleon and BOLAA ---------------------------------------------------------------------

def test_chameleon_runs_the_planned_modules_in_order_over_a_shared_cache():
    from autoact.agents.chameleon import ChameleonAgent, parse_program
    assert parse_program('Modules: ["Calculator", "Retrieve", "Nope"] -> calculator.', ["Calculator"]) == \
        (["Calculator", "Calculator"], ["Retrieve", "Nope"])
    task = get_task("arithmetic")
    seen = []

    def model(req):
        seen.append(req.prompt)
        if "Choose the modules" in req.prompt:
            return "Modules: Calculator, Magic, Calculator"
        if req.prompt.endswith("Input:"):
            return "2 + 3" if "returned" not in req.prompt else "5 * 2"
        return "10"
    llm = ScriptedLLM(model)
    rec = make_solver(task, default_selection(task.default_tools), Environment(), llm, ChameleonAgent(llm),
                      Settings, {}, reflect=False)(Example("q", "What is twice the sum of 2 and 3?", "10"))
    assert [s["action"] for s in rec["steps"]] == ["Calculator[2 + 3]", "Calculator[5 * 2]", "Finish[10]"]
    assert rec["program"] == ["Calculator", "Calculator"] and rec["program_dropped"] == ["Magic"]
    assert rec["usage"]["calls"] == 4 == len(seen) and rec["correct"] is True
    # the second module's input and the solver read the outputs before them (the cache)
    assert "Calculator[2 + 3] returned: 5" in seen[2] and "Calculator[5 * 2] returned: 10" in seen[3]


def test_bolaa_controller_routes_each_step_to_one_labour_agent():
    from autoact.agents.bolaa import BolaaAgent, parse_choice
    assert parse_choice("Agent: calculator; Message: add them", ["Calculator", "Finish"]) == ("Calculator", "add them")
    assert parse_choice("Agent: Wizard; Message: x", ["Calculator", "Finish"])[0] is None
    task = get_task("arithmetic")
    seen = []

    def model(req):
        seen.append(req.prompt)
        if req.prompt.endswith("Next:"):
            done = "Observation 1: 5" in req.prompt
            return "Agent: Finish; Message: give the sum" if done else "Agent: Calculator; Message: add 2 and 3"
        assert req.prompt.endswith("Input:")
        return "5" if "You are the Finish agent" in req.prompt else "2 + 3"
    llm = ScriptedLLM(model)
    rec = make_solver(task, default_selection(task.default_tools), Environment(), llm, BolaaAgent(llm),
                      Settings, {}, reflect=False)(Example("q", "What is 2 + 3?", "5"))
    assert [s["action"] for s in rec["steps"]] == ["Calculator[2 + 3]", "Finish[5]"] and rec["correct"] is True
    assert rec["usage"]["calls"] == 4
    workers = [p for p in seen if p.endswith("Input:")]
    # each labour agent sees only its own tool, and the controller's message
    assert "You are the Calculator agent" in workers[0] and "add 2 and 3" in workers[0]
    assert "Finish[" not in workers[0].split("Your tool:")[1].split("\n")[0]
    assert "- Calculator:" in seen[0] and "- Finish:" in seen[0]


@pytest.mark.parametrize("method", ["chameleon", "bolaa"])
def test_chameleon_and_bolaa_through_run_eval(tmp_path, fake_server, method):
    def policy(req):
        if "Choose the modules" in req.prompt:
            return "Modules: Retrieve, BingSearch"
        if req.prompt.endswith("Next:"):
            return "Agent: Finish; Message: answer" if "Observation 1" in req.prompt else "Agent: Retrieve; Message: look"
        return "Milhouse" if req.prompt.endswith("Input:") and "Finish agent" not in req.prompt else "yes"
    srv = fake_server(policy, models=["llama-2-13b-chat"])
    save = tmp_path / method
    proc = run_cli(RUN_EVAL, "--task", "HotpotQA", "--task_path", HOTPOT, "--save_path", str(save),
                   "--levels", "hard", "--limit", "2", "--method", method, "--wiki", "distractor",
                   env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(x) for x in (save / "hard.jsonl").read_text().splitlines()]
    want = {"chameleon": ["Retrieve[Milhouse]", "BingSearch[Milhouse]", "Finish[yes]"],
            "bolaa": ["Retrieve[Milhouse]", "Finish[yes]"]}[method]
    assert all([s["action"] for s in r["steps"]] == want and r["error"] is None for r in records)
    assert json.loads((save / "summary.json").read_text())["method"] == method


# --- the paper's table -----------------------------------------------------------------------

def summary(folder, method, backbone, f1, questions=2, question_set="abc", calls=None):
    folder.mkdir(parents=True)
    row = {"questions": questions, "em": f1 / 2, "f1": f1}
    total = {**row, "questions": 3 * questions}
    if calls is not None:
        total["usage"] = {"calls": calls * 3 * questions, "prompt_tokens": 300 * questions, "completion_tokens": 30}
    (folder / "summary.json").write_text(json.dumps({
        "task": "HotpotQA", "method": method, "backbone": backbone, "metrics": ["em", "f1"],
        "levels": {lv: row for lv in ("easy", "medium", "hard")}, "all": total, "question_set": question_set,
        "retrieval": {"setting": "distractor", "label": "distractor"}}))
    return str(folder)


def test_report_groups_backbones_orders_methods_and_bolds_the_best_of_each_backbone(tmp_path):
    runs = [summary(tmp_path / "a", "autoact", "7b", 0.3, calls=9), summary(tmp_path / "b", "react", "7b", 0.4),
            summary(tmp_path / "c", "autoact", "13b", 0.5), summary(tmp_path / "d", "cot", "13b", 0.2),
            summary(tmp_path / "e", "autoact -filtering", "7b", 0.1)]
    proc = run_cli("Scripts/report.py", *runs, "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    md = (tmp_path / "r" / "report.md").read_text()
    section = md.split("### HotpotQA")[1].split("###")[0]
    table = [line.split(" | ")[:3] for line in section.splitlines() if line.startswith("| ")][1:]
    assert [(m.strip("| "), b) for m, b, _ in table] == [("react", "7b"), ("autoact", "7b"),
                                                         ("autoact -filtering", "7b"), ("cot", "13b"),
                                                         ("autoact", "13b")]
    assert [c.startswith("**") for _, _, c in table] == [True, False, False, False, True]
    assert "### Calls and tokens per question" in md and "| HotpotQA | autoact | 7b | 9.0 | 100.0 | 5.0 |" in md


def test_report_refuses_rows_from_different_questions(tmp_path):
    a = summary(tmp_path / "a", "autoact", "7b", 0.3)
    b = summary(tmp_path / "b", "react", "7b", 0.4, questions=5)
    c = summary(tmp_path / "c", "cot", "7b", 0.4, question_set="other")
    for other in (b, c):
        proc = run_cli("Scripts/report.py", a, other, "--out", str(tmp_path / "r"))
        assert proc.returncode == 2 and "answered different questions" in proc.stderr, proc.stderr
    assert run_cli("Scripts/report.py", a, b, c, "--out", str(tmp_path / "r"), "--allow_mixed").returncode == 0


def test_every_method_runs_on_the_scripted_backend_and_the_report_has_every_row(tmp_path):
    """The scripted backend (no server, no weights) runs every --method end to end on 3 questions
    per level: one record per question, the model calls counted, no error record (it crashed in
    run_eval before); then one report of all the runs has a row for each."""
    from autoact.stages.evaluation import ALIASES, METHODS
    methods = (*METHODS, *ALIASES)
    for method in methods:
        save = tmp_path / method
        extra = ["--tool_agents", "Finish=finisher"] if method == "autoact_per_tool" else []
        proc = run_cli(RUN_EVAL, "--task", "HotpotQA", "--task_path", HOTPOT, "--save_path", str(save),
                       "--limit", "3", "--method", method, "--backend", "scripted",
                       "--scripted_policy", "react", "--wiki", "distractor", *extra, env={"OPENAI_BASE_URL": ""})
        assert proc.returncode == 0, (method, proc.stderr[-1500:])
        for level in ("easy", "medium", "hard"):
            records = [json.loads(x) for x in (save / f"{level}.jsonl").read_text().splitlines()]
            assert len(records) == 3 and all(r["error"] is None and r["usage"]["calls"] >= 1 for r in records), \
                (method, level)
        assert json.loads((save / "summary.json").read_text())["method"] == method
    proc = run_cli("Scripts/report.py", *(str(tmp_path / m) for m in methods), "--out", str(tmp_path / "report"))
    assert proc.returncode == 0, proc.stderr[-1500:]
    table = (tmp_path / "report" / "report.md").read_text().split("### HotpotQA")[1].split("###")[0]
    rows = [line.split(" | ")[0].strip("| ") for line in table.splitlines() if line.startswith("| ")][1:]
    assert sorted(rows) == sorted(methods)
