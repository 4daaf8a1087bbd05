"""LoRA training on the tiny model: labels, data errors, flags, overfitting, DeepSpeed, scripts."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from autoact.llm.templates import agent_prompt
from autoact.train.lora import IGNORE, encode, prepare_tokenizer

from conftest import REPO, run_cli

SCRIPT = "Self_Planning/Train/train_lora.py"
OUTPUTS = [f"I need to look up item {i} now." for i in range(8)]


def pairs(n=8):
    return [{"input": f"Question: what is item {i}?\nThought 1:", "output": OUTPUTS[i % 8]} for i in range(n)]


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data_plan.json"
    path.write_text(json.dumps(pairs()))
    return path


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer
    return prepare_tokenizer(AutoTokenizer.from_pretrained(tiny_model))


def seed_flags(model, data, out, *extra, epochs="2"):
    """The seed command's flags, with only model, data, output, fp16 and epochs changed."""
    return ["--model_name_or_path", str(model), "--lora_r", "8", "--lora_alpha", "16", "--lora_dropout",
            "0.05", "--data_path", str(data), "--output_dir", str(out), "--num_train_epochs", epochs,
            "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "1",
            "--gradient_accumulation_steps", "1", "--evaluation_strategy", "no", "--save_strategy",
            "steps", "--save_steps", "10000", "--save_total_limit", "1", "--learning_rate", "1e-4",
            "--weight_decay", "0.", "--warmup_ratio", "0.03", "--lr_scheduler_type", "cosine",
            "--logging_steps", "1", "--fp16", "False", "--model_max_length", "4096",
            "--gradient_checkpointing", "True", "--q_lora", "False", *extra,
            "--resume_from_checkpoint", "False"]


def test_label_masking_token_by_token(tokenizer):
    ex = encode(tokenizer, "Question: who?\nThought 1:", "I need to search.", 4096)
    prompt_ids = tokenizer(agent_prompt("Question: who?\nThought 1:"))["input_ids"]
    answer_ids = tokenizer("I need to search.", add_special_tokens=False)["input_ids"]
    assert ex["input_ids"] == prompt_ids + answer_ids + [tokenizer.eos_token_id]
    assert ex["input_ids"][0] == tokenizer.bos_token_id
    for i, (tok, lab) in enumerate(zip(ex["input_ids"], ex["labels"])):
        assert lab == (IGNORE if i < len(prompt_ids) else tok), i
    assert ex["labels"][-1] == tokenizer.eos_token_id and not ex["truncated"]
    # the prompt tokens are exactly what inference sends for the same input
    assert tokenizer.decode(ex["input_ids"][:len(prompt_ids)], skip_special_tokens=True) == \
        agent_prompt("Question: who?\nThought 1:")


def test_truncation_is_counted_and_promptonly_examples_dropped(tokenizer):
    long_in = "word " * 300
    ex = encode(tokenizer, "Q?", "a long answer " * 50, 40)
    assert ex["truncated"] and len(ex["input_ids"]) == 40 and not ex["empty"]
    ex = encode(tokenizer, long_in, "answer", 40)
    assert ex["truncated"] and ex["empty"]


def test_tokenizer_without_pad_token_gets_one(tiny_model):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_model)
    assert tok.pad_token is None
    tok = prepare_tokenizer(tok)
    assert tok.pad_token == "<unk>" and tok.padding_side == "right"


@pytest.mark.parametrize("content,msg", [
    ('[{"input": "a", "output": "b"},\n {"input": "c"}]', ':2: record 1 needs a string "output"'),
    ('[{"input": "a", "output": " "}]', 'record 0 has an empty "output"'),
    ('{"input": "a", "output": "b"}', "expected a JSON list"),
    ("[]", "no training records"),
])
def test_malformed_data_one_line_error(tmp_path, tiny_model, content, msg):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    proc = run_cli(SCRIPT, *seed_flags(tiny_model, bad, tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert msg in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_flag_errors_and_notices(tmp_path, tiny_model, data):
    proc = run_cli(SCRIPT, *seed_flags(tiny_model, data, tmp_path / "o"), "--no_such_flag", "1")
    assert proc.returncode == 2 and "unknown arguments: --no_such_flag 1" in proc.stderr
    proc = run_cli(SCRIPT, *seed_flags(tiny_model, data, tmp_path / "o")[:-2], "--q_lora", "True")
    assert proc.returncode == 2 and "--q_lora True (4-bit QLoRA) needs a CUDA GPU" in proc.stderr
    proc = run_cli(SCRIPT, *seed_flags("no/such-model-here", data, tmp_path / "o"),
                   env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2 and "cannot load 'no/such-model-here'" in proc.stderr
    assert run_cli(SCRIPT, "--help").returncode == 0


@pytest.mark.slow
def test_overfit_then_local_backend_reproduces_a_training_output(tmp_path, tiny_model, data):
    out = tmp_path / "plan"
    proc = run_cli(SCRIPT, "--model_name_or_path", str(tiny_model), "--data_path", str(data),
                   "--output_dir", str(out), "--num_train_epochs", "80", "--per_device_train_batch_size",
                   "8", "--learning_rate", "5e-3", "--lora_dropout", "0", "--lr_scheduler_type", "constant",
                   "--save_strategy", "no", "--logging_steps", "1", "--fp16", "True",
                   "--model_max_length", "512")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--fp16 True needs a CUDA GPU; training in float32" in proc.stderr
    rec = json.loads((out / "autoact_train.json").read_text())
    assert rec["last_loss"] <= rec["first_loss"] / 2, (rec["first_loss"], rec["last_loss"])
    assert rec["steps"] == 80 and len(rec["pad_share_per_epoch"]) == 80
    assert rec["settings"]["data_sha256"] and rec["data"] == {"examples": 8, "truncated": 0, "dropped": 0}
    assert (out / "adapter_config.json").exists() and (out / "adapter_model.safetensors").exists()
    from autoact.llm.hf_backend import HFLLM
    llm = HFLLM(str(tiny_model), {"plan": str(out)})
    try:
        texts = [c.text for c in llm.complete([agent_prompt(p["input"]) for p in pairs()],
                                              model="plan", max_tokens=24)]
        base = llm.complete([agent_prompt(pairs()[0]["input"])], max_tokens=24)[0].text
    finally:
        llm.close()
    # greedy outputs are training outputs (one may still be a token off: CPU float sums vary
    # with the thread count, and 8 random-init memorisations are not all equally fast)
    assert sum(t in OUTPUTS for t in texts) >= len(texts) - 1, texts
    assert base not in OUTPUTS
    # a second run with the same data and settings is a no-op; other data needs the flag
    again = run_cli(SCRIPT, "--model_name_or_path", str(tiny_model), "--data_path", str(data),
                    "--output_dir", str(out), "--num_train_epochs", "80", "--per_device_train_batch_size",
                    "8", "--learning_rate", "5e-3", "--lora_dropout", "0", "--lr_scheduler_type", "constant",
                    "--save_strategy", "no", "--logging_steps", "1", "--fp16", "True",
                    "--model_max_length", "512")
    assert again.returncode == 0 and "already holds an adapter trained on this data" in again.stdout
    data.write_text(json.dumps(pairs(4)))
    other = run_cli(SCRIPT, "--model_name_or_path", str(tiny_model), "--data_path", str(data),
                    "--output_dir", str(out), "--save_strategy", "no")
    assert other.returncode == 2 and "--overwrite_output_dir True" in other.stderr


def test_an_adapter_depends_on_its_seed_not_on_what_ran_before(tmp_path, tiny_model, data):
    """The pipeline trains the agents one after another in one process: the second agent's
    random start must not depend on the first agent's training (it did: the same settings gave
    Calculator arguments 58% or 24% right depending on what had run before)."""
    import torch
    from safetensors.torch import load_file

    from autoact.train.lora import train

    def adapter(name, noise, *extra):
        torch.manual_seed(noise)
        torch.rand(1000)                        # whatever ran before in this process
        out = tmp_path / name
        train(["--model_name_or_path", str(tiny_model), "--data_path", str(data), "--output_dir", str(out),
               "--max_steps", "1", "--per_device_train_batch_size", "2", "--save_strategy", "no",
               "--lora_dropout", "0", "--disable_tqdm", "True", *extra])
        return load_file(out / "adapter_model.safetensors")

    a, b, c = adapter("a", 1), adapter("b", 2), adapter("c", 1, "--seed", "7")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_agents_trained_on_one_kept_base_equal_agents_trained_alone(tmp_path, tiny_model, data, monkeypatch):
    """The pipeline trains its agents in one process on one loaded base (issue 16): the base is
    read from disk once, each agent gets a fresh adapter, and every adapter is byte for byte the
    one a separate run trains (the lm_head and every linear layer wrapped, as the presets do)."""
    import transformers
    from safetensors.torch import load_file

    from autoact.stages import training

    loads = []
    real = transformers.AutoModelForCausalLM.from_pretrained
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        classmethod(lambda cls, *a, **k: (loads.append(a[0]), real(*a, **k))[1]))

    def flags(name, seed):
        return ["--model_name_or_path", str(tiny_model), "--data_path", str(data), "--output_dir",
                str(tmp_path / name), "--max_steps", "2", "--per_device_train_batch_size", "2",
                "--save_strategy", "no", "--lora_dropout", "0", "--disable_tqdm", "True", "--seed", str(seed),
                "--lora_target_modules", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                "down_proj", "lm_head"]
    for name, seed in (("plan", 1), ("tool", 2), ("reflect", 3)):
        training.run(training.from_flags(flags(name, seed)), keep_base=True)
    assert len(loads) == 1
    training.release_bases()
    for name, seed in (("tool", 2), ("reflect", 3)):
        training.run(training.from_flags(flags(f"{name}-alone", seed)))
    assert len(loads) == 3
    for name in ("tool", "reflect"):
        kept, alone = (load_file(tmp_path / n / "adapter_model.safetensors") for n in (name, f"{name}-alone"))
        assert kept.keys() == alone.keys() and any("lm_head" in k for k in kept)
        assert all(kept[k].numpy().tobytes() == alone[k].numpy().tobytes() for k in kept), name


@pytest.mark.slow
def test_seed_command_under_deepspeed_zero3_on_cpu(tmp_path, tiny_model, data):
    """The seed command as written (model, data, output, fp16 and epochs changed for a CPU),
    launched by `deepspeed` with the ZeRO-3 config: a non-empty, loadable adapter."""
    out = tmp_path / "13b-plan-2-epoch"
    cmd = ["deepspeed", "--num_gpus", "1", "--master_port", "29533", SCRIPT,
           *seed_flags(tiny_model, data, out, "--deepspeed", "playground/deepspeed_config_s3.json")]
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "DS_ACCELERATOR": "cpu"},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "--evaluation_strategy no -> --eval_strategy" in proc.stderr
    assert "--warmup_ratio 0.03 -> --warmup_steps 0.03" in proc.stderr
    from safetensors.torch import load_file
    weights = load_file(out / "adapter_model.safetensors")
    assert len(weights) == 8                        # q_proj and v_proj, A and B, 2 layers
    assert all(w.numel() > 0 for w in weights.values())
    assert any("lora_B" in k and float(w.abs().sum()) > 0 for k, w in weights.items())
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["r"] == 8 and sorted(cfg["target_modules"]) == ["q_proj", "v_proj"]
    from autoact.llm.hf_backend import HFLLM
    llm = HFLLM(str(tiny_model), {"plan": str(out)})
    try:
        assert llm.complete(["Question: x"], model="plan", max_tokens=3)[0].completion_tokens == 3
    finally:
        llm.close()


@pytest.mark.slow
def test_train_agents_script_trains_all_three(tmp_path, tiny_model):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for agent in ("plan", "tool", "reflect"):
        (data_dir / f"data_{agent}.json").write_text(json.dumps(pairs(4)))
    env = {"BASE_MODEL": str(tiny_model), "DATA_DIR": str(data_dir), "OUTPUT_ROOT": str(tmp_path / "lora"),
           "TAG": "tiny", "EPOCHS": "1", "LAUNCHER": "python", "FP16": "False", "MAX_LEN": "512"}
    proc = subprocess.run(["bash", "Scripts/train_agents.sh"], cwd=REPO, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    for agent in ("plan", "tool", "reflect"):
        folder = tmp_path / "lora" / f"tiny-{agent}-1-epoch"
        assert (folder / "adapter_model.safetensors").exists(), agent
        assert json.loads((folder / "autoact_train.json").read_text())["steps"] == 2


def test_serve_vllm_script_checks_adapters(tmp_path):
    proc = subprocess.run(["bash", "Scripts/serve_vllm.sh"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "BASE_MODEL": "x", "ADAPTER_ROOT": str(tmp_path)})
    assert proc.returncode == 2 and "adapter plan:" in proc.stderr and "not found" in proc.stderr


@pytest.mark.parametrize("counted", [False, True])
def test_head_on_labelled_positions_gives_the_stock_loss_and_gradients(tmp_path, tiny_model, tokenizer, counted):
    """The trainer applies the output layer to the scored positions only; loss and gradients
    equal the stock Trainer's (with and without the Trainer's token count for accumulation)."""
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    from autoact.train.lora import LabelledPositionsTrainer

    torch.manual_seed(0)
    base = transformers.AutoModelForCausalLM.from_pretrained(tiny_model)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, task_type="CAUSAL_LM",
                                            target_modules=["q_proj", "v_proj", "lm_head"]))
    for name, p in model.named_parameters():          # B starts at zero: make the adapter matter
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)
    rows = [encode(tokenizer, p["input"], p["output"], 512) for p in pairs(3)]
    batch = transformers.DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE, padding=True)(rows)
    scored = int((batch["labels"][:, 1:] != IGNORE).sum())
    args = transformers.TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    count = torch.tensor(scored + 5) if counted else None      # as if more tokens were accumulated

    def loss_and_grads(cls):
        trainer = cls(model=model, args=args)
        model.zero_grad()
        loss = trainer.compute_loss(model, dict(batch), num_items_in_batch=count)
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    head_rows = []
    hook = model.get_base_model().get_output_embeddings().register_forward_hook(
        lambda mod, inp, out: head_rows.append(inp[0].reshape(-1, inp[0].shape[-1]).shape[0]))
    stock_loss, stock = loss_and_grads(transformers.Trainer)
    ours_loss, ours = loss_and_grads(LabelledPositionsTrainer)
    hook.remove()
    assert head_rows == [batch["input_ids"].numel(), scored] and scored < batch["input_ids"].numel() / 2
    assert torch.allclose(stock_loss, ours_loss, atol=1e-6), (stock_loss, ours_loss)
    assert stock.keys() == ours.keys() and any("lm_head" in n for n in ours)
    for name in stock:
        assert torch.allclose(stock[name], ours[name], atol=1e-6, rtol=1e-4), name


def test_a_killed_training_run_resumes_from_its_checkpoint(tmp_path, tiny_model):
    """kill -9 after the first checkpoint, then the same command with ``--resume_from_checkpoint
    True``: training goes on from that checkpoint's step (not from 0) and ends with the adapter
    an uninterrupted run trains (optimizer, scheduler and RNG states come back with it)."""
    import signal
    import sys
    import time

    import torch
    from safetensors.torch import load_file

    data = tmp_path / "d.json"
    data.write_text(json.dumps(pairs(16)))

    def flags(out, *extra):
        return [SCRIPT, "--model_name_or_path", str(tiny_model), "--data_path", str(data), "--output_dir",
                str(out), "--max_steps", "40", "--per_device_train_batch_size", "2", "--save_strategy",
                "steps", "--save_steps", "4", "--logging_steps", "1", "--learning_rate", "1e-3",
                "--lora_dropout", "0.1", "--disable_tqdm", "True", *extra]

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, *flags(killed)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "AUTOACT_WIKI": "distractor"})
    deadline = time.monotonic() + 240
    while not (killed / "checkpoint-4" / "trainer_state.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the run ended"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "autoact_train.json").exists(), "the run finished before it was killed"
    first = sorted(int(p.name.split("-")[1]) for p in killed.glob("checkpoint-*"))[-1]
    assert first < 40

    resumed = run_cli(*flags(killed, "--resume_from_checkpoint", "True"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"checkpoint-{first}" in resumed.stderr + resumed.stdout      # the Trainer says where it resumes
    rec = json.loads((killed / "autoact_train.json").read_text())
    assert rec["steps"] == 40
    state = json.loads((killed / "trainer_state.json").read_text())
    assert [h["step"] for h in state["log_history"] if "loss" in h] == list(range(1, 41))

    whole = tmp_path / "whole"
    assert run_cli(*flags(whole)).returncode == 0
    a, b = (load_file(d / "adapter_model.safetensors") for d in (killed, whole))
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a), \
        max((a[k] - b[k]).abs().max().item() for k in a)


def test_report_to_tensorboard_and_a_missing_integration(tmp_path, tiny_model, data):
    out = tmp_path / "tb"
    proc = run_cli(SCRIPT, "--model_name_or_path", str(tiny_model), "--data_path", str(data), "--output_dir",
                   str(out), "--max_steps", "3", "--per_device_train_batch_size", "2", "--save_strategy", "no",
                   "--logging_steps", "1", "--report_to", "tensorboard")
    assert proc.returncode == 0, proc.stderr[-3000:]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    (events,) = (out / "runs").rglob("events.out.tfevents.*")         # transformers' default place
    acc = EventAccumulator(str(events))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3]
    # an integration whose package is not installed: one line, before anything is trained
    proc = run_cli(SCRIPT, "--model_name_or_path", str(tiny_model), "--data_path", str(data), "--output_dir",
                   str(tmp_path / "nb"), "--max_steps", "1", "--report_to", "no_such_integration_pkg")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "no_such_integration_pkg" in proc.stderr.strip().splitlines()[-1]


def test_push_to_hub_offline_is_one_line_and_pushes_the_adapter_with_its_record(tmp_path, tiny_model, data,
                                                                                monkeypatch):
    proc = run_cli(SCRIPT, "--model_name_or_path", str(tiny_model), "--data_path", str(data), "--output_dir",
                   str(tmp_path / "off"), "--max_steps", "1", "--push_to_hub", "True", "--hub_model_id",
                   "someone/plan-agent", env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --push_to_hub:") and "someone/plan-agent" in last and "nothing was trained" in last
    assert not (tmp_path / "off" / "adapter_model.safetensors").exists()

    # the push itself, with the Hub calls replaced: once, at the end, the folder holding the
    # adapter and its training record
    import transformers

    from autoact.train.lora import train
    pushed = []
    monkeypatch.setattr(transformers.Trainer, "init_hf_repo", lambda self, token=None: None)
    monkeypatch.setattr(transformers.Trainer, "push_to_hub", lambda self, **kw: pushed.append(
        sorted(p.name for p in Path(self.args.output_dir).iterdir() if p.is_file())))
    out = tmp_path / "on"
    train(["--model_name_or_path", str(tiny_model), "--data_path", str(data), "--output_dir", str(out),
           "--max_steps", "2", "--per_device_train_batch_size", "2", "--save_strategy", "no",
           "--push_to_hub", "True", "--hub_model_id", "someone/plan-agent", "--disable_tqdm", "True"])
    assert len(pushed) == 1
    assert {"adapter_model.safetensors", "adapter_config.json", "autoact_train.json"} <= set(pushed[0])
