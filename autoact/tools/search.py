"""BingSearch[query]: web search when a provider is configured, else the offline corpus.

Microsoft retired the Bing Search API in 2025, so the provider is any JSON search API named by
environment variables:

* ``AUTOACT_SEARCH_URL``: the endpoint, with ``{query}`` where the query goes (otherwise ``q=``
  is appended), e.g. a SearXNG instance: ``http://127.0.0.1:8888/search?format=json&q={query}``;
* ``AUTOACT_SEARCH_KEY`` (optional): sent as ``Authorization: Bearer <key>``, or in the header
  named by ``AUTOACT_SEARCH_KEY_HEADER`` (e.g. ``X-Subscription-Token`` for Brave,
  ``Ocp-Apim-Subscription-Key`` for a Bing-compatible API).

Replies in the shapes of SearXNG (``results[].content``), Bing (``webPages.value[].snippet``),
Brave (``web.results[].description``) or a plain list of objects with ``snippet``/``content``/
``description``/``text`` are understood. Results are cached on disk like Wikipedia pages.

The observation is the top 4 snippets, one after the other, as the reference wrote them (it
joined them with nothing between; a space here keeps the last word of one snippet and the first
of the next apart); ``Lookup[keyword]`` then pages through the snippets containing the keyword,
as the reference did.
"""

from __future__ import annotations

import html
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request

from autoact.errors import ConfigError
from autoact.tools.base import ToolContext
from autoact.tools.cache import DiskCache
from autoact.tools.wiki import clean_argument, one_line

SHOWN = 4       # snippets fetched and shown (the reference asked Bing for count=4)
_TAG = re.compile(r"<[^>]+>")


def _snippets(data) -> list[str]:
    items = None
    if isinstance(data, dict):
        if isinstance(data.get("results"), list):
            items = data["results"]
        elif isinstance(data.get("webPages"), dict):
            items = data["webPages"].get("value")
        elif isinstance(data.get("web"), dict):
            items = data["web"].get("results")
    elif isinstance(data, list):
        items = data
    out = []
    for it in items or []:
        if not isinstance(it, dict):
            continue
        text = next((it[k] for k in ("snippet", "content", "description", "text")
                     if isinstance(it.get(k), str) and it[k].strip()), "")
        text = one_line(html.unescape(_TAG.sub("", text)))
        if text:
            out.append(text)
    return out


class WebSearch:
    """A JSON web-search API (see the module docstring)."""

    name = "web"

    def __init__(self, url: str, *, key: str | None = None, key_header: str | None = None,
                 cache: DiskCache | None = None, timeout: float = 15.0):
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"AUTOACT_SEARCH_URL must be an http(s) URL, got {url!r}")
        self.url = url
        self.key = key
        self.key_header = key_header
        self.cache = cache
        self.timeout = timeout

    @classmethod
    def from_env(cls, cache: DiskCache | None = None) -> "WebSearch | None":
        url = os.environ.get("AUTOACT_SEARCH_URL")
        if not url:
            return None
        return cls(url, key=os.environ.get("AUTOACT_SEARCH_KEY"),
                   key_header=os.environ.get("AUTOACT_SEARCH_KEY_HEADER"), cache=cache)

    def _request_url(self, query: str) -> str:
        q = urllib.parse.quote_plus(query)
        if "{query}" in self.url:
            return self.url.replace("{query}", q)
        return self.url + ("&" if "?" in self.url else "?") + "q=" + q

    def search(self, query: str, k: int = SHOWN) -> list[str]:
        key = f"web:{query}"
        if self.cache is not None:
            hit = self.cache.get(key)
            if isinstance(hit, list) and all(isinstance(h, str) for h in hit):
                return hit[:k]
        headers = {"Accept": "application/json", "User-Agent": "autoact"}
        if self.key:
            if self.key_header:
                headers[self.key_header] = self.key
            else:
                headers["Authorization"] = f"Bearer {self.key}"
        req = urllib.request.Request(self._request_url(query), headers=headers)
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            data = json.loads(resp.read().decode("utf-8", errors="replace"))
        results = _snippets(data)[:SHOWN]
        if self.cache is not None:
            self.cache.put(key, results)
        return results[:k]


def bing_search(arg: str, ctx: ToolContext) -> str:
    query = clean_argument(arg)
    if not query:
        return "BingSearch needs a query, e.g. BingSearch[popular dog breeds in the United States]."
    provider = ctx.env.search
    if provider is None:
        return "BingSearch is not available: no search provider or offline corpus is configured."
    try:
        results = provider.search(query, SHOWN)
    except (urllib.error.URLError, OSError, ValueError) as err:   # network, HTTP, bad JSON
        return f"Search error ({type(err).__name__}), please try again."
    ctx.results, ctx.results_query, ctx.source = results, query, "search"
    ctx.lookup_keyword, ctx.lookup_index = None, 0
    if not results:
        return f"No search results for [{query}]."
    return " ".join(results[:SHOWN])
