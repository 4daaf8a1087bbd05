"""Offline corpus at scale: build speed and query latency of ``autoact.tools.corpus``.

Generates N synthetic paragraphs deterministically (``random.Random(0)``): unique titles like
``Entity 12345 Foo Bar``, ~60-word texts drawn from a 5,000-word pseudo-vocabulary with a Zipf
distribution (so a few words are in almost every document), writes them to a temporary JSONL
file, builds the index from it (JSON parsing included in the build time), then times single
calls (``time.perf_counter``) of ``page()`` on existing titles (case changed for half of them),
``page()`` misses, and ``similar()``/``search()`` for queries of 2-4 words drawn from random
texts (common words included). Goals: build >= 20,000 docs/s, p50 <= 5 ms for page/similar.

    python bench/retrieval.py [--n 1000000] [--queries 200]

Last line: the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import emit, machine  # noqa: E402

SYLLABLES = ("ka lo mi ra ten vor ish pa dru sel an ber co ful gi ho jen mar ne os qui ru sta "
             "tor ul ven wy xa yo zen").split()


def vocabulary(rng: random.Random, n: int = 5000) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < n:
        words.setdefault("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))), None)
    return list(words)


def documents(n: int, seed: int = 0):
    """Yield ``n`` ``(title, text)`` pairs; word ``r`` (0-based rank) has weight ``1/(r+1)``."""
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    cum = list(itertools.accumulate(1.0 / (r + 1) for r in range(len(vocab))))
    urn = rng.choices(vocab, cum_weights=cum, k=1 << 20)   # Zipf draws, then uniform picks
    choices = rng.choices
    for i in range(n):
        words = choices(urn, k=60)
        sentences = []
        j = 0
        while j < len(words):
            size = rng.randint(8, 15)
            part = words[j:j + size]
            j += size
            sentences.append(part[0].capitalize() + " " + " ".join(part[1:]) + "." if len(part) > 1
                             else part[0].capitalize() + ".")
        a, b = choices(urn, k=2)
        yield f"Entity {i} {a.capitalize()} {b.capitalize()}", " ".join(sentences)


def percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return (round(times[len(times) // 2] * 1000, 3),
            round(times[min(len(times) - 1, int(len(times) * 0.95))] * 1000, 3))


def timed(fn, args: list) -> tuple[list[float], list]:
    times, results = [], []
    for a in args:
        t = time.perf_counter()
        results.append(fn(a))
        times.append(time.perf_counter() - t)
    return times, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="documents (default 1,000,000)")
    ap.add_argument("--queries", type=int, default=200, help="similar/search queries (default 200)")
    ap.add_argument("--pages", type=int, default=1000, help="page lookups of each kind (default 1000)")
    ap.add_argument("--tmp", default=None, help="folder for the JSONL and the index (default: a temp dir)")
    args = ap.parse_args()

    from autoact.tools.corpus import OfflineCorpus, build_index

    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="bench-retrieval-") as tmp:
        src = Path(tmp) / "corpus.jsonl"
        index = Path(tmp) / "corpus.sqlite"
        t = time.perf_counter()
        with open(src, "w", encoding="utf-8") as f:
            for title, text in documents(args.n):
                f.write(json.dumps({"title": title, "text": text}) + "\n")
        print(f"generated {args.n:,} documents ({src.stat().st_size / 1e6:.0f} MB JSONL) "
              f"in {time.perf_counter() - t:.1f}s", flush=True)

        t = time.perf_counter()
        n = build_index(src, index, progress=False)
        build_s = time.perf_counter() - t
        src.unlink()
        size_mb = index.stat().st_size / 1e6
        print(f"built the index: {n:,} documents in {build_s:.1f}s = {n / build_s:,.0f} docs/s, "
              f"{size_mb:.0f} MB", flush=True)

        rng = random.Random(1)
        corpus = OfflineCorpus(index)
        con = corpus._con()
        ids = [rng.randint(1, n) for _ in range(args.pages)]
        hits = []
        for i, rowid in enumerate(ids):
            (title,) = con.execute("SELECT title FROM docs WHERE id = ?", (rowid,)).fetchone()
            hits.append(title.lower() if i % 2 else title)
        misses = [f"Entity {n + rng.randint(1, 10**6)} Missing Page" for _ in range(args.pages)]
        queries, sources = [], []
        for _ in range(args.queries):
            rowid = rng.randint(1, n)
            (text,) = con.execute("SELECT text FROM docs WHERE id = ?", (rowid,)).fetchone()
            words = text.replace(".", "").split()
            queries.append(" ".join(rng.sample(words, rng.randint(2, 4))))
            sources.append(rowid)
        near = []   # a title with its last word misspelled: the page should come first
        for _ in range(args.queries):
            (title,) = con.execute("SELECT title FROM docs WHERE id = ?",
                                   (rng.randint(1, n),)).fetchone()
            near.append((title[:-1] + "x", title))

        # warm-up (first-touch page-cache reads are not what a long run sees)
        for q in queries[:10]:
            corpus.similar(q)
        page_t, page_r = timed(corpus.page, hits)
        miss_t, miss_r = timed(corpus.page, misses)
        sim_t, _ = timed(corpus.similar, queries)
        search_t, _ = timed(corpus.search, queries)
        near_t, near_r = timed(corpus.similar, [q for q, _ in near])
        found = sum(p is not None for p in page_r) / len(page_r)
        false_hits = sum(p is not None for p in miss_r)
        near_hit = sum(r[:1] == [t] for r, (_, t) in zip(near_r, near)) / len(near)

        figures = {"docs": n, "build_s": round(build_s, 1), "build_docs_per_s": round(n / build_s),
                   "index_mb": round(size_mb)}
        for name, times in (("page", page_t), ("page_miss", miss_t), ("similar", sim_t),
                            ("search", search_t), ("similar_near_title", near_t)):
            p50, p95 = percentiles(times)
            figures[f"{name}_p50_ms"], figures[f"{name}_p95_ms"] = p50, p95
            print(f"{name:20s} p50 {p50:7.3f} ms   p95 {p95:7.3f} ms   ({len(times)} calls)")
        figures["similar_near_title_hit1"] = round(near_hit, 3)
        figures["page_found"] = round(found, 3)
        figures["page_miss_false_hits"] = false_hits
        print(f"page() found {found:.1%} of existing titles, {false_hits} false hits on misses; "
              f"near-miss title ranked first by similar(): {near_hit:.1%}")
        figures["machine"] = machine()
        corpus.close()
    emit(figures)


if __name__ == "__main__":
    main()
