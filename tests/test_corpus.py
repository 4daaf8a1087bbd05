"""The offline corpus (``autoact.tools.corpus``) and its build script, on the shipped HotpotQA
contexts: exact/case-insensitive pages, BM25 neighbours, robust queries, the sentence splitter,
deduplication, file:line errors, atomic rebuilds, threads, and the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import run_cli

from autoact.errors import DataError
from autoact.tools.base import Page
from autoact.tools.corpus import (
    OfflineCorpus,
    build_index,
    distractor_index,
    hotpotqa_documents,
    hotpotqa_files,
    query_words,
    split_sentences,
)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_jsonl(path, rows) -> None:
    path.write_text("".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in rows),
                    encoding="utf-8")


@pytest.fixture(scope="module")
def hotpot_index(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "hotpotqa.sqlite"
    n = build_index(hotpotqa_documents(hotpotqa_files()), path, progress=False)
    return path, n


@pytest.fixture(scope="module")
def corpus(hotpot_index):
    c = OfflineCorpus(hotpot_index[0])
    yield c
    c.close()


# ----------------------------------------------------------------------------- HotpotQA corpus

def test_hotpotqa_documents_join_sentences_with_single_spaces():
    files = hotpotqa_files()
    assert [f.name for f in files] == ["easy.jsonl", "hard.jsonl", "medium.jsonl"]
    docs = list(hotpotqa_documents(files))
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert len(rows) == 300 and len(docs) == sum(len(r["context"]) for r in rows)  # repeats too
    text = dict(docs)["Badr Hari"]
    assert text.startswith("Badr Hari (Arabic:") and "  " not in text.replace("\u200e \u200e", "")
    assert "Oostzaan. He is a former K-1 Heavyweight champion" in text


def test_build_counts_unique_titles(hotpot_index):
    path, n = hotpot_index
    unique = {" ".join(t.split()).casefold() for t, _ in hotpotqa_documents(hotpotqa_files())}
    assert n == len(unique) and 2000 < n < 3000
    assert len(OfflineCorpus(path)) == n


def test_page_exact_case_insensitive_and_miss(corpus):
    page = corpus.page("Badr Hari")
    assert isinstance(page, Page) and page.title == "Badr Hari"
    assert len(page.sentences) == 3
    assert "kickboxer" in page.sentences[0] and page.sentences[0].endswith("Oostzaan.")
    assert page.sentences[1].startswith("He is a former K-1 Heavyweight champion")
    for spelling in ("badr hari", "BADR HARI", "  Badr   Hari ", "Badr_Hari"):
        assert corpus.page(spelling).title == "Badr Hari", spelling
    assert corpus.page("Badr Harri") is None
    assert corpus.page("") is None and corpus.page("   ") is None


def test_similar_ranks_near_miss_first(corpus):
    assert corpus.similar("Badr Harri kickboxer")[0] == "Badr Hari"
    assert corpus.similar("badr hari")[0] == "Badr Hari"
    assert len(corpus.similar("Badr Harri kickboxer", k=2)) <= 2
    assert corpus.similar("zzqxj nonexistentword") == []


def test_search_snippets_title_and_two_sentences(corpus):
    hits = corpus.search("once considered the best kickboxer in the world controversies", k=4)
    assert 1 <= len(hits) <= 4
    assert hits[0].startswith("Badr Hari: Badr Hari (Arabic:")
    assert hits[0].endswith('"K-1 World Grand Prix 2009" finalist.')   # exactly 2 sentences
    assert corpus.search("", k=4) == [] and corpus.search("kickboxer", k=0) == []


@pytest.mark.parametrize("query", [
    'AND OR NOT "(" * :', "NEAR(badr hari, 2)", "title: hari", '"unbalanced quote', "(((", "^hari",
    "badr* -hari", "hari AND", "OR", "kick-boxer's \"best\" (world)", ":", "*", "  ", "\x00", "é ü",
    "'; DROP TABLE docs; --", "{title text}: hari", "a" * 500, "badr " * 100,
])
def test_fts_syntax_in_queries_never_crashes(corpus, query):
    assert isinstance(corpus.similar(query), list)
    assert isinstance(corpus.search(query), list)


def test_operator_words_are_plain_words(corpus):
    # "NOT" is just a (stop)word: the query still finds Badr Hari instead of excluding it
    assert corpus.similar("NOT Badr AND Hari OR kickboxer")[0] == "Badr Hari"


def test_query_words_fold_case_and_accents():
    assert query_words("Verano de Escándalo (1998) VERANO") == ["verano", "de", "escandalo", "1998"]
    assert query_words("Kick-boxer's") == ["kick", "boxer", "s"]


def test_accented_title_found_without_accent(corpus):
    assert corpus.similar("Verano de Escandalo 1998")[0] == "Verano de Escándalo (1998)"
    assert corpus.page("verano de escándalo (1998)").title == "Verano de Escándalo (1998)"


def test_concurrent_pages_from_8_threads(corpus):
    titles = ["Badr Hari", "Global Fighting Championship", "Protection racket", "E. Gordon Gee"]

    def work(i):
        out = []
        for j in range(40):
            t = titles[(i + j) % len(titles)]
            out.append((t, corpus.page(t.lower()).title, corpus.page(t + " x")))
        out.append(corpus.similar("Badr Harri kickboxer")[0])
        return out

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    for res in results:
        *pages, best = res
        assert all(want == got and miss is None for want, got, miss in pages)
        assert best == "Badr Hari"


def test_connections_of_finished_threads_are_closed(corpus):
    import threading
    for _ in range(12):
        t = threading.Thread(target=corpus.page, args=("Badr Hari",))
        t.start()
        t.join()
    assert corpus.page("Badr Hari") is not None
    assert len(corpus._connections) <= 3     # this thread, the last one, and the pool's leftovers


def test_multi_paragraph_text_sets_intro(tmp_path):
    """The intro (what Retrieve shows) is the text up to the first blank line, as the
    reference's docstore returned ``page_content.split("\\n\\n")[0]``."""
    from autoact.tools import TOOLS, Environment, ToolContext
    build_index([("Multi", "First para. Still first.\n\nSecond para. More."), ("Single", "A. B c."),
                 ("Lead", "One. Two.\nThree in the lead. Four.\n\n== History ==\nLater. Text.")],
                tmp_path / "m.sqlite", progress=False)
    c = OfflineCorpus(tmp_path / "m.sqlite")
    page = c.page("multi")
    assert page.sentences == ["First para.", "Still first.", "Second para.", "More."]
    assert page.intro == 2 and c.page("single").intro == 1
    lead = c.page("lead")
    assert lead.intro == 4 and lead.sentences[4:] == ["Later.", "Text."]       # header dropped
    ctx = ToolContext(env=Environment(wiki=c, search=c))
    assert TOOLS["Retrieve"].run("Lead", ctx) == "One. Two. Three in the lead. Four."
    assert TOOLS["Lookup"].run("Later", ctx) == "(Result 1/1) Later."


# ----------------------------------------------------------------------------- sentences

@pytest.mark.parametrize("text, expected", [
    ("One. Two! Three? Four.", ["One.", "Two!", "Three?", "Four."]),
    ("He moved to the U.S. in 1990. Then he left.", ["He moved to the U.S. in 1990.", "Then he left."]),
    ("Mr. Smith met Dr. Jones at St. Mary's. They talked.",
     ["Mr. Smith met Dr. Jones at St. Mary's.", "They talked."]),
    ("Written by J. K. Rowling. It sold well.", ["Written by J. K. Rowling.", "It sold well."]),
    ("Fruit, e.g. Apples, i.e. Food. Next one.", ["Fruit, e.g. Apples, i.e. Food.", "Next one."]),
    ("Sammy Davis Jr. Was there. Yes.", ["Sammy Davis Jr. Was there.", "Yes."]),
    ("It costs 3.5 dollars. 2010 was a year.", ["It costs 3.5 dollars.", "2010 was a year."]),
    ('He said "Stop." Then "Go!" She left.', ['He said "Stop."', 'Then "Go!"', "She left."]),
    ("lower case. after a period stays.", ["lower case. after a period stays."]),
    ("Ends without period", ["Ends without period"]),
    ("First line\n\nSecond line. Third.", ["First line", "Second line.", "Third."]),
    ("", []),
])
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


# ----------------------------------------------------------------------------- building

def test_duplicate_titles_keep_longest_text(tmp_path):
    docs = [("Foo", "Short."), ("Bar", "Bar text."), ("foo ", "A much longer text. With two sentences."),
            ("FOO", "Mid length text."), ("Same", "aaaa"), ("same", "bbbb")]
    n = build_index(docs, tmp_path / "d.sqlite", progress=False)
    assert n == 3
    c = OfflineCorpus(tmp_path / "d.sqlite")
    page = c.page("FOO")
    assert page.title == "foo" and page.sentences == ["A much longer text.", "With two sentences."]
    assert c.page("same").sentences == ["aaaa"]           # a tie keeps the first
    assert c.similar("longer")[0] == "foo"
    assert c.similar("short") == []                        # the dropped text is not indexed


def test_jsonl_source_and_empty_titles_skipped(tmp_path):
    src = tmp_path / "docs.jsonl"
    write_jsonl(src, [{"title": "Alpha Page", "text": "Alpha is first. It leads."}, "\n",
                      {"title": "  ", "text": "no title"},
                      {"title": "Beta", "text": "Beta follows alpha.", "extra": 1}])
    assert build_index(src, tmp_path / "i.sqlite", progress=False) == 2
    c = OfflineCorpus(tmp_path / "i.sqlite")
    assert c.page("alpha page").sentences == ["Alpha is first.", "It leads."]
    assert c.similar("alpha")[:2] == ["Alpha Page", "Beta"]


@pytest.mark.parametrize("bad, message", [
    ('{"title": "x", "text": ', "invalid JSON"),
    ('["title", "text"]', '"title" and "text"'),
    ('{"title": "x"}', '"title" and "text"'),
    ('{"title": 5, "text": "t"}', "must be strings"),
])
def test_bad_source_line_names_file_and_line(tmp_path, bad, message):
    src = tmp_path / "bad.jsonl"
    write_jsonl(src, [{"title": "A", "text": "a"}, {"title": "B", "text": "b"}, bad + "\n",
                      {"title": "D", "text": "d"}])
    with pytest.raises(DataError) as err:
        build_index(src, tmp_path / "x.sqlite", progress=False)
    assert f"{src}:3:" in str(err.value) and message in str(err.value)
    assert not (tmp_path / "x.sqlite").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]   # no temp file left


def test_failed_rebuild_leaves_existing_index_untouched(tmp_path):
    index = tmp_path / "i.sqlite"
    build_index([("Keep Me", "Original text.")], index, progress=False)
    before = digest(index)
    src = tmp_path / "bad.jsonl"
    write_jsonl(src, [{"title": "New", "text": "n"}, {"title": "New 2", "text": "n"}, "{oops\n"])
    with pytest.raises(DataError, match=r"bad\.jsonl:3:"):
        build_index(src, index, progress=False)

    def broken():
        yield "Fine", "fine"
        raise RuntimeError("source died")
    with pytest.raises(RuntimeError):
        build_index(broken(), index, progress=False)
    with pytest.raises(DataError, match="document 2"):
        build_index([("ok", "t"), ("only one field",)], index, progress=False)
    assert digest(index) == before
    assert OfflineCorpus(index).page("keep me").sentences == ["Original text."]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "i.sqlite"]


def test_rebuild_replaces_index_atomically(tmp_path):
    index = tmp_path / "i.sqlite"
    build_index([("Old", "old text")], index, progress=False)
    reader = OfflineCorpus(index)
    assert reader.page("old") is not None
    build_index([("New", "new text")], index, progress=False)
    assert OfflineCorpus(index).page("old") is None and OfflineCorpus(index).page("new")
    assert reader.page("old") is not None      # an open reader keeps its (old) file


def test_missing_or_invalid_index_says_how_to_build(tmp_path):
    with pytest.raises(DataError, match=r"Scripts/build_corpus\.py --source .* --index"):
        OfflineCorpus(tmp_path / "nope.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database at all, just text" * 100)
    with pytest.raises(DataError, match="not an offline corpus index.*build_corpus"):
        OfflineCorpus(junk)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE t(x)")
    with pytest.raises(DataError, match="not an offline corpus index"):
        OfflineCorpus(other)
    with pytest.raises(DataError, match="is not a file"):
        OfflineCorpus(tmp_path)


def test_distractor_index_builds_once_and_is_labelled(tmp_path):
    target = tmp_path / "cache" / "corpus.sqlite"
    assert distractor_index(target) == target and target.is_file()
    stamp = target.stat().st_mtime_ns
    assert distractor_index(target) == target and target.stat().st_mtime_ns == stamp
    c = OfflineCorpus(target)
    assert c.page("Badr Hari") is not None
    assert c.distractor and c.label == "distractor" and c.corpus_name == "hotpotqa-eval-contexts"


# ----------------------------------------------------------------------------- CLI

def test_cli_builds_then_refuses_to_overwrite(tmp_path):
    index = tmp_path / "x.sqlite"
    proc = run_cli("Scripts/build_corpus.py", "--source", "hotpotqa", "--index", str(index), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "indexed 2," in proc.stdout and "docs/s" in proc.stdout and proc.stderr == ""
    before = digest(index)
    assert OfflineCorpus(index).page("Badr Hari") is not None

    proc = run_cli("Scripts/build_corpus.py", "--source", "hotpotqa", "--index", str(index), "--quiet")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "already exists" in lines[0] and "--overwrite" in lines[0]
    assert digest(index) == before

    src = tmp_path / "more.jsonl"
    write_jsonl(src, [{"title": "Extra Doc", "text": "An extra document."}])
    proc = run_cli("Scripts/build_corpus.py", "--source", "hotpotqa", "--source", str(src),
                   "--index", str(index), "--overwrite", "--quiet")
    assert proc.returncode == 0, proc.stderr
    c = OfflineCorpus(index)
    assert c.page("extra doc") is not None and c.page("Badr Hari") is not None


def test_cli_bad_source_is_one_line_error(tmp_path):
    src = tmp_path / "bad.jsonl"
    write_jsonl(src, [{"title": "A", "text": "a"}, "not json\n"])
    proc = run_cli("Scripts/build_corpus.py", "--source", str(src), "--index",
                   str(tmp_path / "y.sqlite"), "--quiet")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{src}:2:" in proc.stderr and not (tmp_path / "y.sqlite").exists()


def test_cli_help():
    proc = run_cli("Scripts/build_corpus.py", "--help")
    assert proc.returncode == 0 and "usage:" in proc.stdout
    assert "--source" in proc.stdout and "--overwrite" in proc.stdout and "hotpotqa" in proc.stdout


def test_index_file_is_world_readable(hotpot_index):
    assert os.stat(hotpot_index[0]).st_mode & 0o044 == 0o044
