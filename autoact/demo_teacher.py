"""THE DEMO TEACHER: a scripted stand-in for the Meta-Agent, for the offline smoke pipeline only.

It is not a language model and learns nothing. With no GPU, no network and no weights, the smoke
pipeline (``python -m autoact.pipeline --preset smoke``) still needs someone to write questions,
pick tools and solve the questions in the first three stages; this teacher does it with fixed
rules, so that every later stage (filtering, LoRA training of the three agents, group planning,
the report) runs for real on real data structures.

* corpus tasks (HotpotQA): it quotes a sentence of an offline-corpus paragraph and asks which
  article contains it (the article's title is the answer it wrote). To solve one it really calls
  the tools: ``BingSearch`` the quote, ``Retrieve`` the top result's title, ``Lookup`` a word of
  the quote, ``Finish`` with that title, and ``Reflect[right]`` if the Lookup found the quote on
  the page, else ``Reflect[wrong]`` and it tries the second search result. Whether it is right
  depends on what the search returned, so its trajectories are a mix of right and wrong ones.
* arithmetic tasks (a spec task whose tools include Calculator): it writes word problems from
  templates and solves them with ``Calculator``.

Each reply is a function of the request only (prompt and seed), so runs are reproducible.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

from autoact.llm.scripted import Request

LABEL = "demo teacher (scripted, not a model)"


@lru_cache(maxsize=1)
def _documents() -> list[tuple[str, list[str]]]:
    """Corpus paragraphs good for questions: short titles (answers under 20 characters) and at
    least two sentences, from the shipped HotpotQA contexts (the default offline corpus)."""
    from autoact.tools.corpus import hotpotqa_documents, hotpotqa_files, split_sentences
    seen, out = set(), []
    for title, text in hotpotqa_documents(hotpotqa_files()):
        sents = split_sentences(text)
        if len(title) < 20 and len(sents) >= 2 and title not in seen and len(sents[1].split()) >= 8:
            seen.add(title)
            out.append((title, sents))
    return out


def _quote(sentence: str) -> str:
    return " ".join(sentence.split()[:12]).rstrip(".,;:")


# --------------------------------------------------------------------------------- arithmetic

_TEMPLATES = [
    ("A gardener plants {a} tulips and {b} roses. How many flowers does the gardener plant in all?", "+"),
    ("A tank holds {a} litres of water and {b} litres leak out. How many litres are left?", "-"),
    ("Each crate holds {a} bottles. How many bottles are in {b} crates?", "*"),
    ("A cyclist rides {a} kilometres every day. How many kilometres does she ride in {b} days?", "*"),
    ("{p} stickers are shared equally among {b} children. How many stickers does each child get?", "/"),
]


def _arithmetic_pairs(rng: random.Random, n: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(n):
        tpl, op = rng.choice(_TEMPLATES)
        a, b = rng.randint(12, 95), rng.randint(2, 11)
        if op == "-":
            a += 20
        q = tpl.format(a=a, b=b, p=a * b)
        ans = {"+": a + b, "-": a - b, "*": a * b, "/": a}[op]
        out.append((q, str(ans)))
    return out


def _arithmetic_expression(question: str) -> str | None:
    nums = [int(x) for x in re.findall(r"\d+", question)]
    if len(nums) < 2:
        return None
    a, b = nums[0], nums[1]
    q = question.lower()
    if "shared equally" in q or "split equally" in q or "each child get" in q:
        return f"{a}/{b}"
    if any(w in q for w in ("each crate", "each box", "every day", "every hour", "each trip")):
        return f"{a}*{b}"
    if any(w in q for w in ("leak out", "left", "lent out", "sold", "still")):
        return f"{a}-{b}"
    return f"{a}+{b}"


# --------------------------------------------------------------------------------- the replies

def _self_instruct(req: Request) -> str:
    text = req.messages[-1]["content"] if req.messages else req.prompt
    n = int(m.group(1)) if (m := re.search(r"write (\d+) new", text)) else 5
    rng = random.Random(req.params.seed if req.params.seed is not None else 0)
    if "Task Name: Arithmetic" in req.prompt:
        pairs = _arithmetic_pairs(rng, n)
    else:
        docs = _documents()
        pairs = [(f'Which Wikipedia article contains the sentence "{_quote(s[1])}"?', title)
                 for title, s in rng.sample(docs, min(n, len(docs)))]
    return "\n\n".join(f"Question: {q}\nAnswer: {a}" for q, a in pairs)


def _tool_selection(req: Request) -> str:
    if "Task Name: Arithmetic" in req.prompt:
        return "1. Calculator: the answers need exact arithmetic."
    return ("1. BingSearch: to search for the quoted text.\n2. Retrieve: to open the article.\n"
            "3. Lookup: to find the sentence on the page.")


def _steps(prompt: str) -> list[tuple[str, str, str]]:
    return re.findall(r"\nThought \d+: (.*)\nAction \d+: (.*)\nObservation \d+: (.*)", prompt)


@lru_cache(maxsize=1)
def _titles() -> frozenset[str]:
    from autoact.tools.corpus import hotpotqa_documents, hotpotqa_files
    return frozenset(" ".join(t.split()) for t, _ in hotpotqa_documents(hotpotqa_files()))


def _results(observation: str) -> list[str]:
    """Titles of the "Title: text" snippets of a BingSearch observation on the offline corpus
    (snippets follow one another, so known titles followed by ": " mark where each starts)."""
    found = []
    head = observation.split(": ", 1)[0]
    if head in _titles():
        found.append((0, head))
    for title in _titles():
        at = observation.find(f" {title}: ")
        if at > 0:
            found.append((at, title))
    return [t for _, t in sorted(found)]


def _solve(req: Request) -> str:
    prompt = req.prompt
    m = re.search(r"(Thought|Action) (\d+):$", prompt)
    if not m:
        return "I am not sure."
    kind, n = m.group(1), int(m.group(2))
    question = prompt[prompt.rfind("\nQuestion: ") + 11:].split("\n", 1)[0]
    steps = _steps(prompt)
    thought = prompt.rsplit("\n", 2)[-2][len(f"Thought {n}: "):] if kind == "Action" else ""
    if "Calculator[" in prompt.split("\nQuestion: ")[0]:
        return " " + _arithmetic_step(kind, n, question, steps, thought)
    return " " + _corpus_step(kind, n, question, steps, thought)


def _arithmetic_step(kind: str, n: int, question: str, steps, thought: str) -> str:
    expr = _arithmetic_expression(question) or "0"
    last_obs = steps[-1][2] if steps else ""
    plan = {1: (f"I need to compute {expr}.", f"Calculator[{expr}]"),
            2: (f"The calculator says {last_obs}, which answers the question.", f"Finish[{last_obs}]"),
            3: ("The calculation matches the question, so the answer is right.", "Reflect[right]")}
    t, a = plan.get(n, ("I am done.", f"Finish[{last_obs}]"))
    return t if kind == "Thought" else a


def _corpus_step(kind: str, n: int, question: str, steps, thought: str) -> str:
    quote = m.group(1) if (m := re.search(r'"(.+)"', question)) else question
    keyword = " ".join(quote.split()[:4])          # Lookup the quote's opening words
    search = next((s[2] for s in steps if s[1].startswith("BingSearch[")), "")
    titles = _results(search)
    reflected_wrong = any(s[1] == "Reflect[wrong]" for s in steps)
    title = (titles[1] if reflected_wrong and len(titles) > 1 else titles[0]) if titles else quote
    if steps and steps[-1][2] == "Please reflect your answer.":
        lookup = next((s[2] for s in reversed(steps) if s[1].startswith("Lookup[")), "")
        found = keyword.lower() in lookup.lower()
        if kind == "Thought":
            return ("The page contains the quoted sentence, so the answer is right." if found else
                    "The page does not contain the quoted sentence; the answer may be wrong.")
        return "Reflect[right]" if found else "Reflect[wrong]"
    done = [s[1].split("[")[0] for s in steps]
    if "BingSearch" not in done:
        plan = ("I should search for the quoted sentence to find its article.", f"BingSearch[{quote}]")
    elif done[-1] in ("BingSearch", "Reflect"):
        plan = (f"The article {title} looks right. I will retrieve it.", f"Retrieve[{title}]")
    elif done[-1] == "Retrieve":
        plan = ("I should check that the sentence is on this page.", f"Lookup[{keyword}]")
    else:
        plan = (f"The sentence is in the article {title}.", f"Finish[{title}]")
    return plan[0] if kind == "Thought" else plan[1]


def demo_teacher(req: Request) -> str:
    """The reply policy (a :data:`~autoact.llm.scripted.ReplyFn`)."""
    if req.messages is not None:
        system = req.messages[0].get("content", "") if req.messages else ""
        if "question-answer pair generator" in system:
            return _self_instruct(req)
        if "To complete a complex benchmark" in system:
            return _tool_selection(req)
    return _solve(req)
