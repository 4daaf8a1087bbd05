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

    def hub_record(self, row, where) -> dict:
        """A row of the Hub's ``hotpotqa/hotpot_qa`` (or the original JSON, ``_id`` and lists of
        pairs) -> the shipped files' record: ``id, question, answer, type, level,
        supporting_facts [[title, sent_id]], context [[title, [sentence, ...]]]``."""
        from autoact.tasks.hub import as_pairs, text_field
        rec: dict = {}
        ex_id = row.get("id", row.get("_id"))
        if ex_id is not None and str(ex_id).strip():
            rec["id"] = str(ex_id)
        rec["question"] = text_field(row, "question", where)
        answer = row.get("answer")       # a spec task's dataset may hold numbers
        rec["answer"] = str(answer) if isinstance(answer, (int, float)) and not isinstance(answer, bool) else \
            text_field(row, "answer", where, why_empty=" (a split without gold answers cannot be scored)")
        for key in ("type", "level"):
            if row.get(key) is not None and row[key] != "":
                rec[key] = row[key]
        if row.get("supporting_facts") is not None:
            rec["supporting_facts"] = as_pairs(row["supporting_facts"], ("title", "sent_id"), where,
                                               "supporting_facts")
        if row.get("context") is not None:
            rec["context"] = as_pairs(row["context"], ("title", "sentences"), where, "context")
        return rec

    def score(self, prediction, example) -> Score:
        pred = prediction or ""
        return Score(exact_match(pred, example.answer), f1(pred, example.answer))
