"""HotpotQA: multi-hop questions; exact match and token F1 as the official evaluation script
(hotpot_evaluate_v1.py) defines them."""

from __future__ import annotations

import re
import string
from collections import Counter

from autoact.io import stable_id
from autoact.tasks.base import Example, Score, Task

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower case, drop punctuation, drop articles (a/an/the), collapse whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


def f1_precision_recall(prediction: str, gold: str) -> tuple[float, float, float]:
    pred = normalize_answer(prediction)
    ref = normalize_answer(gold)
    special = ("yes", "no", "noanswer")
    if (pred in special or ref in special) and pred != ref:
        return 0.0, 0.0, 0.0
    ptoks, rtoks = pred.split(), ref.split()
    same = sum((Counter(ptoks) & Counter(rtoks)).values())
    if same == 0:
        return 0.0, 0.0, 0.0
    precision = same / len(ptoks)
    recall = same / len(rtoks)
    return 2 * precision * recall / (precision + recall), precision, recall


def f1(prediction: str, gold: str) -> float:
    return f1_precision_recall(prediction, gold)[0]


class HotpotQA(Task):
    """HotpotQA's records and metric (exact match and token F1). The task's name, description,
    levels, tools and data paths are its spec file, ``specs/hotpotqa.yaml``."""
    name = "HotpotQA"

    def make_example(self, rec, question, answer, path, line, level) -> Example:
        fields = {k: v for k, v in rec.items()
                  if k not in ("id", "_id", "question", "Question", "answer", "Answer", "level")}
        ex_id = str(rec.get("id") or rec.get("_id") or stable_id(question))
        return Example(ex_id, question, answer, rec.get("level") or level, fields)

    def score(self, prediction, example) -> Score:
        pred = prediction or ""
        return Score(exact_match(pred, example.answer), f1(pred, example.answer))
