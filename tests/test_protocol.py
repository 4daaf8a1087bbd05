"""The paper's protocol (issue "Faithful paper protocol"): tool selection feeding the later stages,
the reference's decoding recorded as sent, retrieval settings that say what they are, prompts
swappable from a file, the reference's artefacts loading, the -filtering ablation, and the
README's spec-task command. The seed commands run verbatim from a user's working folder."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from autoact.errors import ConfigError
from autoact.testing.fake_server import react_policy
from autoact.llm.templates import agent_prompt

from conftest import REPO, run_cli

FIXTURES = REPO / "tests" / "fixtures"
REF_LOG = FIXTURES / "reference_trajectories.jsonl"
DUMP = FIXTURES / "enwiki-sample-abstracts.tar.bz2"
SCIENCE = REPO / "Self_Planning/Group_Planning/benchmark_run/data/scienceqa"
TOOL_SELECT = str(REPO / "Self_Planning/Tool_Selection/tool_selected.py")
RUN_TASK = str(REPO / "Self_Planning/Traj_Syn/run_task.py")
RUN_EVAL = str(REPO / "Self_Planning/Group_Planning/run_eval.py")
DATA_GEN = str(REPO / "Self_Instruct/data_generation.py")
FILTER = str(REPO / "Scripts/filter_data.py")


@pytest.fixture
def workdir(tmp_path):
    """A user's working copy: the seed commands' relative paths resolve here, and what they
    write (Self_Planning/Tool_Selection/{Task}_Tools.json ...) stays here."""
    wd = tmp_path / "work"
    for rel in ("Self_Planning/Group_Planning/benchmark_run/data", "Self_Instruct/Meta_sample"):
        (wd / rel).parent.mkdir(parents=True, exist_ok=True)
        (wd / rel).symlink_to(REPO / rel)
    (wd / "tasks").symlink_to(REPO / "autoact/tasks/specs")      # the user's own ./tasks
    return wd


def seed_run_task(*extra, task="Hotpotqa", agent="ZeroshotThink_HotPotQA_run_Agent",
                  path="Self_Planning/Group_Planning/benchmark_run/data/hotpotqa/easy.jsonl",
                  save="Self_Planning/Traj_Syn/output/hotpotqa_train_data.jsonl"):
    return [RUN_TASK, "--agent_name", agent, "--llm_name", "llama-2-13b-chat", "--max_context_len",
            "4096", "--task", task, "--task_path", path, "--save_path", save, *extra]


def seed_run_eval(*extra, save="Self_Planning/Group_Planning/output/13b"):
    return [RUN_EVAL, "--agent_name", "ZeroshotThink_HotPotQA_run_Agent", "--plan_agent", "plan",
            "--tool_agent", "tool", "--reflect_agent", "reflect", "--max_context_len", "4096",
            "--task", "HotpotQA", "--task_path", "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa",
            "--save_path", save, *extra]


def selector_policy(names):
    """Chat requests (tool selection) name ``names``; completions play the ReAct agent."""
    def policy(req):
        if req.messages is not None:
            return "\n".join(f"{i}. {n}: needed." for i, n in enumerate(names, 1))
        return react_policy(req)
    return policy


def first_record(path: Path) -> dict:
    return json.loads(path.read_text().splitlines()[0])


# --- 1. tool selection feeds the later stages ----------------------------------------------------

def test_seed_tool_selection_output_drives_synthesis_and_evaluation(workdir, fake_server):
    srv = fake_server(selector_policy(["Calculator", "Retrieve"]),
                      models=["llama-2-13b-chat", "plan", "tool", "reflect"])
    env = {"OPENAI_BASE_URL": srv.url}
    # the seed command exactly as the reference README spells it (ScienceQA), then HotpotQA
    seed = [TOOL_SELECT, "--model_name", "llama-2-13b-chat", "--task_name", "ScienceQA", "--top_k", "40",
            "--top_p", "0.75", "--max_tokens", "1024", "--tool_save_path",
            "Self_Planning/Tool_Selection/{task_name}_Tools.json"]
    assert run_cli(*seed, cwd=workdir, env=env).returncode == 0
    assert (workdir / "Self_Planning/Tool_Selection/ScienceQA_Tools.json").is_file()
    seed[seed.index("ScienceQA")] = "HotpotQA"
    proc = run_cli(*seed, cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr
    tools_file = workdir / "Self_Planning/Tool_Selection/HotpotQA_Tools.json"
    assert [t["name"] for t in json.loads(tools_file.read_text())] == ["Calculator", "Retrieve"]

    proc = run_cli(*seed_run_task("--limit", "2"), cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "tools: Calculator, Retrieve (from Self_Planning/Tool_Selection/HotpotQA_Tools.json)" in proc.stdout
    rec = first_record(workdir / "Self_Planning/Traj_Syn/output/hotpotqa_train_data.jsonl")
    instr = rec["prompt"].split("\nQuestion:")[0]
    assert "(1) Calculator[expression]" in instr and "(2) Retrieve[entity]" in instr
    assert "BingSearch" not in instr and "Lookup[" not in instr

    # the file's own wording is what the prompt shows
    custom = json.loads(tools_file.read_text())
    custom[1]["usage"] = "Retrieve[entity], which opens the page of the entity in our test wiki."
    tools_file.write_text(json.dumps(custom))
    proc = run_cli(*seed_run_task("--limit", "1", save="out2.jsonl"), cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(2) Retrieve[entity], which opens the page of the entity in our test wiki." in \
        first_record(workdir / "out2.jsonl")["prompt"]
    cfg = json.loads((workdir / "out2.config.json").read_text())
    assert cfg["tools"]["source"] == "Self_Planning/Tool_Selection/HotpotQA_Tools.json"
    assert cfg["tools"]["selected"][1]["usage"].endswith("in our test wiki.")

    # evaluation reads the same file; an explicit --tools still wins
    proc = run_cli(*seed_run_eval("--limit", "1", "--levels", "easy"), cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "tools: Calculator, Retrieve (from Self_Planning/Tool_Selection/HotpotQA_Tools.json)" in proc.stdout
    assert "(1) Calculator[expression]" in first_record(workdir / "Self_Planning/Group_Planning/output/13b/easy.jsonl")["prompt"]
    explicit = workdir / "mine.json"
    explicit.write_text(json.dumps([{"name": "Lookup"}]))
    proc = run_cli(*seed_run_task("--limit", "1", "--tools", str(explicit), save="out3.jsonl"), cwd=workdir, env=env)
    assert proc.returncode == 0 and f"tools: Lookup (from {explicit})" in proc.stdout

    # a task spec task: its own file, the same rule
    (workdir / "Self_Planning/Tool_Selection/Arithmetic_Tools.json").write_text(json.dumps([{"name": "Calculator"}]))
    proc = run_cli(*seed_run_task("--limit", "1", task="arithmetic", agent="ZeroshotThink_run_Agent",
                                  path="tasks/arithmetic_eval.jsonl", save="arith.jsonl"), cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "tools: Calculator (from Self_Planning/Tool_Selection/Arithmetic_Tools.json)" in proc.stdout

    # without the file: the task's default selection, and the run says so
    os.remove(tools_file)
    proc = run_cli(*seed_run_task("--limit", "1", save="out4.jsonl"), cwd=workdir, env=env)
    assert "tools: BingSearch, Retrieve, Lookup (from the default selection of HotpotQA)" in proc.stdout


def test_unknown_tool_in_the_selection_file_is_one_line(workdir):
    f = workdir / "Self_Planning/Tool_Selection/HotpotQA_Tools.json"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text('[\n{"name": "Retrieve"},\n{"name": "Teleport", "usage": "Teleport[x]"}\n]')
    proc = run_cli(*seed_run_task(), cwd=workdir, env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert proc.returncode == 2 and "HotpotQA_Tools.json:3: unknown tool 'Teleport'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# --- 2. the reference's decoding, recorded as sent -----------------------------------------------

def test_group_planning_sends_the_references_decoding_and_records_it(workdir, fake_server):
    srv = fake_server(react_policy, models=["llama-2-13b-chat", "plan", "tool", "reflect"])
    proc = run_cli(*seed_run_eval("--limit", "2", "--levels", "easy"), cwd=workdir, env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    sent = [r["params"] for r in srv.requests if r["path"] == "/v1/completions"]
    assert sent and all(p == {"max_tokens": 256, "temperature": 0.5, "top_p": 0.75, "top_k": 40, "n": 1,
                              "stop": ["\n"], "seed": p["seed"], "num_beams": 4} for p in sent)
    cfg = json.loads((workdir / "Self_Planning/Group_Planning/output/13b/eval.config.json").read_text())
    rec = cfg["decoding"]["completions"]
    assert rec["requests"] == len(sent) and rec["temperature"] == 0.5 and rec["num_beams"] == 4
    assert rec["top_p"] == 0.75 and rec["top_k"] == 40 and rec["max_tokens"] == 256 and rec["stop"] == ["\n"]
    assert "--num_beams" in run_cli(RUN_EVAL, "--help").stdout


def test_a_server_that_rejects_num_beams_gets_it_dropped_with_one_notice(workdir, fake_server):
    srv = fake_server(react_policy, models=["llama-2-13b-chat", "plan", "tool", "reflect"],
                      reject_fields=["num_beams"])
    proc = run_cli(*seed_run_eval("--limit", "3", "--levels", "easy", "--workers", "1"), cwd=workdir,
                   env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("rejected num_beams") == 1
    with_beams = [r for r in srv.requests if "num_beams" in r["params"]]
    assert len(with_beams) == 1                                # only the first, refused, request
    cfg = json.loads((workdir / "Self_Planning/Group_Planning/output/13b/eval.config.json").read_text())
    assert "num_beams" not in cfg["decoding"]["completions"]   # the truth: none was sent
    summary = json.loads((workdir / "Self_Planning/Group_Planning/output/13b/summary.json").read_text())
    assert summary["all"]["errors"] == 0


def test_self_instruct_records_the_chat_api_it_used(tmp_path, fake_server):
    def pairs(req):
        n = req.params.seed                       # one per round
        return "\n\n".join(f"Question: What is thing {n}-{i}?\nAnswer: t{n}x{i}" for i in range(5))
    srv = fake_server(pairs, models=["llama-2-13b-chat"])
    target = tmp_path / "hotpotqa_metaqa.json"
    proc = run_cli(DATA_GEN, "--source_data", "Self_Instruct/Meta_sample/Meta_Hotpotqa.json", "--target_data",
                   str(target), "--dataset_name", "hotpotqa", "--generate_all_num", "12",
                   "--generate_per_round_num", "5", "--model_name", "llama-2-13b-chat",
                   env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = json.loads(target.with_suffix(".config.json").read_text())
    assert list(cfg["decoding"]) == ["chat.completions"] and "api" not in cfg["llm"]
    chat = cfg["decoding"]["chat.completions"]
    temps = chat["temperature"]
    assert isinstance(temps, list) and all(0.1 <= t <= 0.5 for t in temps)   # drawn per round
    assert chat["top_p"] == 0.75 and chat["top_k"] == 40 and chat["max_tokens"] == 1024
    assert all(r["path"] == "/v1/chat/completions" for r in srv.requests)


def test_local_backend_says_it_does_not_apply_num_beams(hf_llm, caplog):
    from autoact.llm import SamplingParams
    hf_llm._beams_noted = False
    with caplog.at_level("WARNING"):
        hf_llm.complete(["Question: x\nThought 1:"] * 2, SamplingParams(max_tokens=3, num_beams=4, stop=("\n",)))
    assert sum("num_beams 4 is not applied" in r.message for r in caplog.records) == 1
    assert hf_llm.decoding.summary()["generate"]["num_beams"] == 1


# --- 3. retrieval that does not leak the answer --------------------------------------------------

def test_presets_use_the_open_setting_and_smoke_says_distractor():
    from argparse import Namespace

    from autoact.pipeline import resolve_config
    args = dict(config=None, task=None, task_spec=[], work_dir=None, set=[])
    for preset, wiki in (("hotpotqa", "live"), ("scienceqa", "live"), ("smoke", "distractor")):
        _, cfg = resolve_config(Namespace(preset=preset, **args))
        assert cfg["wiki"] == wiki, preset
    help_text = run_cli(RUN_TASK, "--help").stdout
    assert "distractor" in help_text and "else $AUTOACT_WIKI or live" in " ".join(help_text.split())


WIKI_PAGES = {
    "Harbour Lighthouse": ("Harbour Lighthouse is a stone lighthouse on the northern pier. It was first lit "
                           "in 1861. Its lamp was designed by Marta Okafor. It has a red roof. It stands "
                           "twenty metres tall. Ships use it at night. Tourists visit it in summer.\n"
                           "A second lead paragraph mentions the harbour master.\n\n\n== History ==\n"
                           "The lamp was electrified in 1934."),
    "Marta Okafor": "Marta Okafor is an engineer. She designed lamps.",
}


def lighthouse_policy(req):
    """Search, retrieve the page, look up the lamp, answer, reflect."""
    m = re.search(r"(Thought|Action) (\d+):$", req.prompt)
    kind, n = m.group(1), int(m.group(2))
    plan = {1: ("Search first.", "BingSearch[lighthouse lamp designer]"),
            2: ("Open the lighthouse page.", "Retrieve[Harbour Lighthouse]"),
            3: ("Look for the lamp.", "Lookup[electrified]"),
            4: ("It was electrified in 1934.", "Finish[1934]"),
            5: ("The page says so.", "Reflect[right]")}
    t, a = plan.get(n, ("Done.", "Finish[1934]"))
    return " " + (t if kind == "Thought" else a)


def test_live_setting_reads_wikipedia_through_its_api_and_caches(tmp_path, fake_server):
    """Live Wikipedia cannot be reached here: a MediaWiki stand-in on 127.0.0.1 answers the same
    API calls (the wikipedia package's and the search API's)."""
    from autoact.testing.mediawiki import MediaWikiStandIn
    srv = fake_server(lighthouse_policy, models=["llama-2-13b-chat"])
    questions = tmp_path / "q.json"
    questions.write_text(json.dumps([{"Question": "When was the lamp of Harbour Lighthouse electrified?",
                                      "Answer": "1934"}]))
    with MediaWikiStandIn(WIKI_PAGES) as wiki:
        env = {"OPENAI_BASE_URL": srv.url, "AUTOACT_WIKI": "", "AUTOACT_WIKI_URL": wiki.url}
        args = seed_run_task("--wiki_cache", str(tmp_path / "cache.sqlite"), path=str(questions),
                             save=str(tmp_path / "live.jsonl"))
        proc = run_cli(*args, env=env)                       # no --wiki: live is the default
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert f"retrieval: live Wikipedia ({wiki.url}); BingSearch: Wikipedia search" in proc.stdout
        rec = first_record(tmp_path / "live.jsonl")
        obs = [s["observation"] for s in rec["steps"]]
        assert obs[0].startswith("Harbour Lighthouse: ")             # the search API's snippet
        assert obs[1] == ("Harbour Lighthouse is a stone lighthouse on the northern pier. It was first lit "
                          "in 1861. Its lamp was designed by Marta Okafor. It has a red roof. It stands "
                          "twenty metres tall. Ships use it at night. Tourists visit it in summer. "
                          "A second lead paragraph mentions the harbour master.")   # the whole first chunk
        assert obs[2] == "(Result 1/1) The lamp was electrified in 1934."
        assert rec["correct"] and rec["retrieval"] == "live"
        cfg = json.loads((tmp_path / "live.config.json").read_text())
        assert cfg["retrieval"] == {"setting": "live", "label": "live", "wikipedia": wiki.url,
                                    "search": "Wikipedia search"}
        served = len(wiki.requests)
        assert served >= 3
        again = run_cli(*args[:-1], str(tmp_path / "again.jsonl"), env=env)
        assert again.returncode == 0 and len(wiki.requests) == served     # all from the disk cache


def test_offline_needs_an_index_and_a_dump_built_corpus_is_labelled(tmp_path, fake_server):
    index = tmp_path / "wiki.sqlite"
    proc = run_cli("Scripts/build_corpus.py", "--source", str(DUMP), "--index", str(index),
                   "--name", "fixture-wiki", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "indexed 4 documents" in proc.stdout and "labelled: offline:fixture-wiki:4" in proc.stdout
    srv = fake_server(lighthouse_policy, models=["llama-2-13b-chat"])
    questions = tmp_path / "q.json"
    questions.write_text(json.dumps([{"Question": "When was Harbour Lighthouse first lit?", "Answer": "1861"}]))
    base = seed_run_task(path=str(questions), save=str(tmp_path / "o.jsonl"))
    proc = run_cli(*base, "--wiki", "offline", env={"OPENAI_BASE_URL": srv.url, "AUTOACT_CORPUS_INDEX": ""})
    assert proc.returncode == 2 and "--wiki offline needs --corpus_index" in proc.stderr
    proc = run_cli(*base, "--wiki", "offline", "--corpus_index", str(index), env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = first_record(tmp_path / "o.jsonl")
    assert rec["retrieval"] == "offline:fixture-wiki:4"
    assert rec["steps"][1]["observation"].startswith("Harbour Lighthouse is a stone lighthouse")
    from autoact.tools.corpus import OfflineCorpus
    page = OfflineCorpus(index).page("Glass Orchard")            # list-of-paragraphs text, title dropped
    assert page.sentences[:page.intro] == ["Glass Orchard is a novel set in a greenhouse.", "It won a small prize."]


def test_dump_reader_streams_archive_folder_and_single_files(tmp_path):
    import bz2
    import tarfile

    from autoact.errors import DataError
    from autoact.tools.corpus import wiki_dump_documents
    from_archive = list(wiki_dump_documents(DUMP))
    assert [t for t, _ in from_archive] == ["Harbour Lighthouse", "Marta Okafor", "Blue Fern Valley", "Glass Orchard"]
    assert "<a href" not in from_archive[1][1] and from_archive[1][1].endswith("technical college.")
    with tarfile.open(DUMP) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    assert list(wiki_dump_documents(tmp_path / "unpacked")) == from_archive
    single = next((tmp_path / "unpacked").rglob("wiki_01.bz2"))
    assert [t for t, _ in wiki_dump_documents(single)] == ["Blue Fern Valley"]
    bad = tmp_path / "wiki_99.bz2"
    bad.write_bytes(bz2.compress(b'{"title": "X", "text": ["a"]}\n{"title": 3}\n'))
    with pytest.raises(DataError, match=r"wiki_99.bz2:2: expected an object with \"title\""):
        list(wiki_dump_documents(bad))


def test_report_prints_the_retrieval_setting_under_the_table(tmp_path):
    for name, retrieval in (("a", {"setting": "distractor", "label": "distractor"}),
                            ("b", {"setting": "live", "label": "live", "wikipedia": "W", "search": "S"})):
        d = tmp_path / name
        d.mkdir()
        lv = {k: {"questions": 2, "em": 0.5, "f1": 0.5} for k in ("easy", "medium", "hard")}
        (d / "summary.json").write_text(json.dumps({
            "task": "HotpotQA", "method": name, "backbone": "tiny", "metrics": ["em", "f1"], "levels": lv,
            "all": {"questions": 6, "em": 0.5, "f1": 0.5}, "retrieval": retrieval}))
    refused = run_cli("Scripts/report.py", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r"))
    assert refused.returncode == 2 and "used different retrieval settings" in refused.stderr
    assert not (tmp_path / "r" / "report.md").exists()
    proc = run_cli("Scripts/report.py", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r"),
                   "--allow_mixed")
    assert proc.returncode == 0, proc.stderr
    md = (tmp_path / "r" / "report.md").read_text()
    assert "- rows from different questions or retrieval settings (--allow_mixed)" in md
    assert "- retrieval: distractor (the evaluation questions' own context paragraphs" in md
    assert "- retrieval: live Wikipedia (W); BingSearch: S" in md


# --- 4. prompts swappable without code ------------------------------------------------------------

CUSTOM_PROMPTS = """\
agent:
  instruction_free: |-
    Answer the question. Tools:
    {tools}
    {finish}
    {reflect}
  question: "\\nQ: {question}\\n"
  thought_label: "\\nThink {n}:"
  action_label: "\\nDo {n}:"
  observation_label: "\\nSee {n}:"
observations:
  please_reflect: Check your answer now.
tools:
  Retrieve:
    usage: Retrieve[name] opens a page.
"""


def custom_policy(req):
    """Plays the Meta-Agent and the three tuned agents under CUSTOM_PROMPTS' labels."""
    body = req.prompt[:-len("\n### Response:\n")] if req.prompt.endswith("\n### Response:\n") else req.prompt
    tuned = body != req.prompt
    m = re.search(r"(Think|Do) (\d+):( Retrieve\[| Finish\[)?$", body)
    kind, n, tool = m.group(1), int(m.group(2)), m.group(3)
    if tool:
        return "Badr Hari"
    steps = {1: ("Open his page.", "Retrieve", "Retrieve[Badr Hari]"),
             2: ("He is the one.", "Finish", "Finish[Badr Hari]"),
             3: ("The page agrees.", "Reflect[right]", "Reflect[right]")}
    thought, kind_tuned, action = steps.get(n, steps[3])
    if kind == "Think":
        return thought if tuned else " " + thought
    return kind_tuned if tuned else " " + action


def test_a_custom_prompts_file_keeps_training_and_inference_byte_identical(tmp_path, fake_server):
    prompts = tmp_path / "prompts.yaml"
    prompts.write_text(CUSTOM_PROMPTS)
    srv = fake_server(custom_policy, models=["llama-2-13b-chat", "plan", "tool", "reflect"])
    env = {"OPENAI_BASE_URL": srv.url}
    traj = tmp_path / "traj.jsonl"
    proc = run_cli(*seed_run_task("--limit", "2", "--prompts", str(prompts), save=str(traj)), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = next(r for r in map(json.loads, traj.read_text().splitlines()) if r["answer"] == "Badr Hari")
    assert rec["prompt"].startswith("Answer the question. Tools:\n(1) BingSearch[query]")
    assert "(2) Retrieve[name] opens a page." in rec["prompt"]
    assert "\nThink 2: He is the one.\nDo 2: Finish[Badr Hari]\nSee 2: Check your answer now." in rec["prompt"]
    assert rec["correct"]
    cfg = json.loads(traj.with_suffix(".config.json").read_text())
    assert cfg["prompts"]["file"] == str(prompts) and len(cfg["prompts"]["sha256"]) == 64
    data = tmp_path / "data"
    proc = run_cli(FILTER, "--source_path", str(traj), "--save_path", str(data), "--task_name", "HotpotQA",
                   "--filter_num", "10", "--prompts", str(prompts))
    assert proc.returncode == 0, proc.stderr
    # the same log read with the shipped prompts does not fit: a clear error, not silent drift
    bad = run_cli(FILTER, "--source_path", str(traj), "--save_path", str(tmp_path / "d2"),
                  "--task_name", "HotpotQA", "--filter_num", "10")
    assert bad.returncode == 2 and "same --prompts file" in bad.stderr
    srv.requests.clear()
    proc = run_cli(*seed_run_eval("--limit", "2", "--levels", "easy", "--prompts", str(prompts),
                                  save=str(tmp_path / "eval")), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sent = {(r["model"], r["prompt"]) for r in srv.requests}
    trained = 0
    for role in ("plan", "tool", "reflect"):
        for pair in json.loads((data / f"data_{role}.json").read_text()):
            assert (role, agent_prompt(pair["input"])) in sent, (role, pair["input"][-80:])
            trained += 1
    assert trained == 4 + 2 + 2     # the one right trajectory: 4 plan, 2 tool, 2 reflect inputs


@pytest.mark.parametrize("text,msg", [
    ("agent:\n  thoght_label: x\n", "unknown slot agent.thoght_label"),
    ("agent:\n  question: \"{question} {answer}\"\n", "agent.question uses unknown field(s) {answer}"),
    ("observations:\n  correct: \"oops {\"\n", "observations.correct: bad template"),
    ("stuff:\n  x: y\n", "unknown section 'stuff'"),
    ("tools:\n  Teleport:\n    usage: T[x]\n", "tools.Teleport: not a tool of the pool"),
    ("agent:\n  thought_label: 3\n", "agent.thought_label must be a string"),
    ("agent:\n  action_label: \"\"\n", "agent.action_label must not be empty"),
])
def test_bad_prompts_files_are_one_line_errors(tmp_path, text, msg):
    f = tmp_path / "p.yaml"
    f.write_text(text)
    proc = run_cli(*seed_run_task("--prompts", str(f), save=str(tmp_path / "o.jsonl")),
                   env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert proc.returncode == 2 and msg in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert str(f) in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_every_prompt_slot_is_documented_in_the_prompts_page():
    from autoact.prompting import SLOTS
    page = (REPO / "docs" / "prompts.md").read_text()
    section = page.split("## The slots", 1)[1].split("\n## ", 1)[0]
    for name, slots in SLOTS.items():
        for slot in slots:
            assert f"`{name}.{slot}`" in section, f"{name}.{slot}"
    assert "--prompts" in run_cli(DATA_GEN, "--help").stdout


def test_tool_selection_with_custom_tool_texts_writes_them(tmp_path, fake_server):
    prompts = tmp_path / "p.yaml"
    prompts.write_text("tools:\n  Calculator:\n    definition: Does sums.\n    usage: Calculator[sum] adds.\n"
                       "tool_selection:\n  pool_line: \"- {name} ({definition})\"\n")
    srv = fake_server(selector_policy(["Calculator"]), models=["llama-2-13b-chat"])
    out = tmp_path / "tools.json"
    proc = run_cli(TOOL_SELECT, "--task_name", "HotpotQA", "--tool_save_path", str(out), "--prompts", str(prompts),
                   env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == [{"name": "Calculator", "definition": "Does sums.",
                                            "usage": "Calculator[sum] adds."}]
    assert "- Calculator (Does sums.)" in srv.requests[0]["messages"][1]["content"]


# --- 5. the reference's artefacts load ----------------------------------------------------------

def test_filter_and_analysis_read_a_reference_trajectory_log(tmp_path):
    data = tmp_path / "data"
    proc = run_cli(FILTER, "--source_path", str(REF_LOG), "--save_path", str(data), "--task_name", "HotpotQA",
                   "--filter_num", "200")
    assert proc.returncode == 0, proc.stderr
    assert "kept 2 of 5 trajectories" in proc.stdout and "5 lines are in the reference's log format" in proc.stdout
    plan = json.loads((data / "data_plan.json").read_text())
    tool = json.loads((data / "data_tool.json").read_text())
    reflect = json.loads((data / "data_reflect.json").read_text())
    assert len(plan) == 2 * 2 + 2 * 3 and len(reflect) == 2 * 2
    assert sorted(p["output"] for p in tool) == ["Harbour Lighthouse", "Harbour Lighthouse", "Marta Okafor",
                                                 "Marta Okafor", "lamp"]
    first = REF_LOG.read_text().splitlines()[0]
    instr = json.loads(first)["prompt"].split("\nQuestion:")[0]
    assert all(p["input"].startswith(instr + "\nQuestion: ") for p in plan)
    inputs = [p["input"] for p in plan + tool + reflect]
    assert not any("Obversation" in x or "Aciton" in x for x in inputs)
    assert any("\nObservation 1: Harbour Lighthouse is a stone" in x for x in inputs)
    # -filtering keeps the wrong and the halted ones (not the error)
    proc = run_cli(FILTER, "--source_path", str(REF_LOG), "--save_path", str(tmp_path / "all"), "--task_name",
                   "HotpotQA", "--filter_num", "200", "--criterion", "none")
    assert proc.returncode == 0 and "kept 4 of 5 trajectories (any without an error)" in proc.stdout
    # --instruction prompts: the instruction evaluation will send
    proc = run_cli(FILTER, "--source_path", str(REF_LOG), "--save_path", str(tmp_path / "ours"), "--task_name",
                   "HotpotQA", "--filter_num", "200", "--instruction", "prompts")
    assert proc.returncode == 0, proc.stderr
    from autoact.agents.prompts import instruction
    from autoact.tasks import get_task
    from autoact.tools import default_selection
    ours = instruction(get_task("hotpotqa"), default_selection(get_task("hotpotqa").default_tools))
    assert all(p["input"].startswith(ours + "\nQuestion: ")
               for p in json.loads((tmp_path / "ours" / "data_plan.json").read_text()))
    proc = run_cli("Scripts/analysis.py", "--file_path", str(REF_LOG))
    assert proc.returncode == 0, proc.stderr
    row = proc.stdout.splitlines()[2].split(" | ")
    # level, n, accuracy, f1, halted, errors: the errored line counts as wrong, in the denominator
    assert row[1:7] == ["reference_trajectories", "5", "0.400", "0.400", "0.200", "0.200"]


def test_reference_eval_folders_report_and_resume(tmp_path, fake_server):
    from autoact.tasks import get_task
    lines = REF_LOG.read_text().splitlines()
    ref = tmp_path / "ref13b"
    ref.mkdir()
    (ref / "easy.jsonl").write_text(lines[0] + "\n" + lines[1] + "\n")
    (ref / "hard.jsonl").write_text(lines[4] + "\n")
    proc = run_cli("Scripts/report.py", str(ref), "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    assert "| reference run | ref13b | 50.00 (50.00) | - | 100.00 (100.00) | 66.67 (66.67) |" in proc.stdout
    assert "retrieval: not recorded (a reference run)" in proc.stdout

    # the reference's ScienceQA outputs are 1-4.jsonl ...: run_eval continues such a folder
    exs = get_task("scienceqa").load_file(SCIENCE / "format_scienceqa_grade1-4.json")[:4]
    raw = json.loads((SCIENCE / "format_scienceqa_grade1-4.json").read_text())[:2]
    save = tmp_path / "sci"
    save.mkdir()
    done = [{"question": r["Question"], "answer": r["choices"][ord(r["Answer"]) - 65], "correct": True,
             "reward": True, "halted": False, "error": False,
             "prompt": f"Instr.\nQuestion: {r['Question']}\n\nThought: x\nAction: Finish[{r['Answer']}]\n"
                       f"Observation: Answer is CORRECT"} for r in raw]
    (save / "1-4.jsonl").write_text("".join(json.dumps(d) + "\n" for d in done))
    srv = fake_server(react_policy, models=["llama-2-13b-chat", "plan", "tool", "reflect"])
    proc = run_cli(RUN_EVAL, "--task", "ScienceQA", "--agent_name", "ZeroshotThink_ScienceQA_run_Agent",
                   "--task_path", str(SCIENCE), "--save_path", str(save), "--levels", "1-4", "--limit", "4",
                   env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 lines from the reference's run; continuing it" in proc.stdout
    asked = {q for r in srv.requests for q in [r["prompt"]] if q}
    assert not any(exs[0].question in q or exs[1].question in q for q in asked)
    assert any(exs[2].question in q for q in asked)
    assert not (save / "grade1-4.jsonl").exists()
    out = (save / "1-4.jsonl").read_text().splitlines()
    assert out[:2] == [json.dumps(d) for d in done] and len(out) == 4      # the reference's lines kept
    summary = json.loads((save / "summary.json").read_text())
    assert summary["levels"]["grade1-4"]["questions"] == 4


def test_reference_named_and_pickled_task_files(tmp_path):
    from autoact.errors import DataError
    from autoact.tasks import get_task
    task = get_task("scienceqa")
    shutil.copy(SCIENCE / "format_scienceqa_grade5-8.json", tmp_path / "5-8.json")
    groups = task.load_levels(tmp_path, ["5-8"])
    assert list(groups) == ["grade5-8"] and len(groups["grade5-8"]) == 120
    (tmp_path / "easy.joblib").write_bytes(b"\x80\x04")
    with pytest.raises(DataError, match="pickled files are never loaded"):
        get_task("hotpotqa").load_levels(tmp_path / "easy.joblib")


def test_the_references_scienceqa_self_instruct_file_loads(tmp_path):
    from autoact.tasks import get_task
    f = tmp_path / "scienceqa_metaqa.json"
    f.write_text(json.dumps([{"Question": "Which of these is a mammal?", "Options": "(A) trout (B) otter",
                              "Ocr": "otter", "Caption": "An otter in a river.", "Answer": "B. otter"}]))
    ex = get_task("scienceqa").load_file(f)[0]
    assert ex.question == "Which of these is a mammal?\nOptions: (A) trout (B) otter"
    assert ex.fields["choices"] == ["trout", "otter"] and ex.fields["answer_index"] == 1
    assert ex.fields["caption"] == "An otter in a river." and ex.fields["orc"] == "otter"


def test_training_reads_the_references_data_action_file(tmp_path, capsys):
    from autoact.train.lora import parse_args
    (tmp_path / "data_action.json").write_text(json.dumps([{"input": "x", "output": "y"}]))
    _, data_args, _, _ = parse_args(["--model_name_or_path", "m", "--data_path", str(tmp_path / "data_tool.json"),
                                     "--output_dir", str(tmp_path / "o")])
    assert data_args.data_path == str(tmp_path / "data_action.json")
    assert "the reference's name for it" in capsys.readouterr().err


# --- 6. the -filtering ablation through the pipeline ------------------------------------------------

def test_pipeline_labels_the_unfiltered_run(tmp_path, monkeypatch):
    from argparse import Namespace

    from autoact import pipeline
    _, cfg = pipeline.resolve_config(Namespace(preset="smoke", config=None, task=None, task_spec=[],
                                               work_dir=str(tmp_path / "nofilter"),
                                               set=["filter.criterion=none"]))
    calls = {}
    real_module = pipeline.stage_module

    def recording(stage):          # the stage's real settings class; run records what it gets
        from types import SimpleNamespace
        return SimpleNamespace(Settings=real_module(stage).Settings,
                               run=lambda settings: calls.setdefault(stage, settings))
    monkeypatch.setattr(pipeline, "stage_module", recording)
    monkeypatch.setattr(pipeline.Pipeline, "base_model", lambda self: "tiny")
    p = pipeline.Pipeline(cfg)
    p.filter()
    p.eval()
    assert calls["filter"].criterion == "none"
    assert calls["eval"].label == "autoact -filtering"
    assert calls["eval"].wiki == "distractor"


def test_pipeline_trains_and_wires_the_ablations_of_one_run(tmp_path, monkeypatch):
    """eval.methods with no_filter and autoact_per_tool: a second, unfiltered data folder and
    its agents, per-tool data and agents, each evaluation wired to its own adapters."""
    from argparse import Namespace

    from autoact import pipeline
    work = tmp_path / "abl"
    _, cfg = pipeline.resolve_config(Namespace(preset="smoke", config=None, task=None, task_spec=[],
                                               work_dir=str(work),
                                               set=["eval.methods=autoact,autoact_per_tool,no_filter"]))
    calls = []
    real_module = pipeline.stage_module

    def recording(stage):
        from types import SimpleNamespace
        return SimpleNamespace(Settings=real_module(stage).Settings,
                               run=lambda settings: calls.append((stage, settings)))
    monkeypatch.setattr(pipeline, "stage_module", recording)
    monkeypatch.setattr(pipeline.Pipeline, "base_model", lambda self: "tiny")
    p = pipeline.Pipeline(cfg)
    p.filter()
    filters = [s for stage, s in calls if stage == "filter"]
    assert [(s.save_path, s.criterion, s.per_tool) for s in filters] == \
        [(str(work / "data"), "correct", True), (str(work / "data_unfiltered"), "none", True)]
    (work / "data").mkdir(parents=True)
    for role in ("plan", "tool", "reflect"):        # (the smoke preset's single agent reads them)
        (work / "data" / f"data_{role}.json").write_text("[]")
    (work / "data" / "data_config.json").write_text(json.dumps({"per_tool": {
        "BingSearch": {"file": "data_tool_BingSearch.json", "examples": 3},
        "Code Interpreter": {"file": "data_tool_Code_Interpreter.json", "examples": 1}}}))
    jobs = [(role, str(data.relative_to(work)), str(out.relative_to(work))) for _, role, data, out in p.train_jobs()]
    assert jobs[:4] == [("plan", "data/data_plan.json", "lora/plan"), ("tool", "data/data_tool.json", "lora/tool"),
                        ("reflect", "data/data_reflect.json", "lora/reflect"),
                        ("single", "data/data_single.json", "lora/single")]
    assert jobs[4:] == [("tool", "data/data_tool_BingSearch.json", "lora/tool_BingSearch"),
                        ("tool", "data/data_tool_Code_Interpreter.json", "lora/tool_Code_Interpreter"),
                        ("plan", "data_unfiltered/data_plan.json", "lora_unfiltered/plan"),
                        ("tool", "data_unfiltered/data_tool.json", "lora_unfiltered/tool"),
                        ("reflect", "data_unfiltered/data_reflect.json", "lora_unfiltered/reflect")]
    calls.clear()
    p.eval()
    evals = {Path(s.save_path).name: s for stage, s in calls if stage == "eval"}
    assert evals["eval_no_filter"].method == "autoact" and evals["eval_no_filter"].label == "autoact -filtering"
    assert evals["eval_no_filter"].plan_agent == str(work / "lora_unfiltered" / "plan")
    assert evals["eval"].plan_agent == str(work / "lora" / "plan") and evals["eval"].label is None
    per_tool = evals["eval_autoact_per_tool"]
    assert per_tool.method == "autoact_per_tool" and per_tool.tool_agent == str(work / "lora" / "tool")
    assert per_tool.tool_agents == [f"BingSearch={work / 'lora' / 'tool_BingSearch'}",
                                    f"Code Interpreter={work / 'lora' / 'tool_Code_Interpreter'}"]
    # agents retrained in this run: the evaluations that use them start afresh, the others resume
    calls.clear()
    p.retrained = {work / "lora" / "plan"}
    p.eval()
    fresh = {Path(s.save_path).name: s.overwrite for stage, s in calls if stage == "eval"}
    assert fresh == {"eval": True, "eval_autoact_per_tool": True, "eval_no_filter": False, "eval_zeroshot": False,
                     "eval_single": False, "eval_no_reflect": True}
    with pytest.raises(ConfigError, match="no_filter trains on the unfiltered"):
        pipeline.validate(cfg | {"filter": {"filter_num": 8, "criterion": "none"}})


# --- 7. the README's spec-task command -----------------------------------------------------------

@pytest.mark.slow
def test_readme_arithmetic_command_runs_as_written(workdir):
    command = "python -m autoact.pipeline --preset smoke --task arithmetic"
    assert command in (REPO / "README.md").read_text()
    proc = run_cli(*command.split()[1:], cwd=workdir, env={"OPENAI_BASE_URL": "", "PYTHONPATH": str(REPO)},
                   timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "### Arithmetic" in proc.stdout and "| Method | Backbone | Test F1 (EM) | All F1 (EM) |" in proc.stdout
    assert "retrieval: none" in proc.stdout
    summary = json.loads((workdir / "runs/smoke-arithmetic/eval/summary.json").read_text())
    assert summary["task"] == "Arithmetic" and list(summary["levels"]) == ["test"]
