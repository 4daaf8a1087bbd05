"""The report's HTML viewer (index.html): the data it collects from real evaluation and synthesis
logs, the filter's verdicts, escaping of hostile model output, the pipeline's wiring, and the page
itself driven in a real browser (Chromium through selenium) from disk."""

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from conftest import run_cli

RUN_EVAL = "Self_Planning/Group_Planning/run_eval.py"
HOTPOT = "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa"
REF_LOG = Path(__file__).parent / "fixtures" / "reference_trajectories.jsonl"
#: what a hostile model might write: neither may run, both must show as text
SCRIPT = "</script><script>window.pwned=1</script>"
IMG = "<img src=x onerror=\"window.pwned2=1\">"
PAYLOAD = f"{SCRIPT} and {IMG} & \u2028 <!-- end"
LABEL = "react <b>bold</b></script>"


def data_of(html: str) -> dict:
    """The page's JSON blocks by element id, parsed as the browser would."""
    blocks = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', html, re.S)
    return {ident: json.loads(text) for ident, text in blocks}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A real synthesis log and filter data (the smoke pipeline's first four stages, the demo
    teacher as Meta-Agent) and real evaluation runs (run_eval.py on the scripted backend): autoact,
    react under a hostile label, and reflexion; one autoact record then carries hostile text."""
    root = tmp_path_factory.mktemp("viewer")
    w = root / "work"
    env = {"OPENAI_BASE_URL": ""}
    proc = run_cli("-m", "autoact.pipeline", "--preset", "smoke", "--work_dir", str(w),
                   "--only", "self_instruct,tool_selection,trajectories,filter", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for method, label in (("autoact", None), ("react", LABEL), ("reflexion", None)):
        save = w / "eval" if method == "autoact" else w / f"eval_{method}"
        proc = run_cli(RUN_EVAL, "--task", "HotpotQA", "--task_path", HOTPOT, "--save_path", str(save),
                       "--limit", "3", "--method", method, "--backend", "scripted", "--scripted_policy", "react",
                       "--wiki", "distractor", *(["--label", label] if label else []), env=env)
        assert proc.returncode == 0, (method, proc.stderr[-2000:])
    log = w / "eval" / "easy.jsonl"
    records = [json.loads(x) for x in log.read_text().splitlines()]
    records[0]["steps"][0]["thought"] = PAYLOAD
    records[0]["steps"][0]["observation"] = "LONG " + "word " * 200 + PAYLOAD
    records[0]["prediction"] = IMG
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    return w


def runs_of(w: Path) -> list[str]:
    return [str(w / "eval"), str(w / "eval_react"), str(w / "eval_reflexion")]


def report(w: Path, out: Path, *extra: str):
    return run_cli("Scripts/report.py", *runs_of(w), "--out", str(out), "--trajectories",
                   str(w / "trajectories.jsonl"), "--filter_data", str(w / "data"), *extra)


@pytest.fixture(scope="module")
def page(work, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    proc = report(work, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert str(out / "index.html") in proc.stdout
    return out / "index.html"


# ----------------------------------------------------------------------------- the data

def test_the_page_holds_every_record_of_every_run_and_level(work, page):
    html = page.read_text()
    blocks = data_of(html)
    data = blocks["autoact-data"]
    assert [r["label"] for r in data["runs"]] == ["autoact", LABEL, "reflexion"]
    for i, (run, folder) in enumerate(zip(data["runs"], runs_of(work))):
        records = [json.loads(x) for lv in ("easy", "medium", "hard")
                   for x in (Path(folder) / f"{lv}.jsonl").read_text().splitlines()]
        assert run["levels"] == ["easy", "medium", "hard"] and len(run["index"]) == len(records) == 9
        details = blocks[f"autoact-run-{i}"]
        assert len(details) == 9
        by_id = {r["id"]: r for r in records}
        for entry, detail in zip(run["index"], details):
            rec = by_id[detail["id"]]
            question = data["questions"][entry[0]]
            assert question[1:] == [rec["question"], rec["answer"]]
            assert run["levels"][entry[1]] == rec["level"]
            assert bool(entry[2] & 1) == rec["correct"] and bool(entry[2] & 2) == rec["halted"]
            assert entry[3] == rec["reward"] and entry[4] == rec["n_steps"] and entry[5] == rec["usage"]["calls"]
            assert detail["p"] == rec["prediction"] and detail["u"]["calls"] == rec["usage"]["calls"]
            assert len(detail["s"]) == len(rec["steps"])
    # three runs answered the same nine questions: each question is stored once
    assert len(data["questions"]) == 9 + len(blocks["autoact-synth-0"])
    # no prompt travels (each record's prompt repeats the instruction)
    first = json.loads((work / "eval" / "medium.jsonl").read_text().splitlines()[0])
    assert first["prompt"][:120] not in html and "prompt" not in blocks["autoact-run-0"][0]
    # a long observation is stored once, in the shared strings, and referenced by its index
    hostile = json.loads((work / "eval" / "easy.jsonl").read_text().splitlines()[0])
    detail = next(d for d in blocks["autoact-run-0"] if d["id"] == hostile["id"])
    assert blocks["autoact-strings"][detail["s"][0][2]] == hostile["steps"][0]["observation"]
    assert html.count("LONG word word") == 1


def test_each_line_names_the_agent_that_wrote_it(work, page):
    blocks = data_of(page.read_text())
    autoact, react, reflexion = blocks["autoact-data"]["runs"]
    assert autoact["attribution"] == "group" and [w["thought"][0] for w in autoact["writers"][:2]] == ["plan", "reflect"]
    assert autoact["writers"][0]["argument"] == ["tool", "tool"]
    for detail in blocks["autoact-run-0"]:
        steps = detail["s"]
        for i, step in enumerate(steps):
            after_finish = i > 0 and isinstance(steps[i - 1][1], list) and steps[i - 1][1][0] == "Finish"
            assert step[3] == (1 if after_finish else 0), (detail["id"], i)
        assert any(isinstance(st[1], list) and st[1][0] == "Reflect" for st in steps)
    base = json.loads((work / "eval_react" / "summary.json").read_text())["roles"]["plan"]
    assert react["attribution"] == "one" and react["writers"][0]["thought"] == ["model", base]
    assert all(st[3] == 0 for d in blocks["autoact-run-1"] for st in d["s"])
    # reflexion's trials travel with its records
    assert all(d["t"] and d["t"][0]["trial"] == "1" for d in blocks["autoact-run-2"])


def test_the_synthesis_view_uses_the_filters_own_decisions(work, page):
    from autoact.stages.filtering import keep
    blocks = data_of(page.read_text())
    log = blocks["autoact-data"]["synthesis"][0]
    details = blocks["autoact-synth-0"]
    cfg = json.loads((work / "data" / "data_config.json").read_text())
    records = [json.loads(x) for x in (work / "trajectories.jsonl").read_text().splitlines()]
    assert len(log["index"]) == len(details) == len(records) == cfg["trajectories"]
    status = {d["id"]: e[6] for e, d in zip(log["index"], details)}
    assert {i for i, s in status.items() if s == 0} == set(cfg["kept_ids"])
    eligible = {r["id"] for r in records if keep(r, cfg["settings"]["criterion"])}
    assert {i for i, s in status.items() if s in (0, 1)} == eligible and len(eligible) > len(cfg["kept_ids"])
    assert {i for i, s in status.items() if s == 2} == {r["id"] for r in records} - eligible
    # the kept trajectories' training examples add up to what the filter wrote
    kept = [d for d in details if "ex" in d]
    assert len(kept) == len(cfg["kept_ids"])
    for role, n in cfg["examples"].items():
        assert sum(d["ex"][role] for d in kept) == n, role
    assert "criterion correct" in log["notes"][0] and "8 kept" in log["summary"]


def test_filter_reasons_name_the_failed_condition():
    from autoact.stages.viewer import ELIGIBLE, KEPT, NOT_SELECTED, REJECTED, filter_reason
    good = {"id": "a", "correct": True, "reward": 1.0, "finished": True, "halted": False, "error": None}
    assert filter_reason(good, "correct", {"a"}, 5) == (KEPT, "kept: meets the criterion (finished, no error, "
                                                              "exactly right (exact match / option match))")
    status, why = filter_reason(good, "correct", {"b"}, 5)
    assert status == NOT_SELECTED and "not among the 5 kept" in why
    assert filter_reason(good, "correct")[0] == ELIGIBLE
    status, why = filter_reason({**good, "error": "server down"}, "correct", {"a"})
    assert status == REJECTED and why == "ended in an error: server down"
    status, why = filter_reason({**good, "halted": True, "finished": False}, "correct", set())
    assert status == REJECTED and why.startswith("halted")
    assert filter_reason({**good, "finished": False}, "correct", set()) == (REJECTED, "did not finish")
    status, why = filter_reason({**good, "correct": False}, "correct", set())
    assert status == REJECTED and "wrong" in why
    # the reward criterion: an F1 below 1 is the reason, exact match does not matter
    status, why = filter_reason({**good, "correct": True, "reward": 0.5}, "reward", set())
    assert status == REJECTED and "F1 0.50" in why
    assert filter_reason({**good, "correct": False, "reward": 1.0}, "reward", {"a"})[0] == KEPT
    # criterion none keeps the wrong and the halted ones too, never an error
    assert filter_reason({**good, "correct": False, "halted": True}, "none", {"a"})[0] == KEPT
    assert filter_reason({**good, "error": "x"}, "none", {"a"})[0] == REJECTED


# ----------------------------------------------------------------------------- safety

def test_hostile_text_cannot_leave_its_json_block(page):
    from autoact.stages.viewer import embed_json
    text = embed_json({"a": PAYLOAD})
    assert not set(text) & set("<>&\u2028\u2029") and json.loads(text) == {"a": PAYLOAD}
    html = page.read_text()
    assert SCRIPT not in html and IMG not in html and "<!-- end" not in html
    # exactly the page's own script elements: the JSON blocks and the one script
    blocks = data_of(html)
    assert html.count("<script") == len(blocks) + 1 == html.count("</script>")
    assert html.count('<script type="application/json"') == len(blocks)
    details = blocks["autoact-run-0"]
    assert any(d["s"] and d["s"][0][0] == PAYLOAD and d["p"] == IMG for d in details)
    # only the page's own script and style may run: a Content-Security-Policy with their hashes
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and "unsafe-inline" not in csp


def test_a_missing_or_malformed_input_is_one_line_and_keeps_the_old_report(work, tmp_path):
    out = tmp_path / "r"
    assert report(work, out).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "question": "q"}\n{not json\n')
    broken_run = tmp_path / "broken"
    shutil.copytree(work / "eval_react", broken_run)
    with open(broken_run / "hard.jsonl", "a") as f:
        f.write("{torn\n")
    cases = [
        (["--trajectories", str(tmp_path / "missing.jsonl")], "missing.jsonl: no such file"),
        (["--trajectories", str(bad)], "bad.jsonl:2: invalid JSON line"),
        (["--trajectories", str(work / "trajectories.jsonl"), "--filter_data", str(tmp_path)], "no data_config.json"),
        (["--filter_data", str(work / "data")], "--filter_data needs the --trajectories log"),
    ]
    for extra, message in cases:
        proc = run_cli("Scripts/report.py", *runs_of(work), "--out", str(out), *extra)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli("Scripts/report.py", str(work / "eval"), str(broken_run), "--out", str(out))
    assert proc.returncode == 2 and "hard.jsonl" in proc.stderr and "invalid JSON" in proc.stderr, proc.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_reference_logs_and_sparse_records_are_shown_as_far_as_they_go(tmp_path):
    lines = REF_LOG.read_text().splitlines()
    ref = tmp_path / "ref13b"
    ref.mkdir()
    (ref / "easy.jsonl").write_text(lines[0] + "\n" + lines[1] + "\n")
    (ref / "hard.jsonl").write_text(lines[4] + "\n")
    sparse = tmp_path / "sparse.jsonl"
    sparse.write_text(json.dumps({"id": 7, "question": "Only a question?"}) + "\n" +
                      json.dumps({"id": "s2", "question": "Odd?", "steps": ["not a step", {"thought": 3}],
                                  "reward": float("nan"), "usage": "none", "answers": [1]}) + "\n")
    proc = run_cli("Scripts/report.py", str(ref), "--out", str(tmp_path / "r"), "--trajectories", str(sparse))
    assert proc.returncode == 0, proc.stderr[-2000:]
    blocks = data_of((tmp_path / "r" / "index.html").read_text())
    run = blocks["autoact-data"]["runs"][0]
    assert run["label"] == "reference run" and run["levels"] == ["easy", "hard"] and len(run["index"]) == 3
    assert run["attribution"] == ""
    first = json.loads(lines[0])
    detail = next(d for d, e in zip(blocks["autoact-run-0"], run["index"])
                  if blocks["autoact-data"]["questions"][e[0]][1] == first["question"])
    assert [st[1] for st in detail["s"]] == [["Retrieve", "Marta Okafor"], ["Finish", "Harbour Lighthouse"],
                                            ["Reflect", "right"]]
    syn = blocks["autoact-synth-0"]
    assert syn[0]["s"] == [] and "why" in syn[0]
    assert syn[1]["s"] == [["3", "", "", 0, 0]] and "u" not in syn[1] and syn[1]["a"] == []
    assert blocks["autoact-data"]["synthesis"][0]["index"][1][3] is None       # NaN reward: none


def test_report_help_documents_the_viewer_flags():
    proc = run_cli("Scripts/report.py", "--help")
    assert proc.returncode == 0
    for text in ("--trajectories FILE", "--filter_data DIR", "index.html"):
        assert text in proc.stdout, text


def test_pipeline_report_includes_the_synthesis_log_and_reruns_when_it_changes(work, tmp_path):
    w = tmp_path / "w"
    shutil.copytree(work, w, ignore=shutil.ignore_patterns("eval_*"))

    def pipeline_report():
        proc = run_cli("-m", "autoact.pipeline", "--preset", "smoke", "--work_dir", str(w), "--only", "report",
                       env={"OPENAI_BASE_URL": ""})
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout
    assert "[report] done" in pipeline_report()
    page = w / "report" / "index.html"
    log = data_of(page.read_text())["autoact-data"]["synthesis"]
    assert [s["path"] for s in log] == [str(w / "trajectories.jsonl")] and s_kept(log[0]) == 8
    assert "[report] skipped (complete)" in pipeline_report()
    page.unlink()                                   # index.html is part of the complete output
    assert "[report] done" in pipeline_report() and page.is_file()
    with open(w / "trajectories.jsonl", "a") as f:  # a changed synthesis log makes the page again
        f.write("\n")
    assert "[report] done" in pipeline_report()
    notes = data_of(page.read_text())["autoact-data"]["synthesis"][0]["notes"]
    assert any("another version of this log" in n for n in notes)


def s_kept(log: dict) -> int:
    return sum(1 for e in log["index"] if e[6] == 0)


# ----------------------------------------------------------------------------- in a browser

CHROMIUM = os.environ.get("AUTOACT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("AUTOACT_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package")
    if missing:
        msg = (f"the browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver; "
               f"pip install selenium); set AUTOACT_REQUIRE_BROWSER=1 to make this a failure")
        if os.environ.get("AUTOACT_REQUIRE_BROWSER"):
            pytest.fail(msg)
        pytest.skip(msg)
    profile = tempfile.mkdtemp(prefix="autoact-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1100"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_the_page_in_a_browser_filters_searches_opens_and_compares(page, work, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    d = browser
    artefacts = Path(os.environ.get("AUTOACT_ARTIFACTS") or tmp_path)
    artefacts.mkdir(parents=True, exist_ok=True)

    def q(css):
        return d.find_elements(By.CSS_SELECTOR, css)

    def rows(table):        # the rendered text of each cell of each row, in one round trip
        return d.execute_script("return Array.from(document.querySelectorAll(arguments[0])).map("
                                "tr => Array.from(tr.cells).map(td => td.innerText.trim()))", f"#{table} tr.item")

    d.get(page.resolve().as_uri())
    assert d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1"
    # the results: the paper-style table, the hostile label as text, the chart as an image
    table = q("#tab-results table")[0].text
    assert "autoact" in table and LABEL in table and "reflexion" in table
    assert q("#tab-results img")[0].get_attribute("src").startswith("data:image/png;base64,")
    # the trajectories: 27 in all; no trajectory is built before it is opened
    d.find_element(By.ID, "tab-button-trajectories").click()
    assert d.find_element(By.CSS_SELECTOR, "#tab-trajectories .count").text == "27 of 27 trajectories"
    assert len(rows("traj-list")) == 27 and not q(".traj")
    react = f"{LABEL} / " + json.loads((work / "eval_react" / "summary.json").read_text())["backbone"]
    Select(d.find_element(By.ID, "f-run")).select_by_index(2)          # the react run
    assert {r[0] for r in rows("traj-list")} == {react} and len(rows("traj-list")) == 9
    Select(d.find_element(By.ID, "f-level")).select_by_visible_text("Hard")
    assert len(rows("traj-list")) == 3 and {r[1] for r in rows("traj-list")} == {"Hard"}
    Select(d.find_element(By.ID, "f-outcome")).select_by_visible_text("correct")
    want = sum(1 for x in (work / "eval_react" / "hard.jsonl").read_text().splitlines() if json.loads(x)["correct"])
    assert len(rows("traj-list")) == want
    Select(d.find_element(By.ID, "f-run")).select_by_index(0)
    Select(d.find_element(By.ID, "f-level")).select_by_index(0)
    Select(d.find_element(By.ID, "f-outcome")).select_by_index(0)
    # search the question text: the record with the hostile text
    hostile = json.loads((work / "eval" / "easy.jsonl").read_text().splitlines()[0])
    d.find_element(By.ID, "f-search").send_keys(hostile["question"][:30].upper())
    time.sleep(0.4)
    found = rows("traj-list")
    assert len(found) == 3 and {r[6] for r in found} == {hostile["question"]}
    q("#traj-list tr.item")[0].click()
    traj = q(".traj")[0]
    assert SCRIPT in traj.text and IMG in traj.text and "<!-- end" in traj.text
    assert "by plan" in traj.text and "argument by tool" in traj.text
    assert "by reflect" in traj.text
    assert d.execute_script("return [window.pwned, window.pwned2]") == [None, None]
    assert not q('img[src="x"]') and not q("main b")
    # the long observation is folded until asked for
    folded = traj.find_elements(By.CSS_SELECTOR, ".obs details")
    assert folded and folded[0].get_attribute("open") is None and "(1" in folded[0].text
    folded[0].find_element(By.TAG_NAME, "summary").click()
    assert SCRIPT in folded[0].text
    # side by side with another method on the same question
    Select(q(".compare-with")[0]).select_by_visible_text(react)
    pair = q(".detail .pair")[0]
    sides = pair.find_elements(By.CLASS_NAME, "traj")
    assert len(sides) == 2 and sides[0].text.startswith("autoact") and sides[1].text.startswith(LABEL)
    assert all(hostile["question"] in s.text for s in sides)
    shot = artefacts / "viewer-trajectory.png"
    d.save_screenshot(str(shot))
    # the compare tab: autoact against reflexion on every question both answered
    d.find_element(By.ID, "tab-button-compare").click()
    Select(d.find_element(By.ID, "c-b")).select_by_index(2)
    assert len(rows("cmp-list")) == 9
    q("#cmp-list tr.item")[1].click()
    assert len(q("#cmp-list .pair .traj")) == 2 and "B: reflexion" in q("#cmp-list .pair")[0].text
    d.save_screenshot(str(artefacts / "viewer-compare.png"))
    # the synthesis log: the kept trajectories and why
    d.find_element(By.ID, "tab-button-synthesis").click()
    Select(d.find_element(By.ID, "s-status")).select_by_visible_text("kept")
    kept = rows("syn-list")
    assert len(kept) == 8 and {r[0] for r in kept} == {"kept"}
    q("#syn-list tr.item")[0].click()
    why = q("#syn-list .why")[0].text
    assert "kept: meets the criterion" in why and "Training examples from it: plan" in why
    Select(d.find_element(By.ID, "s-status")).select_by_visible_text("eligible, not selected")
    assert rows("syn-list")
    q("#syn-list tr.item")[0].click()
    assert "not among the 8 kept" in q("#syn-list .why")[0].text
    d.save_screenshot(str(artefacts / "viewer-synthesis.png"))
    assert not [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    print(f"screenshots: {shot} and viewer-compare.png, viewer-synthesis.png beside it")


# ----------------------------------------------------------------------------- a large run

def many_runs(root: Path, runs: int, per_level: int) -> list[str]:
    """``runs`` evaluation folders answering the same ``3 * per_level`` questions; their records
    carry long prompts and observations, many of them shared, as retrievals of one page are."""
    pages = [f"Page {i}: " + "a long paragraph of a retrieved article " * 12 for i in range(40)]
    folders = []
    for r in range(runs):
        folder = root / f"run{r}"
        folder.mkdir(parents=True)
        for level in ("easy", "medium", "hard"):
            with open(folder / f"{level}.jsonl", "w") as f:
                for i in range(per_level):
                    correct = (i + r) % 3 == 0
                    steps = [{"thought": f"step {k} of {level} {i}", "action": f"Retrieve[Page {(i + k) % 40}]",
                              "observation": pages[(i + k) % 40]} for k in range(3)]
                    steps.append({"thought": "done", "action": "Finish[x]", "observation": "Answer is CORRECT"})
                    f.write(json.dumps({
                        "id": f"{level}-{i}", "question": f"Question {i} of the {level} level?", "answer": "x",
                        "level": level, "task": "HotpotQA", "prediction": "x" if correct else "y",
                        "correct": correct, "reward": 1.0 if correct else 0.0, "finished": True, "halted": False,
                        "error": None, "n_steps": 4, "steps": steps, "prompt": "THE INSTRUCTION " * 200 + str(i),
                        "usage": {"calls": 9, "prompt_tokens": 9000, "completion_tokens": 90},
                        "method": "react", "roles": {"plan": "base", "tool": "base", "reflect": "base"}}) + "\n")
        row = {"questions": per_level, "em": 0.3, "f1": 0.3}
        (folder / "summary.json").write_text(json.dumps({
            "task": "HotpotQA", "method": f"method {r}", "backbone": "13b", "metrics": ["em", "f1"],
            "levels": {lv: row for lv in ("easy", "medium", "hard")}, "all": {**row, "questions": 3 * per_level},
            "roles": {"plan": "base", "tool": "base", "reflect": "base"}, "settings": {"method": "react"}}))
        folders.append(str(folder))
    return folders


@pytest.fixture(scope="module")
def large_page(tmp_path_factory):
    root = tmp_path_factory.mktemp("large")
    folders = many_runs(root / "runs", 13, 100)
    proc = run_cli("Scripts/report.py", *folders, "--out", str(root / "report"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    logs = sum(p.stat().st_size for p in (root / "runs").rglob("*.jsonl"))
    return root / "report" / "index.html", logs


def test_a_large_run_makes_a_compact_page(large_page):
    page, logs = large_page
    html = page.read_text()
    blocks = data_of(html)
    assert sum(len(r["index"]) for r in blocks["autoact-data"]["runs"]) == 13 * 300
    assert len(blocks["autoact-data"]["questions"]) == 300          # one copy of each question
    assert all(html.count(f"Page {i}: a long") == 1 for i in range(40))      # one copy of each page
    assert "THE INSTRUCTION" not in html
    assert page.stat().st_size < logs / 10, (page.stat().st_size, logs)


def test_a_large_page_shows_one_page_of_rows_and_builds_a_trajectory_when_opened(large_page, browser):
    from selenium.webdriver.common.by import By
    d = browser
    d.get(large_page[0].resolve().as_uri())
    d.find_element(By.ID, "tab-button-trajectories").click()
    rows = d.find_elements(By.CSS_SELECTOR, "#traj-list tr.item")
    assert len(rows) == 50 and "page 1 of 78" in d.find_element(By.CSS_SELECTOR, "#tab-trajectories .pager").text
    # nothing of any trajectory is built before one is opened
    assert not d.find_elements(By.CSS_SELECTOR, ".traj, .step")
    d.find_element(By.CSS_SELECTOR, "#tab-trajectories .pager button:last-of-type").click()
    assert "page 2 of 78" in d.find_element(By.CSS_SELECTOR, "#tab-trajectories .pager").text
    first = d.find_elements(By.CSS_SELECTOR, "#traj-list tr.item")[0]
    first.click()
    assert len(d.find_elements(By.CSS_SELECTOR, ".traj")) == 1 and len(d.find_elements(By.CSS_SELECTOR, ".step")) == 4
    first.click()                                                    # and closed again
    assert not d.find_elements(By.CSS_SELECTOR, ".traj")
