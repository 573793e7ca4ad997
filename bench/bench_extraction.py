"""Extraction quality and throughput on the article-extraction-benchmark corpus (bench/corpus/, in the repository).

Quality: the benchmark's own metric (4-token shingles, per-page normalised tp/fp/fn, precision and recall averaged
over pages, F1 of the averages) for regwire's ``extract_article`` next to raw ``trafilatura.extract``.
Throughput: pages/s on one core of regwire's extract→store path (decode, extract with metadata, canonical URL,
content hash, SQLite write with FTS indexing) next to raw ``trafilatura.bare_extraction(with_metadata=True)``.

    python bench/bench_extraction.py [--corpus DIR] [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import trafilatura

from pipeline import ExtractionError, extract_article
from pipeline.extract.evaluation import BenchmarkPage, evaluate_extractor, load_benchmark
from pipeline.store import ArticleWrite, SQLiteStore

#: the benchmark's pages and ground truth, carried in the repository (MIT licence: see the folder's LICENSE)
DEFAULT_CORPUS = Path(__file__).resolve().parent / "corpus" / "article-extraction-benchmark"


def time_pages(label: str, pages: list[BenchmarkPage], func, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()  # CPU time of this process: one core, whatever the machine is doing
        for page in pages:
            func(page.html, page.url)
        best = min(best, time.process_time() - started)
    rate = len(pages) / best
    print(f"  {label:<52} {rate:7.1f} pages/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    pages = load_benchmark(args.corpus)
    print(f"{len(pages)} pages from {args.corpus}")

    ours = evaluate_extractor(pages)
    raw = evaluate_extractor(pages, lambda h, u: trafilatura.extract(h, url=u) or "")
    print("quality (benchmark metric)          precision  recall     F1")
    for name, scores in (("regwire extract_article", ours), ("raw trafilatura.extract", raw)):
        print(f"  {name:<33} {scores['precision']:.3f}      {scores['recall']:.3f}   {scores['f1']:.3f}")

    print("throughput on one core (CPU time, best of rounds)")
    raw_rate = time_pages("raw trafilatura.bare_extraction(with_metadata=True)", pages,
                          lambda h, u: trafilatura.bare_extraction(h, url=u, with_metadata=True), args.rounds)
    with tempfile.TemporaryDirectory() as tmp, SQLiteStore(Path(tmp) / "bench.db") as store:
        now = datetime.now(UTC)

        def extract_and_store(html: bytes, url: str) -> None:
            try:
                article = extract_article(html, url)
            except ExtractionError:
                return
            store.write_articles([ArticleWrite(article=article, source="bench", fetched_at=now)])

        ours_rate = time_pages("regwire extract_article → SQLite store", pages, extract_and_store, args.rounds)
    print(f"  ratio regwire / raw: {ours_rate / raw_rate:.2f}x (target ≥ 0.9x)")
    if args.json:
        print(json.dumps({"quality": {"regwire": ours, "trafilatura": raw},
                          "pages_per_s": {"regwire": ours_rate, "trafilatura_bare": raw_rate}}))


if __name__ == "__main__":
    main()
