"""Self-Instruct: the Meta-Agent writes its own training questions from a couple of seeds.

Each round shows the model up to 2 seed examples and up to 3 of the pairs it already wrote
(sampled at random), asks for ``per_round`` new pairs in the task's format, parses the reply
tolerantly and keeps the valid, new ones. It stops at exactly ``total`` pairs.

Reproducible and crash-safe:

* round ``r`` draws its examples and its temperature from ``Random(f"{seed}:{r}")``;
* with ``workers`` rounds in flight, round ``r`` shows pairs from rounds ``<= r - workers`` only
  (the ones certainly applied when it was sent), and results are applied in round order, so the
  output depends only on the seed, the flags and the model's replies, not on timing;
* every applied round is appended to ``<target>.progress.jsonl`` (in the OS on return, fsynced
  in groups: :class:`autoact.io.JsonlLog`); a rerun replays it and continues with the next
  round, so a killed run resumes without losing or duplicating anything and ends with the same
  file an uninterrupted run writes. The target JSON is written once, atomically, when the run
  ends (finished, failed or interrupted): the bookkeeping per round does not grow with the pairs.
"""

from __future__ import annotations

import bisect
import logging
import random
import re
import string
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from autoact.errors import AutoActError, ConfigError
from autoact.io import JsonlLog
from autoact.llm import LLMSettings
from autoact.llm.base import LLM, SamplingParams
from autoact.prompting import Prompts, resolve
from autoact.settings import (CommonSettings, PromptsSettings, non_negative_float, non_negative_int, option,
                              positive_int, public, str2bool, top_k_value, top_p_value)
from autoact.tasks.base import Task
from autoact.tasks.scienceqa import LETTERS, format_options, gold_index, parse_options
from autoact.tools.image import ocr_words
from autoact.tools.wiki import one_line

log = logging.getLogger(__name__)

@dataclass
class Settings(CommonSettings, LLMSettings, PromptsSettings):
    """The flags of ``Self_Instruct/data_generation.py``."""
    source_data: str | None = option(required=True,
                                     help="seed examples: a JSON list (e.g. Meta_Hotpotqa.json)")
    target_data: str | None = option(required=True, help="output JSON list of generated pairs")
    dataset_name: str | None = option(required=True,
                                      help="task name (case-insensitive): hotpotqa, scienceqa, ...")
    generate_all_num: int = option(800, type=positive_int,
                                   help="pairs to generate in all (the output has exactly this many)")
    generate_per_round_num: int = option(10, type=positive_int, help="pairs asked for per round")
    model_name: str = option("llama-2-13b-chat",
                             help="the Meta-Agent: a served model name, an alias or a local path")
    temperature: float | None = option(None, type=non_negative_float,
                                       help="fixed sampling temperature (default: drawn per round from "
                                            "--min_temperature..--max_temperature, as the reference)")
    min_temperature: float = option(0.1, type=non_negative_float)
    max_temperature: float = option(0.5, type=non_negative_float)
    top_k: int = option(40, type=top_k_value)
    top_p: float = option(0.75, type=top_p_value)
    max_tokens: int = option(1024, type=positive_int)
    seed: int = option(0, type=int, help="seeds example sampling and temperatures")
    workers: int = option(4, type=positive_int,
                          help="rounds in flight at once (default 4); round r shows pairs from rounds "
                               "<= r - workers, so the output depends on --seed and --workers, not timing")
    max_rounds: int = option(0, type=non_negative_int,
                             help="stop with an error after this many rounds (0: no limit)")
    patience: int = option(5, type=positive_int,
                           help="stop with an error when this many rounds in a row add nothing (default 5)")
    unique_answers: bool = option(True, type=str2bool,
                                  help="the reference's rule: keep one pair per answer (default True)")
    max_answer_chars: int = option(20, type=positive_int,
                                   help="free-form answers must be shorter than this (reference: 20)")
    overwrite: bool = option(False, kind="switch",
                             help="start afresh: ignore (and replace) an existing target and its progress")


class NoProgressError(AutoActError):
    """Several rounds in a row added no pair."""


# ----------------------------------------------------------------------------- formats

def split_choice_question(question: str) -> tuple[str, list[str]]:
    """``"stem\\nOptions: (A) x (B) y"`` -> (stem, [x, y])."""
    at = question.rfind("Options:")
    if at == -1:
        return question.strip(), []
    return question[:at].strip(), parse_options(question)


def render_example(task: Task, rec: dict, prompts: Prompts | None = None) -> str:
    p = resolve(prompts)
    if task.answer_type != "choice":
        return p.render("self_instruct.example_free", question=one_line(rec["Question"]),
                        answer=one_line(rec["Answer"]))
    stem, options = split_choice_question(rec["Question"])
    if not options and isinstance(rec.get("choices"), list):
        options = [str(c) for c in rec["choices"]]
    gold = gold_index(rec["Answer"], options)
    answer = f"{LETTERS[gold]}. {options[gold]}" if gold is not None else one_line(rec["Answer"])
    image = ""
    if task.multimodal:
        ocr = ocr_words(str(rec.get("orc") or ""))
        image = p.render("self_instruct.example_choice_image",
                         caption=one_line(str(rec.get("caption") or "none")),
                         ocr=ocr if ocr and ocr != "no text detected" else "none")
    return p.render("self_instruct.example_choice", question=one_line(stem),
                    options=format_options(options), image=image, answer=answer)


def build_messages(task: Task, shots: list[dict], n: int, prompts: Prompts | None = None) -> list[dict]:
    p = resolve(prompts)
    examples = p.render("self_instruct.example_separator").join(render_example(task, r, p) for r in shots)
    if task.answer_type == "choice":
        image = p.render("self_instruct.format_choice_image") if task.multimodal else ""
        user = p.render("self_instruct.request_choice", examples=examples, n=n,
                        format=p.render("self_instruct.format_choice", image=image))
    else:
        user = p.render("self_instruct.request_free", examples=examples, n=n)
    system = p.render("self_instruct.system", task_name=task.name, task_description=task.description)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


_LABEL = re.compile(
    r"^(?:\d+\s*[.)]\s*|[-*•]\s*)?(question|q|options|option|choices|caption|ocr|answer|a)"
    r"(?:\s*\d+)?\s*[:：]\s*(.*)$", re.I)
_KEYS = {"question": "question", "q": "question", "options": "options", "option": "options",
         "choices": "options", "caption": "caption", "ocr": "ocr", "answer": "answer",
         "a": "answer"}


def parse_items(reply: str) -> list[dict]:
    """Labelled blocks (``Question:`` starts a new one) -> dicts of raw fields. Tolerates
    numbering, bullets, bold markers, blank lines and multi-line fields."""
    items: list[dict] = []
    cur: dict | None = None
    last: str | None = None
    for raw in reply.replace("**", "").replace("__", "").splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _LABEL.match(line)
        if m:
            key = _KEYS[m.group(1).lower()]
            value = m.group(2).strip()
            if key == "question" or cur is None:
                if cur:
                    items.append(cur)
                cur = {}
            if key in cur:          # a second Answer: without a Question: is a new, broken item
                items.append(cur)
                cur = {}
            cur[key] = value
            last = key
        elif cur is not None and last is not None:
            cur[last] = f"{cur[last]} {line}".strip()
    if cur:
        items.append(cur)
    return items


def _norm(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    return " ".join(text.split())


@dataclass
class Candidate:
    record: dict | None
    reason: str | None            # why it was rejected (None: valid)
    question_key: str = ""
    answer_key: str = ""


def record_keys(task: Task, rec: dict) -> tuple[str, str]:
    """(question key, answer key) of a record, for deduplication."""
    question_key = _norm(rec["Question"])
    if task.answer_type != "choice":
        return question_key, _norm(rec["Answer"])
    options = split_choice_question(rec["Question"])[1] or [str(c) for c in rec.get("choices") or []]
    gold = gold_index(str(rec["Answer"]), options)
    return question_key, _norm(options[gold] if gold is not None else str(rec["Answer"]))


def validate(task: Task, fields: dict, max_answer_chars: int) -> Candidate:
    question = one_line(fields.get("question", ""))
    answer = one_line(fields.get("answer", ""))
    if not question or not answer:
        return Candidate(None, "malformed")
    if task.answer_type != "choice":
        if len(answer) >= max_answer_chars:
            return Candidate(None, "answer_too_long")
        rec = {"Question": question, "Answer": answer}
        return Candidate(rec, None, *record_keys(task, rec))
    options = parse_options("Options: " + fields.get("options", "")) if fields.get("options") \
        else split_choice_question(question)[1]
    stem = split_choice_question(question)[0] if "Options:" in question else question
    options = [one_line(o) for o in options if one_line(o)]
    if len(options) < 2:
        return Candidate(None, "bad_options")
    gold = gold_index(answer, options)
    if gold is None:
        return Candidate(None, "bad_answer_option")
    rec = {"Question": f"{stem}\n{format_options(options)}"}
    if task.multimodal:
        caption = one_line(fields.get("caption", ""))
        ocr = one_line(fields.get("ocr", ""))
        rec["caption"] = "" if caption.lower() in ("none", "n/a") else caption
        rec["orc"] = "" if ocr.lower() in ("none", "n/a") else ocr
    rec["Answer"] = f"{LETTERS[gold]}. {options[gold]}"
    return Candidate(rec, None, *record_keys(task, rec))


# ----------------------------------------------------------------------------- the run

#: the fields of a progress line (one round) and their types, checked when a run resumes
PROGRESS_SCHEMA = {
    "round": int,
    "items": [list, lambda it: isinstance(it, dict) and isinstance(it.get("Question"), str)
              and isinstance(it.get("Answer"), str)],
    "rejected": [dict, lambda n: isinstance(n, int) and not isinstance(n, bool)],
    "reply": str, "temperature": (int, float, type(None)),
}


@dataclass
class Generation:
    """The knobs of :class:`SelfInstruct` (from the stage's settings)."""
    total: int
    per_round: int = 10
    workers: int = 4
    seed: int = 0
    max_rounds: int = 0                      # 0: no limit (patience still applies)
    patience: int = 5                        # rounds in a row adding nothing -> error
    unique_answers: bool = True              # the reference's rule: one pair per answer
    max_answer_chars: int = 20               # free answers must be shorter (reference: < 20)
    temperature: float | None = None         # fixed; None: drawn per round from the range
    temperature_range: tuple[float, float] = (0.1, 0.5)
    max_tokens: int = 1024
    top_p: float = 0.75
    top_k: int = 40


@dataclass
class State:
    items: list[dict] = field(default_factory=list)
    item_round: list[int] = field(default_factory=list)
    question_keys: set[str] = field(default_factory=set)
    answer_keys: set[str] = field(default_factory=set)
    seed_keys: set[str] = field(default_factory=set)
    rejected: Counter = field(default_factory=Counter)
    rounds: int = 0                          # rounds applied
    barren: int = 0                          # rounds in a row that added nothing
    last_reply: str = ""


class SelfInstruct:
    def __init__(self, task: Task, seeds: list[dict], llm: LLM, settings: Generation,
                 prompts: Prompts | None = None):
        if not seeds:
            raise AutoActError("self-instruct needs at least one seed example")
        self.task, self.seeds, self.llm, self.s = task, seeds, llm, settings
        self.prompts = resolve(prompts)
        self.state = State()
        for rec in seeds:
            qkey, akey = record_keys(task, rec)
            self.state.seed_keys.add(qkey)
            self.state.question_keys.add(qkey)
            if settings.unique_answers:
                self.state.answer_keys.add(akey)

    # -- round preparation (deterministic) ---------------------------------------------------
    def round_request(self, r: int) -> tuple[list[dict], SamplingParams]:
        rng = random.Random(f"{self.s.seed}:{r}")
        # the pairs of rounds <= r - workers: a prefix, as rounds are applied in order; sampling
        # its indices draws the same pairs as sampling the prefix itself, without copying it
        visible = bisect.bisect_right(self.state.item_round, r - self.s.workers)
        shots = rng.sample(self.seeds, min(2, len(self.seeds)))
        shots += [self.state.items[i] for i in rng.sample(range(visible), min(3, visible))]
        rng.shuffle(shots)
        lo, hi = self.s.temperature_range
        temp = self.s.temperature if self.s.temperature is not None else round(rng.uniform(lo, hi), 4)
        params = SamplingParams(max_tokens=self.s.max_tokens, temperature=temp, top_p=self.s.top_p,
                                top_k=self.s.top_k, seed=self.s.seed * 100_003 + r)
        return build_messages(self.task, shots, self.s.per_round, self.prompts), params

    # -- applying a round ------------------------------------------------------------------
    def apply(self, r: int, reply: str) -> tuple[list[dict], Counter]:
        """Validate, deduplicate and keep the new pairs of round ``r`` (in order)."""
        st, kept, rejected = self.state, [], Counter()
        for fields in parse_items(reply):
            cand = validate(self.task, fields, self.s.max_answer_chars)
            if cand.reason:
                rejected[cand.reason] += 1
            elif cand.question_key in st.seed_keys:
                rejected["duplicate_of_seed"] += 1
            elif cand.question_key in st.question_keys:
                rejected["duplicate_question"] += 1
            elif self.s.unique_answers and cand.answer_key in st.answer_keys:
                rejected["duplicate_answer"] += 1
            elif len(st.items) >= self.s.total:
                rejected["surplus"] += 1
            else:
                self._keep(cand.record, r)
                kept.append(cand.record)
        self._count_round(kept, rejected, reply)
        return kept, rejected

    def _keep(self, rec: dict, r: int) -> None:
        st = self.state
        qkey, akey = record_keys(self.task, rec)
        st.items.append(rec)
        st.item_round.append(r)
        st.question_keys.add(qkey)
        if self.s.unique_answers:
            st.answer_keys.add(akey)

    def _count_round(self, kept: list[dict], rejected: Counter, reply: str) -> None:
        st = self.state
        st.rejected.update(rejected)
        st.rounds += 1
        st.barren = 0 if kept else st.barren + 1
        st.last_reply = reply

    def replay(self, r: int, items: list[dict], rejected: dict, reply: str) -> None:
        """Re-apply a logged round on resume (round -1: pairs that were already in the target)."""
        for rec in items:
            self._keep(rec, r)
        if r >= 0:
            self._count_round(items, Counter(rejected), reply)

    # -- the loop --------------------------------------------------------------------------
    def run(self, progress: JsonlLog, on_round: Callable[["SelfInstruct", int], None] | None = None) -> list[dict]:
        st, s = self.state, self.s
        next_round = st.rounds
        if len(st.items) >= s.total:
            return st.items[:s.total]
        pending: dict[int, Future] = {}
        with ThreadPoolExecutor(max_workers=s.workers, thread_name_prefix="self-instruct") as pool:
            def submit(r: int) -> None:
                messages, params = self.round_request(r)
                pending[r] = pool.submit(self._ask, messages, params)
                temperatures[r] = params.temperature

            temperatures: dict[int, float] = {}

            issued = next_round
            try:
                while len(st.items) < s.total:
                    while len(pending) < s.workers and (not s.max_rounds or issued < s.max_rounds):
                        submit(issued)
                        issued += 1
                    if next_round not in pending:
                        raise AutoActError(
                            f"reached --max_rounds {s.max_rounds} with {len(st.items)} of "
                            f"{s.total} pairs; rejected so far: {dict(st.rejected)}")
                    reply, t0 = pending.pop(next_round).result()
                    kept, rejected = self.apply(next_round, reply)
                    progress.append({"round": next_round, "items": kept, "rejected": dict(rejected),
                                     "temperature": temperatures.pop(next_round),
                                     "reply": reply, "seconds": round(time.monotonic() - t0, 2)})
                    if on_round:
                        on_round(self, next_round)
                    next_round += 1
                    if st.barren >= s.patience:
                        raise NoProgressError(
                            f"{st.barren} rounds in a row added no pair (rejected so far: "
                            f"{dict(st.rejected) or 'none parsed'}); the last reply was: "
                            f"{st.last_reply[:300]!r}")
            finally:
                for f in pending.values():
                    f.cancel()
        return st.items

    def _ask(self, messages: list[dict], params: SamplingParams) -> tuple[str, float]:
        t0 = time.monotonic()
        return self.llm.chat([messages], params)[0].text, t0


# ----------------------------------------------------------------------------- the stage

def run(settings: Settings) -> None:
    """Generate the pairs (resuming from the progress log) and write the target and its config."""
    from pathlib import Path

    from autoact.io import OutputLock, check_distinct, prepare_output, read_records
    from autoact.prompting import load_prompts
    from autoact.tasks import get_task


    task = get_task(settings.dataset_name)
    prompts = load_prompts(settings.prompts)
    if not 0 <= settings.min_temperature <= settings.max_temperature:
        raise ConfigError("--min_temperature must be >= 0 and <= --max_temperature")
    seeds = read_records(settings.source_data, required=["Question", "Answer"], list_only=True)
    if not seeds:
        raise ConfigError(f"{settings.source_data}: no seed examples")
    task.load_file(settings.source_data)            # the task's own checks (options, answer letter)

    target = Path(settings.target_data)
    progress_path = target.with_suffix(".progress.jsonl")
    config_path = target.with_suffix(".config.json")
    check_distinct([target, progress_path, config_path], [settings.source_data, settings.prompts])
    prepare_output(target)
    knobs = Generation(
        total=settings.generate_all_num, per_round=settings.generate_per_round_num, workers=settings.workers,
        seed=settings.seed, max_rounds=settings.max_rounds, patience=settings.patience,
        unique_answers=settings.unique_answers, max_answer_chars=settings.max_answer_chars,
        temperature=settings.temperature, temperature_range=(settings.min_temperature, settings.max_temperature),
        max_tokens=settings.max_tokens, top_p=settings.top_p, top_k=settings.top_k)
    with OutputLock(target):
        _generate(settings, task, prompts, seeds, knobs, target, progress_path, config_path)


def _generate(settings, task, prompts, seeds, knobs, target, progress_path, config_path) -> None:
    from tqdm import tqdm

    from autoact.io import JsonlLog, read_records, write_json_atomic
    from autoact.llm import make_llm

    existing: list[dict] = []
    if not settings.overwrite and target.exists() and not progress_path.exists():
        existing = read_records(target, required=["Question", "Answer"], list_only=True)
        task.load_file(target)
        if len(existing) >= knobs.total:
            print(f"{target} already holds {len(existing)} pairs (>= {knobs.total}); nothing to do.")
            return

    # an existing progress log is read and checked first; with --overwrite it is replaced, but
    # only once the server has answered
    progress = JsonlLog(progress_path, key="round", schema=PROGRESS_SCHEMA) if not settings.overwrite else None
    llm = None
    try:
        llm = make_llm(settings, settings.model_name)
        if progress is None:
            progress_path.unlink(missing_ok=True)
            progress = JsonlLog(progress_path, key="round", schema=PROGRESS_SCHEMA)
        gen = SelfInstruct(task, seeds, llm, knobs, prompts)
        if existing:
            progress.append({"round": -1, "items": existing, "rejected": {}, "temperature": None,
                             "reply": f"(pairs already in {target})", "seconds": 0})
        for rec in sorted(progress.records(), key=lambda r: r["round"]):
            gen.replay(rec["round"], rec.get("items") or [], rec.get("rejected") or {}, rec.get("reply", ""))
        resumed = len(gen.state.items)
        if resumed:
            print(f"resuming: {resumed} pairs from {progress_path}")
        t0 = time.monotonic()
        bar = tqdm(total=knobs.total, initial=min(resumed, knobs.total), unit="pair",
                   desc=f"self-instruct {task.name}", dynamic_ncols=True)

        def on_round(g: SelfInstruct, r: int) -> None:
            bar.update(min(len(g.state.items), knobs.total) - bar.n)
            bar.set_postfix(round=r, rejected=sum(g.state.rejected.values()))

        try:
            items = gen.run(progress, on_round)[:knobs.total]
        finally:
            bar.close()
            # once per run, whatever ended it: the pairs so far (the progress log holds them too)
            if gen.state.items or target.exists():
                write_json_atomic(target, gen.state.items[:knobs.total], indent=4)
        items = gen.state.items[:knobs.total]
        st = gen.state
        summary = {"generated": len(items), "rounds": st.rounds, "rejected": dict(st.rejected),
                   "usage": llm.usage.as_dict(), "seconds": round(time.monotonic() - t0, 1)}
        config = public(settings)
        write_json_atomic(config_path, {"args": config, "task": task.name, "llm": llm.describe(),
                                        "decoding": llm.decoding.summary(),
                                        "prompts": prompts.describe(), "summary": summary})
        print(f"generated {len(items)} {task.name} pairs in {st.rounds} rounds -> {target}")
        print("rejected: " + (", ".join(f"{k} {v}" for k, v in sorted(st.rejected.items())) or "none"))
        u = summary["usage"]
        print(f"tokens: {u['prompt_tokens']} prompt + {u['completion_tokens']} completion "
              f"in {u['requests']} requests ({summary['seconds']} s)")
    finally:
        if progress is not None:
            progress.close()
        if llm is not None:
            llm.close()

