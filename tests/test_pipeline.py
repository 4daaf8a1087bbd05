"""The one-command pipeline: the smoke preset end to end (the README's main job), a task from a
spec file through it, configuration, and continuing after an interruption."""

import json

import pytest

from conftest import REPO, run_cli


def pipeline(work, *extra, timeout=900):
    return run_cli("-m", "autoact.pipeline", "--work_dir", str(work), *extra,
                   env={"OPENAI_BASE_URL": ""}, timeout=timeout)


@pytest.mark.slow
def test_smoke_pipeline_end_to_end_then_rerun_skips(tmp_path):
    work = tmp_path / "smoke"
    proc = pipeline(work)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    assert "preset smoke" in out and "DEMO TEACHER" in out
    assert "| Method | Backbone | Easy F1 (EM) |" in out and "| autoact | tiny-model |" in out
    for stage in ("self_instruct", "tool_selection", "trajectories", "filter", "train", "eval", "report"):
        assert f"[{stage}] done" in out, stage
    assert len(json.loads((work / "self_instruct.json").read_text())) == 24
    assert [t["name"] for t in json.loads((work / "tools.json").read_text())] == ["BingSearch", "Retrieve", "Lookup"]
    trajectories = [json.loads(x) for x in (work / "trajectories.jsonl").read_text().splitlines()]
    assert len(trajectories) == 24
    assert any(s["action"].startswith("BingSearch[") for s in trajectories[0]["steps"])
    for role in ("plan", "tool", "reflect"):
        assert json.loads((work / "data" / f"data_{role}.json").read_text())
        assert (work / "lora" / role / "adapter_model.safetensors").exists()
    summary = json.loads((work / "eval" / "summary.json").read_text())
    assert summary["all"]["questions"] == 9 and summary["roles"]["plan"] == "plan"
    # the compared rows: the untrained base, one adapter on every role's data, no reflect agent
    data = {r: json.loads((work / "data" / f"data_{r}.json").read_text()) for r in ("plan", "tool", "reflect", "single")}
    assert data["single"] == data["plan"] + data["tool"] + data["reflect"]
    assert (work / "lora" / "single" / "adapter_model.safetensors").exists()
    rows = {}
    for method in ("zeroshot", "single", "no_reflect"):
        s = json.loads((work / f"eval_{method}" / "summary.json").read_text())
        assert s["method"] == method and s["all"]["questions"] == 9
        rows[method] = s["roles"]
    assert rows["single"] == {"plan": "single", "tool": "single", "reflect": "single"}
    assert rows["zeroshot"]["plan"] == "__base__"
    for method in ("autoact", "zeroshot", "single", "no_reflect"):
        assert f"| {method} | tiny-model |" in out, method
    for png in ("report.png", "learning_curves.png"):
        assert (work / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (work / "report" / "report.md").read_text()
    assert "### Sample trajectories: HotpotQA" in report and "Question: " in report
    assert "| plan |" in report and "| single |" in report and "### Run time" in report
    timings = json.loads((work / "timings.json").read_text())
    assert list(timings) == ["self_instruct", "tool_selection", "trajectories", "filter", "train", "eval"]
    again = pipeline(work)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "[self_instruct] skipped (complete)" in again.stdout
    assert "[trajectories] skipped (complete)" in again.stdout
    assert "already holds an adapter trained on this data" in again.stdout


@pytest.mark.slow
def test_a_spec_task_through_the_smoke_pipeline(tmp_path):
    """The shipped arithmetic spec, found by name: Calculator word problems end to end."""
    work = tmp_path / "arith"
    proc = pipeline(work, "--task", "arithmetic", "--set", "eval.limit=4", "--set", "eval.levels=test")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert [t["name"] for t in json.loads((work / "tools.json").read_text())] == ["Calculator"]
    rec = json.loads((work / "trajectories.jsonl").read_text().splitlines()[0])
    assert rec["task"] == "Arithmetic" and rec["steps"][0]["action"].startswith("Calculator[")
    assert rec["correct"], rec["steps"]
    assert "(1) Calculator[expression]" in rec["prompt"]
    assert "### Arithmetic" in proc.stdout and "| Method | Backbone | Test F1 (EM) | All F1 (EM) |" in proc.stdout
    summary = json.loads((work / "eval" / "summary.json").read_text())
    assert summary["task"] == "Arithmetic" and summary["levels"]["test"]["questions"] == 4


def test_config_file_sets_and_errors(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("self_instruct:\n  generate_all_num: 5\nfilter:\n  filter_num: 3\n")
    proc = pipeline(tmp_path / "w", "--config", str(cfg), "--set", "self_instruct.generate_per_round_num=5",
                    "--only", "self_instruct,tool_selection")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(json.loads((tmp_path / "w" / "self_instruct.json").read_text())) == 5
    resolved = json.loads((tmp_path / "w" / "pipeline.json").read_text())
    assert resolved["self_instruct"]["generate_per_round_num"] == 5 and resolved["filter"]["filter_num"] == 3
    assert "[trajectories]" not in proc.stdout
    for args, msg in ((["--set", "train.no_such=1"], "unknown key train.no_such"),
                      (["--set", "nonsense.x=1"], "unknown config key(s) nonsense"),
                      (["--set", "filter.save_path=x"], "filter.save_path is set by the pipeline"),
                      (["--config", str(tmp_path / "missing.yaml")], "missing.yaml: no such config file"),
                      (["--only", "everything"], "unknown stage(s) everything"),
                      (["--task", "webshop"], "unknown task 'webshop'")):
        bad = pipeline(tmp_path / "w2", *args)
        assert bad.returncode == 2 and msg in bad.stderr and "Traceback" not in bad.stderr, (args, bad.stderr)


def test_presets_for_the_paper_need_a_model(tmp_path):
    proc = pipeline(tmp_path / "p", "--preset", "hotpotqa", "--only", "self_instruct")
    assert proc.returncode == 2 and "no model for 'llama-2-13b-chat'" in proc.stderr
    assert (REPO / "Scripts" / "run_pipeline.sh").exists()


def test_list_valued_training_settings_reach_the_trainer_as_flags():
    """A training field that takes several values (--lora_target_modules q_proj v_proj) is set
    as a YAML list; the pipeline used to read the field's element type and refuse every list."""
    from autoact.errors import ConfigError
    from autoact.pipeline import _train_field_types, check_value, to_argv
    types = _train_field_types()
    assert types["lora_target_modules"] is list and types["lora_r"] is int
    assert types["learning_rate"] is float and types["fp16"] is bool
    check_value("train", "lora_target_modules", ["q_proj", "v_proj", "lm_head"], None)
    with pytest.raises(ConfigError, match="lora_r"):
        check_value("train", "lora_r", [8, 16], None)
    assert to_argv({"lora_target_modules": ["q_proj", "lm_head"]}, {}) == \
        ["--lora_target_modules", "q_proj", "lm_head"]
