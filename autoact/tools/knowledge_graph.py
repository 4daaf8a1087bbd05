"""The KnowledgeGraph tool: look facts up in a local store of (head, relation, tail) triples.

The store is a JSONL file (a JSON list works too) of objects
``{"head": "Paris", "relation": "capital of", "tail": "France"}``. :class:`KnowledgeGraph`
loads it once; a missing or malformed file raises :class:`~autoact.errors.DataError` naming the
file and line. After loading the graph is never changed, so any number of threads may query it.

The agent writes ``head, relation`` or just ``head`` (case and extra spaces do not matter; a
head may itself contain commas). Observations:

* ``Paris capital of: France`` (several tails joined by ``; ``);
* ``Paris: capital of France; located in Europe`` for a head alone (at most
  :data:`MAX_FACTS` facts, then ``... (N more facts)``);
* ``No facts about X`` (plus ``Similar: A; B; C`` when some heads look alike);
* ``No "rel" facts about Paris. Known relations: ...`` for a known head and unknown relation.

:func:`kg_query` is the tool's entry point: it loads each file once (cached by path,
thread-safe) and says ``No knowledge graph is configured`` when there is no file.
"""

from __future__ import annotations

import difflib
import os
import threading

from autoact.io import PathLike, iter_records, record_error

NOT_CONFIGURED = "No knowledge graph is configured"
NO_FACTS = "No facts about"
MAX_FACTS = 10
MAX_SIMILAR = 3


def _key(text: str) -> str:
    """Matching form: lower case, underscores as spaces, runs of spaces collapsed."""
    return " ".join(text.replace("_", " ").lower().split())


class KnowledgeGraph:
    """An immutable index of triples, by head then relation."""

    def __init__(self, path: PathLike):
        self.path = str(path)
        self._heads: dict[str, str] = {}                       # key -> head as written
        self._facts: dict[str, list[tuple[str, str]]] = {}     # key -> [(relation, tail)]
        for line, rec in iter_records(path, required=("head", "relation", "tail")):
            head, relation, tail = (self._field(rec, name, line)
                                    for name in ("head", "relation", "tail"))
            key = _key(head)
            self._heads.setdefault(key, head)
            facts = self._facts.setdefault(key, [])
            if (relation, tail) not in facts:
                facts.append((relation, tail))
        self.size = sum(len(f) for f in self._facts.values())

    def _field(self, rec: dict, name: str, line: int) -> str:
        value = rec[name]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise record_error(self.path, line, f'"{name}" must be a string')
        text = " ".join(str(value).split())
        if not text:
            raise record_error(self.path, line, f'"{name}" is empty')
        return text

    def query(self, argument: str) -> str:
        """Answer ``head, relation`` or ``head`` (see the module docstring)."""
        arg = " ".join(argument.strip().strip("[]\"'`").split())
        if not arg:
            return "Empty query: give an entity, optionally followed by a comma and a relation"
        if _key(arg) in self._facts:
            return self._describe(_key(arg))
        # The head is the longest prefix before a comma that names a known head.
        cuts = [i for i, ch in enumerate(arg) if ch == ","]
        for i in reversed(cuts):
            key = _key(arg[:i])
            if key in self._facts:
                return self._lookup(key, arg[i + 1:])
        head = arg[:cuts[0]].strip() if cuts else arg
        return self._unknown(head)

    def _describe(self, key: str) -> str:
        facts = self._facts[key]
        shown = "; ".join(f"{rel} {tail}" for rel, tail in facts[:MAX_FACTS])
        more = f" ... ({len(facts) - MAX_FACTS} more facts)" if len(facts) > MAX_FACTS else ""
        return f"{self._heads[key]}: {shown}{more}"

    def _lookup(self, key: str, relation: str) -> str:
        rel_key = _key(relation)
        if not rel_key:
            return self._describe(key)
        matches = [(rel, tail) for rel, tail in self._facts[key] if _key(rel) == rel_key]
        head = self._heads[key]
        if not matches:
            known = list(dict.fromkeys(rel for rel, _ in self._facts[key]))
            return f'No "{relation.strip()}" facts about {head}. Known relations: ' \
                   + "; ".join(known[:MAX_FACTS])
        return f"{head} {matches[0][0]}: " + "; ".join(tail for _, tail in matches)

    def _unknown(self, head: str) -> str:
        close = difflib.get_close_matches(_key(head), list(self._facts), n=MAX_SIMILAR,
                                          cutoff=0.6)
        if not close:
            return f"{NO_FACTS} {head}"
        return f"{NO_FACTS} {head}. Similar: " + "; ".join(self._heads[k] for k in close)


_cache: dict[str, KnowledgeGraph] = {}
_cache_lock = threading.Lock()


def load_graph(path: PathLike) -> KnowledgeGraph:
    """The graph in ``path``, loaded on first use and then shared (thread-safe)."""
    key = os.path.abspath(path)
    with _cache_lock:
        graph = _cache.get(key)
        if graph is None:
            graph = _cache[key] = KnowledgeGraph(path)
        return graph


def kg_query(path: str | None, argument: str) -> str:
    """The KnowledgeGraph tool: answer ``argument`` from the triples file ``path``.

    Raises :class:`~autoact.errors.DataError` when the file is missing or malformed (a setup
    error, not the model's).
    """
    if not path:
        return NOT_CONFIGURED
    return load_graph(path).query(argument)
