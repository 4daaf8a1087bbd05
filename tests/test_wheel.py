"""The library as an installed wheel, not the clone: built, installed into a fresh virtualenv,
and the smoke pipeline run from a folder outside the repository."""

import json
import os
import subprocess
import sys
import sysconfig

import pytest

from conftest import REPO


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)


@pytest.mark.slow
def test_wheel_installs_and_runs_the_smoke_pipeline_outside_the_repo(tmp_path):
    dist = tmp_path / "dist"
    build = run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                 "-q", "-w", str(dist)])
    if build.returncode != 0:          # no setuptools in this environment: let pip fetch it
        build = run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(dist)])
    assert build.returncode == 0, build.stderr[-3000:]
    [wheel] = list(dist.glob("autoact-*.whl"))
    import zipfile
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("autoact/data/hotpotqa/easy.jsonl", "autoact/data/scienceqa/format_scienceqa_grade1-4.json",
                    "autoact/data/meta_sample/Meta_Hotpotqa.json", "autoact/data/deepspeed/deepspeed_config_s3.json",
                    "autoact/configs/smoke.yaml", "autoact/tasks/specs/arithmetic.yaml",
                    "autoact/assets/prompts.yaml", "autoact/assets/tokenizer_corpus.txt"):
        assert shipped in names, shipped

    # a fresh virtualenv holding only the wheel; its dependencies are reached through a path entry
    # (not the .pth files there, so the editable install of the clone stays out of sight)
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    python = venv / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    installed = run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, str(wheel)])
    assert installed.returncode == 0, installed.stderr[-3000:]
    with open(os.path.join(site, "zz_dependencies.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OPENAI_BASE_URL", "VIRTUAL_ENV")}
    where = run([str(python), "-c", "import autoact; print(autoact.__file__)"], cwd=elsewhere, env=env)
    assert where.stdout.strip().startswith(site), where.stdout + where.stderr
    proc = run([str(python), "-m", "autoact.pipeline", "--preset", "smoke", "--work_dir", "w", "--set", "compare=[]",
                "--set", "eval.limit=1", "--set", "eval.levels=easy"], cwd=elsewhere, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((elsewhere / "w" / "eval" / "summary.json").read_text())
    assert summary["task"] == "HotpotQA" and summary["all"]["questions"] == 1
    assert (elsewhere / "w" / "report" / "report.md").exists()
    # a shipped spec task and the seed's DeepSpeed config path resolve from here too
    check = run([str(python), "-c", "from autoact.tasks import get_task; from autoact.data import deepspeed_config;"
                 "t = get_task('arithmetic'); print(t.eval_path.is_file(), deepspeed_config("
                 "'playground/deepspeed_config_s3.json').is_file())"], cwd=elsewhere, env=env)
    assert check.stdout.split() == ["True", "True"], check.stdout + check.stderr
