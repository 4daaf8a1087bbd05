"""The live-Wikipedia setting's disk cache: HTTP requests actually made, counted by a local
MediaWiki stand-in (``autoact.testing.mediawiki``, real HTTP on 127.0.0.1), on a first run, a
rerun, and a run resumed after a crash.

``--pages`` synthetic pages; the workload reads every page (Retrieve's ``page()``), asks for
pages like a missing title (``similar()``) and runs BingSearch's Wikipedia search for each, the
calls trajectory synthesis and evaluation make in the ``live`` setting:

Each run is its own process (as a rerun of a stage is), so nothing is remembered in memory
(the ``wikipedia`` package memoizes some calls within a process):

1. first run, empty cache: every distinct call is one or more requests;
2. rerun on the same cache: no request at all;
3. resume: a fresh cache, a process that makes the first half of the calls and ends, then one
   that makes them all: only the second half's calls reach the server.

    python bench/wiki_cache.py [--pages 200]

Last line: the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import emit, machine  # noqa: E402


def workload(n: int) -> list[tuple[str, str]]:
    calls = []
    for i in range(n):
        calls += [("page", f"Bench Page {i}"), ("similar", f"Bench Pag {i}"), ("search", f"bench topic {i}")]
    return calls


def run(url: str, cache: Path, calls: list[tuple[str, str]]) -> float:
    from autoact.tools.wiki import LiveWikipedia, WikipediaSearch
    wiki = LiveWikipedia(cache, min_interval=0.0, api_url=url)
    search = WikipediaSearch(wiki)
    t0 = time.perf_counter()
    for kind, arg in calls:
        if kind == "page":
            assert wiki.page(arg) is not None, arg
        elif kind == "similar":
            wiki.similar(arg)
        else:
            search.search(arg)
    return time.perf_counter() - t0


def run_process(url: str, cache: Path, pages: int, upto: int | None = None) -> float:
    """:func:`run` in a fresh process on the first ``upto`` calls of the workload."""
    proc = subprocess.run([sys.executable, __file__, "--pages", str(pages), "--child", url, str(cache),
                           str(upto if upto is not None else -1)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=200, help="synthetic pages (default 200)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        url, cache, upto = args.child
        calls = workload(args.pages)
        print(json.dumps(run(url, Path(cache), calls if int(upto) < 0 else calls[:int(upto)])))
        return
    from autoact.testing.mediawiki import MediaWikiStandIn
    pages = {f"Bench Page {i}": f"Bench Page {i} is about bench topic {i}. It has a second sentence.\n"
                                f"A second paragraph about topic {i}." for i in range(args.pages)}
    calls = workload(args.pages)
    half = calls[:len(calls) // 2]
    figures: dict = {"bench": "wiki_cache", "machine": machine(), "pages": args.pages, "calls": len(calls)}
    with tempfile.TemporaryDirectory() as tmp, MediaWikiStandIn(pages) as wiki:
        tmp = Path(tmp)
        seconds = run_process(wiki.url, tmp / "cache.sqlite", args.pages)
        first = len(wiki.requests)
        again_s = run_process(wiki.url, tmp / "cache.sqlite", args.pages)
        rerun = len(wiki.requests) - first
        before = len(wiki.requests)
        run_process(wiki.url, tmp / "resume.sqlite", args.pages, len(half))     # its process ends there
        half_requests = len(wiki.requests) - before
        run_process(wiki.url, tmp / "resume.sqlite", args.pages)
        resumed = len(wiki.requests) - before - half_requests
    figures.update({"first_run_requests": first, "first_run_seconds": round(seconds, 2),
                    "rerun_requests": rerun, "rerun_seconds": round(again_s, 3),
                    "resume_first_half_requests": half_requests, "resume_rest_requests": resumed,
                    "resume_total_over_first_run": round((half_requests + resumed) / first, 3)})
    print(f"machine: {machine()}; {len(calls)} calls over {args.pages} pages (page, similar, search each)")
    print(f"first run:  {first} HTTP requests, {seconds:.2f} s")
    print(f"rerun:      {rerun} HTTP requests, {again_s:.3f} s (all from the disk cache)")
    print(f"resume:     {half_requests} requests for the first half, then {resumed} for the rest "
          f"({half_requests + resumed} in all vs {first} in one go)")
    emit(figures)


if __name__ == "__main__":
    main()
