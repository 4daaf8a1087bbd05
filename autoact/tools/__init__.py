"""The tool library: a plain dict registry from tool name to :class:`~autoact.tools.base.Tool`.

The pool the Meta-Agent chooses from is the reference's ten tools; ``Finish`` and ``Reflect`` are
built into every agent. Names are matched case- and space-insensitively, with the reference's
short names as aliases (``Code`` for ``Code Interpreter``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from autoact.errors import ConfigError, DataError
from autoact.io import iter_records
from autoact.prompting import Prompts, name_key
from autoact.prompting import resolve as resolve_prompts
from autoact.settings import from_args, option, positive_float, positive_int
from autoact.tools.actions import parse_action
from autoact.tools.base import Environment, Page, RunFn, SandboxLimits, Tool, ToolContext
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


#: the pool's run functions; the texts (definition, usage) live in the prompts file
RUNNERS: dict[str, RunFn] = {
    "BingSearch": bing_search, "Retrieve": retrieve, "Lookup": lookup, "Image2Text": image2text,
    "Text2Image": text2image, "KnowledgeGraph": _knowledge_graph, "Database": _database,
    "Calculator": _calculator, "Table Verbalizer": _table, "Code Interpreter": _code,
}


def pool(prompts: Prompts | None = None) -> list[Tool]:
    """The tool pool with the texts of ``prompts`` (default: the shipped prompts file)."""
    p = resolve_prompts(prompts)
    return [Tool(name, p.tool_text(name, "definition", ""), p.tool_text(name, "usage", ""), run)
            for name, run in RUNNERS.items()]


POOL: list[Tool] = pool()

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
    """Read a tool-selection file (``[{"name", "definition", "usage"}]``). The file's own
    ``definition`` and ``usage`` are what the prompts show (the pool's where one is missing);
    the run function is the registry's. Unknown names are an error naming the file and line."""
    tools: list[Tool] = []
    for line, rec in iter_records(path, required=["name"]):
        canonical = resolve_tool_name(str(rec["name"]))
        if canonical is None:
            raise DataError(f"{path}:{line}: unknown tool {rec['name']!r}; valid tools: "
                            f"{', '.join(t.name for t in POOL)}")
        if canonical in BUILTIN_NAMES or canonical in [t.name for t in tools]:
            continue
        texts = {}
        for key in ("definition", "usage"):
            value = rec.get(key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise DataError(f"{path}:{line}: \"{key}\" must be a non-empty string")
            if value is not None:
                texts[key] = " ".join(value.split())
        tools.append(replace(TOOLS[canonical], **texts))
    if not tools:
        raise DataError(f"{path}: selects no tools")
    return tools


def default_selection(names: Sequence[str], prompts: Prompts | None = None) -> list[Tool]:
    """The pool tools named in ``names`` (a task's ``default_tools``), with the texts of
    ``prompts``."""
    if isinstance(names, str):
        raise TypeError("default_selection takes a list of tool names (task.default_tools)")
    by_name = {t.name: t for t in pool(prompts)}
    return [by_name[get_tool(n).name] for n in names]


# ----------------------------------------------------------------------------- environment

#: --wiki settings: where Retrieve, Lookup and BingSearch read from
WIKI_SETTINGS = ("live", "offline", "distractor")
WIKI_API = "https://en.wikipedia.org/w/api.php"


_ENV = "tool environment"


@dataclass
class ToolSettings:
    """Where the tools read from and the Code Interpreter's limits (the "tool environment" flags)."""
    wiki: str | None = option(None, choices=WIKI_SETTINGS, group=_ENV,
                              help="retrieval setting (default: the task's own corpus if its spec file names "
                                   "one, else $AUTOACT_WIKI or live). live: Wikipedia through "
                                   "its API, cached on disk so reruns make no network calls, and BingSearch "
                                   "through the web-search API of $AUTOACT_SEARCH_URL or else Wikipedia's own "
                                   "search: the reference's open setting. offline: a local corpus index "
                                   "(--corpus_index, built by Scripts/build_corpus.py, e.g. from HotpotQA's "
                                   "full-wiki abstracts dump). distractor: the shipped evaluation questions' "
                                   "own context paragraphs, gold paragraphs included: a closed setting whose "
                                   "scores are labelled distractor and are not comparable to the paper's")
    corpus_index: str | None = option(factory=lambda: os.environ.get("AUTOACT_CORPUS_INDEX"), group=_ENV,
                                      help="--wiki offline: the corpus index (.sqlite) (default "
                                           "$AUTOACT_CORPUS_INDEX)")
    wiki_cache: str = option("~/.cache/autoact/wikipedia.sqlite", group=_ENV,
                             help="live: SQLite cache of pages, searches and web results")
    wiki_url: str = option(factory=lambda: os.environ.get("AUTOACT_WIKI_URL") or WIKI_API, group=_ENV,
                           help="live: the MediaWiki API endpoint (default $AUTOACT_WIKI_URL or English "
                                "Wikipedia)")
    database: str | None = option(None, group=_ENV, help="SQLite file for the Database tool (read-only)")
    knowledge_graph: str | None = option(None, group=_ENV,
                                         help="JSONL of {head, relation, tail} for the KnowledgeGraph tool")
    code_timeout: float = option(5.0, type=positive_float, group=_ENV,
                                 help="Code Interpreter wall-clock limit in seconds (default 5)")
    code_memory_mb: int = option(512, type=positive_int, group=_ENV,
                                 help="Code Interpreter memory limit in MiB (default 512)")
    code_disk_mb: int = option(64, type=positive_int, group=_ENV,
                               help="Code Interpreter: total size of the files its code may write, in MiB "
                                    "(default 64)")
    unsafe_code_tool: bool = option(False, kind="switch", group=_ENV,
                                    help="run the Code Interpreter's code even where this machine cannot "
                                         "enforce its whole sandbox (see docs/code-sandbox.md); without it the tool "
                                         "answers that code execution is "
                                         "unavailable there")


#: the tools that read from the retrieval setting
RETRIEVAL_TOOLS = frozenset({"Retrieve", "Lookup", "BingSearch"})


def wiki_setting(args: ToolSettings, task=None) -> tuple[str, str | None]:
    """(setting, corpus index) from the flags: ``--wiki`` when given; else the task's own
    corpus (a spec file's ``corpus``, indexed on first use); else ``$AUTOACT_WIKI`` or live."""
    if args.wiki:
        return args.wiki, args.corpus_index
    if task is not None and getattr(task, "corpus", None) is not None:
        from autoact.tools.corpus import corpus_index
        return "offline", str(corpus_index(task.corpus, task.name.lower()))
    return os.environ.get("AUTOACT_WIKI") or "live", args.corpus_index


def make_environment(settings: ToolSettings, tools: Sequence[Tool] | None = None,
                     task=None, contexts=None) -> Environment:
    """Build the shared tool environment ``settings`` describe. Its ``retrieval``
    says which setting the run used (``live``, ``offline:<corpus>:<docs>``, ``distractor``, or
    ``none`` when ``tools`` has no retrieval tool, in which case nothing is opened).
    ``contexts``: the ``(title, text)`` paragraphs of the questions' own contexts, the
    distractor corpus of questions that are not the shipped ones (a Hugging Face dataset)."""
    from autoact.tools.cache import DiskCache
    from autoact.tools.search import WebSearch

    args = from_args(ToolSettings, settings)
    for path, flag in ((args.database, "--database"), (args.knowledge_graph, "--knowledge_graph")):
        if path and not Path(path).is_file():
            raise ConfigError(f"{flag} {path}: " + ("is a folder, expected a file"
                                                   if Path(path).is_dir() else "no such file"))
    if args.database:
        from autoact.tools.database import check_database
        check_database(args.database)
    if args.knowledge_graph:        # read (and checked) now, not at a question's first lookup
        from autoact.tools.knowledge_graph import load_graph
        load_graph(args.knowledge_graph)
    sandbox = SandboxLimits(timeout=args.code_timeout, memory_mb=args.code_memory_mb,
                            disk_mb=args.code_disk_mb, unsafe=args.unsafe_code_tool)
    if tools is not None and not RETRIEVAL_TOOLS & {t.name for t in tools}:
        return Environment(database=args.database, knowledge_graph=args.knowledge_graph,
                           retrieval={"setting": "none", "label": "none"}, sandbox=sandbox)
    setting, corpus_index = wiki_setting(args, task)
    if setting == "live":
        from autoact.tools.wiki import LiveWikipedia, WikipediaSearch
        wiki = LiveWikipedia(args.wiki_cache, api_url=args.wiki_url)
        web = WebSearch.from_env(wiki.cache)
        search = web or WikipediaSearch(wiki)
        retrieval = {"setting": "live", "label": "live", "wikipedia": args.wiki_url,
                     "search": "web search API" if web else "Wikipedia search"}
    else:
        from autoact.tools.corpus import OfflineCorpus, context_index, distractor_index
        if setting == "distractor":
            index = context_index(contexts) if contexts is not None else distractor_index()
        elif corpus_index:
            index = Path(corpus_index).expanduser()
        else:
            raise ConfigError("--wiki offline needs --corpus_index FILE (or $AUTOACT_CORPUS_INDEX): "
                              "build one with Scripts/build_corpus.py; --wiki distractor uses the "
                              "shipped evaluation contexts instead")
        wiki = OfflineCorpus(index)
        web = WebSearch.from_env(DiskCache(args.wiki_cache)) if os.environ.get("AUTOACT_SEARCH_URL") else None
        search = web or wiki
        retrieval = {"setting": "distractor" if wiki.distractor else "offline", "label": wiki.label,
                     "corpus": str(index), "docs": wiki.size,
                     "search": "web search API" if web else "corpus"}
    return Environment(wiki=wiki, search=search, database=args.database,
                       knowledge_graph=args.knowledge_graph, retrieval=retrieval, sandbox=sandbox)


def describe_retrieval(retrieval: dict) -> str:
    """One line for a run's output and reports."""
    label = retrieval.get("label", "?")
    if retrieval.get("setting") == "none":
        return "retrieval: none (no Retrieve, Lookup or BingSearch among the tools)"
    if retrieval.get("setting") == "distractor":
        return (f"retrieval: {label} (the evaluation questions' own context paragraphs, gold "
                f"included: a closed setting, not comparable to the paper's open Wikipedia)")
    if retrieval.get("setting") == "live":
        return f"retrieval: live Wikipedia ({retrieval.get('wikipedia')}); BingSearch: {retrieval.get('search')}"
    return f"retrieval: {label} ({retrieval.get('corpus')}); BingSearch: {retrieval.get('search')}"


__all__ = ["TOOLS", "POOL", "BUILTINS", "ALIASES", "Tool", "ToolContext",
           "Environment", "Page", "SandboxLimits", "get_tool", "resolve_tool_name",
           "load_selection", "default_selection", "ToolSettings", "pool",
           "make_environment", "describe_retrieval", "parse_action"]
