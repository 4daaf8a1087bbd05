"""ScienceQA: multimodal multiple-choice science questions, scored by option matching.

The agent's answer may name the option by letter (``B``, ``(B)``, ``B. Dover``) or by text
(``Dover``, ``The answer is Dover.``, a near-miss such as ``Dovr``). :func:`match_option`
maps it to one option or to ``None``. Unlike the reference's matcher, which falls back to the
first option when nothing is similar (so garbage answers scored as "A"), an answer that matches
no option well enough is simply wrong.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from autoact.io import record_error, stable_id
from autoact.tasks.base import Example, Score, Task

LETTERS = "ABCDEFGHIJ"
_LETTER_PREFIX = re.compile(r"^\(?([A-J])\)?(?:[.):]\s*|\s+|$)(.*)$", re.S)
_LONE_LETTER = re.compile(r"\(?([A-Ja-j])\)?\.?")
_WORDS = re.compile(r"[a-z0-9]+(?:['.][a-z0-9]+)*")

#: a text answer must be at least this similar to an option to count as naming it
MIN_SIMILARITY = 0.75


def _norm(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower()))


def _similarity(a: str, b: str) -> float:
    """Best of character similarity and word overlap, both in [0, 1]."""
    if not a or not b:
        return 0.0
    char = difflib.SequenceMatcher(None, a, b).ratio()
    wa, wb = a.split(), b.split()
    overlap = len(set(wa) & set(wb)) / max(len(wa), len(wb))
    return max(char, overlap)


def _contains(haystack: str, needle: str) -> bool:
    return bool(needle) and re.search(rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])", haystack) is not None


def _exact_index(text: str, choices: list[str]) -> int | None:
    """The option equal to ``text``: verbatim first (case and commas can be the point of a
    question: "dear Reggie," vs "Dear Reggie,"), then after normalisation; ambiguity -> None."""
    raw = text.strip()
    verbatim = [i for i, c in enumerate(choices) if c.strip() == raw]
    if len(verbatim) == 1:
        return verbatim[0]
    t = _norm(text)
    same = [i for i, c in enumerate(choices) if _norm(c) == t]
    return same[0] if len(same) == 1 else None


def _match_text(text: str, choices: list[str]) -> int | None:
    exact = _exact_index(text, choices)
    if exact is not None:
        return exact
    t = _norm(text)
    if not t:
        return None
    normed = [_norm(c) for c in choices]
    if normed.count(t) > 1:
        return None
    contained = [i for i, c in enumerate(normed) if _contains(t, c)]
    if contained:
        longest = max(contained, key=lambda i: len(normed[i]))
        # "salt water" contains "salt": the longest wins if it covers the others
        if normed.count(normed[longest]) == 1 and all(
                _contains(normed[longest], normed[i]) for i in contained):
            return longest
        return None
    scores = [_similarity(t, c) for c in normed]
    best = max(range(len(choices)), key=lambda i: scores[i])
    if scores[best] < MIN_SIMILARITY or scores.count(scores[best]) > 1:
        return None
    return best


def match_option(prediction: str | None, choices: list[str]) -> int | None:
    """Index of the option ``prediction`` names, or ``None``."""
    if prediction is None or not choices:
        return None
    # the option text itself (even "A dog", or markup that is part of an option)
    exact = _exact_index(prediction, choices)
    if exact is not None:
        return exact
    pred = prediction.strip().strip("\"'`*").strip()
    if not pred:
        return None
    exact = _exact_index(pred, choices)
    if exact is not None:
        return exact
    alone = _LONE_LETTER.fullmatch(pred)         # "b", "(b)", "B."
    if alone:
        idx = LETTERS.index(alone.group(1).upper())
        return idx if idx < len(choices) else None
    m = _LETTER_PREFIX.match(pred)
    if m and LETTERS.index(m.group(1)) < len(choices):
        idx = LETTERS.index(m.group(1))
        rest = m.group(2).strip()
        by_text = _match_text(rest, choices) if rest else None
        # "A dog" with options (cat, dog): text naming another option exactly beats the letter
        if by_text is not None and by_text != idx and _exact_index(rest, choices) == by_text:
            return by_text
        return idx
    return _match_text(pred, choices)


def parse_options(question: str) -> list[str]:
    """The option texts of ``...Options: (A) x (B) y``; letters must run A, B, C, ..."""
    at = question.rfind("Options:")
    if at == -1:
        return []
    text = question[at + len("Options:"):]
    starts = []
    pos = 0
    for letter in LETTERS:
        m = re.compile(rf"\({letter}\)").search(text, pos)
        if not m:
            break
        starts.append((m.start(), m.end()))
        pos = m.end()
    opts = []
    for i, (_, end) in enumerate(starts):
        stop = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        opts.append(text[end:stop].strip())
    return opts


def format_options(choices: list[str]) -> str:
    return "Options: " + " ".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))


class ScienceQA(Task):
    """ScienceQA's records (question, options, caption and OCR text; the reference's file names)
    and metric (the option chosen). The task's name, description, levels, tools and data paths
    are its spec file, ``specs/scienceqa.yaml``."""
    name = "ScienceQA"
    answer_type = "choice"
    multimodal = True
    level_files = ("format_scienceqa_{level}.json", "{level}.json", "{level}.jsonl")
    #: the reference named its output files 1-4.jsonl, 5-8.jsonl, 9-12.jsonl
    level_aliases = {"1-4": "grade1-4", "5-8": "grade5-8", "9-12": "grade9-12"}

    def level_of(self, path: Path) -> str:
        return path.stem.removeprefix("format_scienceqa_")

    answer_hint = 'a letter or "B. text"'

    def make_example(self, rec, question, answer, path, line, level) -> Example:
        # the reference's self-instruct output keeps the options, OCR and caption apart:
        # {"Question", "Options": "(A) x (B) y", "Ocr", "Caption", "Answer"}
        if "Options:" not in question and isinstance(rec.get("Options"), str) and rec["Options"].strip():
            question = f"{question}\nOptions: {rec['Options'].strip()}"
        if "caption" not in rec and isinstance(rec.get("Caption"), str):
            rec = {**rec, "caption": rec["Caption"]}
        if "orc" not in rec and isinstance(rec.get("Ocr"), str):
            rec = {**rec, "orc": rec["Ocr"]}
        choices = rec.get("choices") or parse_options(question)
        if not isinstance(choices, list) or len(choices) < 2:
            raise record_error(path, line, 'expected "choices" or an "Options: (A) ... (B) ..." '
                                           'line in "Question"')
        choices = [str(c) for c in choices]
        gold = gold_index(answer, choices)
        if gold is None:
            raise record_error(path, line, f'"Answer" {answer!r} names none of the '
                                           f'{len(choices)} options')
        if "Options:" not in question:
            question = f"{question}\n{format_options(choices)}"
        meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else None
        fields = {"choices": choices, "answer_index": gold,
                  "caption": str(rec.get("caption") or ""), "orc": str(rec.get("orc") or "")}
        if meta is not None:
            fields["metadata"] = meta
            if meta.get("grade") is not None:
                fields["grade"] = meta["grade"]
        ex_id = str(rec.get("pid") or rec.get("id") or stable_id(question))
        return Example(ex_id, question, f"{LETTERS[gold]}. {choices[gold]}", level, fields)

    def score(self, prediction, example) -> Score:
        idx = match_option(prediction, example.fields["choices"])
        ok = idx is not None and idx == example.fields["answer_index"]
        return Score(ok, 1.0 if ok else 0.0)


def gold_index(answer: str, choices: list[str]) -> int | None:
    """The option a gold ``Answer`` names: ``B``, ``(B)``, ``B. Dover`` or the option text."""
    a = answer.strip()
    m = _LETTER_PREFIX.match(a)
    if m and LETTERS.index(m.group(1)) < len(choices):
        return LETTERS.index(m.group(1))
    return _match_text(a, choices)
