"""Local transformers+peft backend on the tiny model, the scripted backend, the tiny builder."""

import json
import threading

import pytest

from autoact.errors import ConfigError, LLMResponseError
from autoact.llm import SamplingParams
from autoact.llm.scripted import ScriptedLLM

PROMPTS = ["Question: Who was the best kick boxer?\nThought 1:",
           "Thought 1: I need to retrieve",
           "Action 2: Lookup[",
           "The 1998 Verano de"]


def test_tiny_model_shape_and_determinism(tiny_model, tmp_path):
    from autoact.testing.tiny import build_tiny_model
    cfg = json.loads((tiny_model / "config.json").read_text())
    assert cfg["hidden_size"] // cfg["num_attention_heads"] == 64      # vLLM CPU needs head_dim 64
    assert cfg["model_type"] == "llama" and cfg["vocab_size"] <= 1100
    again = build_tiny_model(tmp_path / "again")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (tiny_model / name).read_bytes(), name
    tok = json.loads((tiny_model / "tokenizer_config.json").read_text())
    assert "pad_token" not in tok or tok["pad_token"] is None           # like Llama-2


def test_three_adapters_on_one_base_mixed_batch_equals_each_alone(hf_llm):
    names = ["plan", "tool", "reflect", None]
    mixed = hf_llm.complete(PROMPTS, model=names, max_tokens=10)
    for i, name in enumerate(names):
        alone = hf_llm.complete(PROMPTS, model=name, max_tokens=10)
        assert alone[i].text == mixed[i].text, name
    # the adapters really differ from each other and from the base
    texts = [hf_llm.complete([PROMPTS[0]], model=n, max_tokens=10)[0].text for n in names]
    assert len(set(texts)) == 4, texts
    # adapters were loaded once onto one base model
    from peft import PeftModel
    assert isinstance(hf_llm.model, PeftModel)
    assert set(hf_llm.model.peft_config) == {"plan", "tool", "reflect"}


def test_stop_strings_and_max_tokens_per_row(hf_llm):
    free = hf_llm.complete([PROMPTS[1]], model="tool", max_tokens=20)[0]
    assert free.completion_tokens == 20 and free.finish_reasons == ["length"]
    assert len(free.text) >= 6, free.text
    stop = free.text[len(free.text) // 2:len(free.text) // 2 + 2]   # a string the model will produce
    cut = hf_llm.complete([PROMPTS[1]], model="tool", max_tokens=20, stop=[stop])[0]
    assert cut.text == free.text[:free.text.index(stop)]
    assert cut.finish_reasons == ["stop"] and cut.completion_tokens < 20
    # rows of one batch keep their own limits
    rows = hf_llm.complete(PROMPTS[:2], model=["plan", "tool"], max_tokens=20)
    short = hf_llm.complete(PROMPTS[:1], model="plan", max_tokens=3)[0]
    assert rows[0].completion_tokens == 20 and short.completion_tokens == 3
    assert rows[0].text.startswith(short.text)


def test_concurrent_callers_are_batched_together(hf_llm):
    expected = [c.text for c in hf_llm.complete(PROMPTS, model=["plan", "tool", "reflect", None],
                                                  max_tokens=8)]
    before = hf_llm.batches
    results = [None] * 8
    barrier = threading.Barrier(8)

    def work(i):
        barrier.wait()
        results[i] = hf_llm.complete([PROMPTS[i % 4]], model=["plan", "tool", "reflect", None][i % 4],
                                     max_tokens=8)[0].text

    ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert results == [expected[i % 4] for i in range(8)]
    assert hf_llm.batches - before < 8            # fewer generate() calls than callers


def test_sampling_with_seed_is_reproducible(hf_llm):
    p = SamplingParams(max_tokens=12, temperature=0.9, top_p=0.9, top_k=40, seed=1234)
    a = hf_llm.complete(PROMPTS[:2], p, model="plan")
    b = hf_llm.complete(PROMPTS[:2], p, model="plan")
    assert [c.text for c in a] == [c.text for c in b]
    n3 = hf_llm.complete(PROMPTS[:1], p, model="plan", n=3)[0]
    assert len(n3.texts) == 3


def test_chat_template_and_token_count(hf_llm):
    out = hf_llm.chat([[{"role": "user", "content": "hi"}]], max_tokens=4)
    assert out[0].completion_tokens <= 4
    assert hf_llm.count_tokens("Hello world") == len(hf_llm.tokenizer("Hello world")["input_ids"])


def test_unknown_adapter_and_bad_adapter_dir(hf_llm, tiny_model, tmp_path):
    with pytest.raises(ConfigError, match="model 'nope' is not loaded.*plan, tool, reflect"):
        hf_llm.complete(["x"], model="nope")
    from autoact.llm.hf_backend import HFLLM
    with pytest.raises(ConfigError, match="not a LoRA adapter folder"):
        HFLLM(str(tiny_model), {"plan": str(tmp_path)})


def test_scripted_backend_rules_stop_and_record(tmp_path):
    f = tmp_path / "replies.json"
    f.write_text(json.dumps([{"match": "Thought", "reply": "I should look.\nAction"},
                             {"pattern": "^Q\\d", "model": "tool", "reply": "Retrieve"},
                             {"match": "", "reply": "fallback words here"}]))
    llm = ScriptedLLM(f)
    out = llm.complete(["Thought 1:", "Q1", "Q1", "zzz"], model=[None, "tool", "plan", None],
                       stop=["\n"], max_tokens=2)
    assert [c.text for c in out] == ["I should", "Retrieve", "fallback words", "fallback words"]
    assert [r.model for r in llm.requests] == ["scripted", "tool", "plan", "scripted"]
    seq = ScriptedLLM(["one", "two"])
    assert [c.text for c in seq.complete(["a", "b"])] == ["one", "two"]
    with pytest.raises(LLMResponseError, match="ran out"):
        seq.complete(["c"])
