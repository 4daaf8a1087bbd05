"""Build a tiny random Llama model and a BPE tokenizer offline, deterministically, in seconds.

Tests, benchmarks and the offline demo use it instead of downloading weights. The default
shape (hidden 128, 2 heads -> head_dim 64, 2 layers, vocab 1024) is small enough for a CPU and
has the head_dim that vLLM's CPU attention accepts. The tokenizer is byte-level BPE trained on
text shipped with the project (``autoact/assets/tokenizer_corpus.txt``), adds ``<s>`` like
Llama's, has no pad token (like Llama-2's) and carries a minimal chat template.

    python -m autoact.testing.tiny --out work/tiny --adapters plan,tool,reflect
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

ASSET = Path(__file__).resolve().parents[1] / "assets" / "tokenizer_corpus.txt"
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
SPECIALS = ["<unk>", "<s>", "</s>"]


@dataclass(frozen=True)
class TinyConfig:
    #: of the BPE tokenizer (the word-level one's size follows from its word lists)
    vocab_size: int = 1024
    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    max_position_embeddings: int = 4096
    seed: int = 0
    #: std of the output layer's random weights. A trained model's output layer is large; with
    #: the usual 0.02 a random head caps every token's probability near 1%, and nothing could be
    #: learned through LoRA adapters (which do not touch the head).
    lm_head_std: float = 0.3
    #: "bpe" (byte-level BPE trained on the shipped corpus) or "word" (one token per known word
    #: or number, characters and bytes for the rest: see :func:`build_word_tokenizer`)
    tokenizer: str = "bpe"
    #: share the input embeddings with the output layer (then ``lm_head_std`` is unused)
    tie_word_embeddings: bool = False
    #: if > 0, each attention layer's value and output projections start near the identity
    #: (this gain on the value projection), so that attending to a token passes that token on:
    #: an initialisation that mimics what pre-trained attention layers look like ("mimetic
    #: initialisation", Trockman & Kolter 2023). With tied embeddings a head that attends to a
    #: name or a number then predicts it, and LoRA has only to learn where to look.
    identity_value_output: float = 0.0
    #: attention heads of the first layer that start looking back a fixed number of tokens:
    #: ``(1, 2)`` makes head 0 attend to the previous token and head 1 to the one before it, so
    #: that (with the identity start) each position also carries the tokens just before it, as
    #: pre-trained models' "previous-token heads" do. Built from one direction shared by every
    #: embedding, read by those heads' query and key projections with RoPE phases that peak at
    #: the given distance. Empty: none.
    previous_token_heads: tuple[int, ...] = ()
    #: steps of full-parameter pre-training on generic sentences after the random start
    #: (:mod:`autoact.testing.pretrain`); 0: none, the model stays random
    pretrain_steps: int = 0


#: the offline demo's base model (``base_model: demo`` in a pipeline config): word-level tokens,
#: tied embeddings, identity-like value/output projections and first-layer heads that look 1 to 4
#: tokens back (from the response marker, 4 back is the step label: ``Thought`` or ``Action``),
#: ~1.3M parameters besides the embeddings (2.3M), then pre-trained for 800 steps on generic
#: sentences that repeat names, words and numbers (:mod:`autoact.testing.pretrain`; about
#: 6 minutes on 2 CPU cores, once: :func:`cached_tiny_model` keeps it).
DEMO = TinyConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                  tokenizer="word", tie_word_embeddings=True, identity_value_output=1.0,
                  previous_token_heads=(1, 2, 3, 4), pretrain_steps=800)

#: about 100M parameters, for memory benchmarks
MEDIUM = TinyConfig(hidden_size=768, intermediate_size=2560, num_hidden_layers=12,
                    num_attention_heads=12)
#: the named shapes (``--size`` here; ``tiny`` and ``demo`` are also pipeline base models)
SIZES = {"tiny": TinyConfig(), "demo": DEMO, "medium": MEDIUM}


def _as_llama_tokenizer(tok):
    """``tok`` (a ``tokenizers.Tokenizer``) wrapped like Llama's: ``<s>`` added in front, ``</s>``
    as end, no pad token, the minimal chat template."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", model_max_length=4096)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tokenizer(vocab_size: int = 1024, corpus: Path = ASSET):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    tok.train_from_iterator(lines, trainer)
    return _as_llama_tokenizer(tok)


#: the word tokenizer's words (numbers aside), one a line: a file, so that no edit of a prompt,
#: a spec's wording or a comment builds another demo base (each base is another random draw,
#: and the learning preset's figures move with it; docs/learning-history.md). It holds the
#: generic corpus's frequent words, every word of the shipped task specs and their corpora (not
#: of the evaluation files) and the words of the agents' prompts and the tools' messages.
#: Changing it is changing the base: rerun the learning preset and update its figures.
VOCABULARY = ASSET.parent / "demo_vocabulary.txt"
#: frequent words: seen at least this often in the generic corpus
WORD_MIN_COUNT = 3
#: every number below this is one token
WORD_NUMBERS = 5000


def demo_texts() -> list[str]:
    """The texts every word of which the vocabulary must hold: the demo's prompts
    (``assets/demo_prompts.yaml``) and the shipped specs' files except the evaluation file each
    spec names (``eval_path``)."""
    import yaml

    root = Path(__file__).resolve().parents[1]
    specs = root / "tasks" / "specs"
    held_out = {(specs / ev).resolve() for f in specs.glob("*.yaml")
                if (ev := (yaml.safe_load(f.read_text(encoding="utf-8")) or {}).get("eval_path"))}
    texts = [(root / "assets" / "demo_prompts.yaml").read_text(encoding="utf-8")]
    return texts + [f.read_text(encoding="utf-8") for f in sorted(specs.iterdir())
                    if f.suffix in (".yaml", ".jsonl") and f.resolve() not in held_out]


#: a word of the word tokenizer: a run of letters (numbers are separate tokens)
_WORD = re.compile(r"[^\W\d_]+")


def frequent_words() -> set[str]:
    """The words (runs of letters) the shipped generic tokenizer corpus has at least
    :data:`WORD_MIN_COUNT` times: the word tokenizer knows them, and the demo base's
    pre-training text is made of them."""
    import collections
    counts = collections.Counter(_WORD.findall(ASSET.read_text(encoding="utf-8")))
    return {w for w, c in counts.items() if c >= WORD_MIN_COUNT}


def vocabulary_words() -> list[str]:
    """The word tokenizer's words and numbers, sorted: :data:`VOCABULARY` and every number
    below :data:`WORD_NUMBERS`."""
    words = set(VOCABULARY.read_text(encoding="utf-8").split())
    return sorted(words | {str(n) for n in range(WORD_NUMBERS)})


def build_word_tokenizer():
    """A word-level tokenizer: a known word, a number below :data:`WORD_NUMBERS`, a space or a
    punctuation mark is one token; anything else falls back to characters, then bytes, so every
    text round-trips. Known words: :data:`VOCABULARY` (which holds every word of the demo's
    prompts, the task specs and their corpora, not the evaluation files'). A copy of a name or a
    number is then one token to copy. The response marker the agents are trained with
    (``\n### Response:\n``) is one token too, as a chat model's turn markers are, so that the
    step label stays a few tokens from where the agent starts writing."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    from autoact.llm.templates import RESPONSE_MARKER

    vocab = [(s, 0.0) for s in SPECIALS] + [(f"<0x{i:02X}>", -20.0) for i in range(256)]
    seen = {v for v, _ in vocab}
    for piece, score in [(chr(i), -10.0) for i in range(32, 127)] + [("\n", -10.0), ("\t", -10.0)] \
            + [(w, -5.0) for w in vocabulary_words()]:
        if piece not in seen:
            vocab.append((piece, score))
            seen.add(piece)
    vocab.append((RESPONSE_MARKER, 0.0))
    tok = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(re.escape(RESPONSE_MARKER) + r"|[^\W\d_]+|\d+|."),
                                             behavior="isolated")
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    return _as_llama_tokenizer(tok)


def build_tiny_model(out_dir: str | Path, config: TinyConfig = TinyConfig(), *,
                     overwrite: bool = False) -> Path:
    """Write a random Llama model + tokenizer to ``out_dir`` (a Hugging Face folder)."""
    out = Path(out_dir)
    if (out / "config.json").exists() and not overwrite:
        return out
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    out.mkdir(parents=True, exist_ok=True)
    if config.tokenizer not in ("bpe", "word"):
        raise ValueError(f"unknown tokenizer {config.tokenizer!r}: bpe or word")
    tokenizer = build_word_tokenizer() if config.tokenizer == "word" else build_tokenizer(config.vocab_size)
    tokenizer.save_pretrained(out)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size, num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_attention_heads,
        max_position_embeddings=config.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=config.tie_word_embeddings, torch_dtype="float32",
    )
    torch.manual_seed(config.seed)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        if not config.tie_word_embeddings:
            model.lm_head.weight.normal_(0.0, config.lm_head_std)
        if config.identity_value_output > 0:
            for layer in model.model.layers:
                v, o = layer.self_attn.v_proj.weight, layer.self_attn.o_proj.weight
                v.mul_(0.5).add_(torch.eye(*v.shape) * config.identity_value_output)
                o.mul_(0.5).add_(torch.eye(*o.shape))
        if config.previous_token_heads:
            _add_previous_token_heads(model, config.previous_token_heads, config.seed)
    if config.pretrain_steps:
        from autoact.testing.pretrain import PretrainConfig, pretrain
        log = pretrain(model, tokenizer, PretrainConfig(steps=config.pretrain_steps, seed=config.seed),
                       frequent_words(), out / "pretrain-work")
        shutil.rmtree(out / "pretrain-work", ignore_errors=True)
        (out / "pretrain_log.json").write_text(json.dumps(log, indent=1) + "\n")
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id,
                                               eos_token_id=tokenizer.eos_token_id)
    model.save_pretrained(out)
    (out / "autoact_tiny.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    return out


def cache_dir() -> Path:
    """Where built base models are kept (:func:`autoact.io.user_cache_dir`)."""
    from autoact.io import user_cache_dir
    return user_cache_dir()


def _pid_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:          # someone else's process: alive
        return True
    return True


def cache_path(name: str, config: TinyConfig) -> Path:
    """The folder :func:`cached_tiny_model` keeps ``config``'s model in."""
    from autoact.testing.pretrain import PRETRAIN_VERSION, SHAPES

    # what the model is made from: the corpus (the BPE tokenizer's and the pre-training words')
    # and the word vocabulary itself, not the texts' wording (a comment edit builds nothing)
    key = hashlib.sha256(json.dumps([asdict(config), PRETRAIN_VERSION, SHAPES, ASSET.read_text(encoding="utf-8"),
                                     vocabulary_words()])
                         .encode("utf-8")).hexdigest()[:12]
    return cache_dir() / "models" / f"{name}-v{PRETRAIN_VERSION}-{key}"


def cached_tiny_model(name: str, config: TinyConfig) -> Path:
    """``config``'s model, built once into :func:`cache_dir` under a versioned name that changes
    with the shape, the pre-training recipe and the shipped texts the tokenizer is made from, so
    a rerun (or another work folder) reuses it and a changed recipe never does. Built in a
    temporary folder and renamed into place: a crash leaves no half-built model behind."""
    path = cache_path(name, config)
    if (path / "config.json").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"base model {name}: building it once into {path}"
          + (f" ({config.pretrain_steps} steps of pre-training, minutes on a CPU)"
             if config.pretrain_steps else ""), file=sys.stderr, flush=True)
    for stale in path.parent.glob(f"{path.name}.tmp*"):     # left by a build that crashed
        if not _pid_alive(stale.name.rsplit(".tmp", 1)[1]):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    build_tiny_model(tmp, config, overwrite=True)
    try:
        os.rename(tmp, path)
    except OSError:           # another process finished first: keep its copy
        shutil.rmtree(tmp, ignore_errors=True)
        if not (path / "config.json").exists():
            raise
    return path


#: RoPE frequency pairs (the fastest-turning ones) and the squared size per pair of the query and
#: key parts that make a previous-token head: the attention logit at the wanted distance beats the
#: next distance by ~5 (1.46 * PREV_STRENGTH / sqrt(head_dim))
PREV_PAIRS, PREV_STRENGTH = 8, 30.0


def _add_previous_token_heads(model, distances: Sequence[int], seed: int) -> None:
    """Heads ``0..len(distances)-1`` of the first layer attend ``distance`` tokens back.

    Every embedding gets one shared direction ``u``; after the input norm its size is the same
    for every token, so the query and key parts built from ``u`` are constants. A constant query
    ``q`` and key ``k`` give the logit ``sum_j |q_j| |k_j| cos((m - n) theta_j + phase_j)`` under
    RoPE; with ``k`` equal to ``q`` turned ahead by ``distance * theta_j`` in each frequency pair
    it peaks at ``m - n = distance``. (With tied embeddings the shared direction moves every
    token's logit by the same amount, which softmax ignores.)"""
    import math

    import torch
    cfg = model.config
    hidden, heads = cfg.hidden_size, cfg.num_attention_heads
    head_dim = hidden // heads
    half = head_dim // 2
    if len(distances) > heads or half < PREV_PAIRS:
        raise ValueError(f"previous_token_heads {tuple(distances)}: needs {len(distances)} heads "
                         f"of at least {2 * PREV_PAIRS} dimensions")
    rope = getattr(cfg, "rope_parameters", None) or {}
    base = rope.get("rope_theta") or getattr(cfg, "rope_theta", None) or 10000.0
    gen = torch.Generator().manual_seed(seed + 1000)
    u = torch.randn(hidden, generator=gen)
    u /= u.norm()
    emb = model.get_input_embeddings().weight
    emb.add_(u * emb.norm(dim=1).mean())
    size = math.sqrt(hidden) / math.sqrt(2.0)     # u's part of a normed input (|u part| = |rest|)
    attn = model.model.layers[0].self_attn
    for head, distance in enumerate(distances):
        q, k = torch.zeros(head_dim), torch.zeros(head_dim)
        for j in range(PREV_PAIRS):
            angle = distance * base ** (-2 * j / head_dim)
            a = math.sqrt(PREV_STRENGTH)
            q[j] = a
            k[j], k[j + half] = a * math.cos(angle), a * math.sin(angle)
        rows = slice(head * head_dim, (head + 1) * head_dim)
        attn.q_proj.weight[rows] += torch.outer(q, u) / size
        attn.k_proj.weight[rows] += torch.outer(k, u) / size


def build_random_adapter(model_dir: str | Path, out_dir: str | Path, *, seed: int = 0,
                         r: int = 8, alpha: int = 16,
                         target_modules: Sequence[str] = ("q_proj", "v_proj"),
                         scale: float = 1.0) -> Path:
    """A LoRA adapter with random (non-zero) weights, so it visibly changes the output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    torch.manual_seed(seed)
    model = get_peft_model(base, LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0,
                                            target_modules=list(target_modules),
                                            init_lora_weights=False, task_type="CAUSAL_LM"))
    if scale != 1.0:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_" in name:
                    p.mul_(scale)
    model.save_pretrained(out_dir)
    return Path(out_dir)


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autoact.testing.tiny", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder to write the model into")
    p.add_argument("--adapters", default="",
                   help="comma-separated names of random LoRA adapters to build beside the model "
                        "(in OUT-adapters/NAME), e.g. plan,tool,reflect")
    p.add_argument("--size", choices=tuple(SIZES), default="tiny",
                   help="tiny: ~0.6M parameters (default); demo: word-level tokens, tied embeddings, "
                        "attention started near the identity, then pre-trained on generic sentences "
                        "(the pipeline's base_model: demo; minutes on a CPU); medium: ~100M, for "
                        "memory benchmarks")
    p.add_argument("--pretrain_steps", type=int, default=None,
                   help="steps of full-parameter pre-training on generic sentences (see "
                        "autoact/testing/pretrain.py); default: the size's own (800 for demo, 0 "
                        "for the others); 0: the random start")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="rebuild even if OUT holds a model")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out {args.out} is a file, not a folder to write the model into")
    base = SIZES[args.size]
    cfg = TinyConfig(**{**asdict(base), "seed": args.seed})
    if args.pretrain_steps is not None:
        if args.pretrain_steps < 0:
            parser.error(f"--pretrain_steps must be 0 or more, not {args.pretrain_steps}")
        cfg = TinyConfig(**{**asdict(cfg), "pretrain_steps": args.pretrain_steps})
    out = build_tiny_model(args.out, cfg, overwrite=args.overwrite)
    print(f"model: {out}")
    for i, name in enumerate(n for n in args.adapters.split(",") if n):
        ad = build_random_adapter(out, Path(f"{out}-adapters") / name, seed=args.seed + 1 + i)
        print(f"adapter {name}: {ad}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
