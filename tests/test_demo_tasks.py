"""The demo teacher's tasks: the WikiFacts spec task with its own corpus, held-out questions that
the teacher never writes, and trajectories that vary the way a model's would."""

import json
import random

import pytest

from autoact.agents.episode import Episode
from autoact.agents.meta import ZeroshotThinkAgent
from autoact.llm import SamplingParams
from autoact.llm.scripted import ScriptedLLM
from autoact.tasks import get_task
from autoact.tasks.base import Example
from autoact.testing import world
from autoact.tools import default_selection

from conftest import REPO, run_cli

PARAMS = SamplingParams(max_tokens=64, stop=("\n",))


def test_shipped_wikifacts_files_are_what_the_generator_writes(tmp_path):
    world.write_task_files(str(tmp_path))
    for name in ("wikifacts_corpus.jsonl", "wikifacts_eval.jsonl"):
        assert (tmp_path / name).read_text() == (REPO / "autoact/tasks/specs" / name).read_text(), name


def test_teacher_questions_never_overlap_the_evaluation_questions():
    from autoact.testing.demo_teacher import _arithmetic_pairs, _facts_pairs
    rng = random.Random(0)
    facts = {q for q, _ in _facts_pairs(rng, 2000)}
    held = {q["question"] for q in world.eval_questions()}
    assert facts and not facts & held
    held_pairs = {(t.name, t.held_out) for t in world.towns()}
    from autoact.testing.demo_teacher import _fact_of
    for q in facts:
        name = next(t.name for t in world.towns() if t.name in q)
        assert (name, _fact_of(q)) not in held_pairs, q
    arith = {q for q, _ in _arithmetic_pairs(rng, 3000)}
    shipped = {json.loads(x)["question"] for x in (REPO / "autoact/tasks/specs/arithmetic_eval.jsonl").read_text().splitlines()}
    assert arith and not arith & shipped


def _teacher_episodes(task, pairs, tools, env, prompts=None):
    from autoact.testing.demo_teacher import demo_teacher
    llm = ScriptedLLM(demo_teacher)
    agent = ZeroshotThinkAgent(llm)
    out = []
    for i, (q, a) in enumerate(pairs):
        ep = Episode(task, Example(f"q{i}", q, a), default_selection(tools), env, max_steps=10,
                     prompts=prompts)
        while not ep.done and not ep.check_halt():
            ep.act(*agent.step(ep, PARAMS))
        out.append(ep.record())
    return out


@pytest.mark.parametrize("prompts", ["shipped", "demo"])
@pytest.mark.parametrize("kind", ["wikifacts", "arithmetic"])
def test_teacher_trajectories_vary_in_length_and_wording(kind, prompts):
    """Whether the instruction lists the tools (the shipped prompts) or names none (the learning
    preset's one-sentence instruction), the teacher solves its own questions, in varied ways."""
    from autoact.prompting import load_prompts
    from autoact.testing.demo_teacher import _arithmetic_pairs, _facts_pairs
    from autoact.tools import Environment
    from autoact.tools.corpus import OfflineCorpus, corpus_index
    task = get_task(kind)
    rng = random.Random(5)
    p = load_prompts(REPO / "autoact/assets/demo_prompts.yaml") if prompts == "demo" else None
    if kind == "wikifacts":
        corpus = OfflineCorpus(corpus_index(task.corpus, "wikifacts"))
        env = Environment(wiki=corpus, search=corpus)
        recs = _teacher_episodes(task, _facts_pairs(rng, 40), ["Retrieve", "Lookup", "BingSearch"], env, p)
    else:
        recs = _teacher_episodes(task, _arithmetic_pairs(rng, 40), ["Calculator"], Environment(), p)
    assert all(r["correct"] and r["finished"] for r in recs)
    assert len({r["n_steps"] for r in recs}) >= 3                      # lengths vary
    assert len({r["steps"][0]["thought"] for r in recs}) >= 3           # so does the wording
    assert any(r["reflection"] == ["wrong"] for r in recs)             # some slips, caught by reflection
    first_actions = {r["steps"][0]["action"].split("[")[0] for r in recs}
    if kind == "wikifacts":
        assert first_actions == {"Retrieve", "BingSearch"}
        assert any(s["action"].startswith("Lookup[") for r in recs for s in r["steps"])


def test_a_spec_tasks_own_corpus_is_its_default_retrieval(tmp_path, fake_server):
    from autoact.testing.demo_teacher import demo_teacher
    srv = fake_server(demo_teacher, models=["llama-2-13b-chat"])
    save = tmp_path / "facts.jsonl"
    base = ["Self_Planning/Traj_Syn/run_task.py", "--agent_name", "ZeroshotThink_run_Agent", "--task",
            "WikiFacts", "--task_path", "autoact/tasks/specs/wikifacts_eval.jsonl", "--limit", "8", "--save_path", str(save)]
    proc = run_cli(*base, env={"OPENAI_BASE_URL": srv.url, "AUTOACT_WIKI": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "retrieval: offline:wikifacts:10" in proc.stdout
    recs = [json.loads(x) for x in save.read_text().splitlines()]
    assert all(r["correct"] and r["retrieval"] == "offline:wikifacts:10" for r in recs)
    # an explicit --wiki still wins
    proc = run_cli(*base[:-1], str(tmp_path / "d.jsonl"), "--wiki", "distractor",
                   env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0 and "retrieval: distractor" in proc.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: X\ndescription: d\nseed_examples: [{Question: q, Answer: a}]\ncorpus: nowhere.jsonl\n")
    proc = run_cli(*base, "--task_spec", str(bad), env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 2 and "corpus" in proc.stderr and "does not exist" in proc.stderr
