"""Self-Instruct: counts, dedup, validation, formats, resume after SIGKILL, bad input."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from autoact.io import JsonlLog, read_records
from autoact.llm.scripted import ScriptedLLM
from autoact.stages.self_instruct import (Generation, SelfInstruct, build_messages, parse_items,
                                          validate)
from autoact.tasks import get_task

from conftest import REPO, run_cli

SCRIPT = "Self_Instruct/data_generation.py"
META_H = REPO / "Self_Instruct/Meta_sample/Meta_Hotpotqa.json"
META_S = REPO / "Self_Instruct/Meta_sample/Meta_Scienceqa.json"


def hotpot_policy(req) -> str:
    """Deterministic: 10 pairs that depend only on the prompt, with some junk mixed in."""
    h = hashlib.sha1(req.prompt.encode()).hexdigest()
    lines = ["Sure, here are new pairs:", ""]
    for i in range(10):
        lines += [f"{i + 1}. **Question:** What is synthetic item {h[:6]}-{i}?",
                  f"**Answer:** v{h[:4]}{i}", ""]
    lines += ["Question: a pair whose answer is far too long to keep",
              "Answer: this answer has many more than twenty characters",
              "Question: one without an answer", ""]
    return "\n".join(lines)


def science_policy(req) -> str:
    h = hashlib.sha1(req.prompt.encode()).hexdigest()
    out = []
    for i in range(5):
        out += [f"Question: Which item {h[:6]}-{i} is magnetic?",
                f"Options: (A) iron nail {h[:3]}{i} (B) wooden spoon (C) glass cup",
                "Caption: Three objects on a table.", "Ocr: none", f"Answer: A. iron nail {h[:3]}{i}", ""]
    out += ["Question: Bad letter?", "Options: (A) x (B) y", "Answer: D", ""]
    return "\n".join(out)


def make(task_name, policy, total, **kw):
    task = get_task(task_name)
    seeds = read_records(META_H if task.name == "HotpotQA" else META_S)
    return SelfInstruct(task, seeds, ScriptedLLM(policy), Generation(total=total, **kw))


def test_exact_count_no_duplicates_and_rejections(tmp_path):
    gen = make("hotpotqa", hotpot_policy, 25, workers=1)
    with JsonlLog(tmp_path / "p.jsonl", key="round") as log:
        items = gen.run(log)
    assert len(items) == 25
    assert len({it["Question"] for it in items}) == 25
    assert all(set(it) == {"Question", "Answer"} and len(it["Answer"]) < 20 for it in items)
    rej = gen.state.rejected
    assert rej["answer_too_long"] == gen.state.rounds and rej["malformed"] == gen.state.rounds
    assert rej["surplus"] == 10 * gen.state.rounds - 25
    assert gen.state.rounds == 3


def test_duplicates_of_seeds_questions_and_answers_are_dropped(tmp_path):
    reply = ("Question: Are both Shangri-La City and Ma'anshan cities in China?\nAnswer: yes\n"
             "Question: Where is the Louvre?\nAnswer: Paris\n"
             "Question: where is the louvre\nAnswer: France\n"
             "Question: Which city hosts the Eiffel Tower?\nAnswer: Paris\n"
             "Question: Is water wet?\nAnswer: yes\n")
    gen = make("hotpotqa", lambda r: reply, 1, workers=1)
    kept, rej = gen.apply(0, reply)
    assert kept == [{"Question": "Where is the Louvre?", "Answer": "Paris"}]
    assert rej == {"duplicate_of_seed": 1, "duplicate_question": 1, "duplicate_answer": 2}
    loose = make("hotpotqa", lambda r: reply, 2, workers=1, unique_answers=False)
    kept, rej = loose.apply(0, reply)
    assert [k["Answer"] for k in kept] == ["Paris", "Paris"] and rej["surplus"] == 1


def test_scienceqa_format_and_letter_validation(tmp_path):
    gen = make("ScienceQA", science_policy, 7, workers=2)
    with JsonlLog(tmp_path / "p.jsonl", key="round") as log:
        items = gen.run(log)
    assert len(items) == 7
    first = items[0]
    assert set(first) == {"Question", "caption", "orc", "Answer"}
    assert re.fullmatch(r"Which item \w+-\d is magnetic\?\nOptions: \(A\) iron nail \w+ \(B\) wooden spoon \(C\) glass cup",
                        first["Question"])
    assert first["Answer"].startswith("A. iron nail ") and first["orc"] == ""
    assert gen.state.rejected["bad_answer_option"] >= 1
    # the output loads as ScienceQA records for the next stage
    path = tmp_path / "out.json"
    path.write_text(json.dumps(items))
    exs = get_task("scienceqa").load_file(path)
    assert [e.fields["answer_index"] for e in exs] == [0] * 7


def test_parse_is_tolerant():
    items = parse_items("**1. Question:** Who? \nwith a second line\n\n**Answer**: Him\n- Q: Why?\nA: Because")
    assert items == [{"question": "Who? with a second line", "answer": "Him"},
                     {"question": "Why?", "answer": "Because"}]
    task = get_task("hotpotqa")
    assert validate(task, {"question": "Who?"}, 20).reason == "malformed"


def test_prompt_is_pinned():
    task = get_task("hotpotqa")
    msgs = build_messages(task, read_records(META_H), 10)
    assert msgs[0]["content"] == (
        "I want you to be a question-answer pair generator that writes high-quality questions for "
        "the task described below.\nTask Name: HotpotQA\nTask Description: " + task.description)
    assert msgs[1]["content"] == (
        "Question: from 1969 to 1979, Arno Schmidt was the executive chef of a hotel located in "
        "which neighborhood in New York ?\nAnswer: Manhattan\n\n"
        "Question: Are both Shangri-La City and Ma'anshan cities in China?\nAnswer: yes\n\n"
        "Modelled on all the examples above, write 10 new, different question-answer pairs. Use "
        "this format for each pair:\nQuestion: The Treaty of Versailles, signed in 1919, officially "
        "ended which war?\nAnswer: World War I")


def test_rounds_are_reproducible_and_temperature_in_range():
    a = make("hotpotqa", hotpot_policy, 1, workers=3, seed=7)
    b = make("hotpotqa", hotpot_policy, 1, workers=3, seed=7)
    temps = set()
    for r in range(20):
        ma, pa = a.round_request(r)
        mb, pb = b.round_request(r)
        assert ma == mb and pa == pb
        assert 0.1 <= pa.temperature <= 0.5
        temps.add(pa.temperature)
    assert len(temps) > 10
    assert make("hotpotqa", hotpot_policy, 1, seed=8).round_request(0)[1] != a.round_request(0)[1]


def test_no_progress_stops_with_the_models_reply(tmp_path):
    gen = make("hotpotqa", lambda r: "I cannot do that.", 5, workers=2, patience=3)
    from autoact.stages.self_instruct import NoProgressError
    with JsonlLog(tmp_path / "p.jsonl", key="round") as log, \
            pytest.raises(NoProgressError, match="3 rounds in a row added no pair.*'I cannot do that.'"):
        gen.run(log)


# --- the script ------------------------------------------------------------------------------

def seed_command(target, *extra):
    return [SCRIPT, "--source_data", str(META_H), "--target_data", str(target), "--dataset_name",
            "hotpotqa", "--generate_all_num", "40", "--generate_per_round_num", "10",
            "--model_name", "llama-2-13b-chat", *extra]


def test_seed_command_against_fake_server_then_rerun_is_a_no_op(tmp_path, fake_server):
    srv = fake_server(hotpot_policy, models=["llama-2-13b-chat"])
    target = tmp_path / "hotpotqa_metaqa.json"
    proc = run_cli(*seed_command(target), env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    items = json.loads(target.read_text())
    assert len(items) == 40 and len({i["Question"] for i in items}) == 40
    assert "generated 40 HotpotQA pairs" in proc.stdout
    cfg = json.loads(target.with_suffix(".config.json").read_text())
    assert cfg["summary"]["generated"] == 40 and cfg["summary"]["usage"]["requests"] >= 4
    temps = [r["params"]["temperature"] for r in srv.requests]
    assert all(0.1 <= t <= 0.5 for t in temps) and srv.requests[0]["params"]["top_k"] == 40
    n = len(srv.requests)
    again = run_cli(*seed_command(target), env={"OPENAI_BASE_URL": srv.url})
    assert again.returncode == 0 and len(srv.requests) == n
    assert json.loads(target.read_text()) == items


def _run_until_killed(target, url, after_rounds):
    env = {**os.environ, "OPENAI_BASE_URL": url}
    proc = subprocess.Popen([sys.executable, *seed_command(target, "--workers", "2")], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    progress = target.with_suffix(".progress.jsonl")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if progress.exists() and len(progress.read_text().splitlines()) >= after_rounds:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    return proc.returncode


def test_resume_after_sigkill_gives_the_uninterrupted_result(tmp_path, fake_server):
    srv = fake_server(hotpot_policy, models=["llama-2-13b-chat"], latency=0.05)
    ref = tmp_path / "ref" / "out.json"
    ref.parent.mkdir()
    assert run_cli(*seed_command(ref, "--workers", "2"), env={"OPENAI_BASE_URL": srv.url}).returncode == 0
    cut = tmp_path / "cut" / "out.json"
    cut.parent.mkdir()
    assert _run_until_killed(cut, srv.url, after_rounds=2) == -signal.SIGKILL
    partial = cut.with_suffix(".progress.jsonl").read_text().splitlines()
    assert 2 <= len(partial) < 5
    proc = run_cli(*seed_command(cut, "--workers", "2"), env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "resuming" in proc.stdout
    assert json.loads(cut.read_text()) == json.loads(ref.read_text())


def test_continues_from_an_existing_target_without_progress(tmp_path, fake_server):
    srv = fake_server(hotpot_policy, models=["llama-2-13b-chat"])
    target = tmp_path / "out.json"
    mine = [{"Question": f"My own question {i}?", "Answer": f"mine{i}"} for i in range(15)]
    target.write_text(json.dumps(mine))
    proc = run_cli(*seed_command(target), env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    items = json.loads(target.read_text())
    assert len(items) == 40 and items[:15] == mine


def test_scienceqa_seed_command_case_insensitive(tmp_path, fake_server):
    srv = fake_server(science_policy, models=["llama-2-13b-chat"])
    target = tmp_path / "science_metaqa.json"
    proc = run_cli(SCRIPT, "--source_data", str(META_S), "--target_data", str(target),
                   "--dataset_name", "ScienceQA", "--generate_all_num", "12",
                   "--generate_per_round_num", "5", "--model_name", "llama-2-13b-chat",
                   env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(json.loads(target.read_text())) == 12


@pytest.mark.parametrize("content,msg", [
    (None, "no such file"),
    ('{"Question": "q", "Answer": "a"}', "expected a JSON list"),
    ('[{"Question": "q", "Answer": "a"},\n {"Answer": "b"}]', ':2: expected an object with "Question"'),
    ("[]", "no seed examples"),
    ("[{oops", "invalid JSON"),
])
def test_bad_source_data_one_line_exit_2_target_untouched(tmp_path, content, msg):
    src = tmp_path / "seed.json"
    if content is not None:
        src.write_text(content)
    target = tmp_path / "out.json"
    target.write_text('[{"Question": "keep me", "Answer": "yes"}]')
    proc = run_cli(SCRIPT, "--source_data", str(src), "--target_data", str(target),
                   "--dataset_name", "hotpotqa", "--generate_all_num", "5",
                   env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0] and "Traceback" not in proc.stderr
    assert target.read_text() == '[{"Question": "keep me", "Answer": "yes"}]'
    assert not target.with_suffix(".progress.jsonl").exists()


def test_unknown_dataset_and_bad_counts(tmp_path):
    proc = run_cli(SCRIPT, "--source_data", str(META_H), "--target_data", str(tmp_path / "o.json"),
                   "--dataset_name", "webshop")
    assert proc.returncode == 2 and "unknown task 'webshop'" in proc.stderr
    proc = run_cli(SCRIPT, "--source_data", str(META_H), "--target_data", str(tmp_path / "o.json"),
                   "--dataset_name", "hotpotqa", "--generate_all_num", "-3")
    assert proc.returncode == 2 and "expected a positive integer" in proc.stderr
