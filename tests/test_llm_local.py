"""Local transformers+peft backend on the tiny model, the scripted backend, the tiny builder."""

import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from autoact.errors import ConfigError, LLMResponseError
from autoact.llm import SamplingParams
from autoact.llm.scripted import ScriptedLLM

def _demo_start():
    """The demo base's random start, before its pre-training (tests/test_pretrain.py has that)."""
    from autoact.testing.tiny import DEMO
    return replace(DEMO, pretrain_steps=0)


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

    # adapters were loaded once onto one base model; its LoRA layers are ours, holding each
    # adapter's factors (q_proj, v_proj of both layers) and the base's own weight
    from autoact.llm.hf_backend import _LoraLinear
    assert hf_llm.describe()["lora_layers"] == "autoact"
    lora = [m for m in hf_llm.model.modules() if isinstance(m, _LoraLinear)]
    assert len(lora) == 2 * 2 and all(set(m.factors) == {"plan", "tool", "reflect"} for m in lora)
    assert hf_llm.model.model.layers[0].self_attn.q_proj.weight.shape == (128, 128)


def test_our_lora_layers_decode_as_peft_does(tiny_model, tiny_adapters, monkeypatch):
    """A batch mixing adapters (unsorted rows too) through our LoRA layers, every way of adding
    the adapters' terms (stacked, per adapter, merged weights per run of rows), gives peft's
    greedy texts and logits equal up to float rounding."""
    import torch

    from autoact.llm.hf_backend import HFLLM, _LoraLinear
    adapters = {k: str(v) for k, v in tiny_adapters.items()}
    names = ["tool", None, "plan", "reflect", "plan"]
    prompts = PROMPTS + ["Question: Which town"]
    rows = ["plan", "tool", "plan", "__base__"]          # plan's rows are not one slice
    out = {}
    for mode in ("stacked", "per_adapter", "merged", "peft"):
        monkeypatch.setattr(_LoraLinear, "STACKED_EXTRA", 0 if mode == "per_adapter" else 10**12)
        monkeypatch.setattr(_LoraLinear, "MERGED_TOKENS", 1 if mode == "merged" else 10**9)
        llm = HFLLM(str(tiny_model), adapters, dtype="float32", device="cpu", lean_lora=mode != "peft")
        assert llm.describe()["lora_layers"] == ("peft" if mode == "peft" else "autoact")
        texts = [c.text for c in llm.complete(prompts, model=names, max_tokens=12)]
        ids = llm.tokenizer(prompts[:4], return_tensors="pt", padding=True)
        with torch.inference_mode():
            if mode == "peft":
                logits = llm.model(**ids, adapter_names=rows).logits
            else:
                llm.route.set(rows)
                logits = llm.model(**ids).logits
        out[mode] = (texts, logits)
        llm.close()
    for mode in ("stacked", "per_adapter", "merged"):
        assert out[mode][0] == out["peft"][0], mode
        assert torch.allclose(out[mode][1], out["peft"][1], atol=1e-5), (mode, (out[mode][1] - out["peft"][1]).abs().max())


def test_a_closed_backends_base_serves_the_next_backend_as_loaded(tiny_model, tiny_adapters):
    """The pipeline builds a backend per evaluation row: a closed backend leaves its base (its
    adapters taken off) for the next one on the same folder and settings, which answers as a
    fresh load does."""
    import torch
    from transformers import AutoModelForCausalLM

    from autoact.llm.hf_backend import _SPARE, HFLLM, _LoraLinear
    adapters = {k: str(v) for k, v in tiny_adapters.items()}
    first = HFLLM(str(tiny_model), adapters, dtype="float32", device="cpu")
    loaded = first.model
    texts = [c.text for c in first.complete(PROMPTS, model=["plan", "tool", "reflect", None], max_tokens=8)]
    first.close()
    bare = HFLLM(str(tiny_model), dtype="float32", device="cpu")
    assert bare.model is loaded and not _SPARE
    assert not any(isinstance(m, _LoraLinear) for m in bare.model.modules())
    fresh = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32).eval()
    ids = bare.tokenizer(PROMPTS, return_tensors="pt", padding=True)
    assert set(vars(bare.model)) == set(vars(fresh))              # no mark of the adapters left
    with torch.inference_mode():
        assert torch.equal(bare.model(**ids).logits, fresh(**ids).logits)
    assert bare.complete([PROMPTS[3]], max_tokens=8)[0].text == texts[3]
    bare.close()
    again = HFLLM(str(tiny_model), adapters, dtype="float32", device="cpu")
    assert again.model is loaded
    assert [c.text for c in again.complete(PROMPTS, model=["plan", "tool", "reflect", None], max_tokens=8)] == texts
    again.close()
    peft_path = HFLLM(str(tiny_model), adapters, dtype="float32", device="cpu", lean_lora=False)
    assert peft_path.model.get_base_model() is loaded
    assert [c.text for c in peft_path.complete(PROMPTS, model=["plan", "tool", "reflect", None],
                                               max_tokens=8)] == texts
    peft_path.close()
    assert _SPARE and set(vars(next(iter(_SPARE.values()))[1])) == set(vars(fresh))
    # other settings load their own
    other = HFLLM(str(tiny_model), dtype="float32", device="cpu", trust_remote_code=True)
    assert other.model is not loaded
    other.close()


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


def test_rows_join_and_leave_the_running_batch_with_the_texts_they_get_alone(tiny_model, tiny_adapters,
                                                                            monkeypatch):
    """Continuous batching: requests arriving while others decode join the running batch
    (prompts longer than the running rows', more rows than first allocated, the window outgrowing
    its room: the key/value buffers rebuilt each time), rows leave at their own stop string or
    limit, and every row's greedy text is the one it gets alone through generate()."""
    import time

    from autoact.llm import hf_engine
    from autoact.llm.hf_backend import HFLLM
    monkeypatch.setattr(hf_engine.Slots, "MARGIN", 1)
    monkeypatch.setattr(hf_engine.Slots, "ROOM", 3)
    adapters = {k: str(v) for k, v in tiny_adapters.items()}
    n = 12
    prompts = [" ".join([PROMPTS[i % 4]] * (1 + i % 3)) for i in range(n)]
    names = [["plan", "tool", "reflect", None][i % 4] for i in range(n)]
    limits = [3 + (i * 5) % 17 for i in range(n)]
    alone = HFLLM(str(tiny_model), adapters, dtype="float32", device="cpu", prefix_cache_mb=0,
                  max_batch_size=1, continuous=False)
    free = [alone.complete([p], model=m, max_tokens=k)[0].text for p, m, k in zip(prompts, names, limits)]
    stops = [(t[len(t) // 2:len(t) // 2 + 2],) if i % 3 == 0 and len(t) > 4 else () for i, t in enumerate(free)]
    expected = [alone.complete([p], model=m, max_tokens=k, stop=st)[0].text
                for p, m, k, st in zip(prompts, names, limits, stops)]
    alone.close()
    assert any(len(e) < len(f) for e, f in zip(expected, free))        # some rows stop early
    llm = HFLLM(str(tiny_model), adapters, dtype="float32", device="cpu", max_batch_size=5, batch_wait=0.0)
    assert llm.continuous
    results = [None] * n

    def work(i):
        time.sleep(0.015 * i)                   # arrivals staggered over the decoding of others
        results[i] = llm.complete([prompts[i]], model=names[i], max_tokens=limits[i], stop=stops[i])[0].text

    ts = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert results == expected
    assert llm.batches >= 3 and llm.steps > 0 and llm._slots.n == 0 and not llm._rows
    assert llm._slots.capacity <= 5
    llm.close()


def test_a_failing_step_fails_its_rows_and_the_worker_goes_on(tiny_model):
    from autoact.llm.hf_backend import HFLLM
    llm = HFLLM(str(tiny_model), dtype="float32", device="cpu")
    real, calls = llm.model.forward, []

    def flaky(*args, **kwargs):
        mask = kwargs.get("attention_mask")
        step = mask is not None and mask.dim() == 4         # a decoding step's mask is 4-D
        calls.append(step)
        if step and calls.count(True) == 1:                  # the first decoding step
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    llm.model.forward = flaky
    with pytest.raises(RuntimeError, match="boom"):
        llm.complete([PROMPTS[0]], max_tokens=5)
    before = len(calls)
    again = llm.complete([PROMPTS[0]], max_tokens=5)[0]
    assert again.completion_tokens == 5 and calls[before:] == [False] + [True] * 4   # a prefill, 4 steps
    assert llm._slots.n == 0 and not llm._rows
    llm.close()


def test_the_loading_threads_idle_openmp_team_is_let_go():
    """The worker computes; the idle OpenMP team of the thread that loaded the model would make
    every parallel region of the worker wake sleeping threads (GNU OpenMP, PyTorch's Linux
    wheels). Run in a fresh process: the team before and after, by the process's threads."""
    import subprocess
    import sys
    import textwrap
    code = textwrap.dedent("""
        import os, torch
        from autoact.llm.hf_engine import release_idle_threads
        torch.set_num_threads(2)
        torch.randn(512, 512) @ torch.randn(512, 512)          # a parallel region: a team of 2
        gomp = any("/libgomp" in line for line in open("/proc/self/maps"))
        before = len(os.listdir("/proc/self/task"))
        released = release_idle_threads()
        print(gomp, released, before, len(os.listdir("/proc/self/task")))
        torch.randn(512, 512) @ torch.randn(512, 512)          # the team comes back when needed
        print(len(os.listdir("/proc/self/task")))""")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    gomp, released, before, after, again = out[0] == "True", out[1] == "True", *map(int, out[2:])
    if not gomp:
        pytest.skip("PyTorch here does not use GNU OpenMP")
    assert released and after < before and again == before


def test_sampling_with_seed_is_reproducible(hf_llm):
    p = SamplingParams(max_tokens=12, temperature=0.9, top_p=0.9, top_k=40, seed=1234)
    a = hf_llm.complete(PROMPTS[:2], p, model="plan")
    b = hf_llm.complete(PROMPTS[:2], p, model="plan")
    assert [c.text for c in a] == [c.text for c in b]
    n3 = hf_llm.complete(PROMPTS[:1], p, model="plan", n=3)[0]
    assert len(n3.texts) == 3 and len(set(n3.texts)) > 1          # each sample its own seed
    # a seeded row samples the same text whatever runs beside it (its own generator)
    assert n3.texts[0] == a[0].text
    mixed = hf_llm.complete(PROMPTS[:3], p, model=["tool", "plan", "reflect"])
    assert mixed[1].text == a[1].text


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


def test_word_tokenizer_round_trips_and_keeps_names_and_numbers_whole():
    import re

    from autoact.testing.tiny import WORD_NUMBERS, build_word_tokenizer, vocabulary_words
    tok = build_word_tokenizer()
    for text in ["Action 3: Finish[1245]\nObservation 2: (Result 1/1) Stobri was founded in 1465.",
                 "héllo wörld ☃ 12345678 tabs\tand  two spaces", "Calculator[80 + 16]\n### Response:\n",
                 "### Response: x\n### Response:"]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == text
    def pieces(w):
        return tok.convert_ids_to_tokens(tok(w, add_special_tokens=False)["input_ids"])
    # every town, river and region of the WikiFacts corpus, and every number below the bound: one token
    corpus = (Path(__file__).resolve().parents[1] / "autoact/tasks/specs/wikifacts_corpus.jsonl").read_text()
    for word in set(re.findall(r"[A-Z][a-z]+", corpus)) | {"0", "7", "1465", str(WORD_NUMBERS - 1)}:
        assert pieces(word) == [word], word
    assert len(pieces(str(WORD_NUMBERS))) > 1
    # the response marker the agents are trained with is one token, like a chat model's markers
    from autoact.llm.templates import RESPONSE_MARKER
    assert pieces("Thought 1:" + RESPONSE_MARKER) == ["Thought", " ", "1", ":", RESPONSE_MARKER]
    # the evaluation files are not read: a word found only there is spelled out
    known = set(vocabulary_words())
    specs = Path(__file__).resolve().parents[1] / "autoact/tasks/specs"
    only_eval = {w for f in specs.glob("*_eval.jsonl") for w in re.findall(r"[^\W\d_]+", f.read_text())} - known
    assert only_eval, "expected some word that only the evaluation files hold"
    for word in sorted(only_eval)[:20]:
        assert len(pieces(word)) > 1, word


def test_demo_base_model_ties_embeddings_and_starts_attention_near_identity(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from autoact.testing.tiny import TinyConfig, build_tiny_model
    out = build_tiny_model(tmp_path / "demo", _demo_start())
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["tie_word_embeddings"] is True and cfg["hidden_size"] == 256
    assert cfg["hidden_size"] // cfg["num_attention_heads"] == 64
    assert json.loads((out / "autoact_tiny.json").read_text())["tokenizer"] == "word"
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    for layer in model.model.layers:
        for w in (layer.self_attn.v_proj.weight, layer.self_attn.o_proj.weight):
            diag = w.diagonal().mean().item()
            off = (w - torch.diag(w.diagonal())).abs().mean().item()
            assert diag > 0.9 and off < 0.05, (diag, off)
    # the default tiny model is unchanged by the option: untied, no identity start
    plain = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "plain", TinyConfig()))
    assert plain.lm_head.weight.data_ptr() != plain.model.embed_tokens.weight.data_ptr()
    assert plain.model.layers[0].self_attn.v_proj.weight.diagonal().mean().abs().item() < 0.1
    with pytest.raises(ValueError, match="unknown tokenizer"):
        build_tiny_model(tmp_path / "bad", TinyConfig(tokenizer="chars"))


def test_demo_base_model_starts_with_heads_that_look_one_to_four_tokens_back(tmp_path):
    """The demo base's first layer: head h attends h + 1 tokens back, on any text (the shared
    embedding direction makes their queries and keys constant); the tiny model's heads do not.
    Four back is where the response marker's position sees the step label (``Thought`` or
    ``Action``) that says what the agent is to write."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from autoact.testing.tiny import TinyConfig, build_tiny_model
    out = build_tiny_model(tmp_path / "demo", _demo_start())
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager")
    tok = AutoTokenizer.from_pretrained(out)
    text = "Question: Which river flows through Stobri? Thought 1: I will look up river in 1465."
    ids = tok(text, return_tensors="pt").input_ids
    n = ids.shape[1]
    with torch.no_grad():
        att = model(ids, output_attentions=True).attentions[0][0]      # layer 0: (heads, n, n)
    rows = torch.arange(5, n)
    for head, distance in ((0, 1), (1, 2), (2, 3), (3, 4)):
        looked = rows - att[head, rows].argmax(-1)
        assert (looked == distance).float().mean().item() > 0.9, (head, looked.tolist())
        assert att[head, rows, rows - distance].mean().item() > 0.7, head
    assert json.loads((out / "autoact_tiny.json").read_text())["previous_token_heads"] == [1, 2, 3, 4]
    # at the response marker (one token) the fourth head reads the step label
    from autoact.llm.templates import agent_prompt
    for label in ("Thought", "Action"):
        ids2 = tok(agent_prompt(f"Question: Where? {label} 3:"), return_tensors="pt").input_ids
        assert tok.convert_ids_to_tokens(ids2[0, -5:].tolist())[0] == label
        with torch.no_grad():
            att2 = model(ids2, output_attentions=True).attentions[0][0]
        assert att2[3, -1].argmax().item() == ids2.shape[1] - 5
    plain = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "plain", TinyConfig()),
                                                 attn_implementation="eager")
    with torch.no_grad():
        att = plain(ids.clamp(max=plain.config.vocab_size - 1), output_attentions=True).attentions[0][0]
    assert att[0, rows, rows - 1].mean().item() < 0.5
    with pytest.raises(ValueError, match="previous_token_heads"):
        build_tiny_model(tmp_path / "bad", TinyConfig(previous_token_heads=(1, 2, 3)))   # 2 heads


def test_the_prefix_store_finds_the_longest_shared_prefix_per_adapter_and_forgets_what_it_evicts():
    import torch

    from autoact.llm.hf_backend import _PrefixStore

    block = _PrefixStore.BLOCK
    kv = [(torch.zeros(1, 1, 4, 2), torch.zeros(1, 1, 4, 2))]            # 64 bytes per prompt
    store = _PrefixStore(budget=3 * 64)
    shared = list(range(100, 100 + 3 * block))
    a = torch.tensor(shared + [1] * block)
    b = torch.tensor(shared[:2 * block] + [2] * 2 * block)
    store.add("plan", a, kv)
    store.add("plan", b, kv)
    # the longest shared prefix wins, to the token (past the last whole block it shares)
    query = torch.tensor(shared + [1] * 5 + [9] * 20)
    key, n = store.best("plan", query)
    assert store.entries[key][1] is a and n == 3 * block + 5
    key, n = store.best("plan", torch.tensor(shared[:2 * block] + [2] * 3 + [7] * block))
    assert store.entries[key][1] is b and n == 2 * block + 3
    # another adapter's prompts and prefixes shorter than a block are not reused
    assert store.best("tool", query) == (None, 0)
    assert store.best("plan", torch.tensor(shared[:block - 1] + [5] * 40)) == (None, 0)
    # over budget the least recently used prompt leaves, with every index entry pointing at it
    store.best("plan", query)                                             # a is now the latest used
    store.add("tool", torch.tensor(shared), kv)
    store.add("plan", torch.tensor([3] * 2 * block), kv)
    assert [e[1] is b for e in store.entries.values()].count(True) == 0 and store.used == 3 * 64
    assert all(k in store.entries for keys in store.index.values() for k in keys)
    key, n = store.best("plan", torch.tensor(shared[:2 * block] + [2] * 2 * block))
    assert store.entries[key][1] is a and n == 2 * block


def test_prefix_reuse_gives_the_uncached_greedy_outputs(tiny_model, tiny_adapters, tmp_path):
    """Group planning on the local backend with the prefix cache (the instruction shared by every
    question, each question's scratchpad across its steps and roles, mixed adapters and cached
    lengths in one batch) writes the same trajectories as without it, and reads most prompt
    tokens from the cache."""
    from autoact.agents.group import GroupPlanningAgent
    from autoact.agents.runner import run_all
    from autoact.agents.setup import make_solver
    from autoact.io import JsonlLog
    from autoact.llm import RoleMap
    from autoact.llm.hf_backend import HFLLM
    from autoact.tasks import get_task
    from autoact.tools import Environment, default_selection
    from autoact.tools.corpus import OfflineCorpus, distractor_index

    class Args:
        max_steps, max_context_len, max_tokens, temperature, top_p, top_k, seed = 3, 4096, 8, 0.0, 1.0, -1, 0

    task = get_task("hotpotqa")
    examples = task.load_file(Path(__file__).resolve().parents[1] /
                              "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa/easy.jsonl")[:6]
    corpus = OfflineCorpus(distractor_index())
    steps = {}
    for label, mb, continuous in (("cached", 64, True), ("uncached", 0, True), ("generate", 0, False)):
        llm = HFLLM(str(tiny_model), {k: str(v) for k, v in tiny_adapters.items()}, dtype="float32",
                    device="cpu", prefix_cache_mb=mb, batch_wait=0.02, continuous=continuous)
        solve = make_solver(task, default_selection(task.default_tools), Environment(wiki=corpus, search=corpus),
                            llm, GroupPlanningAgent(llm, RoleMap()), Args, {})
        with JsonlLog(tmp_path / f"{label}.jsonl") as log:
            records = run_all(examples, solve, log, workers=6, show_progress=False)
        assert not any(r["error"] for r in records)
        steps[label] = [[(s["thought"], s["action"]) for s in r["steps"]] for r in records]
        if mb:
            assert llm.reused_tokens > 0.6 * llm.prompt_tokens, (llm.reused_tokens, llm.prompt_tokens)
            assert llm.prefixes.used <= 64 * 2**20
        else:
            assert llm.prefixes is None and llm.reused_tokens == 0
        llm.close()
    assert steps["cached"] == steps["uncached"] == steps["generate"]
    assert sum(len(s) for s in steps["cached"]) >= 6


def test_the_growing_cache_holds_what_the_stock_cache_holds(tiny_model):
    """The local backend's cache layers write each new column in place (no copy of the whole
    cache per token): through prefill, decoding past the room it was given (a new buffer) and a
    crop (the stock layer's own slicing), the keys/values and the greedy tokens equal the stock
    ``DynamicCache``'s."""
    import torch
    from transformers import AutoModelForCausalLM, DynamicCache

    from autoact.llm.hf_backend import _growing_cache

    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    n_layers = model.config.num_hidden_layers
    torch.manual_seed(0)
    ids = torch.randint(5, model.config.vocab_size, (3, 17))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0                       # a left-padded row
    caches = {"stock": DynamicCache(), "growing": _growing_cache(n_layers, capacity=20)}
    tokens = {}
    with torch.inference_mode():
        for name, cache in caches.items():
            out = model.generate(input_ids=ids, attention_mask=mask, cache=cache, max_new_tokens=12,
                                 min_new_tokens=12, do_sample=False, pad_token_id=0, return_dict_in_generate=True)
            tokens[name] = out.sequences
    assert torch.equal(tokens["stock"], tokens["growing"])
    for a, b in zip(caches["stock"].layers, caches["growing"].layers):
        assert a.keys.shape == b.keys.shape == (3, model.config.num_attention_heads, 17 + 11, a.keys.shape[-1])
        assert torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)
    # 17 + 11 positions did not fit the room of 20: the layer moved to a bigger buffer on the way
    assert caches["growing"].layers[0]._buf[0].shape[2] >= 28
    # a crop slices the keys; the next update starts from the cropped keys
    for cache in caches.values():
        cache.crop(-8)
        k = torch.ones(3, model.config.num_attention_heads, 2, caches["stock"].layers[0].keys.shape[-1])
        for i in range(n_layers):
            cache.update(k, k, i)
    for a, b in zip(caches["stock"].layers, caches["growing"].layers):
        assert a.keys.shape[2] == 22 and torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)


def test_only_full_attention_models_get_the_growing_cache_and_the_prefix_cache():
    """A model with sliding-window layers decodes with generate()'s own cache (it builds the
    sliding layers from the config); the growing cache and kept prefixes are full-attention only."""
    from transformers import LlamaConfig, MistralConfig, Qwen2Config

    from autoact.llm.hf_backend import prefix_cache_ok
    assert prefix_cache_ok(LlamaConfig())
    assert prefix_cache_ok(MistralConfig(sliding_window=None))
    assert not prefix_cache_ok(MistralConfig(sliding_window=16))
    assert not prefix_cache_ok(Qwen2Config(use_sliding_window=True, sliding_window=16, max_window_layers=0,
                                           num_hidden_layers=2))
