"""Retrieve[entity] and Lookup[keyword] with the reference's Wikipedia semantics, and the live
backends.

* ``Retrieve[entity]``: the opening paragraph of the page titled exactly ``entity`` (its text up
  to the first blank line, as the reference's docstore returned it), or
  ``Could not find [entity]. Similar: [...]`` with up to :data:`SIMILAR` titles.
* ``Lookup[keyword]``: the next sentence containing ``keyword`` in the page the last Retrieve
  opened (or in the last BingSearch results), as ``(Result i/n) sentence``; repeating the same
  keyword pages on, a new keyword starts again; ``No Results`` / ``No More Results`` otherwise.

Backends: :class:`LiveWikipedia` (the ``wikipedia`` package behind an on-disk SQLite cache, with
its own rate limit, timeout and retries; any MediaWiki API via ``api_url``),
:class:`WikipediaSearch` (BingSearch's stand-in in the live setting when no web-search API is
configured) and the offline corpus (``autoact.tools.corpus``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

from autoact.errors import AutoActError
from autoact.tools.base import Page, ToolContext
from autoact.tools.cache import DiskCache

log = logging.getLogger(__name__)

SIMILAR = 10        # titles in "Similar: [...]" (the reference listed wikipedia.search's default 10)
NOT_FOUND_LOOKUP = ("The last Retrieve found no page, so there is nothing to Lookup in; retrieve "
                    "one of the similar pages first.")
NO_PAGE_LOOKUP = "There is no page to look in: Lookup follows a successful Retrieve or BingSearch."
NO_RESULTS, NO_MORE_RESULTS = "No Results", "No More Results"


WIKIPEDIA_API = "https://en.wikipedia.org/w/api.php"
USER_AGENT = "autoact (https://github.com/zjunlp/AutoAct rebuild)"


class WikipediaUnavailable(AutoActError):
    """Live Wikipedia cannot be reached (network down, blocked, or repeatedly failing)."""


def one_line(text: str) -> str:
    """Observations live on one scratchpad line."""
    return " ".join(text.split())


def clean_argument(arg: str) -> str:
    """Strip whitespace, quotes and stray brackets the model put around an argument."""
    arg = one_line(arg)
    while len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "\"'`":
        arg = arg[1:-1].strip()
    return arg.strip("[]").strip()


def intro_text(page: Page) -> str:
    n = page.intro if page.intro else len(page.sentences)
    return one_line(" ".join(page.sentences[:n]))


def retrieve(arg: str, ctx: ToolContext) -> str:
    entity = clean_argument(arg)
    if not entity:
        return "Retrieve needs an entity, e.g. Retrieve[Milhouse]."
    wiki = ctx.env.wiki
    if wiki is None:
        return "Retrieve is not available: no Wikipedia backend is configured."
    page = wiki.page(entity)
    ctx.lookup_keyword, ctx.lookup_index = None, 0
    if page is None or not page.sentences:
        ctx.page, ctx.source = None, "missing"
        return f"Could not find [{entity}]. Similar: {wiki.similar(entity, SIMILAR)}"
    ctx.page, ctx.source = page, "page"
    return intro_text(page)


def lookup(arg: str, ctx: ToolContext) -> str:
    keyword = clean_argument(arg)
    if not keyword:
        return "Lookup needs a keyword, e.g. Lookup[river]."
    if ctx.source == "page" and ctx.page is not None:
        items = ctx.page.sentences
    elif ctx.source == "search":
        items = ctx.results
    elif ctx.source == "missing":
        return NOT_FOUND_LOOKUP
    else:
        return NO_PAGE_LOOKUP
    key = keyword.lower()
    if key != ctx.lookup_keyword:
        ctx.lookup_keyword, ctx.lookup_index = key, 0
    else:
        ctx.lookup_index += 1
    hits = [s for s in items if key in s.lower()]
    if not hits:
        return NO_RESULTS
    if ctx.lookup_index >= len(hits):
        return NO_MORE_RESULTS
    return f"(Result {ctx.lookup_index + 1}/{len(hits)}) {one_line(hits[ctx.lookup_index])}"


# ----------------------------------------------------------------------------- live backend

def page_from_content(title: str, content: str) -> Page:
    """A page from the plain text the Wikipedia API returns (``page.content``)."""
    from autoact.tools.corpus import page_from_text
    return page_from_text(title, content)


class _TimeoutRequests:
    """Stands in for ``requests`` inside the ``wikipedia`` package, which calls
    ``requests.get`` without a timeout (a stalled connection would hang a worker forever)."""

    def __init__(self, timeout: float):
        self.timeout = timeout

    def get(self, *args, **kwargs):
        import requests
        kwargs.setdefault("timeout", self.timeout)
        return requests.get(*args, **kwargs)


class LiveWikipedia:
    """Wikipedia through the ``wikipedia`` package, cached on disk: a rerun makes no network
    calls for pages and searches it has seen. Exact titles (no auto-suggest); missing pages and
    disambiguation pages are "not found" with the package's suggestions as the Similar list."""

    name = "live"

    def __init__(self, cache_path: str | Path = "~/.cache/autoact/wikipedia.sqlite", *,
                 min_interval: float = 0.1, retries: int = 3, timeout: float = 15.0,
                 backoff: float = 1.0, api_url: str = "https://en.wikipedia.org/w/api.php"):
        import warnings

        import wikipedia
        # the package parses disambiguation pages with BeautifulSoup without naming a parser
        warnings.filterwarnings("ignore", message="No parser was explicitly specified")
        self._wp = wikipedia
        wikipedia.set_rate_limiting(False)     # ours below is thread-safe; the package's is not
        wikipedia.set_user_agent(USER_AGENT)
        wikipedia.wikipedia.requests = _TimeoutRequests(timeout)
        wikipedia.wikipedia.API_URL = api_url  # the package reads this module global per request
        self.api_url = api_url
        self.timeout = timeout
        # one cache per API: pages of a stand-in server never answer for Wikipedia's
        self.cache = DiskCache(cache_path, namespace="" if api_url == WIKIPEDIA_API else api_url)
        self.min_interval = min_interval
        self.retries = retries
        self.backoff = backoff
        self.network_calls = 0
        self._lock = threading.Lock()
        self._last_call = 0.0

    def _call(self, fn, *args, **kwargs):
        import requests
        transient = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                     self._wp.exceptions.HTTPTimeoutError, ValueError)
        last: BaseException | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            with self._lock:
                wait = self._last_call + self.min_interval - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self._last_call = time.monotonic()
                self.network_calls += 1
            try:
                return fn(*args, **kwargs)
            except transient as err:   # ValueError: a non-JSON reply (proxy page, outage)
                last = err
                log.debug("wikipedia call failed (%s), retrying", type(err).__name__)
        raise WikipediaUnavailable(
            f"cannot reach Wikipedia at {self.api_url} ({type(last).__name__}: {str(last)[:120]}) "
            f"after {self.retries + 1} tries; check the network, or run offline with --wiki "
            f"offline --corpus_index FILE (Scripts/build_corpus.py) or --wiki distractor")

    def _fetch(self, title: str) -> dict:
        key = f"page:{title}"
        hit = self.cache.get(key)
        if isinstance(hit, dict) and (hit.get("missing") or (isinstance(hit.get("title"), str)
                                                             and isinstance(hit.get("content"), str))):
            return hit              # (a row of another shape is fetched again)
        wp = self._wp
        try:
            page = self._call(wp.page, title, auto_suggest=False, redirect=True)
            value = {"title": page.title, "content": self._call(lambda: page.content)}
        except wp.exceptions.DisambiguationError as err:
            value = {"missing": True, "options": [str(o) for o in err.options[:5]]}
        except (wp.exceptions.PageError, wp.exceptions.RedirectError, KeyError):
            value = {"missing": True, "options": []}
        self.cache.put(key, value)
        return value

    def page(self, title: str) -> Page | None:
        data = self._fetch(" ".join(title.split()))
        if data.get("missing"):
            return None
        return page_from_content(data["title"], data["content"])

    def similar(self, query: str, k: int = 5) -> list[str]:
        data = self.cache.get(f"page:{' '.join(query.split())}")
        if isinstance(data, dict) and isinstance(data.get("options"), list) and data["options"]:
            return [str(o) for o in data["options"][:k]]
        key = f"search:{k}:{query}"
        hit = self.cache.get(key)
        if not isinstance(hit, list):
            hit = [str(t) for t in self._call(self._wp.search, query, results=k)]
            self.cache.put(key, hit)
        return hit[:k]


class WikipediaSearch:
    """BingSearch's provider in the live setting when no web-search API is configured: the
    MediaWiki full-text search (``list=search``) of the same API, one request per query,
    snippets as ``"Title: snippet"``, cached on disk with the pages."""

    name = "wikipedia-search"

    def __init__(self, wiki: LiveWikipedia):
        self.wiki = wiki

    def _query(self, query: str, k: int) -> list[str]:
        import html

        import requests
        params = {"action": "query", "list": "search", "srsearch": query, "srlimit": k,
                  "srprop": "snippet", "format": "json", "formatversion": 2}
        resp = requests.get(self.wiki.api_url, params=params, timeout=self.wiki.timeout,
                            headers={"User-Agent": USER_AGENT})
        resp.raise_for_status()
        hits = (resp.json().get("query") or {}).get("search") or []
        out = []
        for hit in hits:
            title = str(hit.get("title") or "").strip()
            snippet = one_line(html.unescape(re.sub(r"<[^>]+>", "", str(hit.get("snippet") or ""))))
            if title or snippet:
                out.append(f"{title}: {snippet}" if title and snippet else title or snippet)
        return out

    def search(self, query: str, k: int = 4) -> list[str]:
        key = f"wsearch:{k}:{' '.join(query.split())}"
        hit = self.wiki.cache.get(key)
        if not (isinstance(hit, list) and all(isinstance(h, str) for h in hit)):
            hit = self.wiki._call(self._query, query, k)
            self.wiki.cache.put(key, hit)
        return hit[:k]
