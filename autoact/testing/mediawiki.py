"""A local stand-in for the Wikipedia (MediaWiki) API on 127.0.0.1: real HTTP, for tests and
benches of the live retrieval setting on machines without network.

It answers the queries the ``wikipedia`` package and :class:`~autoact.tools.wiki.WikipediaSearch`
send (``action=query`` with ``list=search``, ``prop=info|pageprops`` with redirects and
disambiguation, ``prop=revisions`` for a disambiguation page's links, ``prop=extracts|revisions``
for a page's plain text) from a dict of pages, and counts the requests it serves::

    with MediaWikiStandIn({"Milhouse Van Houten": "Milhouse is ...\\n\\n== Role ==\\n..."}) as wiki:
        ... --wiki live --wiki_url {wiki.url}
"""

from __future__ import annotations

import html
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def do_GET(self):  # noqa: N802
        wiki = self.server.wiki
        url = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        with wiki.lock:
            wiki.requests.append(params)
        if url.path != "/w/api.php":
            self._reply(404, {"error": {"info": "not found"}})
            return
        self._reply(200, wiki.answer(params))

    def _reply(self, status: int, obj: dict) -> None:
        body = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    wiki: "MediaWikiStandIn"


class MediaWikiStandIn:
    """``pages``: title -> plain text (paragraphs separated by newlines, sections by a blank
    line and ``== Heading ==``); ``redirects``: title -> target title; ``disambiguation``:
    title -> the titles it lists."""

    def __init__(self, pages: dict[str, str], *, redirects: dict[str, str] | None = None,
                 disambiguation: dict[str, list[str]] | None = None, host: str = "127.0.0.1",
                 port: int = 0):
        self.pages = dict(pages)
        self.redirects = dict(redirects or {})
        self.disambiguation = {k: list(v) for k, v in (disambiguation or {}).items()}
        self.ids = {t: i for i, t in enumerate([*self.pages, *self.disambiguation], 1)}
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self._httpd = _Server((host, port), _Handler)
        self._httpd.wiki = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/w/api.php"

    # -- the API -------------------------------------------------------------------------------
    def _find(self, title: str) -> str | None:
        title = " ".join(title.replace("_", " ").split())
        for cand in (title, title[:1].upper() + title[1:]):
            if cand in self.pages or cand in self.disambiguation:
                return cand
        return None

    def _search(self, query: str, limit: int, snippets: bool) -> list[dict]:
        words = set(_words(query))
        scored = []
        for title, text in self.pages.items():
            tw, xw = _words(title), _words(text)
            score = 3 * sum(w in tw for w in words) + sum(xw.count(w) for w in words)
            if score:
                scored.append((-score, title))
        hits = []
        for _, title in sorted(scored)[:limit]:
            hit = {"ns": 0, "title": title, "pageid": self.ids[title]}
            if snippets:
                first = self.pages[title].split("\n", 1)[0][:160]
                marked = html.escape(first)
                for w in words:
                    marked = re.sub(rf"\b({re.escape(w)})\b", r'<span class="searchmatch">\1</span>',
                                    marked, flags=re.I)
                hit["snippet"] = marked
            hits.append(hit)
        return hits

    def answer(self, p: dict) -> dict:
        if p.get("action", "query") != "query":
            return {"error": {"code": "badvalue", "info": f"unsupported action {p.get('action')}"}}
        if p.get("list") == "search":
            limit = int(p.get("srlimit") or 10)
            return {"query": {"search": self._search(p.get("srsearch", ""), limit,
                                                     "snippet" in p.get("srprop", ""))}}
        prop = p.get("prop", "")
        title = p.get("titles")
        if title is None and p.get("pageids"):
            by_id = {str(i): t for t, i in self.ids.items()}
            title = by_id.get(p["pageids"], "")
        title = title or ""
        query: dict = {}
        if "redirects" in p and title in self.redirects:
            query["redirects"] = [{"from": title, "to": self.redirects[title]}]
            title = self.redirects[title]
        found = self._find(title)
        if found is None:
            query["pages"] = {"-1": {"ns": 0, "title": title, "missing": ""}}
            return {"query": query}
        pid = str(self.ids[found])
        page: dict = {"pageid": int(pid), "ns": 0, "title": found}
        if "info" in prop:
            page["fullurl"] = f"https://stand-in.invalid/wiki/{found.replace(' ', '_')}"
            if found in self.disambiguation:
                page["pageprops"] = {"disambiguation": ""}
        if "revisions" in prop and "rvparse" in p:
            items = "".join(f'<li><a href="/wiki/{html.escape(t)}">{html.escape(t)}</a></li>'
                            for t in self.disambiguation.get(found, []))
            page["revisions"] = [{"*": f"<ul>{items}</ul>"}]
        elif "revisions" in prop:
            page["revisions"] = [{"revid": 1000 + int(pid), "parentid": 0}]
        if "extracts" in prop:
            page["extract"] = self.pages.get(found, "")
        query["pages"] = {pid: page}
        return {"query": query}

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "MediaWikiStandIn":
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "MediaWikiStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
