"""The tool library: action parsing, Retrieve/Lookup on the offline corpus (real HotpotQA
titles), the live Wikipedia backend behind its cache, BingSearch, Image2Text, the registry."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from autoact.errors import ConfigError, DataError
from autoact.tasks import get_task
from autoact.tools import (POOL, TOOLS, Environment, ToolContext, default_selection, get_tool,
                           load_selection, parse_action, resolve_tool_name)
from autoact.tools.wiki import NOT_FOUND_LOOKUP, NO_PAGE_LOOKUP, LiveWikipedia, WikipediaUnavailable

from conftest import REPO

HOTPOT = REPO / "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from autoact.tools.corpus import OfflineCorpus, build_index, hotpotqa_documents
    index = tmp_path_factory.mktemp("corpus") / "hotpot.sqlite"
    build_index(hotpotqa_documents(sorted(HOTPOT.glob("*.jsonl"))), index, progress=False)
    return OfflineCorpus(index)


def ctx_for(env, **fields):
    return ToolContext(env=env, fields=fields)


# --- parsing and registry --------------------------------------------------------------------

@pytest.mark.parametrize("text,parsed", [
    ("Retrieve[Milhouse]", ("Retrieve", "Milhouse")),
    ("  Retrieve[ Milhouse ] .", ("Retrieve", "Milhouse")),
    ("Action 2: Lookup[river]", ("Lookup", "river")),
    ("Table Verbalizer[a,b\n1,2]", ("Table Verbalizer", "a,b\n1,2")),
    ("Finish[yes]", ("Finish", "yes")),
    ("Calculator[(2+3)*[4]]", ("Calculator", "(2+3)*[4]")),
    ("Retrieve Milhouse", None), ("[x]", None), ("", None), ("Retrieve[Milhouse", None),
])
def test_parse_action(text, parsed):
    assert parse_action(text) == parsed


def test_tool_names_are_resolved_tolerantly():
    assert resolve_tool_name("bingsearch") == "BingSearch"
    assert resolve_tool_name("Bing Search") == "BingSearch"
    assert resolve_tool_name("Code") == "Code Interpreter"
    assert resolve_tool_name("table_verbalizer") == "Table Verbalizer"
    assert resolve_tool_name("Wolfram") is None
    with pytest.raises(ConfigError, match="unknown tool 'Wolfram'; valid tools: BingSearch, Retrieve"):
        get_tool("Wolfram")


def test_pool_is_the_references_ten_plus_builtins():
    assert [t.name for t in POOL] == ["BingSearch", "Retrieve", "Lookup", "Image2Text", "Text2Image",
                                      "KnowledgeGraph", "Database", "Calculator", "Table Verbalizer",
                                      "Code Interpreter"]
    assert {"Finish", "Reflect"} <= set(TOOLS)
    for t in POOL:
        assert t.run is not None and t.definition and t.usage.startswith(t.name + "[")
    assert [t.name for t in default_selection(get_task("HotpotQA").default_tools)] == ["BingSearch", "Retrieve", "Lookup"]
    assert [t.name for t in default_selection(get_task("scienceqa").default_tools)] == ["BingSearch", "Retrieve", "Image2Text"]


def test_load_selection_file(tmp_path):
    f = tmp_path / "t.json"
    f.write_text(json.dumps([{"name": "retrieve", "definition": "x", "usage": "y"},
                             {"name": "Finish"}, {"name": "Lookup"}]))
    assert [t.name for t in load_selection(f)] == ["Retrieve", "Lookup"]
    f.write_text('[\n {"name": "Retrieve"},\n {"name": "Teleport"}\n]')
    with pytest.raises(DataError, match=r"t.json:3: unknown tool 'Teleport'"):
        load_selection(f)


# --- Retrieve / Lookup on the offline corpus -----------------------------------------------

def test_retrieve_hit_miss_and_lookup_paging(corpus):
    env = Environment(wiki=corpus, search=corpus)
    ctx = ctx_for(env)
    retrieve, lookup = TOOLS["Retrieve"].run, TOOLS["Lookup"].run
    assert lookup("Dutch", ctx) == NO_PAGE_LOOKUP
    obs = retrieve("Badr Hari", ctx)
    assert obs.startswith("Badr Hari") and "\n" not in obs
    assert ctx.page.title == "Badr Hari"
    first = lookup("kickbox", ctx)
    assert first.startswith("(Result 1/")                           # the reference's format
    n = int(first.split("/")[1].split(")")[0])
    pages = [first] + [lookup("kickbox", ctx) for _ in range(n - 1)]
    assert [p.split(")")[0] for p in pages] == [f"(Result {i}/{n}" for i in range(1, n + 1)]
    assert lookup("kickbox", ctx) == "No More Results"
    assert lookup("zzyzx", ctx) == "No Results"
    assert lookup("KICKBOX", ctx).startswith("(Result 1/")         # a new keyword starts again
    miss = retrieve("Badr Harri kickboxer", ctx)
    assert miss.startswith("Could not find [Badr Harri kickboxer]. Similar: ['Badr Hari'")
    assert lookup("kickbox", ctx) == NOT_FOUND_LOOKUP


def test_tool_state_is_per_question_under_threads(corpus):
    env = Environment(wiki=corpus, search=corpus)
    titles = ["Badr Hari", "Kelli Ward", "Super Bowl XLVIII", "Metallica"] * 4
    results = {}

    def work(i):
        ctx = ctx_for(env)
        TOOLS["Retrieve"].run(titles[i], ctx)
        results[i] = (ctx.page.title if ctx.page else None, TOOLS["Lookup"].run("the", ctx))

    ts = [threading.Thread(target=work, args=(i,)) for i in range(len(titles))]
    [t.start() for t in ts]
    [t.join() for t in ts]
    for i, title in enumerate(titles):
        assert results[i][0] == title
        assert results[i][1].startswith("(Result 1/")


# --- BingSearch ----------------------------------------------------------------------------

def test_bing_search_falls_back_to_offline_corpus_and_lookup_pages_results(corpus):
    ctx = ctx_for(Environment(wiki=corpus, search=corpus))
    obs = TOOLS["BingSearch"].run("Badr Hari kickboxer controversies", ctx)
    assert ctx.source == "search" and len(ctx.results) == 4          # the reference's count=4
    assert obs == " ".join(ctx.results) and obs.startswith("Badr Hari: ")
    assert TOOLS["Lookup"].run("Badr", ctx).startswith("(Result 1/")


class _SearxHandler(BaseHTTPRequestHandler):
    calls = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        _SearxHandler.calls.append((self.path, self.headers.get("Authorization")))
        body = json.dumps({"results": [{"title": f"T{i}", "content": f"<b>snippet</b> {i} &amp; more"}
                                       for i in range(6)]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_web_search_provider_from_environment(tmp_path, monkeypatch):
    from autoact.tools.cache import DiskCache
    from autoact.tools.search import WebSearch
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _SearxHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AUTOACT_SEARCH_URL", f"http://127.0.0.1:{srv.server_address[1]}/search?format=json&q={{query}}")
        monkeypatch.setenv("AUTOACT_SEARCH_KEY", "secret-key")
        web = WebSearch.from_env(DiskCache(tmp_path / "c.sqlite"))
        ctx = ctx_for(Environment(search=web))
        obs = TOOLS["BingSearch"].run("dog breeds & cats", ctx)
        assert obs == "snippet 0 & more snippet 1 & more snippet 2 & more snippet 3 & more"
        assert _SearxHandler.calls[0] == ("/search?format=json&q=dog+breeds+%26+cats", "Bearer secret-key")
        assert TOOLS["Lookup"].run("snippet 3", ctx) == "(Result 1/1) snippet 3 & more"
        assert TOOLS["Lookup"].run("snippet 5", ctx) == "No Results"      # only the 4 fetched
        TOOLS["BingSearch"].run("dog breeds & cats", ctx_for(Environment(search=web)))
        assert len(_SearxHandler.calls) == 1                      # second time from the cache
    finally:
        srv.shutdown()
        srv.server_close()


def test_web_search_error_is_an_observation(monkeypatch):
    from autoact.tools.search import WebSearch
    from conftest import free_port
    web = WebSearch(f"http://127.0.0.1:{free_port()}/search", timeout=2)
    obs = TOOLS["BingSearch"].run("anything", ctx_for(Environment(search=web)))
    assert obs.startswith("Search error (")


# --- live Wikipedia behind the cache -------------------------------------------------------

class FakeWikipedia:
    """Stands in for the wikipedia package's network functions, counting calls."""

    def __init__(self):
        import wikipedia
        self.wp = wikipedia
        self.calls = 0

    def page(self, title, auto_suggest=True, redirect=True):
        self.calls += 1
        assert auto_suggest is False
        if title == "Mercury":
            raise self.wp.exceptions.DisambiguationError("Mercury", ["Mercury (planet)", "Mercury (element)"])
        if title != "Milhouse Van Houten":
            raise self.wp.exceptions.PageError(title)
        outer = self

        class P:
            title = "Milhouse Van Houten"

            @property
            def content(self):
                outer.calls += 1
                return ("Milhouse Mussolini Van Houten is a recurring character. He is Bart's best "
                        "friend.\n\n== Role ==\nMilhouse has blue hair. Milhouse wears glasses.")
        return P()

    def search(self, query, results=10):
        self.calls += 1
        return ["Milhouse Van Houten", "Milhouse (disambiguation)"][:results]


def test_live_wikipedia_cache_makes_second_run_offline(tmp_path, monkeypatch):
    import wikipedia
    fake = FakeWikipedia()
    monkeypatch.setattr(wikipedia, "page", fake.page)
    monkeypatch.setattr(wikipedia, "search", fake.search)

    def session():
        wiki = LiveWikipedia(tmp_path / "wiki.sqlite", min_interval=0)
        ctx = ctx_for(Environment(wiki=wiki))
        out = [TOOLS["Retrieve"].run("Milhouse Van Houten", ctx),
               TOOLS["Lookup"].run("Milhouse", ctx), TOOLS["Lookup"].run("Milhouse", ctx),
               TOOLS["Retrieve"].run("Milhouse", ctx), TOOLS["Retrieve"].run("Mercury", ctx)]
        return out, wiki

    first, wiki1 = session()
    assert first[0] == "Milhouse Mussolini Van Houten is a recurring character. He is Bart's best friend."
    assert first[1] == "(Result 1/3) Milhouse Mussolini Van Houten is a recurring character."
    assert first[2] == "(Result 2/3) Milhouse has blue hair."
    assert first[3] == "Could not find [Milhouse]. Similar: ['Milhouse Van Houten', 'Milhouse (disambiguation)']"
    assert first[4] == "Could not find [Mercury]. Similar: ['Mercury (planet)', 'Mercury (element)']"
    calls = fake.calls
    assert calls == 5 and wiki1.network_calls == 5
    second, wiki2 = session()
    assert second == first
    assert fake.calls == calls and wiki2.network_calls == 0        # all from the disk cache


def test_live_wikipedia_unreachable_names_offline_option(tmp_path, monkeypatch):
    import requests
    import wikipedia

    def down(*a, **k):
        raise requests.exceptions.ConnectionError("Name or service not known")

    monkeypatch.setattr(wikipedia, "page", down)
    wiki = LiveWikipedia(tmp_path / "w.sqlite", min_interval=0, retries=1, backoff=0)
    with pytest.raises(WikipediaUnavailable, match="--wiki offline"):
        wiki.page("Anything")


# --- Image2Text / Text2Image -----------------------------------------------------------------

def test_image2text_uses_caption_and_ocr_words():
    from autoact.tasks import get_task
    ex = get_task("scienceqa").load_file(REPO / "Self_Instruct/Meta_sample/Meta_Scienceqa.json")[0]
    obs = TOOLS["Image2Text"].run("image", ctx_for(Environment(), **ex.fields))
    assert obs == ("Image caption: An aerial view of a painting of a forest. OCR result: Oklahoma, "
                   "West Virginia, Arizona, Louisiana")
    assert TOOLS["Image2Text"].run("image", ctx_for(Environment(), caption="A cat.", orc="[]")) == \
        "Image caption: A cat. OCR result: no text detected"
    assert TOOLS["Image2Text"].run("x", ctx_for(Environment())) == "This question doesn't have an image."
    assert "not available" in TOOLS["Text2Image"].run("blue sky", ctx_for(Environment()))
