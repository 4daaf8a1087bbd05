"""Offline Wikipedia stand-in: ``{title, text}`` documents in one SQLite file with FTS5.

Build an index once (``python Scripts/build_corpus.py --source DUMP --index corpus.sqlite`` or
:func:`build_index`), then open it with :class:`OfflineCorpus`, which is both the
``WikiBackend`` of Retrieve/Lookup (:meth:`~OfflineCorpus.page`, :meth:`~OfflineCorpus.similar`)
and the ``SearchProvider`` fallback of BingSearch (:meth:`~OfflineCorpus.search`). Sources:
JSONL of ``{title, text}``, the HotpotQA full-wiki abstracts dump (:func:`wiki_dump_documents`:
the open setting, offline) and the shipped evaluation contexts (:func:`hotpotqa_documents`:
the closed *distractor* setting; :func:`distractor_index` builds it on first use). An index
records its name and whether it holds evaluation contexts, so every run can say which setting
it used.

One SQLite file: ``docs`` (title key index: ``page()`` is one lookup), two external-content
FTS5 tables (texts, titles) used only to find candidates, and ``terms`` (document frequencies);
ranking is BM25F in Python over a bounded candidate set, so queries stay in milliseconds at a
million documents. The schema, the build and the ranking in detail, with their measured figures:
docs/retrieval.md.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
import unicodedata
from pathlib import Path
from typing import Iterable, Iterator

from autoact.data import HOTPOTQA_DIR  # the shipped evaluation questions (their contexts: the distractor corpus)
from autoact.errors import ConfigError, DataError
from autoact.io import fsync_dir, remove_stale_temps, temp_name
from autoact.tools.base import Page

FORMAT_VERSION = "3"
TOKENIZE = "unicode61 remove_diacritics 2"
TITLE_WEIGHT = 10.0          # BM25F column weights for similar() (titles)
TEXT_WEIGHT = 1.0
SEARCH_TITLE_WEIGHT = 2.0    # search() (snippets for a question) leans on the text
BM25_K1 = 1.2
BM25_B = 0.75
MAX_TERMS = 8                # query words used to find candidates (the rarest ones)
CANDIDATES = 30              # documents fetched per stage (title matches, text matches) and scored
AND_BUDGET_US = 1000         # estimated microseconds the AND queries of one stage may take
#: the distractor corpus's file name in the user cache folder (:func:`autoact.io.user_cache_dir`)
DISTRACTOR_INDEX = f"hotpotqa_distractor.v{FORMAT_VERSION}.sqlite"
DISTRACTOR_NAME = "hotpotqa-eval-contexts"

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has
have having he her here hers herself him himself his how i if in into is it its itself just me
more most my myself no nor not of off on once only or other our ours ourselves out over own same
she should so some such than that the their theirs them themselves then there these they this
those through to too under until up very was we were what when where which while who whom why
will with would you your yours yourself yourselves
""".split())


# ----------------------------------------------------------------------------- text helpers

def title_key(title: str) -> str:
    """The case- and whitespace-insensitive lookup key of a title."""
    return " ".join(title.split()).casefold()


_WORD = re.compile(r"[^\W_]+")


_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _fold(text: str) -> str:
    """Lower-cased, Latin diacritics removed (what ``remove_diacritics 2`` does to a token)."""
    if text.isascii():
        return text.lower()
    text = _COMBINING.sub("", unicodedata.normalize("NFD", text.lower()))
    return unicodedata.normalize("NFC", text)


def _count(text: str, word: str) -> int:
    """Occurrences of ``word`` in folded ``text`` as a whole token (not inside a longer word)."""
    n = 0
    size = len(word)
    end = len(text)
    i = text.find(word)
    while i >= 0:
        j = i + size
        if (i == 0 or not text[i - 1].isalnum()) and (j >= end or not text[j].isalnum()):
            n += 1
        i = text.find(word, j)
    return n


def tokens(text: str) -> list[str]:
    """The words of ``text`` as FTS5's ``unicode61 remove_diacritics 2`` tokenizer sees them:
    runs of letters and digits, lower-cased, accents removed."""
    return _WORD.findall(_fold(text))


def query_words(query: str) -> list[str]:
    """:func:`tokens` of ``query`` in order, without repeats."""
    return list(dict.fromkeys(tokens(query)))


def _fts_string(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


_ABBREVIATIONS = frozenset("""
mr mrs ms dr prof st jr sr mt ft gen col lt sgt capt cmdr adm gov sen rep rev hon pres vs
inc ltd co corp bros no nos vol vols fig figs pp approx dept univ ave blvd jan feb mar apr jun
jul aug sep sept oct nov dec cf ca op al est lit ed eds trans
""".split())
_BOUNDARY = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+")
_OPENERS = "\"'\u201c\u2018([¿¡"


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences.

    A sentence ends at ``.``, ``!`` or ``?`` (optionally followed by closing quotes or brackets)
    followed by whitespace and then an upper-case letter, a digit or an opening quote/bracket;
    and at line breaks. A period does not end a sentence after a common abbreviation (``Mr.``,
    ``Dr.``, ``St.``, ``Jr.``, ``Inc.``, month names, ...), after a single capital letter (the
    initials of ``J. K. Rowling``) or after a dotted abbreviation (``U.S.``, ``e.g.``, ``i.e.``,
    ``Ph.D.``).
    """
    out: list[str] = []
    for para in text.splitlines():
        para = para.strip()
        if not para:
            continue
        start = 0
        for m in _BOUNDARY.finditer(para):
            end = m.end()
            if end >= len(para):
                break
            nxt = para[end]
            if nxt in _OPENERS:
                nxt = para[end + 1] if end + 1 < len(para) else ""
            if not (nxt.isupper() or nxt.isdigit()):
                continue
            if para[m.start()] == ".":
                word_start = para.rfind(" ", start, m.start()) + 1
                word = para[word_start:m.start()].lstrip(_OPENERS)
                if (word.lower() in _ABBREVIATIONS or "." in word
                        or (len(word) == 1 and word.isupper())):
                    continue
            sentence = para[start:end].strip()
            if sentence:
                out.append(sentence)
            start = end
        tail = para[start:].strip()
        if tail:
            out.append(tail)
    return out


_HEADER = re.compile(r"^=+\s*.*?\s*=+$")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def page_from_text(title: str, text: str) -> Page:
    """A page from its plain text: every sentence (for Lookup), section headers (``== X ==``)
    dropped; the intro (what Retrieve shows) is the text up to the first blank line, as the
    reference's Wikipedia docstore returned a page's ``split("\\n\\n")[0]``."""
    sentences: list[str] = []
    intro = None
    for i, chunk in enumerate(_BLANK_LINE.split(text.strip())):
        lines = [ln for ln in chunk.split("\n") if ln.strip() and not _HEADER.match(ln.strip())]
        sentences += split_sentences("\n".join(lines))
        if i == 0:
            intro = len(sentences)
    return Page(title=title, sentences=sentences, intro=intro)


# ----------------------------------------------------------------------------- sources

def jsonl_documents(path: str | os.PathLike) -> Iterator[tuple[str, str]]:
    """Yield ``(title, text)`` from a JSONL file of ``{"title", "text"}`` objects; a bad line
    raises :class:`DataError` naming ``file:line``."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file" if not p.exists() else f"{p}: is not a file")
    loads = json.loads
    with open(p, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                obj = loads(raw)
            except ValueError as err:   # JSONDecodeError and UnicodeDecodeError
                if not raw.strip():
                    continue
                msg = err.msg if isinstance(err, json.JSONDecodeError) else "not UTF-8"
                raise DataError(f"{p}:{lineno}: invalid JSON line: {msg}") from None
            try:
                title, text = obj["title"], obj["text"]
            except (TypeError, KeyError):
                raise DataError(f'{p}:{lineno}: expected an object with "title" and "text"') from None
            if type(title) is not str or type(text) is not str:
                raise DataError(f'{p}:{lineno}: "title" and "text" must be strings')
            yield title, text


def hotpotqa_documents(paths: Iterable[str | os.PathLike] | str | os.PathLike) -> Iterator[tuple[str, str]]:
    """Yield ``(title, text)`` for every context paragraph of HotpotQA JSONL files (rows with
    ``"context": [[title, [sentence, ...]], ...]``); text is the stripped sentences joined with
    single spaces. Repeated titles are yielded again (:func:`build_index` keeps the longest)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    from autoact.io import iter_jsonl
    for path in paths:
        for line, row in iter_jsonl(path):
            ctx = row.get("context") if isinstance(row, dict) else None
            if not isinstance(ctx, list):
                raise DataError(f'{path}:{line}: expected an object with a "context" list')
            for item in ctx:
                if (not isinstance(item, (list, tuple)) or len(item) != 2
                        or not isinstance(item[0], str) or not isinstance(item[1], list)):
                    raise DataError(f"{path}:{line}: a context item must be [title, [sentence, ...]]")
                title, sentences = item
                yield title, " ".join(s.strip() for s in sentences if isinstance(s, str) and s.strip())


def hotpotqa_files() -> list[Path]:
    """The HotpotQA JSONL files shipped with the project."""
    files = sorted(HOTPOTQA_DIR.glob("*.jsonl"))
    if not files:
        raise DataError(f"{HOTPOTQA_DIR}: no HotpotQA *.jsonl files found")
    return files


_LINK = re.compile(r"</?a\b[^>]*>")


def _dump_text(title: str, text) -> str | None:
    """A dump record's ``text``: a list of sentences (the abstracts dump) or a list of
    paragraphs, each a list of sentences (the full dump; a leading paragraph that only repeats
    the title is dropped). Sentences carry their own leading spaces and are joined as they are;
    paragraphs are separated by a blank line. Link markup, if any, is removed."""
    if isinstance(text, str):
        return _LINK.sub("", text)
    if not isinstance(text, list):
        return None
    if all(isinstance(x, str) for x in text):
        return _LINK.sub("", "".join(text))
    paragraphs = []
    for para in text:
        if isinstance(para, str):
            para = [para]
        if not isinstance(para, list) or not all(isinstance(x, str) for x in para):
            return None
        joined = _LINK.sub("", "".join(para)).strip()
        if joined:
            paragraphs.append(joined)
    if paragraphs and paragraphs[0] == title.strip():
        paragraphs = paragraphs[1:]
    return "\n\n".join(paragraphs)


def _dump_lines(stream, where: str) -> Iterator[tuple[str, str]]:
    loads = json.loads
    for lineno, raw in enumerate(stream, 1):
        if not raw.strip():
            continue
        try:
            obj = loads(raw)
        except ValueError as err:
            msg = err.msg if isinstance(err, json.JSONDecodeError) else "not UTF-8"
            raise DataError(f"{where}:{lineno}: invalid JSON line: {msg}") from None
        title = obj.get("title") if isinstance(obj, dict) else None
        text = _dump_text(title, obj.get("text")) if isinstance(title, str) else None
        if text is None:
            raise DataError(f'{where}:{lineno}: expected an object with "title" (a string) and '
                            f'"text" (a list of sentences)')
        yield title, text


def _is_dump_member(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and (base.startswith("wiki_") or base.endswith((".bz2", ".jsonl")))


def wiki_dump_documents(path: str | os.PathLike) -> Iterator[tuple[str, str]]:
    """Yield ``(title, text)`` from the HotpotQA Wikipedia dump format: bz2-compressed JSON
    lines (``{"id", "url", "title", "text": [sentence, ...], ...}``), as the whole
    ``enwiki-...-abstracts.tar.bz2`` archive (read as a stream, never unpacked to disk), an
    unpacked folder of ``*/wiki_*.bz2`` files, or one such file. Memory stays bounded: one
    line at a time."""
    import bz2
    import tarfile
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and _is_dump_member(str(f)))
        if not files:
            raise DataError(f"{p}: no wiki_* dump files in this folder")
        for f in files:
            yield from wiki_dump_documents(f)
        return
    name = p.name.lower()
    if name.endswith((".tar", ".tar.bz2", ".tbz2", ".tar.gz", ".tgz")):
        try:
            with tarfile.open(p, "r|*") as tar:
                for member in tar:
                    if not member.isfile() or not _is_dump_member(member.name):
                        continue
                    raw = tar.extractfile(member)
                    where = f"{p}:{member.name}"
                    stream = bz2.open(raw, "rb") if member.name.endswith(".bz2") else raw
                    try:
                        yield from _dump_lines(stream, where)
                    except (OSError, EOFError) as err:
                        raise DataError(f"{where}: cannot decompress ({err})") from None
        except tarfile.TarError as err:
            raise DataError(f"{p}: not a readable tar archive ({err})") from None
        return
    try:
        with (bz2.open(p, "rb") if name.endswith(".bz2") else open(p, "rb")) as stream:
            yield from _dump_lines(stream, str(p))
    except (OSError, EOFError) as err:
        raise DataError(f"{p}: cannot read ({err})") from None


# ----------------------------------------------------------------------------- build

_SCHEMA = f"""
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE docs(id INTEGER PRIMARY KEY, key TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL);
CREATE VIRTUAL TABLE fts USING fts5(text, content='docs', content_rowid='id',
                                    tokenize='{TOKENIZE}', detail=none, columnsize=0);
CREATE VIRTUAL TABLE titles USING fts5(title, content='docs', content_rowid='id',
                                       tokenize='{TOKENIZE}', detail=none, columnsize=0);
CREATE TABLE terms(term TEXT PRIMARY KEY, df INTEGER NOT NULL, tdf INTEGER NOT NULL) WITHOUT ROWID;
"""

# keep one row per title key: the longest text, the first one on a tie
_DEDUP = """
DELETE FROM docs WHERE id IN (
  SELECT id FROM (
    SELECT id, row_number() OVER (PARTITION BY key ORDER BY length(text) DESC, id) AS r
    FROM docs WHERE key IN (SELECT key FROM docs GROUP BY key HAVING count(*) > 1))
  WHERE r > 1)
"""


def _batches(docs: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[int, str, str, str]]]:
    """``(id, key, title, text)`` rows in lists of ``size``; ids count from 1."""
    batch: list[tuple[int, str, str, str]] = []
    n = 0
    for item in docs:
        try:
            title, text = item
        except (TypeError, ValueError):
            raise DataError(f"document {n + 1}: expected a (title, text) pair, got {item!r:.80}") from None
        if type(title) is not str or type(text) is not str:
            raise DataError(f"document {n + 1}: title and text must be strings")
        title = " ".join(title.split())
        if not title:
            continue
        n += 1
        batch.append((n, title.casefold(), title, text))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _length(text: str) -> int:
    """Length of a text in words, for BM25's length normalisation (whitespace-separated runs:
    a cheap stand-in for the token count, used both for the averages and at query time)."""
    return len(text.split())


def _average_lengths(con: sqlite3.Connection, n_max: int, sample: int = 5000) -> tuple[float, float]:
    """Average title and text length in words (:func:`_length`), from a fixed sample."""
    import random
    if n_max <= 0:
        return 1.0, 1.0
    ids = sorted(random.Random(0).sample(range(1, n_max + 1), min(sample, n_max)))
    titles = texts = docs = 0
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for title, text in con.execute(
                f"SELECT title, text FROM docs WHERE id IN ({','.join('?' * len(chunk))})", chunk):
            titles += _length(title)
            texts += _length(text)
            docs += 1
    if not docs:
        return 1.0, 1.0
    return max(titles / docs, 1.0), max(texts / docs, 1.0)


def build_index(source, index_path: str | os.PathLike, *, progress: bool = True,
                batch: int = 10_000, name: str | None = None, distractor: bool = False,
                label: str | None = None) -> int:
    """Index documents into one SQLite file at ``index_path``; returns the number of documents
    (none is an error naming ``label``, or ``source`` when it is a path).

    ``source`` is a JSONL file of ``{"title", "text"}`` objects (a bad line raises
    :class:`DataError` naming ``file:line``) or an iterable of ``(title, text)`` pairs. Titles
    that are equal up to case and whitespace are one document (the longest text wins; the first
    one on a tie); documents with an empty title are skipped. The index is written to a
    temporary file next to ``index_path`` and renamed over it only when complete, so a failed
    build leaves whatever was at ``index_path`` untouched. ``name`` (default: the index file's
    stem) and ``distractor`` (the corpus holds evaluation contexts) go into ``meta``.
    """
    if isinstance(source, (str, os.PathLike)):
        docs: Iterable[tuple[str, str]] = jsonl_documents(source)
    else:
        docs = source
    target = Path(index_path).expanduser()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{target.parent}: cannot create the folder ({err.strerror})") from None
    remove_stale_temps(target)          # a build killed earlier left its temporary file
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=temp_name(target), suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise ConfigError(f"{target}: cannot write here ({err.strerror})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    bar = None
    con = None
    try:
        con = sqlite3.connect(tmp, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE",
                       "temp_store=MEMORY", "cache_size=-400000"):
            con.execute(f"PRAGMA {pragma}")
        con.executescript(_SCHEMA)
        con.execute("BEGIN")
        if progress:
            from tqdm import tqdm
            bar = tqdm(desc="reading", unit=" docs", unit_scale=True, file=sys.stderr)
        n_max = 0
        for rows in _batches(docs, max(1, batch)):
            con.executemany("INSERT INTO docs(id, key, title, text) VALUES (?, ?, ?, ?)", rows)
            n_max = rows[-1][0]
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()
            bar = None
        if not n_max:
            where = label or (source if isinstance(source, (str, os.PathLike)) else "the source")
            raise DataError(f"{where}: no documents to index")
        t0 = time.perf_counter()
        if progress:
            print("indexing ...", file=sys.stderr, flush=True)
        con.execute("CREATE INDEX docs_key ON docs(key)")
        con.execute(_DEDUP)
        for table in ("fts", "titles"):
            # one FTS5 pass over the table: big in-memory hash, no merging until the end
            con.execute(f"INSERT INTO {table}({table}, rank) VALUES ('automerge', 0)")
            con.execute(f"INSERT INTO {table}({table}, rank) VALUES ('hashsize', ?)", (64 << 20,))
            con.execute(f"INSERT INTO {table}({table}) VALUES ('rebuild')")
            con.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")
            con.execute(f"INSERT INTO {table}({table}, rank) VALUES ('automerge', 4)")
            con.execute(f"CREATE VIRTUAL TABLE temp.{table}_vocab USING fts5vocab(main, {table}, 'row')")
        con.execute("INSERT INTO terms SELECT term, doc, 0 FROM temp.fts_vocab")
        con.execute("INSERT INTO terms SELECT term, 0, doc FROM temp.titles_vocab WHERE true "
                    "ON CONFLICT(term) DO UPDATE SET tdf = excluded.tdf")
        n = con.execute("SELECT count(*) FROM docs").fetchone()[0]
        avg_title, avg_text = _average_lengths(con, n_max)
        con.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("format", FORMAT_VERSION), ("docs", str(n)), ("tokenize", TOKENIZE),
            ("avg_title_words", f"{avg_title:.3f}"), ("avg_text_words", f"{avg_text:.3f}"),
            ("name", name or target.stem), ("distractor", "1" if distractor else "0"),
            ("built", time.strftime("%Y-%m-%dT%H:%M:%S"))])
        con.execute("COMMIT")
        con.close()
        con = None
        if progress:
            print(f"indexed in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        if bar is not None:
            bar.close()
        if con is not None:
            con.close()
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    fsync_dir(target.parent)
    return n


def distractor_index(path: str | os.PathLike | None = None) -> Path:
    """The distractor corpus: the shipped HotpotQA evaluation questions' own context paragraphs
    (gold paragraphs included), at ``path`` or in the user cache folder (``$AUTOACT_CACHE``, else
    ``$XDG_CACHE_HOME/autoact``, else ``~/.cache/autoact``); built on first use (about a
    second). Concurrent first uses are safe: each builds under its own temporary name and
    renames it into place."""
    from autoact.io import user_cache_dir
    p = Path(path).expanduser() if path else user_cache_dir() / DISTRACTOR_INDEX
    if not p.exists():
        build_index(hotpotqa_documents(hotpotqa_files()), p, progress=False, name=DISTRACTOR_NAME,
                    distractor=True)
    return p


def _corpora_dir() -> Path:
    from autoact.io import user_cache_dir
    return user_cache_dir() / "corpora"


def context_index(documents: Iterable[tuple[str, str]]) -> Path:
    """A distractor corpus of other questions' context paragraphs (``--task_path hf:...``: the
    dataset's own, not the shipped subset's), built on first use into
    the user cache folder's ``corpora/`` under a name that changes with the documents."""
    import hashlib
    docs = list(dict.fromkeys(documents))
    digest = hashlib.sha256(json.dumps(docs, ensure_ascii=False).encode()).hexdigest()[:12]
    root = _corpora_dir()
    p = root / f"distractor-{digest}.v{FORMAT_VERSION}.sqlite"
    if not p.exists():
        build_index(iter(docs), p, progress=False, name=DISTRACTOR_NAME, distractor=True)
    return p


def corpus_index(source: str | os.PathLike, name: str) -> Path:
    """The index of a task's own corpus (a JSONL of ``{title, text}``), built on first use into
    the user cache folder's ``corpora/`` under a name that changes with the file's content."""
    src = Path(source)
    import hashlib
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    root = _corpora_dir()
    p = root / f"{name}-{digest}.v{FORMAT_VERSION}.sqlite"
    if not p.exists():
        build_index(jsonl_documents(src), p, progress=False, name=name)
    return p


# ----------------------------------------------------------------------------- reading

class OfflineCorpus:
    """Read-only access to an index built by :func:`build_index`; thread-safe (one SQLite
    connection per thread, opened read-only and immutable: an index is never changed in place,
    a rebuild renames a new file over it)."""

    name = "offline"

    def __init__(self, index_path: str | os.PathLike):
        self.path = Path(index_path).expanduser()
        how = f"build it with: python Scripts/build_corpus.py --source DUMP_OR_JSONL --index {self.path}"
        if not self.path.exists():
            raise DataError(f"{self.path}: no offline corpus index; {how}")
        if not self.path.is_file():
            raise DataError(f"{self.path}: is not a file; {how}")
        self._uri = self.path.resolve().as_uri() + "?mode=ro&immutable=1"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        try:
            con = self._con()
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            con.execute("SELECT rowid FROM fts WHERE fts MATCH '\"x\"' LIMIT 1").fetchall()
            con.execute("SELECT rowid FROM titles WHERE titles MATCH '\"x\"' LIMIT 1").fetchall()
            con.execute("SELECT df, tdf FROM terms LIMIT 1").fetchall()
            con.execute("SELECT id, title, text FROM docs WHERE key = ''").fetchall()
        except (sqlite3.Error, DataError) as err:
            self.close()
            raise DataError(f"{self.path}: not an offline corpus index ({err}); {how}") from None
        if meta.get("format") != FORMAT_VERSION:
            self.close()
            raise DataError(f"{self.path}: index format {meta.get('format')!r}, expected "
                            f"{FORMAT_VERSION!r}; rebuild it with: python Scripts/build_corpus.py "
                            f"--source ... --index {self.path} --overwrite")
        self.size = int(meta.get("docs", 0))
        self.corpus_name = meta.get("name") or self.path.stem
        self.distractor = meta.get("distractor") == "1"
        self._avg_title = float(meta.get("avg_title_words", 1.0))
        self._avg_text = float(meta.get("avg_text_words", 1.0))

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            try:
                con = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
                con.execute("PRAGMA cache_size=-8192")   # 8 MiB per thread; the OS caches the rest
            except sqlite3.Error as err:
                raise DataError(f"{self.path}: cannot open ({err})") from None
            self._local.con = con
            me = threading.current_thread()
            with self._lock:
                # close the connections of threads that have ended (pools come and go)
                alive = []
                for thread, other in self._connections:
                    if thread.is_alive():
                        alive.append((thread, other))
                    else:
                        other.close()
                alive.append((me, con))
                self._connections = alive
        return con

    def close(self) -> None:
        """Close every thread's connection (the corpus reopens them on the next call); call it
        when no other thread is using the corpus."""
        with self._lock:
            for _, con in self._connections:
                con.close()
            self._connections = []
            self._local = threading.local()

    def __enter__(self) -> "OfflineCorpus":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"OfflineCorpus({str(self.path)!r}, {self.size} documents)"

    @property
    def label(self) -> str:
        """How reports name this retrieval setting."""
        return "distractor" if self.distractor else f"offline:{self.corpus_name}:{self.size}"

    # -- WikiBackend

    def page(self, title: str) -> Page | None:
        """The document titled ``title`` (case-insensitive, whitespace-normalised; underscores
        read as spaces when the title as written is not found), or ``None``."""
        con = self._con()
        keys = [title_key(title)]
        if "_" in title:
            keys.append(title_key(title.replace("_", " ")))
        for key in keys:
            if not key:
                continue
            row = con.execute("SELECT title, text FROM docs WHERE key = ? LIMIT 1", (key,)).fetchone()
            if row is not None:
                return page_from_text(*row)
        return None

    def similar(self, query: str, k: int = 5) -> list[str]:
        """Titles of up to ``k`` documents ranked by BM25 (title weighted 10x) for ``query``."""
        return [title for title, _ in self._rank(query, k, TITLE_WEIGHT)]

    # -- SearchProvider

    def search(self, query: str, k: int = 4) -> list[str]:
        """Up to ``k`` snippets ``"Title: first two sentences"``, best first."""
        out = []
        for title, text in self._rank(query, k, SEARCH_TITLE_WEIGHT):
            lead = " ".join(split_sentences(text)[:2])
            out.append(f"{title}: {lead}" if lead else title)
        return out

    # -- ranking

    def _candidates(self, con: sqlite3.Connection, table: str, words: list[str],
                    freq: dict[str, int], limit: int, found: dict[int, None]) -> None:
        """Add up to ``limit`` documents to ``found`` from FTS5 ``table``.

        ``words`` are sorted rarest first (``freq``: their document frequencies in ``table``).
        First the documents matching all of them, then all but the most common one, and so on.
        When an AND query has fewer than ``limit`` hits FTS5 walks the other words' doclists
        from end to end (measured: ~0.01 us per posting, plus ~0.5 us per posting of the rarest
        word and other word), so each one runs only while its estimated cost fits the stage's
        :data:`AND_BUDGET_US`. Then each word alone, rarest first, which ``LIMIT`` makes cheap
        whatever its frequency.
        """
        budget = AND_BUDGET_US
        subsets = []
        for m in range(len(words), 1, -1):
            others = words[1:m]
            cost = 0.011 * sum(freq[w] for w in others) + 0.5 * freq[words[0]] * len(others)
            if cost <= budget:
                budget -= cost
                subsets.append(words[:m])
        subsets += [[w] for w in words]
        added = 0
        for subset in subsets:
            match = " ".join(_fts_string(w) for w in subset)
            try:
                rows = con.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ? LIMIT ?",
                                   (match, limit)).fetchall()
            except sqlite3.OperationalError:  # a word FTS5 would split differently: skip it
                continue
            for (rowid,) in rows:
                if rowid not in found:
                    found[rowid] = None
                    added += 1
                    if added >= limit:
                        return

    def _rank(self, query: str, k: int, title_weight: float) -> list[tuple[str, str]]:
        """The ``(title, text)`` of the top ``k`` documents for ``query``."""
        if k <= 0:
            return []
        words = query_words(query)
        kept = [w for w in words if w not in STOPWORDS] or words
        if not kept:
            return []
        con = self._con()
        stats = {term: (df, tdf) for term, df, tdf in con.execute(
            f"SELECT term, df, tdf FROM terms WHERE term IN ({','.join('?' * len(kept))})", kept)}
        if not stats:
            return []
        n = max(self.size, 1)
        half = n // 2 + 1
        limit = max(CANDIDATES, k)
        found: dict[int, None] = {}
        for table, col in (("titles", 1), ("fts", 0)):
            ws = sorted((w for w in stats if stats[w][col]), key=lambda w: (stats[w][col], w))
            selective = [w for w in ws if stats[w][col] <= half][:MAX_TERMS] or ws[:1]
            if selective:
                freq = {w: stats[w][col] for w in selective}
                self._candidates(con, table, selective, freq, limit, found)
        ids = list(found)
        if not ids:
            return []
        rows = con.execute(f"SELECT id, title, text FROM docs WHERE id IN ({','.join('?' * len(ids))})",
                           ids).fetchall()
        # a word in a title is nearly always in that page's text too: max() estimates the
        # number of documents with the word in either field
        idf = {}
        for w, (df, tdf) in stats.items():
            d = max(df, tdf)
            idf[w] = max(math.log((n - d + 0.5) / (d + 0.5)), 1e-6)
        avg_title, avg_text = self._avg_title, self._avg_text
        k1, b = BM25_K1, BM25_B
        scored = []
        for rowid, title, text in rows:
            folded_title, folded_text = _fold(title), _fold(text)
            t_norm = k1 * (1 - b + b * _length(title) / avg_title)
            x_norm = k1 * (1 - b + b * _length(text) / avg_text)
            score = 0.0
            for w, weight in idf.items():
                if w in folded_title:
                    tf = _count(folded_title, w)
                    if tf:
                        score += weight * title_weight * tf * (k1 + 1) / (tf + t_norm)
                if w in folded_text:
                    tf = _count(folded_text, w)
                    if tf:
                        score += weight * TEXT_WEIGHT * tf * (k1 + 1) / (tf + x_norm)
            scored.append((-score, rowid, title, text))
        scored.sort()
        return [(title, text) for _, _, title, text in scored[:k]]
