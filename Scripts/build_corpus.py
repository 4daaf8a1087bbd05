"""Build the offline Wikipedia stand-in: an SQLite/FTS5 index of ``{title, text}`` documents.

The shipped HotpotQA contexts (a few thousand paragraphs, about a second)::

    python Scripts/build_corpus.py --source hotpotqa --index ~/.cache/autoact/hotpotqa_corpus.sqlite

Your own corpus (JSONL, one ``{"title": ..., "text": ...}`` per line; ``--source`` may repeat)::

    python Scripts/build_corpus.py --source wiki_abstracts.jsonl --index corpus.sqlite --overwrite

Then point the agents at it with ``--corpus_index corpus.sqlite`` (or ``$AUTOACT_CORPUS_INDEX``).
Titles equal up to case and whitespace are one document: the longest text is kept. The index is
written under a temporary name and renamed into place at the end, so a failed build never
leaves a half index behind (and never damages the one already there).
"""

from __future__ import annotations

import argparse
import sys
import time

from autoact.cli import add_common_args, run


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="build_corpus.py",
        description="Index {title, text} documents into one SQLite file (FTS5) for the offline "
                    "Retrieve/Lookup/BingSearch backend.",
        epilog="example: python Scripts/build_corpus.py --source hotpotqa --index corpus.sqlite")
    p.add_argument("--source", action="append", required=True, metavar="JSONL|hotpotqa",
                   help='JSONL file of {"title", "text"} objects, or "hotpotqa" for the context '
                        "paragraphs of the shipped HotpotQA files; repeat to combine sources")
    p.add_argument("--index", required=True, metavar="PATH",
                   help="output index file (.sqlite)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing index (atomically, once the new one is complete)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_common_args(p)
    return p


def main(args: argparse.Namespace) -> int:
    import itertools
    from pathlib import Path

    from autoact.io import prepare_output
    from autoact.tools.corpus import build_index, hotpotqa_documents, hotpotqa_files, jsonl_documents

    index = prepare_output(Path(args.index).expanduser(), overwrite=args.overwrite)
    sources = []
    for src in args.source:
        if src.lower() == "hotpotqa":
            sources.append(hotpotqa_documents(hotpotqa_files()))
        else:
            sources.append(jsonl_documents(src))
    t = time.perf_counter()
    n = build_index(sources[0] if len(sources) == 1 else itertools.chain(*sources), index,
                    progress=not args.quiet)
    seconds = time.perf_counter() - t
    print(f"indexed {n:,} documents in {seconds:.1f}s ({n / max(seconds, 1e-9):,.0f} docs/s): {index}")
    return n


if __name__ == "__main__":
    sys.exit(run(main, make_parser()))
