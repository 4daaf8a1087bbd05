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

from autoact.errors import DataError
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

    def hub_columns(self, levels) -> tuple[str, ...]:
        return ("question", "choices", "answer") + (("grade",) if len(levels) > 1 else ())

    def hub_record(self, row, where) -> dict:
        """A row of the Hub's ScienceQA (``derek-thomas/ScienceQA``: question, choices, answer
        (an index), hint, image, grade "grade3", subject, topic, category, skill, ...) -> the shipped
        files' record: ``Question`` (the question, a ``Context:`` line with the hint when there is
        one, the ``Options:`` line), ``choices``, ``caption``, ``orc``, ``Answer`` (a letter),
        ``metadata`` {has_image, grade, subject, topic, category, skill} and ``pid`` when the
        dataset has one. A question without an image has caption and OCR text "no img", as in
        the shipped files; one with an image takes them from ``caption`` and ``ocr``/``orc``
        fields when the dataset has them, else both say that none is available."""
        from autoact.tasks.hub import CAPTION_UNAVAILABLE, OCR_UNAVAILABLE, text_field
        question = text_field(row, "question", where)
        choices = row.get("choices")
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            raise DataError(f"{where}: field 'choices' must be a list of at least 2 strings")
        answer = row.get("answer")
        if isinstance(answer, int) and not isinstance(answer, bool):
            if not 0 <= answer < min(len(choices), len(LETTERS)):
                raise DataError(f"{where}: field 'answer' is {answer}, not an index of the "
                                f"{len(choices)} choices")
            letter = LETTERS[answer]
        elif isinstance(answer, str) and gold_index(answer, choices) is not None:
            letter = answer.strip()
        else:
            raise DataError(f"{where}: field 'answer' must be the index of a choice, got {answer!r}")
        hint = row.get("hint")
        if hint is not None and not isinstance(hint, str):
            raise DataError(f"{where}: field 'hint' must be a string")
        text = question + (f"\nContext: {hint}" if hint and hint.strip() else "") + "\n" + format_options(choices)
        has_image = row.get("image") is not None
        caption = row.get("caption")
        orc = row.get("orc", row.get("ocr"))
        meta: dict = {"has_image": has_image}
        if row.get("grade") is not None:
            meta["grade"] = grade_number(row["grade"], where)
        for key in ("subject", "topic", "category", "skill"):
            if row.get(key) is not None:
                meta[key] = row[key]
        rec = {"Question": text, "choices": list(choices),
               "caption": str(caption) if caption is not None else (CAPTION_UNAVAILABLE if has_image else "no img"),
               "orc": str(orc) if orc is not None else (OCR_UNAVAILABLE if has_image else "no img"),
               "Answer": letter, "metadata": meta}
        pid = row.get("pid", row.get("id"))
        if pid is not None and str(pid).strip():
            rec["pid"] = str(pid)
        return rec

    def hub_level(self, rec, levels, where) -> str:
        """The level whose grade range (``grade1-4``, ``5-8``) holds the record's grade."""
        grade = rec.get("metadata", {}).get("grade")
        ranges = {lv: m for lv in levels if (m := _GRADE_RANGE.fullmatch(lv))}
        if grade is None or not ranges:
            if len(levels) == 1:
                return levels[0]
            raise DataError(f"{where}: no 'grade' field to find its level among {', '.join(levels)}")
        for lv, m in ranges.items():
            if int(m.group(1)) <= grade <= int(m.group(2)):
                return lv
        raise DataError(f"{where}: field 'grade' is {grade}, in none of the levels {', '.join(levels)}")

    def score(self, prediction, example) -> Score:
        idx = match_option(prediction, example.fields["choices"])
        ok = idx is not None and idx == example.fields["answer_index"]
        return Score(ok, 1.0 if ok else 0.0)


_GRADE_RANGE = re.compile(r"(?:grade)?(\d+)-(\d+)")


def grade_number(value, where: str) -> int:
    """A ScienceQA grade as the shipped files hold it: ``"grade3"`` (the Hub) or ``3`` -> 3."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = re.fullmatch(r"\s*(?:grade\s*)?(\d+)\s*", str(value), re.I)
    if m is None:
        raise DataError(f"{where}: field 'grade' is {value!r}, expected e.g. 'grade3'")
    return int(m.group(1))


def gold_index(answer: str, choices: list[str]) -> int | None:
    """The option a gold ``Answer`` names: ``B``, ``(B)``, ``B. Dover`` or the option text."""
    a = answer.strip()
    m = _LETTER_PREFIX.match(a)
    if m and LETTERS.index(m.group(1)) < len(choices):
        return LETTERS.index(m.group(1))
    return _match_text(a, choices)
