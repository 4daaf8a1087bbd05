"""Backend selection from flags, aliases, role map and the agent template."""

import argparse

import pytest

from autoact.errors import ConfigError
from autoact.llm import LLMSettings, make_llm, parse_adapters
from autoact.llm.models import RoleMap, candidate_names, resolve_local_model
from autoact.llm.templates import RESPONSE_MARKER, agent_prompt


def parse(*argv):
    from autoact.settings import add_options, from_args
    p = argparse.ArgumentParser()
    add_options(p, LLMSettings)
    return from_args(LLMSettings, p.parse_args(list(argv)))


def test_auto_picks_openai_when_a_server_is_set(fake_server, monkeypatch):
    srv = fake_server(models=["llama-2-13b-chat"])
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    llm = make_llm(parse("--base_url", srv.url), "llama-2-13b-chat")
    assert llm.backend == "openai" and llm.default_model == "llama-2-13b-chat"
    monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
    assert make_llm(parse(), "llama-2-13b-chat").backend == "openai"


def test_auto_with_nothing_configured_says_how(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("AUTOACT_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ConfigError) as e:
        make_llm(parse(), "llama-2-13b-chat")
    msg = str(e.value)
    assert "OPENAI_BASE_URL" in msg and "--model_path" in msg and "llama-2-13b-chat" in msg


def test_auto_picks_hf_for_a_local_alias_folder(monkeypatch, tmp_path, tiny_model, tiny_adapters):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    (tmp_path / "llama-2-13b-chat").symlink_to(tiny_model)
    monkeypatch.setenv("AUTOACT_MODEL_DIR", str(tmp_path))
    assert resolve_local_model("llama-2-13b-chat") == str(tmp_path / "llama-2-13b-chat")
    llm = make_llm(parse("--adapter", f"plan={tiny_adapters['plan']}"), "llama-2-13b-chat")
    try:
        assert llm.backend == "hf" and llm.adapter_names == ["plan"]
        assert llm.complete(["Hi"], model="plan", max_tokens=2)[0].completion_tokens == 2
    finally:
        llm.close()


def test_reference_flag_spellings_are_accepted():
    args = parse("--openai_base", "http://h:1/v1", "--openai_key", "EMPTY")
    assert (args.base_url, args.api_key) == (["http://h:1/v1"], "EMPTY")


def test_scripted_from_file(tmp_path):
    f = tmp_path / "r.json"
    f.write_text('["a", "b"]')
    llm = make_llm(parse("--scripted_replies", str(f)), "m")
    assert llm.backend == "scripted" and [c.text for c in llm.complete(["x", "y"])] == ["a", "b"]


def test_unreachable_server_fails_fast_at_startup():
    from conftest import free_port
    url = f"http://127.0.0.1:{free_port()}/v1"
    args = parse("--base_url", url, "--max_retries", "0")
    with pytest.raises(Exception, match=f"cannot reach the model server at {url}"):
        make_llm(args, "tiny")


def test_parse_adapters_and_bad_spec():
    assert parse_adapters(["plan=/a", "tool=/b"]) == {"plan": "/a", "tool": "/b"}
    with pytest.raises(ConfigError, match="NAME=PATH"):
        parse_adapters(["plan"])


def test_aliases_and_roles():
    assert candidate_names("llama-2-13b-chat") == [
        "llama-2-13b-chat", "meta-llama/Llama-2-13b-chat-hf", "Llama-2-13b-chat-hf"]
    assert "llama-2-13b-chat" in candidate_names("meta-llama/Llama-2-13b-chat-hf")
    roles = RoleMap(plan="p", tool="t", reflect="r")
    assert [roles[r] for r in ("plan", "tool", "reflect")] == ["p", "t", "r"]
    assert RoleMap.single("m").names() == ["m"]
    with pytest.raises(ConfigError, match="unknown role"):
        roles["critic"]


def test_agent_template_is_pinned():
    assert RESPONSE_MARKER == "\n### Response:\n"
    assert agent_prompt("Question: q\nThought 1:") == "Question: q\nThought 1:\n### Response:\n"
