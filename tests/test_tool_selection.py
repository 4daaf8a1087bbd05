"""The tool-selection stage, end to end through its script."""

import json

import pytest

from autoact.stages.tool_selection import build_messages, parse_selection
from autoact.tasks import get_task

from conftest import REPO, run_cli

SCRIPT = "Self_Planning/Tool_Selection/tool_selected.py"
JUNK_REPLY = """Sure! Here are the tools I would pick:

1. **Image2Text**: the questions come with images.
2. bing search - to find background knowledge
3. Wolfram Alpha: exact science facts
4. Retrieve (Wikipedia) for definitions
Hope this helps!"""


def test_prompt_is_pinned():
    msgs = build_messages(get_task("ScienceQA"))
    assert msgs[0]["role"] == "system" and msgs[0]["content"].startswith(
        "To complete a complex benchmark, several kinds of agents usually work together:")
    user = msgs[1]["content"]
    assert user.startswith("Here are the tools to choose from:\n1. BingSearch: Searches the web")
    assert "\n10. Code Interpreter: Executes Python code" in user
    assert "Task Name: ScienceQA\nTask Description: This is a multimodal" in user
    assert user.endswith('Choose the 3 tools that fit this task best. Answer with one tool per '
                         'line, numbered, as "1. ToolName: why it is needed".\nTask Tool Agents:')
    # usages are not shown at selection time, only definitions
    assert "For example" not in user


def test_parse_tolerates_numbering_case_and_junk():
    sel = parse_selection(JUNK_REPLY)
    assert [t.name for t in sel.tools] == ["Image2Text", "BingSearch", "Retrieve"]
    assert sel.unknown == ["Wolfram Alpha"]
    again = parse_selection("1. Retrieve\n2. retrieve\n- LOOKUP\n* Code: math")
    assert [t.name for t in again.tools] == ["Retrieve", "Lookup", "Code Interpreter"]
    assert parse_selection("I cannot help with that.").tools == []


def run_select(tmp_path, *extra, env=None):
    out = tmp_path / "{task_name}_Tools.json"
    return run_cli(SCRIPT, "--model_name", "llama-2-13b-chat", "--task_name", "ScienceQA",
                   "--top_k", "40", "--top_p", "0.75", "--max_tokens", "1024",
                   "--tool_save_path", str(out), *extra, env=env)


def test_seed_command_against_fake_server(tmp_path, fake_server):
    srv = fake_server(lambda req: JUNK_REPLY, models=["llama-2-13b-chat"])
    proc = run_select(tmp_path, env={"OPENAI_BASE_URL": srv.url})
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "ScienceQA_Tools.json"
    data = json.loads(out.read_text())
    assert [d["name"] for d in data] == ["Image2Text", "BingSearch", "Retrieve"]
    assert all(set(d) == {"name", "definition", "usage"} for d in data)
    assert "dropped (not in the tool pool): Wolfram Alpha" in proc.stdout
    req = srv.requests[-1]
    assert req["path"] == "/v1/chat/completions" and req["model"] == "llama-2-13b-chat"
    assert req["params"]["top_k"] == 40 and req["params"]["top_p"] == 0.75
    assert req["params"]["max_tokens"] == 1024 and req["params"]["temperature"] == 0.2
    cfg = json.loads((tmp_path / "ScienceQA_Tools.config.json").read_text())
    assert cfg["replies"] == [JUNK_REPLY] and cfg["dropped_unknown"] == ["Wolfram Alpha"]
    assert "api_key" not in cfg["args"]
    # a rerun keeps the selection and calls no model
    n = len(srv.requests)
    again = run_select(tmp_path, env={"OPENAI_BASE_URL": srv.url})
    assert again.returncode == 0 and "kept" in again.stdout and len(srv.requests) == n


def test_scripted_backend_empty_reply_retries_then_errors(tmp_path):
    replies = tmp_path / "r.json"
    replies.write_text(json.dumps(["I am not sure.", "No idea", "1. Retrieve\n2. Lookup"]))
    proc = run_select(tmp_path, "--scripted_replies", str(replies), "--task_name", "hotpotqa")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "HotpotQA_Tools.json").read_text())
    assert [d["name"] for d in data] == ["Retrieve", "Lookup"]
    replies.write_text(json.dumps(["nothing useful"] * 3))
    proc = run_select(tmp_path, "--scripted_replies", str(replies), "--overwrite")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: the model named no known tool in 3 tries; last reply: 'nothing useful'"]
    assert not (tmp_path / "ScienceQA_Tools.json").exists()


def test_overwrite_replaces_atomically(tmp_path):
    replies = tmp_path / "r.json"
    replies.write_text(json.dumps(["1. Calculator"]))
    out = tmp_path / "ScienceQA_Tools.json"
    out.write_text(json.dumps([{"name": "Retrieve", "definition": "d", "usage": "u"}]))
    proc = run_select(tmp_path, "--scripted_replies", str(replies), "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert [d["name"] for d in json.loads(out.read_text())] == ["Calculator"]


@pytest.mark.parametrize("args,msg", [
    (["--task_name", "webshop"], "unknown task 'webshop'; valid tasks: HotpotQA, ScienceQA"),
    (["--max_tokens", "0"], "expected a positive integer"),
])
def test_bad_flags_one_line(tmp_path, args, msg):
    proc = run_select(tmp_path, *args, env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert proc.returncode == 2 and msg in proc.stderr and "Traceback" not in proc.stderr


def test_unreachable_server_and_corrupt_existing_output(tmp_path):
    from conftest import free_port
    url = f"http://127.0.0.1:{free_port()}/v1"
    proc = run_select(tmp_path, "--max_retries", "0", env={"OPENAI_BASE_URL": url})
    assert proc.returncode == 2 and f"cannot reach the model server at {url}" in proc.stderr
    out = tmp_path / "ScienceQA_Tools.json"
    out.write_text("[{not json")
    proc = run_select(tmp_path, env={"OPENAI_BASE_URL": url})
    assert proc.returncode == 2 and "invalid JSON" in proc.stderr and "--overwrite" in proc.stderr
    assert out.read_text() == "[{not json"


def test_help_lists_seed_flags():
    proc = run_cli(SCRIPT, "--help")
    assert proc.returncode == 0
    for flag in ("--model_name", "--task_name", "--top_k", "--top_p", "--max_tokens",
                 "--tool_save_path", "--base_url", "--backend", "--overwrite"):
        assert flag in proc.stdout
    assert (REPO / SCRIPT).exists()
