"""Extraction quality and throughput on the article-extraction-benchmark corpus (../shared/corpus).

Quality: the benchmark's own metric (4-token shingles, per-page normalised tp/fp/fn, precision and recall averaged
over pages, F1 of the averages) for regwire's ``extract_article`` next to raw ``trafilatura.extract``.
Throughput: pages/s on one core of regwire's extract→store path (decode, extract with metadata, canonical URL,
content hash, SQLite write with FTS indexing) next to raw ``trafilatura.bare_extraction(with_metadata=True)``.

    python bench/bench_extraction.py [--corpus DIR] [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import trafilatura

from pipeline import ExtractionError, extract_article
from pipeline.store import ArticleWrite, SQLiteStore

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "article-extraction-benchmark"
_TOKEN = re.compile(r"\w+")


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i:i + n]) for i in range(max(0, len(tokens) - n + 1)))


def benchmark_f1(predictions: dict[str, str], truth: dict[str, str]) -> dict[str, float]:
    precisions, recalls = [], []
    for key, expected in truth.items():
        true, pred = shingles(expected), shingles(predictions.get(key, ""))
        tp = sum((true & pred).values())
        fp, fn = sum(pred.values()) - tp, sum(true.values()) - tp
        total = tp + fp + fn
        if total == 0:
            continue
        tp, fp, fn = tp / total, fp / total, fn / total
        if tp + fp > 0:
            precisions.append(tp / (tp + fp))
        if tp + fn > 0:
            recalls.append(tp / (tp + fn))
    precision, recall = statistics.fmean(precisions), statistics.fmean(recalls)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall)}


def load_corpus(corpus: Path) -> list[tuple[str, str, bytes, str]]:
    truth = json.loads((corpus / "ground-truth.json").read_text(encoding="utf-8"))
    return [(key, entry["url"], gzip.decompress((corpus / "html" / f"{key}.html.gz").read_bytes()),
             entry["articleBody"]) for key, entry in sorted(truth.items())]


def regwire_text(html: bytes, url: str) -> str:
    try:
        return extract_article(html, url).text
    except ExtractionError:
        return ""


def time_pages(label: str, pages, func, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()  # CPU time of this process: one core, whatever the machine is doing
        for _key, url, html, _truth in pages:
            func(html, url)
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
    pages = load_corpus(args.corpus)
    truth = {key: body for key, _url, _html, body in pages}
    print(f"{len(pages)} pages from {args.corpus}")

    ours = benchmark_f1({k: regwire_text(h, u) for k, u, h, _ in pages}, truth)
    raw = benchmark_f1({k: trafilatura.extract(h, url=u) or "" for k, u, h, _ in pages}, truth)
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
