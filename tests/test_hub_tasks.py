"""Full datasets from the Hugging Face Hub: ``--task_path hf:NAME[:CONFIG]:SPLIT`` (issue 17).

No test reaches the Hub: the datasets are local folders in the Hub's layout (parquet files under a
config's folder, a README whose ``configs:`` block names them), built from records of the shipped
subsets in the Hub's own schema, so "the same questions as the shipped loader" is a real check."""

import io
import json
from pathlib import Path

import pytest

from autoact.errors import ConfigError, DataError
from autoact.tasks import get_task
from autoact.tasks.hub import (CAPTION_UNAVAILABLE, context_documents, hub_examples, hub_inputs,
                               parse_hub_path)
from autoact.tasks.scienceqa import format_options

from conftest import REPO, run_cli

datasets = pytest.importorskip("datasets")

DATA = REPO / "autoact/data"
RUN_EVAL = str(REPO / "Self_Planning/Group_Planning/run_eval.py")
RUN_TASK = str(REPO / "Self_Planning/Traj_Syn/run_task.py")
HOTPOT_LEVELS = ("easy", "medium", "hard")
GRADES = ("grade1-4", "grade5-8", "grade9-12")


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    """``datasets`` writes its Arrow cache under the test's folder, never the user's."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-datasets-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))


def write_hub_folder(root: Path, rows: dict[tuple[str | None, str], list[dict]], features=None) -> Path:
    """A dataset folder as a Hub dataset repo lays it out: ``<config>/<split>-00000-of-00001.parquet``
    and a README with the ``configs:`` block (config ``default`` when ``None``)."""
    cards = {}
    for (config, split), recs in rows.items():
        name = config or "default"
        ds = datasets.Dataset.from_list(recs)
        for col, feature in (features or {}).items():
            ds = ds.cast_column(col, feature)
        (root / name).mkdir(parents=True, exist_ok=True)
        ds.to_parquet(str(root / name / f"{split}-00000-of-00001.parquet"))
        cards.setdefault(name, []).append(f"  - split: {split}\n    path: {name}/{split}-*\n")
    card = "".join(f"- config_name: {name}\n  data_files:\n{''.join(files)}" for name, files in cards.items())
    (root / "README.md").write_text(f"---\nconfigs:\n{card}---\n# a test dataset\n")
    return root


# --- HotpotQA -----------------------------------------------------------------------------------

def shipped_hotpot(level: str, n: int) -> list[dict]:
    lines = (DATA / "hotpotqa" / f"{level}.jsonl").read_text().splitlines()[:n]
    return [json.loads(line) for line in lines]


def hotpot_row(rec: dict) -> dict:
    """A shipped record in the schema of the Hub's hotpotqa/hotpot_qa."""
    return {"id": rec["id"], "question": rec["question"], "answer": rec["answer"], "type": rec["type"],
            "level": rec["level"],
            "supporting_facts": {"title": [t for t, _ in rec["supporting_facts"]],
                                 "sent_id": [i for _, i in rec["supporting_facts"]]},
            "context": {"title": [t for t, _ in rec["context"]],
                        "sentences": [s for _, s in rec["context"]]}}


@pytest.fixture
def hotpot_folder(tmp_path) -> Path:
    """hotpot_qa with configs distractor (validation: 3 questions per level, train: 2 easy) and
    fullwiki (validation: the same 9 questions)."""
    val = [hotpot_row(r) for lv in HOTPOT_LEVELS for r in shipped_hotpot(lv, 3)]
    return write_hub_folder(tmp_path / "hotpot_qa", {
        ("distractor", "validation"): val,
        ("distractor", "train"): [hotpot_row(r) for r in shipped_hotpot("easy", 2)],
        ("fullwiki", "validation"): val})


def test_the_folder_resolves_as_a_hub_dataset_repo(hotpot_folder):
    ds = datasets.load_dataset(str(hotpot_folder), "distractor", split="validation")
    assert len(ds) == 9 and ds[0]["context"]["title"] and isinstance(ds[0]["supporting_facts"], dict)
    assert len(datasets.load_dataset(str(hotpot_folder), "fullwiki", split="validation")) == 9


def test_hotpotqa_rows_become_the_shipped_records(hotpot_folder):
    task = get_task("HotpotQA")
    shipped = task.load_levels(DATA / "hotpotqa")
    groups = task.load_levels(f"hf:{hotpot_folder}:distractor:validation")
    assert list(groups) == list(HOTPOT_LEVELS)
    for level in HOTPOT_LEVELS:
        assert groups[level] == shipped[level][:3]      # ids, text, level, type, facts, contexts
    ex = groups["easy"][0]
    assert ex.fields["context"][0][0] == shipped_hotpot("easy", 1)[0]["context"][0][0]
    # a prediction scores as it does on the shipped file
    assert task.score(ex.answer, ex).correct and task.score("nope", ex).reward == 0.0


def test_context_documents_are_the_distractor_corpus_documents(hotpot_folder, tmp_path):
    """The paragraphs a distractor corpus of the dataset's questions would hold are those the
    shipped corpus builder reads from the same questions' shipped records."""
    from autoact.tools.corpus import hotpotqa_documents
    same = tmp_path / "same.jsonl"
    same.write_text("".join(json.dumps(r) + "\n" for lv in HOTPOT_LEVELS for r in shipped_hotpot(lv, 3)))
    examples = hub_examples(get_task("HotpotQA"), f"hf:{hotpot_folder}:distractor:validation")
    docs = list(context_documents(examples))
    assert len(docs) > 9 * 2 and docs == list(hotpotqa_documents(same))


def test_levels_pick_and_order_as_with_a_folder(hotpot_folder):
    task = get_task("HotpotQA")
    spec = f"hf:{hotpot_folder}:distractor:validation"
    picked = task.load_levels(spec, ["hard", "easy"])
    assert list(picked) == ["hard", "easy"] and all(len(v) == 3 for v in picked.values())
    assert {ex.level for ex in picked["hard"]} == {"hard"}
    with pytest.raises(DataError, match="unknown level.*levels are easy, medium, hard"):
        task.load_levels(spec, ["expert"])
    # a level the split has no question of, asked for by name: an error, as a missing file is
    with pytest.raises(DataError, match=r"distractor:train: no questions of level 'hard' \(levels found: easy\)"):
        task.load_levels(f"hf:{hotpot_folder}:distractor:train", ["hard"])
    assert list(task.load_levels(f"hf:{hotpot_folder}:distractor:train")) == ["easy"]
    # two parts: NAME:SPLIT, the config being the dataset's only one or its default
    one = [hotpot_row(shipped_hotpot("medium", 1)[0])]
    only = write_hub_folder(hotpot_folder.parent / "one", {(None, "validation"): one})
    assert [ex.level for ex in hub_examples(task, f"hf:{only}:validation")] == ["medium"]


def test_unknown_config_split_and_missing_fields_are_one_line_errors(hotpot_folder, tmp_path):
    task = get_task("HotpotQA")
    with pytest.raises(DataError) as err:
        task.load_levels(f"hf:{hotpot_folder}:nosuch:validation")
    assert "nosuch" in str(err.value) and str(hotpot_folder) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(DataError) as err:
        task.load_levels(f"hf:{hotpot_folder}:distractor:test")
    assert "split 'test'" in str(err.value) and "validation" in str(err.value) and "\n" not in str(err.value)
    # a dataset without an answer field
    rows = [{k: v for k, v in hotpot_row(r).items() if k != "answer"} for r in shipped_hotpot("easy", 2)]
    bare = write_hub_folder(tmp_path / "bare", {(None, "validation"): rows})
    with pytest.raises(DataError, match=rf"hf:{bare}:validation: dataset '{bare}' has no 'answer' field"):
        task.load_levels(f"hf:{bare}:validation")
    # a row without a gold answer (HotpotQA's full-wiki test split)
    rows = [hotpot_row(r) for r in shipped_hotpot("easy", 2)]
    rows[1]["answer"] = ""
    blank = write_hub_folder(tmp_path / "blank", {("fullwiki", "test"): rows})
    with pytest.raises(DataError, match=r":fullwiki:test: row 1: field 'answer' is empty \(a split without gold"):
        task.load_levels(f"hf:{blank}:fullwiki:test")
    # a level outside the task's
    rows[1]["answer"], rows[1]["level"] = "x", "expert"
    odd = write_hub_folder(tmp_path / "odd", {(None, "validation"): rows})
    with pytest.raises(DataError, match=r"row 1: field 'level' is 'expert', none of the levels easy, medium, hard"):
        task.load_levels(f"hf:{odd}:validation")


# --- ScienceQA ----------------------------------------------------------------------------------

def shipped_science(grade: str) -> list[dict]:
    return json.loads((DATA / "scienceqa" / f"format_scienceqa_{grade}.json").read_text())


def png() -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(buf, format="PNG")
    return buf.getvalue()


def science_row(rec: dict, *, extras: bool = False) -> dict:
    """A shipped record in the schema of the Hub's derek-thomas/ScienceQA (``extras``: also
    the shipped pid, caption and OCR text, as a dataset prepared with them would carry)."""
    body = rec["Question"].removesuffix("\n" + format_options(rec["choices"]))
    question, _, hint = body.partition("\nContext: ")
    meta = rec["metadata"]
    row = {"image": {"bytes": png(), "path": None} if meta["has_image"] else None,
           "question": question, "choices": rec["choices"], "answer": "ABCDE".index(rec["Answer"]),
           "hint": hint, "task": "closed choice", "grade": f"grade{meta['grade']}",
           "subject": meta["subject"], "topic": meta["topic"], "category": meta["category"],
           "skill": meta["skill"], "lecture": "A lecture.", "solution": "A solution."}
    if extras:
        row.update(pid=rec["pid"], caption=rec["caption"], ocr=rec["orc"])
    return row


def science_picks() -> dict[str, list[dict]]:
    """Per grade range two questions with an image (where the range has them) and two without."""
    out = {}
    for grade in GRADES:
        recs = shipped_science(grade)
        out[grade] = ([r for r in recs if r["metadata"]["has_image"]][:2]
                      + [r for r in recs if not r["metadata"]["has_image"]][:2])
    return out


def science_folder(root: Path, *, extras: bool) -> Path:
    rows = [science_row(r, extras=extras) for recs in science_picks().values() for r in recs]
    rows = rows[::-1]                        # grade order is the levels', not the rows'
    return write_hub_folder(root, {(None, "validation"): rows, (None, "test"): rows[:3]},
                            features={"image": datasets.Image()})


def test_scienceqa_rows_with_pid_caption_and_ocr_become_the_shipped_records(tmp_path):
    task = get_task("ScienceQA")
    folder = science_folder(tmp_path / "ScienceQA", extras=True)
    groups = task.load_levels(f"hf:{folder}:validation")
    assert list(groups) == list(GRADES)
    for grade, recs in science_picks().items():
        pids = {r["pid"] for r in recs}
        shipped = [ex for ex in task.load_levels(DATA / "scienceqa", [grade])[grade] if ex.id in pids]
        assert sorted(groups[grade], key=lambda e: e.id) == sorted(shipped, key=lambda e: e.id)


def test_scienceqa_hub_rows_keep_the_shipped_convention(tmp_path):
    """The Hub's rows have no pid, caption or OCR text: a question without an image is the
    shipped record to the letter (caption and OCR "no img"); one with an image keeps its place in
    its grade, and Image2Text says that no caption is available rather than that it has no image."""
    from autoact.tools import TOOLS
    from autoact.tools.base import Environment, ToolContext
    task = get_task("ScienceQA")
    groups = task.load_levels(f"hf:{science_folder(tmp_path / 'ScienceQA', extras=False)}:validation")
    for grade, recs in science_picks().items():
        shipped = {ex.question: ex for ex in task.load_levels(DATA / "scienceqa", [grade])[grade]
                   if ex.id in {r["pid"] for r in recs}}
        got = {ex.question: ex for ex in groups[grade]}
        assert set(got) == set(shipped)
        for q, ex in got.items():
            want = shipped[q]
            assert (ex.answer, ex.level, ex.fields["choices"], ex.fields["answer_index"], ex.fields["grade"]) == \
                (want.answer, want.level, want.fields["choices"], want.fields["answer_index"], want.fields["grade"])
            assert ex.fields["metadata"] == want.fields["metadata"]
            assert ex.id.startswith("q-")                        # no pid on the Hub: an id from the text
            if not want.fields["metadata"]["has_image"]:
                assert ex.fields == want.fields
            else:
                assert ex.fields["caption"] == CAPTION_UNAVAILABLE
                obs = TOOLS["Image2Text"].run("image", ToolContext(Environment(), fields=ex.fields))
                assert obs.startswith("Image caption: not available") and "doesn't have an image" not in obs
            assert task.score(want.answer[0], ex).correct


def test_scienceqa_grades_are_the_levels_and_the_references_names_pick_them(tmp_path):
    task = get_task("ScienceQA")
    spec = f"hf:{science_folder(tmp_path / 'ScienceQA', extras=True)}:validation"
    picked = task.load_levels(spec, ["9-12", "grade1-4"])          # the reference's file names too
    assert list(picked) == ["grade9-12", "grade1-4"]
    assert all(9 <= ex.fields["grade"] <= 12 for ex in picked["grade9-12"])
    assert all(1 <= ex.fields["grade"] <= 4 for ex in picked["grade1-4"])
    rows = [science_row(shipped_science("grade5-8")[0])]
    rows[0]["grade"] = "kindergarten"
    bad = write_hub_folder(tmp_path / "bad", {(None, "test"): rows}, features={"image": datasets.Image()})
    with pytest.raises(DataError, match=r":test: row 0: field 'grade' is 'kindergarten', expected e.g. 'grade3'"):
        task.load_levels(f"hf:{bad}:test")
    rows[0]["grade"], rows[0]["answer"] = "grade6", 7
    with pytest.raises(DataError, match=r"row 0: field 'answer' is 7, not an index of the \d choices"):
        task.load_levels(f"hf:{write_hub_folder(tmp_path / 'bad2', {(None, 'test'): rows})}:test")


# --- the spec, the inputs, the network ------------------------------------------------------------

@pytest.mark.parametrize("spec", ["hf:", "hf:hotpotqa/hotpot_qa", "hf:a:b:c:d", "hf::validation",
                                  "hf:hotpotqa/hotpot_qa:distractor:"])
def test_malformed_specs_are_one_line_errors(spec):
    with pytest.raises(ConfigError) as err:
        get_task("HotpotQA").load_levels(spec)
    msg = str(err.value)
    assert msg.startswith(f"--task_path {spec!r}: expected hf:NAME:SPLIT or hf:NAME:CONFIG:SPLIT")
    assert "\n" not in msg


def test_spec_parts():
    def parts(text):
        hp = parse_hub_path(text)
        return hp.name, hp.config, hp.split
    assert parts("hf:hotpotqa/hotpot_qa:distractor:validation") == ("hotpotqa/hotpot_qa", "distractor", "validation")
    assert parts("hf:derek-thomas/ScienceQA:test") == ("derek-thomas/ScienceQA", None, "test")
    assert parts("hf: ./data/sqa : test ") == ("./data/sqa", None, "test")


def test_inputs_of_an_hf_path(hotpot_folder):
    files = hub_inputs(f"hf:{hotpot_folder}:distractor:validation")
    assert str(hotpot_folder / "README.md") in files
    assert str(hotpot_folder / "distractor/validation-00000-of-00001.parquet") in files
    assert hub_inputs("hf:hotpotqa/hotpot_qa:distractor:validation") == []


def test_offline_hub_id_names_the_dataset_and_the_shipped_subsets(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True, raising=False)
    with pytest.raises(DataError) as err:
        get_task("ScienceQA").load_levels("hf:derek-thomas/ScienceQA:test")
    msg = str(err.value)
    assert "'derek-thomas/ScienceQA'" in msg and "HF_HUB_OFFLINE" in msg and "\n" not in msg
    assert "autoact/data/scienceqa (format_scienceqa_grade1-4.json, format_scienceqa_grade5-8.json, " \
           "format_scienceqa_grade9-12.json)" in msg


def test_a_missing_local_folder_is_not_sent_to_the_hub(tmp_path):
    with pytest.raises(DataError, match=r"no such folder .*nope; use the shipped subset: --task_path "
                                        r".*autoact/data/hotpotqa \(easy.jsonl, hard.jsonl, medium.jsonl\)"):
        get_task("HotpotQA").load_levels(f"hf:{tmp_path}/nope:validation")


def test_run_eval_offline_hub_id_is_one_line_exit_2(tmp_path):
    proc = run_cli(RUN_EVAL, "--task", "HotpotQA", "--task_path", "hf:hotpotqa/hotpot_qa:distractor:validation",
                   "--save_path", str(tmp_path / "out"), cwd=tmp_path,
                   env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
                        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: hf:hotpotqa/hotpot_qa:distractor:validation: ")
    assert "'hotpotqa/hotpot_qa'" in lines[0] and "HF_HUB_OFFLINE" in lines[0]
    assert "autoact/data/hotpotqa (easy.jsonl, hard.jsonl, medium.jsonl)" in lines[0]
    assert not (tmp_path / "out").exists()


def test_run_eval_malformed_spec_is_one_line_exit_2(tmp_path):
    proc = run_cli(RUN_EVAL, "--task", "HotpotQA", "--task_path", "hf:hotpotqa/hotpot_qa",
                   "--save_path", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --task_path 'hf:hotpotqa/hotpot_qa': expected hf:NAME:SPLIT or hf:NAME:CONFIG:SPLIT (NAME a "
        "Hub dataset id such as hotpotqa/hotpot_qa or a local folder), e.g. "
        "hf:hotpotqa/hotpot_qa:distractor:validation"]


# --- end to end ---------------------------------------------------------------------------------

def test_run_eval_on_an_hf_dataset_end_to_end(hotpot_folder, tmp_path, fake_server):
    from autoact.testing.fake_server import react_policy
    srv = fake_server(react_policy, models=["llama-2-13b-chat", "plan", "tool", "reflect"])
    env = {"OPENAI_BASE_URL": srv.url, "HF_HOME": str(tmp_path / "hf")}
    out = tmp_path / "out"
    cmd = [RUN_EVAL, "--agent_name", "ZeroshotThink_HotPotQA_run_Agent", "--task", "HotpotQA",
           "--task_path", f"hf:{hotpot_folder}:distractor:validation", "--save_path", str(out),
           "--levels", "hard,easy", "--limit", "2"]
    proc = run_cli(*cmd, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["levels"]) == {"easy", "hard"} and not (out / "medium.jsonl").exists()
    for level in ("easy", "hard"):
        recs = [json.loads(x) for x in (out / f"{level}.jsonl").read_text().splitlines()]
        assert sorted((r["id"], r["answer"]) for r in recs) == \
            sorted((r["id"], r["answer"]) for r in shipped_hotpot(level, 2))
        assert summary["levels"][level]["questions"] == 2
    cfg = json.loads((out / "eval.config.json").read_text())
    assert cfg["args"]["task_path"] == f"hf:{hotpot_folder}:distractor:validation"
    # the same command again: the up-to-date check holds with an hf: path (no model is asked)
    asked = len(srv.requests)
    again = run_cli(*cmd, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing to do" in again.stdout and len(srv.requests) == asked
    # another config is another input (the same questions, every one answered): not up to date
    fullwiki = [f"hf:{hotpot_folder}:fullwiki:validation" if c.startswith("hf:") else c for c in cmd]
    other = run_cli(*fullwiki, env=env)
    assert other.returncode == 0 and "nothing to do" not in other.stdout, other.stderr[-3000:]
    assert json.loads((out / "eval.config.json").read_text())["args"]["task_path"].endswith(":fullwiki:validation")


def test_run_eval_refuses_to_write_over_a_file_of_the_local_dataset(tmp_path):
    """A local dataset folder's files are the run's inputs: a level log that is one of them is refused."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "easy.jsonl").write_text("".join(json.dumps({**r, "level": "easy"}) + "\n"
                                               for r in shipped_hotpot("easy", 2)))
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n"
                                      "  - split: validation\n    path: easy.jsonl\n---\n")
    proc = run_cli(RUN_EVAL, "--task", "HotpotQA", "--task_path", f"hf:{folder}:validation",
                   "--save_path", str(folder), env={"HF_HOME": str(tmp_path / "hf")})
    assert proc.returncode == 2
    assert f"{folder / 'easy.jsonl'} is also an input of this run" in proc.stderr
    assert len((folder / "easy.jsonl").read_text().splitlines()) == 2


def test_run_task_synthesizes_on_an_hf_split(hotpot_folder, tmp_path, fake_server):
    from autoact.testing.fake_server import react_policy
    srv = fake_server(react_policy, models=["llama-2-13b-chat"])
    save = tmp_path / "traj.jsonl"
    proc = run_cli(RUN_TASK, "--agent_name", "ZeroshotThink_HotPotQA_run_Agent", "--llm_name", "llama-2-13b-chat",
                   "--task", "Hotpotqa", "--task_path", f"hf:{hotpot_folder}:distractor:train",
                   "--save_path", str(save), env={"OPENAI_BASE_URL": srv.url, "HF_HOME": str(tmp_path / "hf")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = [json.loads(x) for x in save.read_text().splitlines()]
    assert sorted(r["id"] for r in recs) == sorted(r["id"] for r in shipped_hotpot("easy", 2))



def test_a_spec_task_reads_a_dataset_of_its_own(tmp_path):
    """A spec task (one level, numeric answers as many Hub datasets hold them) from a folder with
    one data file and no README: the split is the file's name."""
    folder = tmp_path / "arith"
    folder.mkdir()
    datasets.Dataset.from_list([{"question": "What is 2+3?", "answer": 5},
                                {"question": "What is 4*4?", "answer": 16}]).to_parquet(str(folder / "test.parquet"))
    task = get_task("arithmetic")
    groups = task.load_levels(f"hf:{folder}:test")
    assert list(groups) == list(task.levels)
    exs = groups[task.levels[0]]
    assert [(ex.question, ex.answer) for ex in exs] == [("What is 2+3?", "5"), ("What is 4*4?", "16")]
    assert task.score("16", exs[1]).correct and not task.score("15", exs[1]).correct


def test_the_distractor_corpus_of_an_hf_dataset_holds_its_own_contexts(tmp_path, monkeypatch):
    """A question that is not among the shipped ones: with --wiki distractor its own context
    paragraphs are what Retrieve finds (the shipped corpus holds only the shipped questions')."""
    from autoact.stages.evaluation import Settings
    from autoact.tasks.hub import hub_contexts
    from autoact.tools import make_environment
    monkeypatch.setenv("AUTOACT_CACHE", str(tmp_path / "cache"))
    row = {"id": "zx1", "question": "What colour is the Zorblax Tower?", "answer": "teal", "type": "bridge",
           "level": "easy", "supporting_facts": {"title": ["Zorblax Tower"], "sent_id": [0]},
           "context": {"title": ["Zorblax Tower", "Quimby Bridge"],
                       "sentences": [["The Zorblax Tower is painted teal.", " It stands in Vell."],
                                     ["The Quimby Bridge crosses the Narn."]]}}
    folder = write_hub_folder(tmp_path / "novel", {("distractor", "validation"): [row]})
    path = f"hf:{folder}:distractor:validation"
    task = get_task("HotpotQA")
    examples = [ex for exs in task.load_levels(path).values() for ex in exs]
    contexts = hub_contexts(path, examples)
    assert contexts == [("Zorblax Tower", "The Zorblax Tower is painted teal. It stands in Vell."),
                        ("Quimby Bridge", "The Quimby Bridge crosses the Narn.")]
    assert hub_contexts(str(DATA / "hotpotqa"), examples) is None           # shipped files: shipped corpus
    settings = Settings(task_path=path, save_path=str(tmp_path / "o"), wiki="distractor")
    env = make_environment(settings, None, task, contexts=contexts)
    assert env.retrieval["setting"] == "distractor" and env.retrieval["docs"] == 2
    assert "painted teal" in env.wiki.page("Zorblax Tower").text
    shipped = make_environment(settings, None, task)
    assert shipped.wiki.page("Zorblax Tower") is None and shipped.retrieval["docs"] > 1000
