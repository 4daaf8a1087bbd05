"""What a tool is, and the state it runs with.

A :class:`Tool` has the ``name`` the agent writes (``Retrieve[...]``), a one-sentence
``definition`` (shown to the Meta-Agent when it picks tools) and a ``usage`` line (shown to the
agents that call it). ``run(argument, ctx)`` returns the observation string; it never raises for
anything the model wrote: bad arguments become observations.

:class:`Environment` holds what every question shares (the Wikipedia backend, the search
provider, database and knowledge-graph files, sandbox limits); it is built once per run and must
be safe to use from many threads. :class:`ToolContext` is one question's state (current page and
Lookup position, search results and paging, the question's own fields such as ``caption`` and
``orc``): one per question, never shared between concurrent questions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol


@dataclass
class Page:
    """A document an agent has opened: its title and its sentences, in order. ``intro`` is the
    number of sentences of its opening paragraph (``None``: the whole text is one paragraph)."""

    title: str
    sentences: list[str]
    intro: int | None = None

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


class WikiBackend(Protocol):
    """Where Retrieve/Lookup read Wikipedia from (live with a cache, or an offline corpus)."""

    name: str

    def page(self, title: str) -> Page | None:
        """The page with exactly this title (case-insensitive), or ``None``."""

    def similar(self, query: str, k: int = 5) -> list[str]:
        """Titles of up to ``k`` pages that best match ``query``."""


class SearchProvider(Protocol):
    """A web-search-like source of text snippets (BingSearch's backend)."""

    name: str

    def search(self, query: str, k: int = 4) -> list[str]:
        """Up to ``k`` snippets for ``query``, best first."""


@dataclass
class SandboxLimits:
    """Limits of the Code Interpreter's child process."""

    timeout: float = 5.0          # wall-clock seconds
    memory_mb: int = 512          # address-space limit
    max_output: int = 2000        # characters of stdout+stderr kept
    max_processes: int = 0        # extra processes the child may start (0: none)
    disk_mb: int = 64             # total size of the files the code may write
    unsafe: bool = False          # run even where part of the sandbox cannot be enforced


@dataclass
class Environment:
    """Resources shared by every question of a run (thread-safe)."""

    wiki: WikiBackend | None = None
    search: SearchProvider | None = None
    database: str | None = None          # SQLite file for the Database tool (opened read-only)
    knowledge_graph: str | None = None   # triples file (JSONL) for the KnowledgeGraph tool
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)
    retrieval: dict = field(default_factory=dict)   # the retrieval setting, recorded with results


@dataclass
class ToolContext:
    """One question's tool state."""

    env: Environment
    fields: dict = field(default_factory=dict)   # the question's record fields (caption, orc, ...)
    source: str | None = None                    # what Lookup reads: "page", "search", "missing"
    page: Page | None = None                     # last page Retrieve opened (Lookup reads it)
    lookup_keyword: str | None = None
    lookup_index: int = 0
    results: list[str] = field(default_factory=list)   # last BingSearch snippets
    results_query: str | None = None
    results_index: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


RunFn = Callable[[str, ToolContext], str]


@dataclass(frozen=True)
class Tool:
    name: str
    definition: str
    usage: str
    run: RunFn | None = None      # None: handled by the agent loop itself (Finish, Reflect)

    def pool_entry(self) -> dict:
        """The record format of a tool-selection file: ``{"name", "definition", "usage"}``."""
        return {"name": self.name, "definition": self.definition, "usage": self.usage}
