"""Trajectory synthesis (Meta-Agent loop, run_task.py), filtering and analysis."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from autoact.agents.episode import Episode, clean_generation
from autoact.agents.group import GroupPlanningAgent
from autoact.agents.meta import ZeroshotThinkAgent
from autoact.agents.prompts import Step, instruction, prefix, step_text
from autoact.agents.runner import run_all
from autoact.agents.setup import make_solver
from autoact.io import JsonlLog, read_jsonl_latest
from autoact.llm import RoleMap, SamplingParams
from autoact.testing.fake_server import react_policy
from autoact.llm.scripted import ScriptedLLM
from autoact.llm.templates import agent_prompt
from autoact.prompting import default_prompts
from autoact.stages.filtering import build_training_data, role_examples
from autoact.tasks import get_task
from autoact.tools import Environment, default_selection
from autoact.tools.wiki import NO_PAGE_LOOKUP

from conftest import REPO, TEST_ENV, run_cli

HOTPOT = REPO / "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa"
SCIENCE = REPO / "Self_Planning/Group_Planning/benchmark_run/data/scienceqa"
RUN_TASK = "Self_Planning/Traj_Syn/run_task.py"
FILTER = "Scripts/filter_data.py"
PARAMS = SamplingParams(max_tokens=64, stop=("\n",))
_OBS = default_prompts()
PLEASE_REFLECT, TRY_AGAIN, CORRECT, INCORRECT, REFLECT_ONLY_AFTER_FINISH = (
    _OBS.render(f"observations.{k}") for k in
    ("please_reflect", "try_again", "correct", "incorrect", "reflect_only_after_finish"))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from autoact.tools.corpus import OfflineCorpus, build_index, hotpotqa_documents
    index = tmp_path_factory.mktemp("corpus") / "c.sqlite"
    build_index(hotpotqa_documents(sorted(HOTPOT.glob("*.jsonl"))), index, progress=False)
    corpus = OfflineCorpus(index)
    return Environment(wiki=corpus, search=corpus)


@pytest.fixture(scope="module")
def badr():
    return get_task("hotpotqa").load_file(HOTPOT / "easy.jsonl")[0]   # answer: Badr Hari


class Script:
    """A Meta-Agent policy from a list of (thought, action) pairs."""

    def __init__(self, steps):
        self.steps = list(steps)

    def step(self, ep, params):
        return self.steps[len(ep.steps) % len(self.steps)]


def play(task, ex, env, steps, **kw):
    ep = Episode(task, ex, default_selection(task.default_tools), env, **kw)
    policy = Script(steps)
    while not ep.done and not ep.check_halt():
        ep.act(*policy.step(ep, PARAMS))
    return ep


# --- the episode protocol --------------------------------------------------------------------

def test_correct_run(env, badr):
    ep = play(get_task("hotpotqa"), badr, env, [
        ("I should look him up.", "Retrieve[Badr Hari]"),
        ("He was the best kickboxer.", "Finish[Badr Hari]"),
        ("The answer fits the page.", "Reflect[right]")])
    rec = ep.record()
    assert rec["correct"] and rec["reward"] == 1.0 and rec["finished"] and not rec["halted"]
    assert [s["observation"] for s in rec["steps"]][1:] == [PLEASE_REFLECT, CORRECT]
    assert rec["steps"][0]["observation"].startswith("Badr Hari")
    assert rec["reflection"] == ["right"] and rec["prediction"] == "Badr Hari"
    assert rec["prompt"].endswith("Action 3: Reflect[right]\nObservation 3: Answer is CORRECT")
    assert rec["prompt"].startswith(instruction(get_task("hotpotqa"), default_selection(get_task("hotpotqa").default_tools)))


def test_wrong_then_reflect_wrong_then_corrected(env, badr):
    ep = play(get_task("hotpotqa"), badr, env, [
        ("Guess.", "Finish[Peter Aerts]"),
        ("That may be wrong.", "Reflect[wrong]"),
        ("Check the page.", "Retrieve[Badr Hari]"),
        ("It is Badr Hari.", "Finish[Badr Hari]")])
    rec = ep.record()
    obs = [s["observation"] for s in rec["steps"]]
    assert obs[0] == PLEASE_REFLECT and obs[1] == TRY_AGAIN and obs[3] == CORRECT
    assert rec["correct"] and rec["finished"] and rec["n_steps"] == 4
    assert rec["answers"] == [{"answer": "Peter Aerts", "correct": False},
                              {"answer": "Badr Hari", "correct": True}]
    assert rec["reflection"] == ["wrong"]


def test_reflect_right_on_a_wrong_answer_says_incorrect(env, badr):
    rec = play(get_task("hotpotqa"), badr, env, [("x", "Finish[Nobody]"), ("ok", "Reflect[right]")]).record()
    assert rec["steps"][-1]["observation"] == INCORRECT and not rec["correct"] and rec["finished"]


def test_invalid_actions_and_lookup_before_retrieve(env, badr):
    ep = play(get_task("hotpotqa"), badr, env, [
        ("Hmm.", "I think I should search"),
        ("Use math.", "Calculator[1+1]"),
        ("Reflect early.", "Reflect[right]"),
        ("Look it up.", "Lookup[kickboxer]"),
        ("Done.", "Finish[Badr Hari]"),
        ("Sure.", "Reflect[maybe]"),
        ("Sure.", "Reflect[right]")])
    obs = [s["observation"] for s in ep.record()["steps"]]
    assert obs[0].startswith("Invalid Action. Valid Actions are BingSearch[...] Retrieve[...] Lookup[...]")
    assert obs[1].startswith("Invalid Action.")
    assert obs[2] == REFLECT_ONLY_AFTER_FINISH
    assert obs[3] == NO_PAGE_LOOKUP
    assert obs[5].startswith("Invalid action. Reflect takes right or wrong")
    assert ep.record()["finished"] and ep.record()["correct"]


def test_halting_by_steps_and_by_context(env, badr):
    loop = [("Again.", "Retrieve[Badr Hari]")]
    ep = play(get_task("hotpotqa"), badr, env, loop, max_steps=4)
    rec = ep.record()
    assert rec["halted"] and not rec["finished"] and rec["n_steps"] == 4 and not rec["correct"]
    ep = play(get_task("hotpotqa"), badr, env, loop, max_steps=50, max_context_len=900)
    assert ep.halted and 1 <= len(ep.steps) < 5
    assert ep.count_tokens(ep.prompt()) > 900


def test_scienceqa_with_image2text(env):
    task = get_task("ScienceQA")
    ex = task.load_file(SCIENCE / "format_scienceqa_grade1-4.json")[0]     # Delaware -> (B) Dover
    ep = play(task, ex, env, [("Look at the image.", "Image2Text[image]"),
                              ("The capital is Dover.", "Finish[B]"),
                              ("Right.", "Reflect[right]")])
    rec = ep.record()
    assert rec["steps"][0]["observation"].startswith("Image caption: A painting of an animal")
    assert rec["correct"] and rec["reward"] == 1.0
    assert "Finish[option], which returns the answer option" in rec["prompt"]
    assert "Options: (A) Harrisburg (B) Dover" in rec["prompt"]


def test_clean_generation():
    assert clean_generation(" Thought 2: I should look.\nAction 2: x") == "I should look."
    assert clean_generation("Retrieve[X] Observation 3: nope") == "Retrieve[X]"
    assert clean_generation("") == ""


# --- the Meta-Agent through a model ---------------------------------------------------------

def test_meta_agent_prompts_and_stops(env, badr):
    llm = ScriptedLLM(react_policy)
    ep = Episode(get_task("hotpotqa"), badr, default_selection(get_task("hotpotqa").default_tools), env)
    agent = ZeroshotThinkAgent(llm)
    while not ep.done and not ep.check_halt():
        ep.act(*agent.step(ep, PARAMS))
    prompts = [r.prompt for r in llm.requests]
    assert prompts[0].endswith(f"Question: {badr.question}\nThought 1:")
    assert prompts[1].endswith("\nThought 1: I need to retrieve the first entity.\nAction 1:")
    assert all(r.params.stop == ("\n",) for r in llm.requests)
    assert len(prompts) == 6 and ep.finished and ep.usage["calls"] == 6


def _solve_all(examples, env, workers, path):
    task = get_task("hotpotqa")
    llm = ScriptedLLM(react_policy)

    class Args:
        max_steps, max_context_len, max_tokens, temperature, top_p, top_k, seed = 15, 4096, 64, 0.0, 1.0, -1, 0

    solve = make_solver(task, default_selection(get_task("hotpotqa").default_tools), env, llm, ZeroshotThinkAgent(llm), Args, {})
    with JsonlLog(path) as out:
        return run_all(examples, solve, out, workers=workers, show_progress=False)


def test_concurrent_run_gives_the_same_records(env, tmp_path):
    examples = get_task("hotpotqa").load_file(HOTPOT / "medium.jsonl")[:24]
    one = _solve_all(examples, env, 1, tmp_path / "w1.jsonl")
    eight = _solve_all(examples, env, 8, tmp_path / "w8.jsonl")
    strip = lambda recs: sorted((json.dumps({k: v for k, v in r.items() if k != "seconds"},
                                            sort_keys=True) for r in recs))
    assert strip(one) == strip(eight) and len(one) == 24
    assert [r["id"] for r in one] == [e.id for e in examples]


# --- run_task.py ------------------------------------------------------------------------------

def seed_command(save, *extra, task="Hotpotqa", agent="ZeroshotThink_HotPotQA_run_Agent",
                 path="Self_Planning/Group_Planning/benchmark_run/data/hotpotqa/easy.jsonl"):
    return [RUN_TASK, "--agent_name", agent, "--llm_name", "llama-2-13b-chat", "--max_context_len",
            "4096", "--task", task, "--task_path", path, "--save_path", str(save), *extra]


def test_seed_command_against_fake_server(tmp_path, fake_server, env):
    srv = fake_server(react_policy, models=["llama-2-13b-chat"])
    save = tmp_path / "out" / "hotpotqa_train_data.jsonl"
    proc = run_cli(*seed_command(save, "--limit", "10"), env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = [json.loads(x) for x in save.read_text().splitlines()]
    assert len(recs) == 10 and len({r["id"] for r in recs}) == 10
    for key in ("id", "question", "answer", "prediction", "correct", "reward", "halted", "error",
                "steps", "reflection", "prompt", "llm", "usage"):
        assert key in recs[0], key
    assert recs[0]["llm"] == {"backend": "openai", "model": "llama-2-13b-chat", "base_url": srv.url}
    assert recs[0]["usage"]["calls"] == 6 and recs[0]["retrieval"] == "distractor"
    cfg = json.loads(save.with_suffix(".config.json").read_text())
    assert cfg["summary"]["questions"] == 10 and cfg["summary"]["tools"] == ["BingSearch", "Retrieve", "Lookup"]
    # the reference's decoding, recorded as sent: completions, temperature 0.9, 128 tokens, newline
    sent = cfg["decoding"]["completions"]
    assert sent["requests"] == 60 and sent["temperature"] == 0.9 and sent["max_tokens"] == 128
    assert sent["stop"] == ["\n"] and "num_beams" not in sent and "chat.completions" not in cfg["decoding"]
    assert {r["params"]["temperature"] for r in srv.requests} == {0.9}
    assert cfg["tools"]["source"] == "the default selection of HotpotQA"
    assert "tools: BingSearch, Retrieve, Lookup (from the default selection of HotpotQA)" in proc.stdout
    assert cfg["retrieval"]["setting"] == "distractor" and "retrieval: distractor" in proc.stdout
    n = len(srv.requests)
    again = run_cli(*seed_command(save, "--limit", "10"), env={"OPENAI_BASE_URL": srv.url})
    assert again.returncode == 0 and len(srv.requests) == n       # all done: no new calls


def test_scienceqa_agent_and_tools_file(tmp_path, fake_server):
    srv = fake_server(react_policy, models=["llama-2-13b-chat"])
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([{"name": "Image2Text"}, {"name": "Retrieve"}]))
    save = tmp_path / "sci.jsonl"
    proc = run_cli(*seed_command(save, "--limit", "4", "--tools", str(tools), task="ScienceQA",
                                 agent="ZeroshotThink_ScienceQA_run_Agent",
                                 path=str(SCIENCE / "format_scienceqa_grade5-8.json")),
                   env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = json.loads(save.read_text().splitlines()[0])
    assert "(1) Image2Text[image]" in rec["prompt"] and "(2) Retrieve[entity]" in rec["prompt"]
    assert rec["level"] is None and rec["task"] == "ScienceQA"


def test_sigkill_mid_run_then_rerun_every_id_once(tmp_path, fake_server):
    srv = fake_server(react_policy, models=["llama-2-13b-chat"], latency=0.02)
    save = tmp_path / "kill.jsonl"
    cmd = [sys.executable, *seed_command(save, "--limit", "40", "--workers", "4")]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **TEST_ENV, "OPENAI_BASE_URL": srv.url},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if save.exists() and len(save.read_text().splitlines()) >= 8:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = len(save.read_text().splitlines())
    assert 8 <= partial < 40
    again = run_cli(*seed_command(save, "--limit", "40", "--workers", "4"), env={"OPENAI_BASE_URL": srv.url})
    assert again.returncode == 0, again.stderr[-2000:]
    ids = [json.loads(x)["id"] for x in save.read_text().splitlines()]
    assert len(ids) == 40 and len(set(ids)) == 40


def test_injected_faults_become_error_records_that_a_rerun_fills(tmp_path, fake_server):
    flaky = fake_server(react_policy, models=["llama-2-13b-chat"], fault_rate=0.2,
                        fault_kinds=["500", "malformed"], seed=3)
    save = tmp_path / "faults.jsonl"
    args = seed_command(save, "--limit", "30", "--max_retries", "0", "--max_consecutive_failures", "30",
                        "--max_error_rate", "1")
    proc = run_cli(*args, env={"OPENAI_BASE_URL": flaky.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    recs = read_jsonl_latest(save)
    errors = [r for r in recs if r["error"]]
    assert len(recs) == 30 and 5 <= len(errors) < 30
    assert "rerun the same command to retry them" in proc.stdout
    assert all("HTTP 500" in r["error"] or "malformed" in r["error"] for r in errors)
    good = fake_server(react_policy, models=["llama-2-13b-chat"])
    proc = run_cli(*args, env={"OPENAI_BASE_URL": good.url})
    assert proc.returncode == 0
    recs = [json.loads(x) for x in save.read_text().splitlines()]
    assert len(recs) == 30 and not any(r["error"] for r in recs)
    assert len(good.requests) == 6 * len(errors)          # only the failed ones were redone


@pytest.mark.parametrize("extra,msg", [
    (["--agent_name", "Nope_Agent"], "unknown agent 'Nope_Agent'"),
    (["--agent_name", "ZeroshotThink_ScienceQA_run_Agent"], "is for scienceqa, not HotpotQA"),
    (["--task", "webshop"], "unknown task 'webshop'"),
    (["--task_path", "missing.json"], "missing.json: no such file"),
    (["--tools", "missing_tools.json"], "missing_tools.json: no such file"),
])
def test_bad_inputs_one_line(tmp_path, extra, msg):
    cmd = seed_command(tmp_path / "o.jsonl")
    for flag, value in zip(extra[::2], extra[1::2]):
        if flag in cmd:
            cmd[cmd.index(flag) + 1] = value
        else:
            cmd += [flag, value]
    proc = run_cli(*cmd, env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert proc.returncode == 2 and msg in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_unreachable_server_fails_fast(tmp_path):
    from conftest import free_port
    url = f"http://127.0.0.1:{free_port()}/v1"
    proc = run_cli(*seed_command(tmp_path / "o.jsonl", "--max_retries", "0"), env={"OPENAI_BASE_URL": url})
    assert proc.returncode == 2 and f"cannot reach the model server at {url}" in proc.stderr


# --- filtering -----------------------------------------------------------------------------------

def hand_made_log(task, path):
    """Two trajectories written by hand: one right (with a reflection that fixed it, and an
    invalid step), one wrong."""
    tools = default_selection(get_task("hotpotqa").default_tools)
    instr = instruction(task, tools)
    good = [Step("Find him.", "Retrieve[Badr Hari]", "Badr Hari is a kickboxer."),
            Step("Oops.", "Calculator[1]", "Invalid Action. Valid Actions are ..."),
            Step("Answer.", "Finish[Peter Aerts]", PLEASE_REFLECT),
            Step("Not sure.", "Reflect[wrong]", TRY_AGAIN),
            Step("Check again.", "Lookup[best]", "(Result 1/1) best kickboxer."),
            Step("It is him.", "Finish[Badr Hari]", CORRECT)]
    bad = [Step("Guess.", "Finish[no]", PLEASE_REFLECT), Step("Fine.", "Reflect[right]", INCORRECT)]
    recs = [
        {"id": "g1", "question": "Who was the best kickboxer?", "answer": "Badr Hari", "task": "HotpotQA",
         "correct": True, "reward": 1.0, "finished": True, "halted": False, "error": None,
         "steps": [vars(s) for s in good], "prompt": prefix(instr, "Who was the best kickboxer?", good)},
        {"id": "b1", "question": "Is it?", "answer": "yes", "task": "HotpotQA", "correct": False,
         "reward": 0.0, "finished": True, "halted": False, "error": None,
         "steps": [vars(s) for s in bad], "prompt": prefix(instr, "Is it?", bad)},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return instr, good


def test_filter_record_by_record(tmp_path):
    task = get_task("hotpotqa")
    log = tmp_path / "traj.jsonl"
    instr, good = hand_made_log(task, log)
    q = "Who was the best kickboxer?"
    head = f"{instr}\nQuestion: {q}"
    proc = run_cli(FILTER, "--source_path", str(log), "--save_path", str(tmp_path / "data"),
                   "--task_name", "HotpotQA", "--filter_num", "200")
    assert proc.returncode == 0, proc.stderr
    assert "kept 1 of 2 trajectories" in proc.stdout
    data = {r: json.loads((tmp_path / "data" / f"data_{r}.json").read_text()) for r in ("plan", "tool", "reflect")}
    s = [step_text(st, i) for i, st in enumerate(good, 1)]
    expected_plan = [
        {"input": head + "\nThought 1:", "output": "Find him."},
        {"input": head + "\nThought 1: Find him.\nAction 1:", "output": "Retrieve"},
        {"input": head + s[0] + s[1] + "\nThought 3:", "output": "Answer."},
        {"input": head + s[0] + s[1] + "\nThought 3: Answer.\nAction 3:", "output": "Finish"},
        {"input": head + "".join(s[:4]) + "\nThought 5:", "output": "Check again."},
        {"input": head + "".join(s[:4]) + "\nThought 5: Check again.\nAction 5:", "output": "Lookup"},
        {"input": head + "".join(s[:5]) + "\nThought 6:", "output": "It is him."},
        {"input": head + "".join(s[:5]) + "\nThought 6: It is him.\nAction 6:", "output": "Finish"},
    ]
    expected_tool = [
        {"input": head + "\nThought 1: Find him.\nAction 1: Retrieve[", "output": "Badr Hari"},
        {"input": head + s[0] + s[1] + "\nThought 3: Answer.\nAction 3: Finish[", "output": "Peter Aerts"},
        {"input": head + "".join(s[:4]) + "\nThought 5: Check again.\nAction 5: Lookup[", "output": "best"},
        {"input": head + "".join(s[:5]) + "\nThought 6: It is him.\nAction 6: Finish[", "output": "Badr Hari"},
    ]
    expected_reflect = [
        {"input": head + "".join(s[:3]) + "\nThought 4:", "output": "Not sure."},
        {"input": head + "".join(s[:3]) + "\nThought 4: Not sure.\nAction 4:", "output": "Reflect[wrong]"},
    ]
    key = lambda d: json.dumps(d, sort_keys=True)
    assert sorted(map(key, data["plan"])) == sorted(map(key, expected_plan))
    assert sorted(map(key, data["tool"])) == sorted(map(key, expected_tool))
    assert sorted(map(key, data["reflect"])) == sorted(map(key, expected_reflect))
    assert "Obversation" not in json.dumps(data) and "Aciton" not in json.dumps(data)
    cfg = json.loads((tmp_path / "data" / "data_config.json").read_text())
    assert cfg["kept_ids"] == ["g1"] and cfg["examples"] == {"plan": 8, "tool": 4, "reflect": 2}


def test_filter_per_tool_splits_the_tool_agents_data_by_action(tmp_path):
    """--per_tool: one data_tool_<Name>.json per action (Finish included) whose union is
    data_tool.json; asking for it over up-to-date data rebuilds it with the role files unchanged,
    and a later run without the flag finds everything up to date."""
    log = tmp_path / "traj.jsonl"
    hand_made_log(get_task("hotpotqa"), log)
    d = tmp_path / "data"
    base = [FILTER, "--source_path", str(log), "--save_path", str(d), "--task_name", "HotpotQA", "--filter_num", "9"]
    assert run_cli(*base).returncode == 0 and not list(d.glob("data_tool_*.json"))
    roles = {f"data_{r}.json": (d / f"data_{r}.json").read_bytes() for r in ("plan", "tool", "reflect")}
    proc = run_cli(*base, "--per_tool")
    assert proc.returncode == 0, proc.stderr
    assert {p.name: p.read_bytes() for p in d.glob("data_*.json") if p.name in roles} == roles
    split = {p.name: json.loads(p.read_text()) for p in d.glob("data_tool_*.json")}
    assert {k: [x["output"] for x in v] for k, v in split.items() if k != "data_tool_Finish.json"} == \
        {"data_tool_Retrieve.json": ["Badr Hari"], "data_tool_Lookup.json": ["best"]}
    assert sorted(x["output"] for x in split["data_tool_Finish.json"]) == ["Badr Hari", "Peter Aerts"]
    assert all(x["input"].endswith(" Finish[") for x in split["data_tool_Finish.json"])
    key = lambda x: json.dumps(x, sort_keys=True)
    assert sorted(key(x) for v in split.values() for x in v) == \
        sorted(map(key, json.loads((d / "data_tool.json").read_text())))
    cfg = json.loads((d / "data_config.json").read_text())
    assert cfg["per_tool"]["Lookup"] == {"file": "data_tool_Lookup.json", "examples": 1}
    assert run_cli(*base).stdout.strip().endswith("nothing to do")
    assert run_cli(*base, "--per_tool").stdout.strip().endswith("nothing to do")


def test_filter_num_seed_and_criterion(tmp_path):
    recs = [{"id": f"q{i}", "question": "Q?", "answer": "a", "correct": i % 2 == 0,
             "reward": 1.0 if i % 3 == 0 else 0.5, "finished": True, "halted": False, "error": None,
             "steps": [], "prompt": "I\nQuestion: Q?"} for i in range(20)]
    _, kept = build_training_data(recs, filter_num=4, seed=1)
    _, again = build_training_data(list(reversed(recs)), filter_num=4, seed=1)
    assert kept == again and len(kept) == 4 and all(int(k[1:]) % 2 == 0 for k in kept)
    _, other = build_training_data(recs, filter_num=4, seed=2)
    assert other != kept
    _, by_reward = build_training_data(recs, filter_num=100, criterion="reward")
    assert sorted(by_reward) == sorted(f"q{i}" for i in range(20) if i % 3 == 0)


def test_filter_bad_inputs(tmp_path):
    log = tmp_path / "t.jsonl"
    hand_made_log(get_task("hotpotqa"), log)
    base = [FILTER, "--source_path", str(log), "--save_path", str(tmp_path / "d"), "--task_name", "HotpotQA"]
    proc = run_cli(*base, "--filter_num", "0")
    assert proc.returncode == 2 and "expected a positive integer" in proc.stderr
    proc = run_cli(*base[:-1], "ScienceQA", "--filter_num", "5")
    assert proc.returncode == 2 and "is a HotpotQA trajectory, not ScienceQA" in proc.stderr
    (tmp_path / "notlog.jsonl").write_text('{"id": 1, "foo": 2}\n')
    proc = run_cli(FILTER, "--source_path", str(tmp_path / "notlog.jsonl"), "--save_path",
                   str(tmp_path / "d"), "--task_name", "HotpotQA", "--filter_num", "5")
    assert proc.returncode == 2 and "has no 'question'" in proc.stderr
    assert run_cli(*base, "--filter_num", "5").returncode == 0
    before = (tmp_path / "d" / "data_plan.json").read_text()
    proc = run_cli(*base, "--filter_num", "5", "--seed", "9")
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    assert (tmp_path / "d" / "data_plan.json").read_text() == before
    assert run_cli(*base, "--filter_num", "5").stdout.strip().endswith("nothing to do")


# --- training inputs == inference prompts ------------------------------------------------------

#: the agents' replies, call by call, of a five-step episode on the Badr Hari question: Retrieve,
#: a wrong Finish, Reflect[wrong], Lookup, the right Finish
BADR_REPLIES = ["I should look him up.", "Retrieve", "Badr Hari]",
                "Answer it.", "Finish", "Peter Aerts",
                "Maybe wrong.", "Reflect[wrong]",
                "Look closer.", "Lookup", "kickboxer",
                "It is Badr Hari.", "Finish", "Badr Hari"]


def test_train_inputs_are_byte_identical_to_group_planning_prompts(env, badr):
    """Run group planning with scripted agents, then filter its own trajectory: every training
    input of every role, wrapped in the inference template, is a prompt that role's model got."""
    task = get_task("hotpotqa")
    script = iter(BADR_REPLIES)
    llm = ScriptedLLM(lambda req: next(script))
    agent = GroupPlanningAgent(llm, RoleMap("planner", "tooler", "reflector"))
    ep = Episode(task, badr, default_selection(get_task("hotpotqa").default_tools), env)
    while not ep.done and not ep.check_halt():
        ep.act(*agent.step(ep, PARAMS))
    rec = ep.record()
    assert rec["correct"] and rec["n_steps"] == 5 and rec["reflection"] == ["wrong"]
    assert rec["steps"][0]["action"] == "Retrieve[Badr Hari]"
    sent = {(r.model, r.prompt) for r in llm.requests}
    data = role_examples(rec)
    names = {"plan": "planner", "tool": "tooler", "reflect": "reflector"}
    assert {r: len(v) for r, v in data.items()} == {"plan": 8, "tool": 4, "reflect": 2}
    for role, pairs in data.items():
        for pair in pairs:
            assert (names[role], agent_prompt(pair["input"])) in sent, (role, pair["input"][-60:])
    assert len(sent) == 14


def test_per_tool_agents_get_the_prompts_of_their_own_training_data(env, badr):
    """autoact_per_tool: each action's argument is asked of that action's agent (the shared tool
    agent where an action has none), with the bytes ``role_examples(split_tools=True)`` trains
    that agent on; the role data stay as without the split."""
    task = get_task("hotpotqa")
    script = iter(BADR_REPLIES)
    llm = ScriptedLLM(lambda req: next(script))
    roles = RoleMap("planner", "tooler", "reflector", per_tool=(("Retrieve", "t-retrieve"), ("Finish", "t-finish")))
    agent = GroupPlanningAgent(llm, roles)
    ep = Episode(task, badr, default_selection(task.default_tools), env)
    while not ep.done and not ep.check_halt():
        ep.act(*agent.step(ep, PARAMS))
    rec = ep.record()
    assert rec["correct"] and rec["n_steps"] == 5
    asked = [r.model for r in llm.requests if r.model not in ("planner", "reflector")]
    assert asked == ["t-retrieve", "t-finish", "tooler", "t-finish"]
    data = role_examples(rec, split_tools=True)
    assert data["plan"] == role_examples(rec)["plan"] and data["tool"] == role_examples(rec)["tool"]
    assert {k: len(v) for k, v in data.items() if k.startswith("tool:")} == \
        {"tool:Retrieve": 1, "tool:Finish": 2, "tool:Lookup": 1}
    assert sorted(map(str, data["tool"])) == sorted(str(p) for k, v in data.items() if k.startswith("tool:") for p in v)
    sent = {(r.model, r.prompt) for r in llm.requests}
    for key, model in (("tool:Retrieve", "t-retrieve"), ("tool:Finish", "t-finish"), ("tool:Lookup", "tooler")):
        for pair in data[key]:
            assert (model, agent_prompt(pair["input"])) in sent, key


# --- analysis ----------------------------------------------------------------------------------

def test_analysis_table_and_csv(tmp_path):
    recs = [
        {"id": "a", "level": "easy", "correct": True, "reward": 1.0, "halted": False, "error": None,
         "n_steps": 4, "reflection": ["wrong"], "answers": [{"answer": "x", "correct": False},
                                                             {"answer": "y", "correct": True}],
         "usage": {"prompt_tokens": 100, "completion_tokens": 10}},
        {"id": "b", "level": "easy", "correct": False, "reward": 0.5, "halted": True, "error": None,
         "n_steps": 2, "reflection": [], "answers": [], "usage": {"prompt_tokens": 50, "completion_tokens": 5}},
        {"id": "c", "level": "hard", "correct": False, "reward": 0.0, "error": "boom", "n_steps": 0},
        {"id": "d", "level": "hard", "correct": True, "reward": 1.0, "halted": False, "error": None,
         "n_steps": 3, "reflection": ["wrong"], "answers": [{"answer": "z", "correct": True},
                                                            {"answer": "w", "correct": False}]},
        {"id": "d", "level": "hard", "correct": False, "reward": 0.0, "halted": False, "error": None,
         "n_steps": 3, "reflection": ["wrong"], "answers": [{"answer": "z", "correct": True},
                                                            {"answer": "w", "correct": False}]},
    ]
    log = tmp_path / "run.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in recs))
    proc = run_cli("Scripts/analysis.py", str(tmp_path), "--csv", str(tmp_path / "s.csv"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[2] == f"| {log} | easy | 2 | 0.500 | 0.750 | 0.500 | 0.000 | 3.00 | 1 | 0 | 1 | 150 | 15 |"
    # the errored question is wrong and in every denominator (its 0 steps too)
    assert lines[3] == f"| {log} | hard | 2 | 0.000 | 0.000 | 0.000 | 0.500 | 1.50 | 0 | 1 | 1 | 0 | 0 |"
    assert lines[4] == f"| {log} | all | 4 | 0.250 | 0.375 | 0.250 | 0.250 | 2.25 | 1 | 1 | 2 | 150 | 15 |"
    assert (tmp_path / "s.csv").read_text().startswith("file,level,n,accuracy,f1")
    proc = run_cli("Scripts/analysis.py", str(tmp_path / "nothing"))
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr
