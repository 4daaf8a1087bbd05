"""LoRA fine-tuning of one agent (plan, tool or reflect) on transformers' Trainer + peft, with
optional DeepSpeed. ``Self_Planning/Train/train_lora.py`` is the command line.

Training text is ``input + "\\n### Response:\\n" + output + EOS`` with the loss on the output
only: the prompt part (built by :func:`autoact.llm.templates.agent_prompt`, exactly what
inference sends) is tokenised on its own and its labels are -100, so the prompt tokens the
model trains on are the prompt tokens it will be given.

The seed command's flags are accepted as written: transformers 5 renamed or removed some of
them, and they are mapped with a one-line notice (``--evaluation_strategy`` -> ``eval_strategy``;
``--warmup_ratio r`` -> ``warmup_steps r``, which now takes a fraction; ``--group_by_length`` ->
``train_sampling_strategy group_by_length``; ``--resume_from_checkpoint False/True/PATH``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import transformers

from autoact.errors import AutoActError, ConfigError, DataError
from autoact.io import iter_records, write_json_atomic
from autoact.llm.templates import agent_prompt
from autoact.train import RECORD_FILE

log = logging.getLogger("autoact.train")

IGNORE = -100


@dataclass
class ModelArguments:
    model_name_or_path: str = field(default="llama-2-13b-chat", metadata={
        "help": "base model: a local folder, a hub id, or an alias (llama-2-13b-chat -> "
                "$AUTOACT_MODEL_DIR/llama-2-13b-chat or meta-llama/Llama-2-13b-chat-hf)"})
    trust_remote_code: bool = field(default=False, metadata={
        "help": "allow model code from the model folder (off unless asked)"})


@dataclass
class DataArguments:
    data_path: str = field(default=None, metadata={
        "help": "training data: a JSON list of {\"input\", \"output\"} (data_plan.json, ...)"})


@dataclass
class LoraArguments:
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"], metadata={
        "help": "module names to adapt (default q_proj v_proj)"})
    lora_weight_path: str = field(default="", metadata={
        "help": "start from this adapter folder instead of fresh LoRA weights"})
    lora_bias: str = field(default="none", metadata={"help": "none, all or lora_only"})
    q_lora: bool = field(default=False, metadata={
        "help": "4-bit QLoRA (bitsandbytes; needs a CUDA GPU)"})


@dataclass
class TrainingArguments(transformers.TrainingArguments):
    model_max_length: int = field(default=4096, metadata={
        "help": "longer examples are truncated on the right (counted; an example left with no "
                "output token is dropped)"})
    evaluation_strategy: str = field(default=None, metadata={
        "help": "the seed's spelling of --eval_strategy (renamed in transformers 5)"})
    warmup_ratio: float = field(default=None, metadata={
        "help": "the seed's warmup fraction; transformers 5 takes it as --warmup_steps"})
    group_by_length: bool = field(default=True, metadata={
        "help": "batch examples of similar length together to limit padding "
                "(train_sampling_strategy=group_by_length; default True)"})
    overwrite_output_dir: bool = field(default=False, metadata={
        "help": "retrain even when output_dir holds an adapter trained on other data/settings"})
    resume_from_checkpoint: str = field(default=None, metadata={
        "help": "False (default), True (the last checkpoint in output_dir) or a checkpoint path"})

    def __post_init__(self):
        notices = []
        if self.evaluation_strategy is not None:
            self.eval_strategy = self.evaluation_strategy
            notices.append(f"--evaluation_strategy {self.evaluation_strategy} -> --eval_strategy")
        if self.warmup_ratio is not None:
            if not 0 <= self.warmup_ratio < 1:
                raise ConfigError(f"--warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
            self.warmup_steps = self.warmup_ratio
            notices.append(f"--warmup_ratio {self.warmup_ratio} -> --warmup_steps {self.warmup_ratio} "
                           f"(a fraction of the steps)")
        if self.group_by_length and self.train_sampling_strategy == "random":
            self.train_sampling_strategy = "group_by_length"
        rc = self.resume_from_checkpoint
        if isinstance(rc, str) and rc.lower() in ("false", "none", ""):
            self.resume_from_checkpoint = None
        elif isinstance(rc, str) and rc.lower() == "true":
            self.resume_from_checkpoint = True
        import torch
        if (self.fp16 or self.bf16) and not torch.cuda.is_available():
            which = "--fp16" if self.fp16 else "--bf16"
            notices.append(f"{which} True needs a CUDA GPU; training in float32 on this CPU-only machine")
            self.fp16 = self.bf16 = False
        if self.deepspeed and isinstance(self.deepspeed, str):
            from autoact.data import deepspeed_config
            self.deepspeed = str(deepspeed_config(self.deepspeed))
            check_deepspeed_config(self.deepspeed)
            single_process_launch()
        if self.output_dir and Path(self.output_dir).exists() and not Path(self.output_dir).is_dir():
            raise ConfigError(f"--output_dir {self.output_dir}: is a file, expected a folder")
        self.autoact_notices = notices
        super().__post_init__()


def check_deepspeed_config(path: str) -> None:
    """Validate a DeepSpeed config with DeepSpeed's own checks before any model is loaded, so
    a typo (an unknown key in a section, a wrong type) is one line naming the file and the key.
    The trainer's ``"auto"`` values are stood in for here; checks that need the real values
    (batch-size arithmetic) are left to DeepSpeed at start-up."""
    from autoact.io import read_mapping
    config = read_mapping(path, "DeepSpeed config")

    def stand_in(d: dict) -> dict:
        return {k: stand_in(v) if isinstance(v, dict) else
                ((False if k == "enabled" else 1) if v == "auto" else v) for k, v in d.items()}
    try:
        import pydantic
        from deepspeed.runtime.config import DeepSpeedConfig
    except ImportError:
        raise ConfigError("--deepspeed needs the deepspeed package (pip install -r requirements.txt)") from None
    try:
        DeepSpeedConfig(stand_in(config))
    except pydantic.ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        section = {"DeepSpeedZeroConfig": "zero_optimization", "DeepSpeedFP16Config": "fp16",
                   "DeepSpeedBF16Config": "bf16"}.get(err.title, err.title)
        raise ConfigError(f"--deepspeed {path}: {section} section: {where + ': ' if where else ''}"
                          f"{first.get('msg', 'invalid')}"
                          f"{f' ({err.error_count()} problems)' if err.error_count() > 1 else ''}") from None
    except Exception:           # noqa: BLE001 - needs the real values; DeepSpeed decides at start-up
        pass


def single_process_launch() -> None:
    """``python train_lora.py --deepspeed ...`` without the ``deepspeed`` launcher: set the
    environment of a one-process job (as the launcher would) instead of letting DeepSpeed look
    for MPI."""
    if "LOCAL_RANK" in os.environ or "RANK" in os.environ:
        return
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": os.environ.get("MASTER_PORT", str(port))})


def make_parser() -> transformers.HfArgumentParser:
    """``train_lora.py``'s flags: the model, data and LoRA dataclasses and TrainingArguments."""
    return transformers.HfArgumentParser((ModelArguments, DataArguments, LoraArguments, TrainingArguments))


def parse_args(argv: list[str] | None = None):
    """Parse the four dataclasses; unknown flags are an error (one line, exit 2)."""
    parser = make_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        parser.print_help()
        raise SystemExit(0)
    try:
        model_args, data_args, lora_args, train_args, rest = parser.parse_args_into_dataclasses(
            args=argv, return_remaining_strings=True)
    except AutoActError:
        raise
    except ValueError as err:       # transformers' own checks of combined settings
        lines = str(err).strip().splitlines() or [type(err).__name__]
        raise ConfigError(lines[0]) from None
    if rest:
        raise ConfigError(f"unknown arguments: {' '.join(rest)} (see --help)")
    return checked(model_args, data_args, lora_args, train_args)


def parse_mapping(values: dict):
    """The four dataclasses of typed settings (a config's ``train`` section and the paths the
    pipeline wires), checked as :func:`parse_args` checks flags."""
    parser = make_parser()
    try:
        parsed = parser.parse_dict(values)
    except AutoActError:
        raise
    except (ValueError, TypeError) as err:
        lines = str(err).strip().splitlines() or [type(err).__name__]
        raise ConfigError(lines[0]) from None
    return checked(*parsed)


def checked(model_args, data_args, lora_args, train_args):
    """The parsed settings after the checks no dataclass makes (a data file, numeric ranges)."""
    if not data_args.data_path:
        raise ConfigError("--data_path is required (data_plan.json, data_tool.json or data_reflect.json)")
    check_ranges(lora_args, train_args)
    data_args.data_path = reference_data_path(data_args.data_path)
    return model_args, data_args, lora_args, train_args


def check_ranges(lora_args: "LoraArguments", train_args: "TrainingArguments") -> None:
    """Numeric flags out of range are one-line errors here, not tracebacks later."""
    import math
    checks = [
        ("--num_train_epochs", train_args.num_train_epochs, lambda v: v > 0, "> 0"),
        ("--learning_rate", train_args.learning_rate, lambda v: math.isfinite(v) and v > 0, "a finite number > 0"),
        ("--weight_decay", train_args.weight_decay, lambda v: math.isfinite(v) and v >= 0, ">= 0"),
        ("--per_device_train_batch_size", train_args.per_device_train_batch_size, lambda v: v >= 1, ">= 1"),
        ("--per_device_eval_batch_size", train_args.per_device_eval_batch_size, lambda v: v >= 1, ">= 1"),
        ("--gradient_accumulation_steps", train_args.gradient_accumulation_steps, lambda v: v >= 1, ">= 1"),
        ("--model_max_length", train_args.model_max_length, lambda v: v >= 2, ">= 2"),
        ("--logging_steps", train_args.logging_steps, lambda v: v > 0, "> 0"),
        ("--save_steps", train_args.save_steps, lambda v: v > 0, "> 0"),
        ("--lora_r", lora_args.lora_r, lambda v: v >= 1, ">= 1"),
        ("--lora_alpha", lora_args.lora_alpha, lambda v: math.isfinite(v) and v > 0, "> 0"),
        ("--lora_dropout", lora_args.lora_dropout, lambda v: 0 <= v < 1, "in [0, 1)"),
    ]
    if train_args.max_steps is not None and train_args.max_steps != -1:
        checks.append(("--max_steps", train_args.max_steps, lambda v: v > 0, "> 0 (or -1: off)"))
    for flag, value, ok, want in checks:
        if value is None or not ok(value):
            raise ConfigError(f"{flag} must be {want}, got {value}")
    if not lora_args.lora_target_modules:
        raise ConfigError("--lora_target_modules needs at least one module name")


def reference_data_path(path: str) -> str:
    """``data_tool.json`` that does not exist, beside the reference filter's ``data_action.json``
    (its name for the tool agent's data): that file, with a notice."""
    p = Path(path)
    if p.name == "data_tool.json" and not p.exists() and (p.parent / "data_action.json").is_file():
        alt = p.parent / "data_action.json"
        print(f"notice: {p} does not exist; training the tool agent on {alt}, the reference's name "
              f"for it (note: the reference's training inputs spell \"Obversation\"/\"Aciton\" "
              f"and differ from this project's inference prompts)", file=sys.stderr)
        return str(alt)
    return path


# ----------------------------------------------------------------------------- data

def read_pairs(path: str) -> list[dict]:
    """The ``{"input", "output"}`` records of a training file; errors name the record."""
    pairs = []
    for i, (line, rec) in enumerate(iter_records(path, list_only=True)):
        for key in ("input", "output"):
            if not isinstance(rec.get(key), str):
                raise DataError(f"{path}:{line}: record {i} needs a string \"{key}\"")
        if not rec["output"].strip():
            raise DataError(f"{path}:{line}: record {i} has an empty \"output\"")
        pairs.append({"input": rec["input"], "output": rec["output"]})
    if not pairs:
        raise DataError(f"{path}: no training records")
    return pairs


def encode(tokenizer, text_in: str, text_out: str, max_len: int) -> dict:
    """Token ids and labels of one example (labels -100 on the prompt)."""
    prompt = tokenizer(agent_prompt(text_in))["input_ids"]
    answer = tokenizer(text_out, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = prompt + answer
    labels = [IGNORE] * len(prompt) + answer
    truncated = len(ids) > max_len
    ids, labels = ids[:max_len], labels[:max_len]
    return {"input_ids": ids, "labels": labels, "length": len(ids), "truncated": truncated,
            "empty": all(x == IGNORE for x in labels)}


def prepare_tokenizer(tokenizer):
    """Llama-2 has no pad token: pad with unk (or eos), right-padded for training."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def build_dataset(tokenizer, data_path: str, max_len: int):
    """Tokenise with ``datasets`` (cached on disk, keyed by the data and the tokenizer)."""
    import datasets
    read_pairs(data_path)           # clear errors before handing the file to datasets
    ds = datasets.load_dataset("json", data_files=str(data_path), split="train")

    def tok(batch):
        rows = [encode(tokenizer, i, o, max_len) for i, o in zip(batch["input"], batch["output"])]
        return {k: [r[k] for r in rows] for k in rows[0]}

    ds = ds.map(tok, batched=True, remove_columns=ds.column_names, desc="tokenising")
    stats = {"examples": len(ds), "truncated": int(sum(ds["truncated"])), "dropped": int(sum(ds["empty"]))}
    ds = ds.filter(lambda r: not r["empty"], desc="dropping empty examples")
    return ds.remove_columns(["truncated", "empty"]), stats


class PadCounter:
    """Wraps a collator and counts padding (attention mask zeros) in the batches it builds."""

    def __init__(self, collator):
        self.collator = collator
        self.pad = self.total = 0

    def __call__(self, features):
        features = [{k: v for k, v in f.items() if k != "length"} for f in features]
        batch = self.collator(features)
        mask = batch["attention_mask"]
        self.pad += int((mask == 0).sum())
        self.total += int(mask.numel())
        return batch

    def take(self) -> float:
        share = self.pad / self.total if self.total else 0.0
        self.pad = self.total = 0
        return share


def pad_share_callback(counter: PadCounter, history: list):
    class PadShare(transformers.TrainerCallback):
        def on_epoch_end(self, args, state, control, **kw):
            share = counter.take()
            history.append(round(share, 4))
            if state.is_world_process_zero:
                log.info("epoch %d: pad tokens %.1f%% of the batches", round(state.epoch or 0), 100 * share)
    return PadShare()


#: model types whose causal-LM logits are ``lm_head(last hidden state)`` and nothing more (no
#: soft-capping or scaling), so the head can be applied to the labelled positions alone
PLAIN_HEAD_MODELS = frozenset({"llama", "mistral", "qwen2", "qwen3"})


class LabelledPositionsTrainer(transformers.Trainer):
    """A ``Trainer`` that applies the output layer only where a token is scored.

    An agent's example is a long prompt (instruction, question, scratchpad) and a short output,
    and only the output is scored, yet the stock loss computes the logits over the whole vocabulary
    at every position and a log-softmax over them. Here the decoder runs as usual and the head
    and the cross-entropy see only the positions whose next token has a label: the same loss
    and gradients (``tests/test_train.py`` compares them with the stock path), a fraction of the
    work and memory where the vocabulary is large against the model (the demo base: 8,813 words
    over a width of 256). DeepSpeed, several processes and model types outside
    :data:`PLAIN_HEAD_MODELS` take the stock path.
    """

    def _plain(self, model):
        if (self.is_deepspeed_enabled or self.accelerator.num_processes != 1 or self.args.n_gpu > 1
                or self.label_smoother is not None or self.compute_loss_func is not None):
            return None
        causal = self.accelerator.unwrap_model(model)
        causal = causal.get_base_model() if hasattr(causal, "get_base_model") else causal
        if getattr(causal.config, "model_type", None) not in PLAIN_HEAD_MODELS:
            return None
        return causal

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        causal = None if return_outputs else self._plain(model)
        if causal is None or "labels" not in inputs:
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        import torch
        hidden = causal.get_decoder()(input_ids=inputs["input_ids"],
                                      attention_mask=inputs.get("attention_mask")).last_hidden_state
        target = inputs["labels"][:, 1:]
        scored = target != IGNORE
        logits = causal.get_output_embeddings()(hidden[:, :-1][scored]).float()
        # the reduction the model's own loss would use: a sum over the accumulated tokens
        # when the Trainer passes their count, else the mean
        if self.model_accepts_loss_kwargs and num_items_in_batch is not None:
            loss = torch.nn.functional.cross_entropy(logits, target[scored], reduction="sum")
            return loss / torch.as_tensor(num_items_in_batch, device=loss.device)
        return torch.nn.functional.cross_entropy(logits, target[scored])


def data_hash(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- model

def resolve_model(name: str) -> str:
    from autoact.llm.models import ALIASES, resolve_local_model
    local = resolve_local_model(name)
    if local:
        return local
    if "/" in name and not Path(name).exists():
        return name                          # a hub id: transformers downloads or uses its cache
    if name in ALIASES:
        return ALIASES[name]
    raise ConfigError(f"--model_name_or_path {name}: no such folder, alias or hub id; pass a local "
                      f"model folder or put it at $AUTOACT_MODEL_DIR/{name}")


#: base models kept in this process between agents (``train_with(..., keep_base=True)``), by
#: what loading them depends on; :func:`release_bases` frees them
_BASES: dict[tuple, tuple] = {}


def release_bases() -> None:
    """Forget the base models kept for the next agent's training."""
    _BASES.clear()


def _base_key(path: str, kwargs: dict, model_args: ModelArguments, train_args: TrainingArguments) -> tuple:
    """What a loaded base depends on: where from, its dtype, remote code, the tokenizer's length."""
    return path, str(kwargs.get("dtype")), model_args.trust_remote_code, train_args.model_max_length


def load_model(model_args: ModelArguments, lora_args: LoraArguments, train_args: TrainingArguments,
               keep_base: bool = False):
    """The tokenizer, the base with a fresh LoRA adapter (its start from ``--seed`` alone), and
    the base's path. ``keep_base``: take the base :func:`train_with` kept from the previous agent
    when it was loaded the same way (not with QLoRA or DeepSpeed, which load it their own way)."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training

    path = resolve_model(model_args.model_name_or_path)
    kwargs: dict = {"trust_remote_code": model_args.trust_remote_code}
    if lora_args.q_lora:
        if not torch.cuda.is_available():
            raise ConfigError("--q_lora True (4-bit QLoRA) needs a CUDA GPU and bitsandbytes; "
                              "use --q_lora False on this machine")
        if train_args.deepspeed and "3" in Path(train_args.deepspeed).stem:
            raise ConfigError("--q_lora True is not compatible with ZeRO-3; use a ZeRO-2 config")
        from transformers import BitsAndBytesConfig
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_use_double_quant=True, bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16 if train_args.bf16 else torch.float16)
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}
    if train_args.fp16:
        kwargs["dtype"] = torch.float16
    elif train_args.bf16:
        kwargs["dtype"] = torch.bfloat16
    else:
        kwargs["dtype"] = torch.float32
    key = _base_key(path, kwargs, model_args, train_args)
    kept = _BASES.pop(key, None) if keep_base and reusable_base(lora_args, train_args) else None
    if kept is not None:
        tokenizer, model = kept
        print(f"base model {path}: the one loaded for the previous agent, with a fresh adapter")
    else:
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                path, model_max_length=train_args.model_max_length, padding_side="right",
                trust_remote_code=model_args.trust_remote_code)
            model = transformers.AutoModelForCausalLM.from_pretrained(path, **kwargs)
        except OSError as err:
            raise ConfigError(f"cannot load {path!r}: {str(err).splitlines()[0]}") from None
    model.config.use_cache = False
    model._autoact_base_key = key        # where _keep_base puts it back
    # the adapter's random start comes from --seed alone: not from whatever ran before in this
    # process, nor from how the base was got (loaded now, or kept from the previous agent)
    transformers.set_seed(train_args.seed)
    if lora_args.q_lora:
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=train_args.gradient_checkpointing)
    if lora_args.lora_weight_path:
        model = PeftModel.from_pretrained(model, lora_args.lora_weight_path, is_trainable=True)
    else:
        try:
            model = get_peft_model(model, LoraConfig(
                r=lora_args.lora_r, lora_alpha=lora_args.lora_alpha, lora_dropout=lora_args.lora_dropout,
                target_modules=list(lora_args.lora_target_modules), bias=lora_args.lora_bias,
                task_type="CAUSAL_LM"))
        except ValueError as err:     # e.g. peft's NoMatchingPeftModuleError (a ValueError)
            raise ConfigError(f"cannot add LoRA adapters (--lora_target_modules "
                              f"{' '.join(lora_args.lora_target_modules)}): {str(err).splitlines()[0]}") from None
    if train_args.gradient_checkpointing:
        model.enable_input_require_grads()
    return prepare_tokenizer(tokenizer), model, path


def reusable_base(lora_args: LoraArguments, train_args: TrainingArguments) -> bool:
    """Whether a base can be kept for the next agent: not quantised, not sharded by DeepSpeed."""
    return not lora_args.q_lora and not train_args.deepspeed


def _keep_base(model, tokenizer, train_args: TrainingArguments) -> None:
    """Strip the trained adapter off the base and keep the base for the next agent."""
    base = model.unload()           # the base model without the LoRA layers (weights untouched)
    if train_args.gradient_checkpointing:
        base.disable_input_require_grads()
        base.gradient_checkpointing_disable()
    base.eval()
    for attr in ("peft_config", "_hf_peft_config_loaded"):      # what the adapter set on the instance
        vars(base).pop(attr, None)
    key = getattr(base, "_autoact_base_key", None)
    if key is not None:
        _BASES[key] = (tokenizer, base)


# ----------------------------------------------------------------------------- main

def settings_record(model_args, data_args, lora_args, train_args, resolved_model: str) -> dict:
    targs = {k: v for k, v in train_args.to_dict().items() if not k.startswith("_")}
    for k in ("hub_token", "logging_dir"):
        targs.pop(k, None)
    return {"model": asdict(model_args), "resolved_model": resolved_model, "data": asdict(data_args),
            "data_sha256": data_hash(data_args.data_path), "lora": asdict(lora_args),
            "training": targs}


def already_trained(out: Path, settings: dict) -> bool | None:
    """True: ``out`` holds an adapter trained with these settings; False: another adapter;
    None: no adapter there."""
    rec = out / RECORD_FILE
    if not (out / "adapter_config.json").exists() or not rec.exists():
        return None
    try:
        old = json.loads(rec.read_text())
    except json.JSONDecodeError:
        return False
    keys = ("resolved_model", "data_sha256", "lora")
    same_training = {k: v for k, v in old.get("settings", {}).get("training", {}).items()
                     if k not in ("output_dir", "local_rank", "resume_from_checkpoint")} == \
        {k: v for k, v in settings["training"].items()
         if k not in ("output_dir", "local_rank", "resume_from_checkpoint")}
    return all(old.get("settings", {}).get(k) == settings[k] for k in keys) and same_training


_HUB_ERROR_MODULES = ("huggingface_hub", "httpx", "httpx2", "httpcore", "requests", "urllib3")


@contextlib.contextmanager
def integration_errors(train_args: TrainingArguments, after: str = "nothing was trained"):
    """The Trainer's integrations as one-line errors: a ``--report_to`` whose package is not
    installed, a ``--push_to_hub`` repository the Hub refuses or cannot be reached for (checked
    when the Trainer starts, before training, and again at the push)."""
    try:
        yield
    except (ImportError, RuntimeError, ValueError) as err:
        if not ("install" in str(err).lower() or "only azure_ml" in str(err) or "is not supported, only" in str(err)):
            raise
        raise ConfigError(f"--report_to {','.join(train_args.report_to or [])}: "
                          f"{str(err).strip().splitlines()[0]}") from err
    except Exception as err:
        hub = isinstance(err, OSError) and not getattr(err, "filename", None) or \
            type(err).__module__.split(".")[0] in _HUB_ERROR_MODULES
        if not (train_args.push_to_hub and hub):
            raise
        detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ConfigError(f"--push_to_hub: the Hugging Face Hub refused or could not be reached for "
                          f"{train_args.hub_model_id or Path(train_args.output_dir).name} "
                          f"({type(err).__name__}: {detail}); {after}") from err


def train(argv: list[str] | None = None) -> dict:
    """Train one adapter as ``train_lora.py`` flags ``argv`` (default ``sys.argv``) say."""
    return train_with(*parse_args(argv))


def train_with(model_args: ModelArguments, data_args: DataArguments, lora_args: LoraArguments,
               train_args: TrainingArguments, keep_base: bool = False) -> dict:
    """Train one adapter; returns the record written to ``<output_dir>/autoact_train.json``.
    ``keep_base``: keep the base model in this process for the next agent's training (the
    pipeline trains its agents one after another; :func:`release_bases` frees it)."""
    for notice in train_args.autoact_notices:
        print(f"notice: {notice}", file=sys.stderr)
    out = Path(train_args.output_dir)
    read_pairs(data_args.data_path)
    resolved = resolve_model(model_args.model_name_or_path)
    settings = settings_record(model_args, data_args, lora_args, train_args, resolved)
    state = already_trained(out, settings)
    if state and not train_args.overwrite_output_dir and not train_args.resume_from_checkpoint:
        print(f"{out} already holds an adapter trained on this data with these settings; "
              f"pass --overwrite_output_dir True to train again")
        return json.loads((out / RECORD_FILE).read_text())
    if state is False and not train_args.overwrite_output_dir and not train_args.resume_from_checkpoint:
        raise ConfigError(f"{out} holds an adapter trained on other data or settings; pass "
                          f"--overwrite_output_dir True to replace it")

    resume = train_args.resume_from_checkpoint
    if resume is True:
        from transformers.trainer_utils import get_last_checkpoint
        resume = get_last_checkpoint(str(out)) if out.is_dir() else None
        if resume is None:
            raise ConfigError(f"--resume_from_checkpoint True: no checkpoint-* folder in {out} to resume from")
    if resume:
        if not Path(resume, "trainer_state.json").is_file():
            raise ConfigError(f"--resume_from_checkpoint {resume}: not a checkpoint folder (no trainer_state.json)")
        print(f"resuming from {resume}", file=sys.stderr)

    transformers.set_seed(train_args.seed)
    tokenizer, model, resolved = load_model(model_args, lora_args, train_args, keep_base)
    with train_args.main_process_first(desc="tokenising"):
        dataset, data_stats = build_dataset(tokenizer, data_args.data_path, train_args.model_max_length)
    if len(dataset) == 0:
        raise DataError(f"{data_args.data_path}: every example is longer than --model_max_length "
                        f"{train_args.model_max_length} before its output")
    if data_stats["truncated"]:
        print(f"notice: {data_stats['truncated']} of {data_stats['examples']} examples were longer "
              f"than {train_args.model_max_length} tokens and were truncated"
              + (f"; {data_stats['dropped']} kept no output token and were dropped"
                 if data_stats["dropped"] else ""), file=sys.stderr)
    counter = PadCounter(transformers.DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE,
                                                             padding=True))
    pad_history: list[float] = []
    with integration_errors(train_args):
        trainer = LabelledPositionsTrainer(model=model, args=train_args, train_dataset=dataset,
                                           data_collator=counter, processing_class=tokenizer,
                                           callbacks=[pad_share_callback(counter, pad_history)])
    result = trainer.train(resume_from_checkpoint=resume or None)
    trainer.save_state()
    trainer.save_model(str(out), _internal_call=True)      # pushed below, with the record
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    record = {"settings": settings, "data": data_stats, "train_loss": result.training_loss,
              "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
              "steps": trainer.state.global_step, "pad_share_per_epoch": pad_history}
    if trainer.args.should_save:
        write_json_atomic(out / RECORD_FILE, record)
        loss = (f"loss {record['first_loss']:.4f} -> {record['last_loss']:.4f}" if losses
                else f"mean loss {record['train_loss']:.4f}")
        print(f"adapter -> {out} ({trainer.state.global_step} steps, {loss}, pad share per epoch "
              f"{pad_history})")
        if train_args.push_to_hub:
            with integration_errors(train_args, after=f"the adapter is saved in {out}"):
                info = trainer.push_to_hub(commit_message=f"AutoAct adapter, {trainer.state.global_step} steps")
            print(f"pushed to the Hub: {getattr(info, 'commit_url', None) or train_args.hub_model_id}")
    if keep_base and reusable_base(lora_args, train_args):
        _keep_base(trainer.model, tokenizer, train_args)
    return record
