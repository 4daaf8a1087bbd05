"""The demo base's own pre-training: its text, its determinism, its cache."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from autoact.testing import pretrain, tiny

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "autoact" / "tasks" / "specs"
#: a small word-level model with a few pre-training steps: seconds on a CPU
SMALL = tiny.TinyConfig(hidden_size=64, intermediate_size=128, num_attention_heads=2,
                        tokenizer="word", tie_word_embeddings=True, pretrain_steps=6)


@pytest.fixture(scope="module")
def pools():
    return pretrain.word_pools(tiny.frequent_words())


def _task_texts() -> list[str]:
    """The shipped tasks' questions: their evaluation files, seed examples and what the demo
    teacher asks."""
    import random

    import yaml

    from autoact.testing.demo_teacher import _arithmetic_pairs, _facts_pairs
    texts = [json.loads(line)["question"] for f in SPECS.glob("*_eval.jsonl")
             for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts += [ex["Question"] for f in SPECS.glob("*.yaml")
              for ex in (yaml.safe_load(f.read_text(encoding="utf-8")).get("seed_examples") or [])]
    texts += [q for q, _ in _arithmetic_pairs(random.Random(0), 200)]
    texts += [q for q, _ in _facts_pairs(random.Random(0), 200)]
    return texts


def test_the_text_is_a_function_of_the_seed_with_every_shape(pools):
    caps, lower = pools
    a = pretrain.sentences(300, caps, lower, seed=0)
    assert a == pretrain.sentences(300, caps, lower, seed=0)
    assert a != pretrain.sentences(300, caps, lower, seed=1)
    assert all(len(ex.split("\n")) >= pretrain.SENTENCES_PER_EXAMPLE for ex in a)
    text = "\n".join(a)
    # each shape occurs: its fixed words (the slots taken out) are in the text
    for shape in pretrain.SHAPES:
        fixed = max(re.split(r"\{\w\}", shape), key=len).strip()
        assert fixed in text, shape
    # numbers are whole tokens below the tokenizer's own number range
    assert max(int(n) for n in re.findall(r"\d+", text)) < tiny.WORD_NUMBERS


def test_the_text_never_holds_a_task_question_or_a_word_only_the_tasks_have(pools):
    caps, lower = pools
    words = set(caps) | set(lower)
    corpus = [json.loads(line) for line in
              (SPECS / "wikifacts_corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    towns = {d["title"] for d in corpus}
    rivers = {m for d in corpus for m in re.findall(r"The river (\w+)", d["text"])}
    assert towns and rivers and not (towns | rivers) & words
    text = "\n".join(pretrain.sentences(2000, caps, lower, seed=0))
    questions = _task_texts()
    assert len(questions) > 300
    assert not [q for q in questions if q in text]
    # and no task question's first six words start a pre-training sentence
    starts = {" ".join(q.split()[:6]) for q in questions}
    assert not [s for s in text.split("\n") if " ".join(s.split()[:6]) in starts]


def test_pretraining_trains_every_weight_deterministically(tmp_path):
    a = tiny.build_tiny_model(tmp_path / "a", SMALL)
    b = tiny.build_tiny_model(tmp_path / "b", SMALL)
    r = tiny.build_tiny_model(tmp_path / "r", replace(SMALL, pretrain_steps=0))
    from safetensors.torch import load_file
    wa, wb, wr = (load_file(p / "model.safetensors") for p in (a, b, r))
    assert wa.keys() == wr.keys()
    assert all((wa[k] == wb[k]).all() for k in wa)
    # every tensor moved away from the random start (full-parameter, not an adapter)
    assert all(not (wa[k] == wr[k]).all() for k in wa)
    log = json.loads((a / "pretrain_log.json").read_text())
    assert [e["step"] for e in log] == list(range(1, SMALL.pretrain_steps + 1))
    assert log[-1]["loss"] < log[0]["loss"]
    assert json.loads((a / "autoact_tiny.json").read_text())["pretrain_steps"] == SMALL.pretrain_steps
    assert not (a / "pretrain-work").exists()


def test_the_cache_builds_once_under_a_versioned_name(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOACT_CACHE", str(tmp_path / "cache"))
    first = tiny.cached_tiny_model("small", SMALL)
    assert first.parent == tmp_path / "cache" / "models"
    assert first.name.startswith(f"small-v{pretrain.PRETRAIN_VERSION}-")
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert tiny.cached_tiny_model("small", SMALL) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    other = tiny.cached_tiny_model("small", replace(SMALL, pretrain_steps=3))
    assert other != first and other.parent == first.parent
    assert sorted(p.name for p in first.parent.iterdir()) == sorted([first.name, other.name])
    # a build that crashed left its temporary folder: the next build of that model removes it,
    # while another process's build in progress keeps its own
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    third = replace(SMALL, pretrain_steps=2)
    target = tiny.cache_path("small", third)
    crashed = target.with_name(f"{target.name}.tmp{gone.pid}")
    running = target.with_name(f"{target.name}.tmp{os.getppid()}")
    crashed.mkdir()
    running.mkdir()
    assert tiny.cached_tiny_model("small", third) == target
    assert not crashed.exists() and running.exists()


def test_the_pipeline_takes_the_demo_base_from_the_cache(tmp_path, monkeypatch):
    from autoact import pipeline
    monkeypatch.setenv("AUTOACT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(tiny.SIZES, "demo", SMALL)
    run = pipeline.Pipeline({"task": "arithmetic", "work_dir": str(tmp_path / "w"),
                             "model": {"base_model": "demo"}})
    path = Path(run.base_model())
    assert path.parent == tmp_path / "cache" / "models" and (path / "pretrain_log.json").exists()
    assert Path(run.base_model()) == path
    assert not (tmp_path / "w" / "demo-model").exists()


def test_the_builder_refuses_a_file_as_its_folder_and_leaves_it_alone(tmp_path):
    wrong = tmp_path / "notes.txt"
    wrong.write_bytes(b"keep me\n")
    for argv in (["--out", str(wrong)], ["--out", str(tmp_path / "m"), "--pretrain_steps", "-1"]):
        proc = subprocess.run([sys.executable, "-m", "autoact.testing.tiny", *argv],
                              capture_output=True, text=True)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("python -m autoact.testing.tiny: error:")
    assert wrong.read_bytes() == b"keep me\n" and not (tmp_path / "m").exists()


def test_the_demo_base_changes_only_on_purpose():
    """The demo base's cache name is a hash of its shape, its pre-training recipe, the generic
    corpus and the word list ``autoact/assets/demo_vocabulary.txt``, not of the prompts' or
    specs' wording: editing a prompt file (issue 15 added the baselines' prompts, and the base
    built from every prompt file's words moved the learning preset's figures, WikiFacts to zero)
    builds nothing. A change of the list builds another base (nine minutes on two cores) for
    every user: make it on purpose, rerun the learning preset, update the figures in README.md
    and docs/, then this name."""
    assert tiny.cache_path("demo", tiny.DEMO).name == "demo-v3-1ccfd877734a"


def test_the_demo_vocabulary_holds_what_the_demo_writes_and_reads():
    """Every word of the demo's prompts and of the shipped specs and corpora (evaluation files
    aside), every frequent word of the generic corpus (the pre-training's words), the words of
    every episode's scratchpad, and every number below the bound: one token each."""
    words = set(tiny.vocabulary_words())
    needed = {w for t in tiny.demo_texts() for w in re.findall(r"[^\W\d_]+", t)} | tiny.frequent_words()
    needed |= {"Question", "Thought", "Action", "Observation", "Invalid", "Valid", "Actions", "Please",
               "reflect", "Answer", "CORRECT", "INCORRECT", "Result", "No"}
    assert needed - words == set()
    assert {str(n) for n in range(tiny.WORD_NUMBERS)} <= words
    listed = tiny.VOCABULARY.read_text(encoding="utf-8").split()
    assert listed == sorted(set(listed)) and not any(w.isdigit() for w in listed)
