"""The tool library: a plain dict registry from tool name to :class:`~autoact.tools.base.Tool`.

The pool the Meta-Agent chooses from is the reference's ten tools; ``Finish`` and ``Reflect`` are
built into every agent. Names are matched case- and space-insensitively, with the reference's
short names as aliases (``Code`` for ``Code Interpreter``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from autoact.errors import ConfigError, DataError
from autoact.io import iter_records
from autoact.tools.actions import name_key, parse_action
from autoact.tools.base import Environment, Page, SandboxLimits, Tool, ToolContext
from autoact.tools.image import image2text, text2image
from autoact.tools.search import bing_search
from autoact.tools.wiki import lookup, retrieve


def _calculator(arg: str, ctx: ToolContext) -> str:
    from autoact.tools.calculator import calculate
    return calculate(arg)


def _code(arg: str, ctx: ToolContext) -> str:
    from autoact.tools.code_interpreter import run_code
    return run_code(arg, ctx.env.sandbox)


def _database(arg: str, ctx: ToolContext) -> str:
    from autoact.tools.database import query_database
    return query_database(ctx.env.database, arg)


def _table(arg: str, ctx: ToolContext) -> str:
    from autoact.tools.table import verbalize_table
    return verbalize_table(arg)


def _knowledge_graph(arg: str, ctx: ToolContext) -> str:
    from autoact.tools.knowledge_graph import kg_query
    return kg_query(ctx.env.knowledge_graph, arg)


POOL: list[Tool] = [
    Tool("BingSearch",
         "Searches the web by keywords for rich, up-to-date external knowledge, making up for "
         "knowledge the model lacks or has out of date.",
         "BingSearch[query], which searches the web for the exact, detailed query and returns "
         "the most relevant results. Be specific and precise with the query. For example, "
         "BingSearch[popular dog breeds in the United States]",
         bing_search),
    Tool("Retrieve",
         "Retrieves background knowledge from Wikipedia that is crucial for complex problems, "
         "especially in specialised domains such as science and mathematics.",
         "Retrieve[entity], which retrieves the exact entity on Wikipedia and returns the first "
         "paragraph of its page if it exists; if not, it returns similar entities to retrieve "
         "instead. For example, Retrieve[Milhouse]",
         retrieve),
    Tool("Lookup",
         "Finds the next sentence containing a target string in the page found by Retrieve or "
         "the results of BingSearch, like Ctrl+F in a browser; use it after those tools.",
         "Lookup[keyword], which returns the next sentence containing the keyword in the last "
         "page found by Retrieve or BingSearch. For example, Lookup[river]",
         lookup),
    Tool("Image2Text",
         "Turns the question's image into text: a caption of what it shows and the words "
         "detected in it by OCR, for understanding the objects and interactions in a scene.",
         "Image2Text[image], which returns the caption and the OCR text of the question's image, "
         "or says that the question has no image. Use it first when a question involves an "
         "image. For example, Image2Text[image]",
         image2text),
    Tool("Text2Image",
         "Turns a text description into an image, for tasks whose output is visual.",
         "Text2Image[text], which generates an image of the text. For example, Text2Image[blue sky]",
         text2image),
    Tool("KnowledgeGraph",
         "Queries a knowledge graph of (head, relation, tail) facts and returns the matching facts.",
         "KnowledgeGraph[head, relation], which returns the tails of the relation for the head "
         "entity, or all facts about the head when only a head is given. For example, "
         "KnowledgeGraph[China, capital]",
         _knowledge_graph),
    Tool("Database",
         "Runs SQL queries against a database and returns the rows.",
         "Database[query], which runs one read-only SQL query and returns the resulting rows. "
         "For example, Database[SELECT * FROM Customers WHERE Country = 'Mexico']",
         _database),
    Tool("Calculator",
         "Calculates the result of a mathematical expression.",
         "Calculator[expression], which returns the value of the arithmetic expression. For "
         "example, Calculator[2+2]",
         _calculator),
    Tool("Table Verbalizer",
         "Converts a structured table into sentences so that tabular information is easier to "
         "understand.",
         "Table Verbalizer[table], which turns a CSV or Markdown table into one sentence per row. "
         "For example, Table Verbalizer[name,age\\nAlice,30]",
         _table),
    Tool("Code Interpreter",
         "Executes Python code and returns what it prints, for exact computation and data "
         "manipulation.",
         "Code Interpreter[code], which runs the Python code in a sandbox and returns its output. "
         "For example, Code Interpreter[print(sum(range(10)))]",
         _code),
]

BUILTINS: list[Tool] = [
    Tool("Finish", "Returns the final answer and finishes the task.",
         "Finish[answer], which returns the answer and finishes the task."),
    Tool("Reflect", "Judges, after Finish, whether the answer is right.",
         "Reflect[right] or Reflect[wrong], which follows Finish: right ends the task, wrong "
         "lets you solve the question again."),
]

TOOLS: dict[str, Tool] = {t.name: t for t in POOL + BUILTINS}
BUILTIN_NAMES = {t.name for t in BUILTINS}

#: the reference's spellings and short names
ALIASES: dict[str, str] = {"code": "Code Interpreter", "python": "Code Interpreter",
                           "search": "BingSearch", "websearch": "BingSearch",
                           "tableverbaliser": "Table Verbalizer", "kg": "KnowledgeGraph",
                           "imagetotext": "Image2Text", "texttoimage": "Text2Image"}
_BY_KEY = {name_key(n): n for n in TOOLS} | ALIASES

def resolve_tool_name(name: str) -> str | None:
    """The registry name for ``name`` as a model may write it, or ``None``."""
    return _BY_KEY.get(name_key(name))


def get_tool(name: str) -> Tool:
    canonical = resolve_tool_name(name)
    if canonical is None:
        raise ConfigError(f"unknown tool {name!r}; valid tools: {', '.join(TOOLS)}")
    return TOOLS[canonical]


def load_selection(path: str | Path) -> list[Tool]:
    """Read a tool-selection file (``[{"name", "definition", "usage"}]``); unknown names are an
    error naming the file and line. The registry's own definition and run function are used."""
    tools: list[Tool] = []
    for line, rec in iter_records(path, required=["name"]):
        canonical = resolve_tool_name(str(rec["name"]))
        if canonical is None:
            raise DataError(f"{path}:{line}: unknown tool {rec['name']!r}; valid tools: "
                            f"{', '.join(t.name for t in POOL)}")
        if canonical in BUILTIN_NAMES:
            continue
        if canonical not in [t.name for t in tools]:
            tools.append(TOOLS[canonical])
    if not tools:
        raise DataError(f"{path}: selects no tools")
    return tools


def default_selection(task_name: str) -> list[Tool]:
    """The tools a task uses when a stage gets no --tools file: the task's ``default_tools``
    (the reference's shipped selections for HotpotQA and ScienceQA, a spec file's tool hints)."""
    from autoact.tasks import get_task
    task = get_task(task_name)
    if not task.default_tools:
        raise ConfigError(f"task {task.name} has no default tools; pass --tools FILE (written by "
                          f"Self_Planning/Tool_Selection/tool_selected.py)")
    return [get_tool(n) for n in task.default_tools]


# ----------------------------------------------------------------------------- environment

def add_tool_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("tool environment")
    g.add_argument("--wiki", choices=("offline", "live"), default="offline",
                   help="Retrieve/Lookup backend: offline (a local corpus indexed with SQLite "
                        "FTS5; default) or live (Wikipedia via the `wikipedia` package, cached on "
                        "disk so reruns make no network calls)")
    g.add_argument("--corpus_index", default=None,
                   help="offline corpus index (.sqlite) built by Scripts/build_corpus.py "
                        "(default: built on first use from the shipped HotpotQA contexts)")
    g.add_argument("--wiki_cache", default="~/.cache/autoact/wikipedia.sqlite",
                   help="live backend: SQLite cache of pages, searches and web results")
    g.add_argument("--database", default=None, help="SQLite file for the Database tool (read-only)")
    g.add_argument("--knowledge_graph", default=None,
                   help="JSONL of {head, relation, tail} for the KnowledgeGraph tool")
    g.add_argument("--code_timeout", type=float, default=5.0,
                   help="Code Interpreter wall-clock limit in seconds (default 5)")
    g.add_argument("--code_memory_mb", type=int, default=512,
                   help="Code Interpreter memory limit in MiB (default 512)")


def make_environment(args: argparse.Namespace) -> Environment:
    """Build the shared tool environment from :func:`add_tool_args` flags."""
    from autoact.tools.cache import DiskCache
    from autoact.tools.corpus import OfflineCorpus, default_index
    from autoact.tools.search import WebSearch

    corpus = OfflineCorpus(args.corpus_index or default_index())
    if args.wiki == "live":
        from autoact.tools.wiki import LiveWikipedia
        wiki = LiveWikipedia(args.wiki_cache)
        web = WebSearch.from_env(wiki.cache)
    else:
        wiki = corpus
        web = WebSearch.from_env(DiskCache(args.wiki_cache)) if os.environ.get("AUTOACT_SEARCH_URL") else None
    for path, flag in ((args.database, "--database"), (args.knowledge_graph, "--knowledge_graph")):
        if path and not Path(path).is_file():
            raise ConfigError(f"{flag} {path}: no such file")
    return Environment(wiki=wiki, search=web or corpus, database=args.database,
                       knowledge_graph=args.knowledge_graph,
                       sandbox=SandboxLimits(timeout=args.code_timeout, memory_mb=args.code_memory_mb))


__all__ = ["TOOLS", "POOL", "BUILTINS", "ALIASES", "Tool", "ToolContext",
           "Environment", "Page", "SandboxLimits", "get_tool", "resolve_tool_name",
           "load_selection", "default_selection", "add_tool_args",
           "make_environment", "parse_action"]
