"""The documentation: the README stays a newcomer's page (small, the two contractual commands),
the docs site builds with ``mkdocs build --strict``, every relative link resolves, and every flag
of every script is on its page (the tables are generated from the parsers by
``docs/hooks/flags.py``, so docs and ``--help`` cannot drift)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from conftest import REPO

DOCS = REPO / "docs"
README = REPO / "README.md"
INSTALL = ("python3 -m venv .venv && . .venv/bin/activate && pip install -r requirements.txt "
           "&& python -m autoact.pipeline")
TESTS = "bash Scripts/setup_vllm_cpu.sh && python -m pytest"


def load_hook():
    spec = importlib.util.spec_from_file_location("docs_flags_hook", DOCS / "hooks" / "flags.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = load_hook()


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


# ----------------------------------------------------------------------------- the README

def test_the_readme_is_a_front_door_under_10_kb():
    size = README.stat().st_size
    assert size < 10_240, f"README.md is {size} bytes: move detail into docs/"


def test_the_readme_keeps_the_two_set_up_commands_verbatim():
    """.ci/run runs exactly these two lines; they are the project's contract with a newcomer."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks[0] == INSTALL + "\n" and blocks[1] == TESTS + "\n", blocks[:2]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -r requirements.txt" in ci and TESTS in ci


def readme_commands() -> list[list[str]]:
    """The README's command lines (continuations joined, loops and env assignments peeled off)."""
    import shlex
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.split(r"\s#\s", line)[0].strip()
            for part in re.split(r"&&|;", line):
                words = shlex.split(part.replace("$agent", "plan"))
                while words and (re.fullmatch(r"[A-Z_]+=\S*", words[0]) or words[0] in ("export", "do")):
                    words = words[1:]
                if words and words[0] in ("python", "deepspeed", "bash", "autoact", "mkdocs"):
                    out.append(words)
    return out


def test_every_readme_command_names_a_script_and_flags_it_has():
    """Each command the README shows runs a script that exists, with flags its parser accepts
    (the seed commands themselves run verbatim in tests/test_protocol.py)."""
    from autoact.__main__ import COMMANDS
    from autoact.stages import training
    checked = 0
    for words in readme_commands():
        if words[0] == "bash":
            assert (REPO / words[1]).is_file(), words
            continue
        if words[0] != "python" and words[0] != "deepspeed":
            continue
        if words[1:3] == ["-m", "autoact.pipeline"]:
            module, args = "autoact.pipeline", words[3:]
        elif words[1] in ("-m", "-c"):
            continue
        else:
            script = words[1]
            assert (REPO / script).is_file(), words
            module = next((m for m, seed, _ in COMMANDS.values() if seed == script), None)
            assert module, f"{script}: not a stage script"
            args = words[2:]
        if module == "autoact.commands.train":
            flags = {a[2:] for a in args if a.startswith("--")}
            assert flags <= training.names() | {"deepspeed"}, flags - training.names()
        else:
            import importlib
            importlib.import_module(module).make_parser().parse_args(args)
        checked += 1
    assert checked >= 7                   # the default run, smoke, arithmetic, the six seed commands, GPU


def test_the_readme_links_every_docs_page():
    """Everything the README used to hold is one click from it, so two from a newcomer."""
    text = README.read_text(encoding="utf-8")
    linked = {(REPO / target).resolve() for target, _ in links(text)}
    missing = [p.relative_to(REPO) for p in pages() if p.resolve() not in linked and p != DOCS / "index.md"]
    assert not missing, missing


# ----------------------------------------------------------------------------- links

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def strip_code(text: str) -> str:
    text = re.sub(r"^ *```.*?^ *```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def links(text: str) -> list[tuple[str, str]]:
    """Relative links of a Markdown text as (path, anchor); external ones left out."""
    out = []
    for target in LINK.findall(strip_code(text)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
            continue
        path, _, anchor = target.partition("#")
        out.append((path, anchor))
    return out


def slugify(heading: str) -> str:
    """Python-Markdown's toc slug (what MkDocs anchors are), from a heading's Markdown text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    return {slugify(h) for h in re.findall(r"^#{1,6} +(.+?) *#*$", strip_code_blocks(path), re.M)}


def strip_code_blocks(path: Path) -> str:
    return re.sub(r"^ *```.*?^ *```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)


@pytest.mark.parametrize("source", [README, *pages()], ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(source):
    bad = []
    for path, anchor in links(source.read_text(encoding="utf-8")):
        target = (source.parent / path).resolve() if path else source
        if not target.exists():
            bad.append(f"{path}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            bad.append(f"{path}#{anchor}: no such heading")
        elif source != README and not target.is_relative_to(DOCS):
            bad.append(f"{path}: outside docs/ (not part of the site)")
    assert not bad, bad


# ----------------------------------------------------------------------------- flags

def page_of(name: str) -> Path:
    marker = f"<!-- flags: {name} -->"
    found = [p for p in pages() if marker in p.read_text(encoding="utf-8")]
    assert len(found) == 1, f"{marker} should be on exactly one page, found {found}"
    return found[0]


@pytest.mark.parametrize("name", sorted(hook.COMMANDS))
def test_every_flag_of_every_script_is_on_its_page(name):
    """The page as the build renders it holds each option string of the command's parser (built
    afresh here, not from any cache) and each help text as ``--help`` prints it."""
    rendered = hook.render(page_of(name).read_text(encoding="utf-8"))
    assert "<!-- flags:" not in rendered
    parser = hook.make_parser(name)
    missing = []
    for action in parser._actions:
        for option in action.option_strings:
            if f"`{option}`" not in rendered:
                missing.append(option)
        if action.help and action.help != argparse.SUPPRESS:
            text = hook.escape(hook._expand(action, parser.prog))
            if text not in rendered:
                missing.append(f"help of {action.option_strings or action.dest}: {text[:60]}")
    assert not missing, missing


def test_every_seed_script_front_end_has_a_flag_table():
    """Each front end a seed script runs (``from autoact.commands.X import``) has a table, so a new
    stage script cannot go undocumented; and every table names a real front end."""
    scripts = [*REPO.glob("Self_*/**/*.py"), *(REPO / "Scripts").glob("*.py")]
    used = {m for p in scripts for m in re.findall(r"from autoact\.commands\.(\w+) import",
                                                   p.read_text(encoding="utf-8"))}
    assert used and used <= set(hook.COMMANDS), used - set(hook.COMMANDS)
    for name in set(hook.COMMANDS) - {"pipeline"}:
        assert (REPO / "autoact" / "commands" / f"{name}.py").is_file(), name


def test_the_flag_table_escapes_what_markdown_would_read():
    cell = hook.escape("a | b\nc <d> *e* [f](g) ` \\ #i")
    assert "\n" not in cell and "<d>" not in cell
    assert re.search(r"(?<!\\)[|*\[\]`#]", cell.replace("\\\\", "")) is None, cell
    assert hook.escape("See `SchedulerType` | x") == "See `SchedulerType` \\| x"
    assert hook.code("x|y") == "`x|y`" and hook.code("a`b") == "``a`b``"


# ----------------------------------------------------------------------------- the site

def test_mkdocs_build_strict(tmp_path):
    """The site builds with no warning: no broken link or anchor, every page in the nav, every
    flag marker rendered."""
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        if os.environ.get("AUTOACT_REQUIRE_DOCS"):
            pytest.fail("mkdocs-material is not installed and AUTOACT_REQUIRE_DOCS is set")
        pytest.skip("mkdocs-material is not installed")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site),
                           "--config-file", str(REPO / "mkdocs.yml")],
                          cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "WARNING" not in proc.stderr, proc.stderr[-3000:]
    html = (site / "stages" / "evaluation.html").read_text(encoding="utf-8")
    assert "<code>--plan_agent</code>" in html and "<!-- flags:" not in html
    assert (site / "stages" / "training.html").read_text(encoding="utf-8").count("<td><code>--lora_r</code>") == 1
