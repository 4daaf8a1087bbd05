"""Build an offline Wikipedia: an SQLite/FTS5 index of ``{title, text}`` documents for Retrieve,
Lookup and BingSearch with ``--wiki offline --corpus_index FILE``.

HotpotQA's own full-wiki corpus (the open setting of the paper, offline): the introductory
paragraphs of the October 2017 English Wikipedia, 5.2M documents, ~1.5 GB compressed, read as a
stream from the archive (one line in memory at a time, a progress bar)::

    wget https://nlp.stanford.edu/projects/hotpotqa/enwiki-20171001-pages-meta-current-withlinks-abstracts.tar.bz2
    python Scripts/build_corpus.py --source enwiki-20171001-pages-meta-current-withlinks-abstracts.tar.bz2 \\
        --index ~/.cache/autoact/hotpotqa_fullwiki.sqlite --name hotpotqa-fullwiki

(an unpacked folder of ``*/wiki_*.bz2`` files or single ``wiki_*.bz2`` files work too). Your own
corpus: JSONL, one ``{"title": ..., "text": ...}`` per line (``--source`` may repeat)::

    python Scripts/build_corpus.py --source wiki_abstracts.jsonl --index corpus.sqlite --overwrite

``--source hotpotqa`` indexes the shipped evaluation questions' own context paragraphs (gold
paragraphs included): an index holding them is marked as a *distractor* corpus and every run
on it is labelled so (``--wiki distractor`` builds and uses it without this script). Titles
equal up to case and whitespace are one document: the longest text is kept. The index is
written under a temporary name and renamed into place at the end, so a failed build never
leaves a half index behind (and never damages the one already there).
"""

from __future__ import annotations

import argparse
import time

from autoact.settings import CommonSettings, add_options

DUMP_SUFFIXES = (".bz2", ".tar", ".tbz2", ".tgz", ".tar.gz")


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="build_corpus.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", action="append", required=True, metavar="PATH|hotpotqa",
                   help="a HotpotQA Wikipedia dump (the .tar.bz2 archive, an unpacked folder or a "
                        "wiki_*.bz2 file), a JSONL file of {\"title\", \"text\"} objects, or "
                        "\"hotpotqa\" for the shipped evaluation contexts (a distractor corpus); "
                        "repeat to combine sources")
    p.add_argument("--index", required=True, metavar="PATH", help="output index file (.sqlite)")
    p.add_argument("--name", default=None,
                   help="the corpus name reports show (offline:<name>:<documents>; default: the "
                        "index file's name)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing index (atomically, once the new one is complete)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_options(p, CommonSettings)
    return p


def main(args: argparse.Namespace) -> int:
    import itertools
    from pathlib import Path

    from autoact.io import OutputLock, check_distinct, prepare_output
    from autoact.tools.corpus import (DISTRACTOR_NAME, build_index, hotpotqa_documents,
                                      hotpotqa_files, jsonl_documents, wiki_dump_documents)

    check_distinct([Path(args.index).expanduser()], [Path(s).expanduser() for s in args.source])
    index = prepare_output(Path(args.index).expanduser(), overwrite=args.overwrite)
    sources = []
    distractor = False
    for src in args.source:
        path = Path(src).expanduser()
        if src.lower() == "hotpotqa":
            sources.append(hotpotqa_documents(hotpotqa_files()))
            distractor = True
        elif path.is_dir() or path.name.lower().endswith(DUMP_SUFFIXES):
            sources.append(wiki_dump_documents(path))
        else:
            sources.append(jsonl_documents(path))
    name = args.name or (DISTRACTOR_NAME if distractor and len(args.source) == 1 else None)
    t = time.perf_counter()
    with OutputLock(index):
        docs = sources[0] if len(sources) == 1 else itertools.chain(*sources)
        n = build_index(docs, index, progress=not args.quiet, name=name, distractor=distractor,
                        label=", ".join(args.source))
    seconds = time.perf_counter() - t
    label = "distractor (holds the evaluation contexts)" if distractor else f"offline:{name or index.stem}:{n}"
    print(f"indexed {n:,} documents in {seconds:.1f}s ({n / max(seconds, 1e-9):,.0f} docs/s): {index}")
    print(f"runs on it are labelled: {label}")
    return n

