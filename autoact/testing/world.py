"""A small fictional encyclopedia for the offline demo: towns with a few facts each.

The spec task ``autoact/tasks/specs/wikifacts.yaml`` (HotpotQA-shaped, with its own corpus) asks about these
towns: the year a town was founded, how many people live there, its river, its region. The
answers are in the towns' articles, which the agents reach with BingSearch, Retrieve and Lookup
on an offline corpus built from :func:`articles`. For each town one fact is kept for evaluation:
the demo teacher never writes a question about it, so every evaluation question asks for a town
and fact no training trajectory read. The world is small on purpose (10 towns, a few values per
fact): its names and values form a closed vocabulary, the easiest setting for a small model.

An article's opening paragraph names the town, its kind and region; its second paragraph
(after a blank line, so Retrieve does not show it) holds the founding year, the population and
the river: reading those needs Lookup.

Everything is generated from a seed: the same towns on every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

SEED = 20240
TOWNS = 10
#: the values the facts take (few, so a CPU-sized model can learn to read them off a page)
YEARS = (1120, 1245, 1380, 1465, 1590, 1710)
PEOPLE = (150, 240, 380, 460, 520, 670)
RIVERS_N = 6

_ONSETS = ["b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr",
           "gr", "kr", "tr", "st", "sk"]
_VOWELS = ["a", "e", "i", "o", "u", "au", "ei"]
_CODAS = ["", "n", "r", "l", "s", "th", "m", "k"]
KINDS = ["town", "village"]
REGIONS = ["north", "south", "east", "west"]
FACTS = ("founded", "people", "river", "region")


@dataclass(frozen=True)
class Town:
    name: str
    kind: str
    region: str
    founded: int
    people: int
    river: str
    held_out: str          # the fact about this town that evaluation asks and the teacher never does

    def article(self) -> str:
        return (f"{self.name} is a {self.kind} in the {self.region} region.\n\n"
                f"{self.name} was founded in {self.founded}. "
                f"About {self.people} people live in {self.name}. "
                f"The river {self.river} flows through {self.name}.")


def _word(rng: random.Random, syllables: int) -> str:
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)]
    return ("".join(parts) + rng.choice(_CODAS)).capitalize()


@lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    rng = random.Random(SEED)
    seen: set[str] = set()
    names: list[str] = []
    while len(names) < TOWNS + RIVERS_N:         # town names, then river names
        w = _word(rng, 2)
        if w.lower() not in seen and 4 <= len(w) <= 8:
            seen.add(w.lower())
            names.append(w)
    return tuple(names)


def rivers() -> tuple[str, ...]:
    return _names()[TOWNS:]


@lru_cache(maxsize=1)
def towns() -> tuple[Town, ...]:
    rng = random.Random(SEED + 7)
    out = []
    for i, name in enumerate(_names()[:TOWNS]):
        out.append(Town(name=name, kind=rng.choice(KINDS), region=rng.choice(REGIONS),
                        founded=rng.choice(YEARS), people=rng.choice(PEOPLE),
                        river=rng.choice(rivers()), held_out=FACTS[i % len(FACTS)]))
    return tuple(out)


def articles() -> list[dict]:
    """The corpus: one ``{"title", "text"}`` per town."""
    return [{"title": t.name, "text": t.article()} for t in towns()]


#: question templates by the fact they ask for (the teacher varies its wording among them)
QUESTIONS = {
    "founded": ["In which year was {name} founded?", "When was the {kind} of {name} founded?",
                "What year was {name} founded in?", "{name} was founded in which year?"],
    "people": ["How many people live in {name}?", "About how many people live in {name}?",
               "What is the population of {name}?", "How many people does {name} have?"],
    "river": ["Which river flows through {name}?", "What river runs through {name}?",
              "Name the river that flows through {name}.", "Through {name} flows which river?"],
    "region": ["In which region is {name}?", "Which region is {name} in?",
               "{name} lies in which region?", "What region is the {kind} of {name} in?"],
}


def answer(town: Town, fact: str) -> str:
    return {"founded": str(town.founded), "people": str(town.people), "river": town.river,
            "region": town.region}[fact]


def question(town: Town, fact: str, template: int) -> str:
    return QUESTIONS[fact][template % len(QUESTIONS[fact])].format(name=town.name, kind=town.kind)


def eval_questions() -> list[dict]:
    """The evaluation set: every wording of the held-out fact of every town (a town and fact
    the teacher never writes a question about)."""
    out = []
    for t in towns():
        for i in range(len(QUESTIONS[t.held_out])):
            out.append({"id": f"{t.held_out}-{t.name.lower()}-{i}", "question": question(t, t.held_out, i),
                        "answer": answer(t, t.held_out)})
    return out


def write_task_files(folder: str) -> None:
    """Write the corpus and the evaluation questions of ``autoact/tasks/specs/wikifacts.yaml`` (they are
    shipped; a test checks they equal what this writes)."""
    import json
    from pathlib import Path
    out = Path(folder)
    (out / "wikifacts_corpus.jsonl").write_text(
        "".join(json.dumps(a) + "\n" for a in articles()), encoding="utf-8")
    (out / "wikifacts_eval.jsonl").write_text(
        "".join(json.dumps(q) + "\n" for q in eval_questions()), encoding="utf-8")


if __name__ == "__main__":
    import sys
    from autoact.tasks.spec import SHIPPED_DIR
    write_task_files(sys.argv[1] if len(sys.argv) > 1 else str(SHIPPED_DIR))
