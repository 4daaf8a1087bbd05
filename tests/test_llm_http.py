"""The OpenAI-compatible HTTP backend against the fake server (real HTTP on 127.0.0.1)."""

import json
import threading

import pytest

from autoact.errors import ConfigError, LLMConnectionError, LLMError
from autoact.llm import SamplingParams
from autoact.llm.openai_backend import OpenAILLM
from autoact.llm.scripted import Request

from conftest import free_port


def policy(req: Request) -> str:
    return f"Thought: use {req.model}\nAction: Finish[{req.prompt[-3:]}]\nObservation: x"


def make(url, **kw):
    kw.setdefault("backoff", 0.01)
    kw.setdefault("max_backoff", 0.02)
    return OpenAILLM(url, default_model="tiny", **kw)


def test_stop_strings_max_tokens_and_usage(fake_server):
    srv = fake_server(policy)
    llm = make(srv.url)
    out = llm.complete(["abc"], stop=["\n"], max_tokens=50)
    assert out[0].text == "Thought: use tiny"
    assert out[0].finish_reasons == ["stop"]
    out = llm.complete(["abc"], max_tokens=2)
    assert out[0].text == "Thought: use" and out[0].finish_reasons == ["length"]
    assert llm.usage.requests == 2 and llm.usage.completion_tokens == 3 + 2
    body = srv.requests[0]
    assert body["prompt"] == "abc" and body["model"] == "tiny"


def test_adapter_name_routed_in_model_field(fake_server):
    srv = fake_server(policy)
    llm = make(srv.url)
    out = llm.complete(["p1", "p2", "p3", "p4"], model=["plan", "tool", "reflect", None], stop=["\n"])
    assert [c.text for c in out] == ["Thought: use plan", "Thought: use tool",
                                     "Thought: use reflect", "Thought: use tiny"]
    assert sorted(r["model"] for r in srv.requests) == ["plan", "reflect", "tiny", "tool"]
    by_prompt = {r["prompt"]: r["model"] for r in srv.requests}
    assert by_prompt == {"p1": "plan", "p2": "tool", "p3": "reflect", "p4": "tiny"}


def test_sampling_fields_sent(fake_server):
    srv = fake_server(policy)
    llm = make(srv.url)
    out = llm.complete(["x"], SamplingParams(max_tokens=7, temperature=0.5, top_p=0.75, top_k=40,
                                              n=2, stop=("\n",), seed=3))
    assert srv.requests[0]["params"] == {"max_tokens": 7, "temperature": 0.5, "top_p": 0.75,
                                         "top_k": 40, "n": 2, "stop": ["\n"], "seed": 3}
    assert out[0].texts == ["Thought: use tiny"] * 2
    llm.complete(["x"])  # defaults: greedy, no top_k / stop / seed sent
    assert srv.requests[1]["params"] == {"max_tokens": 256, "temperature": 0.0, "top_p": 1.0, "n": 1}


def test_chat_api(fake_server):
    srv = fake_server(lambda req: "hello " + req.messages[-1]["content"])
    llm = make(srv.url)
    out = llm.chat([[{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]])
    assert out[0].text == "hello hi"
    assert srv.requests[0]["path"] == "/v1/chat/completions"
    chat_llm = make(srv.url, api="chat")
    assert chat_llm.complete(["yo"])[0].text == "hello yo"


def test_retries_recover_from_injected_500s_and_malformed(fake_server):
    srv = fake_server(policy, faults=["500", "malformed", "429", "500"])
    llm = make(srv.url, max_retries=4)
    out = llm.complete(["abc"], stop=["\n"])
    assert out[0].text == "Thought: use tiny"
    assert len(srv.requests) == 5 and llm.usage.retries == 4


def test_retries_are_bounded(fake_server):
    srv = fake_server(policy, faults=["500"] * 10)
    llm = make(srv.url, max_retries=2)
    with pytest.raises(LLMError, match="HTTP 500 3 times"):
        llm.complete(["abc"])
    assert len(srv.requests) == 3


def test_timeout_is_retried(fake_server):
    srv = fake_server(policy, faults=["timeout"], timeout_hold=5)
    llm = make(srv.url, timeout=0.5)
    assert llm.complete(["abc"], stop=["\n"])[0].text == "Thought: use tiny"
    assert [r["fault"] for r in srv.requests] == ["timeout", None] and llm.usage.retries == 1


def test_dead_server_gives_one_clear_error():
    port = free_port()
    llm = make(f"http://127.0.0.1:{port}/v1", max_retries=1)
    with pytest.raises(LLMConnectionError) as e:
        llm.complete(["abc"])
    msg = str(e.value)
    assert f"http://127.0.0.1:{port}/v1" in msg and "vllm" in msg and "OPENAI_BASE_URL" in msg
    assert "\n" not in msg
    with pytest.raises(LLMConnectionError, match="cannot reach"):
        make(f"http://127.0.0.1:{port}/v1", max_retries=0).check()


def test_unknown_model_is_a_clear_error(fake_server):
    srv = fake_server(policy)
    llm = make(srv.url)
    with pytest.raises(LLMError, match="does not exist"):
        llm.complete(["x"], model="nope")
    with pytest.raises(ConfigError, match="model 'nope' is not served by .* it serves: tiny, plan"):
        llm.check(["nope"])


def test_check_resolves_aliases_and_default(fake_server):
    srv = fake_server(policy, models=["meta-llama/Llama-2-13b-chat-hf", "plan"])
    llm = OpenAILLM(srv.url, default_model="llama-2-13b-chat")
    assert llm.check(["llama-2-13b-chat", "plan"]) == ["meta-llama/Llama-2-13b-chat-hf", "plan"]
    assert llm.default_model == "meta-llama/Llama-2-13b-chat-hf"
    anon = OpenAILLM(srv.url)
    anon.check()
    assert anon.default_model == "meta-llama/Llama-2-13b-chat-hf"


def test_url_and_key_from_environment(fake_server, monkeypatch):
    srv = fake_server(policy)
    monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    llm = OpenAILLM(default_model="tiny")
    assert llm.complete(["abc"], stop=["\n"])[0].text == "Thought: use tiny"
    assert "sk-secret" not in json.dumps(llm.describe())
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(ConfigError, match="OPENAI_BASE_URL"):
        OpenAILLM(default_model="tiny")


def test_many_requests_in_flight(fake_server):
    srv = fake_server(policy, latency=0.3)
    llm = make(srv.url, max_in_flight=32)
    out = llm.complete([f"p{i:02d}" for i in range(32)], stop=["\n"])
    assert len(out) == 32 and all(c.text == "Thought: use tiny" for c in out)
    assert srv.max_in_flight >= 16, srv.max_in_flight   # the server saw them overlap
    bounded = make(srv.url, max_in_flight=4)
    srv.max_in_flight = 0
    bounded.complete([f"p{i:02d}" for i in range(12)])
    assert srv.max_in_flight <= 4


def test_requests_from_one_thread_reuse_one_connection(fake_server):
    """The light POST keeps its connection alive: sequential requests go over one socket, none
    retried (a reply left unfinished once made every other request fail and retry)."""
    srv = fake_server(policy)
    llm = make(srv.url)
    for i in range(10):
        assert llm.complete([f"q{i}"], stop=["\n"])[0].text == "Thought: use tiny"
    assert llm.usage.retries == 0 and len(srv.requests) == 10
    assert len({tuple(r["client"]) for r in srv.requests}) == 1
    llm.close()


def test_calls_from_many_threads_share_the_backend(fake_server):
    srv = fake_server(lambda r: r.prompt.upper())
    llm = make(srv.url)
    results = {}

    def work(i):
        results[i] = llm.complete([f"q{i}"])[0].text

    ts = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert results == {i: f"Q{i}" for i in range(20)}


def test_fake_server_fault_rate_is_seeded(fake_server):
    a = fake_server(policy, fault_rate=0.5, fault_kinds=["500"], seed=7)
    b = fake_server(policy, fault_rate=0.5, fault_kinds=["500"], seed=7)
    plan_a = [a._next_fault() for _ in range(20)]
    plan_b = [b._next_fault() for _ in range(20)]
    assert plan_a == plan_b and 3 < plan_a.count("500") < 17


# --- several servers ------------------------------------------------------------------------

def test_requests_spread_over_several_servers(fake_server):
    a, b = fake_server(policy), fake_server(policy)
    llm = make(f"{a.url},{b.url}")
    out = llm.complete([f"p{i}" for i in range(20)], stop=["\n"])
    assert all(c.text == "Thought: use tiny" for c in out)
    assert len(a.requests) == 10 and len(b.requests) == 10
    assert [h["url"] for h in llm.health()] == [a.url, b.url]


def test_a_failing_server_is_rested_and_the_others_take_over(fake_server):
    good = fake_server(policy)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    llm = OpenAILLM([dead, good.url], default_model="tiny", backoff=0.0, max_backoff=0.0,
                    fail_threshold=2, rest_seconds=60)
    assert llm.check(["tiny"]) == ["tiny"]            # the dead one is found and rested at start
    assert {h["url"]: h["resting"] for h in llm.health()} == {dead: True, good.url: False}
    out = llm.complete([f"q{i}" for i in range(12)], stop=["\n"])
    assert len(out) == 12 and len(good.requests) >= 12
    # a server that starts failing mid-run: its requests are retried elsewhere, then it rests
    flaky = fake_server(policy, faults=["500"] * 50)
    llm2 = OpenAILLM([flaky.url, good.url], default_model="tiny", backoff=0.0, max_backoff=0.0,
                     fail_threshold=2, rest_seconds=60)
    out = llm2.complete([f"r{i}" for i in range(10)], stop=["\n"])
    assert all(c.text == "Thought: use tiny" for c in out)
    assert {h["url"]: h["resting"] for h in llm2.health()}[flaky.url]
    n = len(flaky.requests)
    assert n < 10                                     # at most the ones already in flight
    llm2.complete([f"s{i}" for i in range(10)], stop=["\n"])
    assert len(flaky.requests) == n                   # resting: nothing more goes there


def test_all_servers_down_is_one_clear_error():
    urls = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    with pytest.raises(LLMConnectionError, match="cannot reach the model server"):
        OpenAILLM(urls, default_model="tiny", max_retries=0).check(["tiny"])


def test_base_url_flag_repeated_or_comma_separated(fake_server):
    import argparse

    from autoact.llm import LLMSettings, make_llm
    from autoact.settings import add_options
    a, b, c = fake_server(policy), fake_server(policy), fake_server(policy)
    p = argparse.ArgumentParser()
    add_options(p, LLMSettings)
    args = p.parse_args(["--base_url", f"{a.url},{b.url}", "--base_url", c.url])
    llm = make_llm(args, "tiny")
    assert [h["url"] for h in llm.health()] == [a.url, b.url, c.url]
    llm.complete(["x", "y", "z"])
    assert [len(srv.requests) for srv in (a, b, c)] == [1, 1, 1]     # one completion each


def test_the_httpx_post_used_for_https_and_proxies_behaves_as_the_light_one(fake_server):
    """HTTPS and proxied servers get their completions through the SDK's httpx client
    (``OpenAILLM._poster``): the same replies and the same error classes as the http.client path."""
    import openai

    from autoact.llm.openai_backend import _KeptAlivePost
    srv = fake_server(policy)
    _, light = OpenAILLM._client(srv.url, "k", 5.0, 4)
    assert isinstance(light, _KeptAlivePost)
    http = openai.DefaultHttpxClient(timeout=5.0)
    heavy = OpenAILLM._poster(http, srv.url, "k", {})
    body = {"model": "tiny", "prompt": "Question: x", "max_tokens": 8, "stop": ["\n"]}
    assert heavy("/completions", body)["choices"][0]["text"] == light("/completions", body)["choices"][0]["text"]
    for post in (heavy, light):
        with pytest.raises(openai.APIStatusError) as err:
            post("/completions", {**body, "model": "nope"})
        assert err.value.status_code == 404 and "nope" in str(err.value)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    for post in (OpenAILLM._poster(http, dead, "k", {}), OpenAILLM._client(dead, "k", 5.0, 4)[1]):
        with pytest.raises(openai.APIConnectionError):
            post("/completions", body)
    light.close()
