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

import hashlib
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

#: word problems by operation; {a} and {b} are the numbers in the order they appear
_TEMPLATES = {
    "+": [
        "A gardener plants {a} tulips and {b} roses. How many flowers does the gardener plant in all?",
        "A school has {a} girls and {b} boys. How many children are at the school in total?",
        "Tom collects {a} stamps and then gets {b} more. How many stamps does Tom have now?",
        "A shelf holds {a} books and another shelf holds {b} books. How many books are on both shelves?",
        "A zoo had {a} visitors on Saturday and {b} visitors on Sunday. How many visitors came over the weekend?",
        "A farm has {a} hens and buys {b} more hens. How many hens does the farm have now?",
        "A bakery sold {a} loaves before noon and {b} loaves after noon. How many loaves did it sell altogether?",
        "There are {a} red cars and {b} blue cars in a car park. How many cars are there in all?",
    ],
    "-": [
        "A tank holds {a} litres of water and {b} litres leak out. How many litres are left?",
        "A shop had {a} apples and sold {b} of them. How many apples are left?",
        "A bus carries {a} people and {b} people get off at a stop. How many people are still on the bus?",
        "Mia had {a} marbles and gave {b} of them to a friend. How many marbles does Mia have now?",
        "A cinema has {a} seats and {b} of them are taken. How many seats are still free?",
        "A baker made {a} cookies and the children ate {b} of them. How many cookies remain?",
        "A box had {a} nails and a builder used {b} of them. How many nails are still in the box?",
    ],
    "*": [
        "Each crate holds {a} bottles. How many bottles are in {b} crates?",
        "A cyclist rides {a} kilometres every day. How many kilometres does she ride in {b} days?",
        "A ticket costs {a} coins. How much do {b} tickets cost?",
        "Each shelf holds {a} jars. How many jars fit on {b} shelves?",
        "A machine makes {a} buttons every hour. How many buttons does it make in {b} hours?",
        "There are {a} pages in each notebook. How many pages are in {b} notebooks?",
        "A farmer plants {a} trees in each row. How many trees are in {b} rows?",
    ],
    "/": [
        "{a} stickers are shared equally among {b} children. How many stickers does each child get?",
        "{a} apples are packed equally into {b} bags. How many apples are in each bag?",
        "A rope of {a} metres is cut into {b} equal pieces. How long is each piece?",
        "{a} players are split equally into {b} teams. How many players are in each team?",
        "A class of {a} pupils sits at {b} tables with the same number at each. How many pupils sit at each table?",
    ],
}
_OP_WORDS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}
_OP_NOUNS = {"+": "an addition", "-": "a subtraction", "*": "a multiplication", "/": "a division"}
#: how the teacher reads the operation off a question, tried in this order (default: +)
_KEYS = [
    ("/", ("equally", "equal pieces", "same number")),
    ("*", ("each crate", "every day", "costs", "each shelf", "every hour", "each notebook", "each row")),
    ("+", ("in all", "in total", "more", "both", "weekend", "altogether")),
    ("-", ("left", "get off", "gave", "taken", "ate", "used", "sold")),
]


def _arithmetic_pairs(rng: random.Random, n: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(n):
        op = rng.choice("+-*/")
        tpl = rng.choice(_TEMPLATES[op])
        if op == "+":
            a, b = rng.randint(10, 300), rng.randint(2, 300)
        elif op == "-":
            a = rng.randint(30, 400)
            b = rng.randint(2, a - 1)
        elif op == "*":
            a, b = rng.randint(3, 99), rng.randint(2, 9)
        else:
            b, q = rng.randint(2, 9), rng.randint(2, 40)
            a = b * q
        ans = {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]
        out.append((tpl.format(a=a, b=b), str(ans)))
    return out


def _arithmetic_expression(question: str) -> str | None:
    nums = [int(x) for x in re.findall(r"\d+", question)]
    if len(nums) < 2:
        return None
    a, b = nums[0], nums[1]
    q = question.lower()
    for op, keys in _KEYS:
        if any(k in q for k in keys):
            return f"{a}{op}{b}"
    return f"{a}+{b}"


def _is_word_problem(question: str) -> bool:
    """A question the teacher takes for arithmetic even when the instruction does not list
    Calculator (the learning preset's one-sentence instruction names no tool): two numbers or
    more, nothing quoted, and it asks for a quantity."""
    return ('"' not in question and _arithmetic_expression(question) is not None
            and re.search(r"\bhow (many|much|long)\b", question, re.I) is not None)


# --------------------------------------------------------------------------------- facts (WikiFacts)

_FACT_KEYWORD = {"founded": "founded", "people": "people", "river": "river"}
_FACT_WHAT = {"founded": "when it was founded", "people": "how many people live there",
              "river": "which river flows through it", "region": "its region"}
_FACT_VALUE = {"founded": r"founded in (\d+)", "people": r"About (\d+) people",
               "river": r"river (\w+) flows", "region": r"in the (\w+) region"}
_WRONG_KEYWORD = {"founded": "year", "people": "population", "river": "water"}


@lru_cache(maxsize=1)
def _town_names() -> frozenset[str]:
    from autoact.testing.world import towns
    return frozenset(t.name for t in towns())


def _facts_pairs(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """Questions about the towns, never about a town's held-out fact."""
    from autoact.testing.world import FACTS, answer, question, towns
    pool = [(t, f) for t in towns() for f in FACTS if f != t.held_out]
    return [(question(t, f, rng.randrange(8)), answer(t, f)) for t, f in
            (rng.choice(pool) for _ in range(n))]


def _fact_of(question: str) -> str:
    q = question.lower()
    if "year" in q or "founded" in q:
        return "founded"
    if "people" in q or "population" in q:
        return "people"
    if "river" in q:
        return "river"
    return "region"


def _pick(options: list[str], *key) -> str:
    """One of ``options``, chosen by a hash of ``key`` (the same choice for the same key)."""
    return options[int(hashlib.sha1(repr(key).encode()).hexdigest(), 16) % len(options)]


def _facts_step(kind: str, n: int, question: str, steps) -> str:
    """The next Thought or Action of a WikiFacts trajectory. As in Arithmetic, the thoughts say
    what to do (open the town's article, look up a word, answer), never the town or the value:
    the actions copy those from the question and the observations."""
    name = next((w for w in re.findall(r"[A-Z][a-z]+", question) if w in _town_names()), "")
    fact = _fact_of(question)
    style = _pick(["direct"] * 6 + ["search"] * 3 + ["stray"] * 2 + ["slip"] * 2, question)
    done = [a.split("[")[0] for _, a, _ in steps]
    text = " ".join(o for _, _, o in steps)
    found = re.search(_FACT_VALUE[fact], text)
    value = found.group(1) if found else ""
    keyword = _FACT_KEYWORD.get(fact, "")

    def say(thought: str, action: str) -> str:
        return thought if kind == "Thought" else action

    if steps and steps[-1][2] == "Please reflect your answer.":
        answered = steps[-1][1][len("Finish["):-1]
        if answered == value:
            return say(_pick(["The answer matches the article, so it is right.",
                              "The article states it directly, so the answer is right.",
                              "The page says what I answered.",
                              "I read this in the article, so the answer is right."], question, n),
                       "Reflect[right]")
        return say(_pick(["My answer is not the fact the question asks for, so it may be wrong.",
                          f"The question asks {_FACT_WHAT[fact]}, and I answered something else. It may be wrong.",
                          "I answered the wrong thing; the answer may be wrong."], question, n),
                   "Reflect[wrong]")
    if not steps and style == "search":
        return say(_pick(["I will search for the town first.", "Let me search for the town in the question.",
                          "A search for the town should find its article."], question),
                   f"BingSearch[{name}]")
    if "Retrieve" not in done:
        if done and done[-1] == "BingSearch":
            return say(_pick(["The search found the town's article. I will open it.",
                              "The first result is about the town; let me retrieve it.",
                              "I will open the article the search found."], question),
                       f"Retrieve[{name}]")
        return say(_pick(["I should open the article about the town in the question.",
                          "Let me retrieve the page of the town.",
                          "The question is about a town, so I will look it up.",
                          "First I need the article on this town."], question), f"Retrieve[{name}]")
    if value and (fact == "region" or (done and done[-1] == "Lookup") or "Reflect" in done):
        if style == "slip" and "Reflect" not in done:        # a slip the reflection will catch
            return say(_pick(["So the answer is the town itself.", "I think the answer is the town's name."],
                             question), f"Finish[{name}]")
        return say(_pick(["So the answer is on the page.", "The article says it.",
                          "The observation answers the question.", "That answers the question."],
                         question, n), f"Finish[{value}]")
    if style == "stray" and "Lookup" not in done and fact in _WRONG_KEYWORD:
        wrong = _WRONG_KEYWORD[fact]
        return say(_pick([f"The first paragraph does not say {_FACT_WHAT[fact]}. I will look for {wrong}.",
                          f"Let me find {wrong} on the page."], question), f"Lookup[{wrong}]")
    return say(_pick([f"The first paragraph does not say {_FACT_WHAT[fact]}. I will look up {keyword}.",
                      f"I need {_FACT_WHAT[fact]}, so I will search the page for {keyword}.",
                      f"Let me find {keyword} on the page.", "I will look further down the page."],
                     question, n), f"Lookup[{keyword}]")


# --------------------------------------------------------------------------------- the replies

def _self_instruct(req: Request) -> str:
    text = req.messages[-1]["content"] if req.messages else req.prompt
    n = int(m.group(1)) if (m := re.search(r"write (\d+) new", text)) else 5
    rng = random.Random(req.params.seed if req.params.seed is not None else 0)
    if "Task Name: Arithmetic" in req.prompt:
        pairs = _arithmetic_pairs(rng, n)
    elif "Task Name: WikiFacts" in req.prompt:
        pairs = _facts_pairs(rng, n)
    else:
        docs = _documents()
        pairs = [(f'Which Wikipedia article contains the sentence "{_quote(s[1])}"?', title)
                 for title, s in rng.sample(docs, min(n, len(docs)))]
    return "\n\n".join(f"Question: {q}\nAnswer: {a}" for q, a in pairs)


def _tool_selection(req: Request) -> str:
    if "Task Name: Arithmetic" in req.prompt:
        return "1. Calculator: the answers need exact arithmetic."
    if "Task Name: WikiFacts" in req.prompt:
        return ("1. Retrieve: to open a town's article.\n2. Lookup: to find a fact on the page.\n"
                "3. BingSearch: to find the article.")
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
    if "Calculator[" in prompt.split("\nQuestion: ")[0] or _is_word_problem(question):
        return " " + _arithmetic_step(kind, n, question, steps)
    if any(w in _town_names() for w in re.findall(r"[A-Z][a-z]+", question)):
        return " " + _facts_step(kind, n, question, steps)
    return " " + _corpus_step(kind, n, question, steps, thought)


_INVERSE = {"+": "-", "-": "+", "*": "/", "/": "*"}


def _arithmetic_step(kind: str, n: int, question: str, steps) -> str:
    """The next Thought or Action of an Arithmetic trajectory. The thoughts may name the
    operation, never the numbers: the numbers go straight from the question into
    ``Calculator[...]`` and from the observation into ``Finish[...]`` (a small base copies a value
    into an action it can see nearby, but a number it wrote into a thought, wrong, is copied on
    into the action)."""
    from autoact.tools.calculator import calculate
    expr = _arithmetic_expression(question) or "0+0"
    op = next(c for c in expr if c in "+-*/")
    a, b = expr.split(op)
    right = calculate(expr)
    style = _pick(["plain"] * 7 + ["check"] * 2 + ["spaced"] * 2 + ["slip"] * 2, question)
    calcs = [o for _, act, o in steps if act.startswith("Calculator[")]

    def say(thought: str, action: str) -> str:
        return thought if kind == "Thought" else action

    if steps and steps[-1][2] == "Please reflect your answer.":
        answered = steps[-1][1][len("Finish["):-1]
        if answered == right:
            return say(_pick(["The calculation matches the question, so the answer is right.",
                              "I used the numbers in the question, so the answer is right.",
                              "I used the right operation, so the answer is right."], question, n),
                       "Reflect[right]")
        return say(_pick([f"I should not have used that operation; the question asks me to {_OP_WORDS[op]}.",
                          "I think I used the wrong operation, so the answer may be wrong."], question, n),
                   "Reflect[wrong]")
    reflected = any(act == "Reflect[wrong]" for _, act, _ in steps)
    if not calcs or (reflected and steps[-1][1] == "Reflect[wrong]"):
        if style == "slip" and not calcs:
            wrong = {"+": "-", "-": "+", "*": "+", "/": "-"}[op]
            return say(_pick(["I need to combine the two numbers.", "Let me work it out with the calculator."],
                             question), f"Calculator[{a}{wrong}{b}]")
        shown = f"{a} {op} {b}" if style == "spaced" else expr
        word, noun = _OP_WORDS[op], _OP_NOUNS[op]
        return say(_pick([f"I need to {word} the two numbers in the question.",
                          f"I should {word} the two numbers.", f"This is {noun}, so I will use the calculator.",
                          f"Let me {word} them with the calculator.", "The calculator can work this out."],
                         question, n), f"Calculator[{shown}]")
    if style == "check" and len(calcs) == 1 and not reflected:
        return say(_pick(["Let me check the result the other way.", "I will check the result."], question),
                   f"Calculator[{calcs[0]}{_INVERSE[op]}{b}]")
    result = calcs[-1] if reflected else calcs[0]
    return say(_pick(["The calculator has given the answer.", "So the answer is the calculator's result.",
                      "That is the answer.", "The result answers the question."], question, n),
               f"Finish[{result}]")


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
