"""The embedded store side by side with raw FTS5: write throughput, size on disk, then search latency.

    .venv/bin/python bench/bench_store.py [--docs 100000] [--batch 500] [--runs 20] [--dir /tmp/bench-store]

Writes: the same synthetic articles (bench/synth.py, ~600 words from the in-repo corpus) go, batch by batch and
alternating, into regwire's ``SQLiteStore.write_articles`` and into a raw FTS5 table (``INSERT`` of title and text
in one transaction per batch, WAL, synchronous=NORMAL, the store's tokenizer). Only the write calls are timed.
Size: both files after a WAL checkpoint. Target: writes >= 0.9x raw, size <= 1.2x raw.

Search: each query shape ``--runs`` times after two warm-ups through ``SQLiteStore.search`` (total, page of 20 with
snippets, and facets when asked), beside the plan before issue 16 (one full query per part, snippets for every
match, NOT IN for excluded words; ``tests/test_store_search_plan.py``'s reference) on the same file. Target: p95 <=
100 ms at 100,000 articles.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import synth  # noqa: E402
from test_store_search_plan import reference_search  # noqa: E402

from pipeline.models import Article  # noqa: E402
from pipeline.query import SearchQuery, Sort  # noqa: E402
from pipeline.store import ArticleWrite, SQLiteStore  # noqa: E402
from pipeline.tagging.models import Tags  # noqa: E402

QUERIES = {
    "one word (broad)": SearchQuery(q="people"),
    "one word": SearchQuery(q="government"),
    "two words": SearchQuery(q="police court"),
    "phrase": SearchQuery(q='"prime minister"'),
    "exclusion": SearchQuery(q="market -price"),
    "filtered + facets": SearchQuery(q="people", sources=["source-03", "source-07"], topics=["licensing"],
                                     since=synth.T0 + timedelta(days=10)),
    "filters only, by date": SearchQuery(topics=["licensing"], jurisdictions=["EU"], sort=Sort.DATE),
    "deep page": SearchQuery(q="president", offset=980, limit=20),
    "word, no facets": SearchQuery(q="people", facets=False),
}


def write_for(a: dict[str, object]) -> ArticleWrite:
    url = f"https://bench.example/{a['source']}/article-{a['n']}"
    article = Article(url=url, canonical_url=url, title=str(a["title"]), text="\n\n".join(a["paragraphs"]),  # type: ignore[arg-type]
                      language=str(a["language"]), published=a["published"])  # type: ignore[arg-type]
    tags = Tags(topics=a["topics"], jurisdictions=a["jurisdictions"], relevance=a["relevance"],  # type: ignore[arg-type]
                language=str(a["language"]), taxonomy_version="bench")
    return ArticleWrite(article=article, source=str(a["source"]), fetched_at=a["published"], tags=tags)  # type: ignore[arg-type]


def raw_store(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(title, text, tokenize='porter unicode61 remove_diacritics 2')")
    return db


def file_size(path: Path) -> int:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def bench_writes(args: argparse.Namespace, store: SQLiteStore, raw: sqlite3.Connection) -> dict[str, object]:
    regwire_s = raw_s = 0.0
    for start in range(0, args.docs, args.batch):
        batch = [synth.article(n) for n in range(start, min(args.docs, start + args.batch))]
        writes = [write_for(a) for a in batch]
        rows = [(w.article.title, w.article.text) for w in writes]
        t = time.perf_counter()
        store.write_articles(writes)
        regwire_s += time.perf_counter() - t
        t = time.perf_counter()
        raw.execute("BEGIN")
        raw.executemany("INSERT INTO docs (title, text) VALUES (?, ?)", rows)
        raw.execute("COMMIT")
        raw_s += time.perf_counter() - t
    regwire_size, raw_size = file_size(store.path), file_size(args.dir / "raw.db")
    return {"regwire_docs_per_s": round(args.docs / regwire_s), "raw_fts5_docs_per_s": round(args.docs / raw_s),
            "writes_ratio": round(raw_s / regwire_s, 2), "regwire_mib": round(regwire_size / 2**20, 1),
            "raw_fts5_mib": round(raw_size / 2**20, 1), "size_ratio": round(regwire_size / raw_size, 2)}


def timed(fn: Callable[[SearchQuery], object], query: SearchQuery, runs: int) -> list[float]:
    fn(query), fn(query)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn(query)
        times.append((time.perf_counter() - t) * 1000)
    return times


def bench_search(args: argparse.Namespace, store: SQLiteStore) -> dict[str, object]:
    per_query: dict[str, dict[str, float]] = {}
    everything: list[float] = []
    plain: list[float] = []
    for name, base in QUERIES.items():
        query = base.model_copy(update={"facets": base.facets and "no facets" not in name})
        ours = timed(store.search, query, args.runs)
        before = timed(lambda q: reference_search(store, q), query, max(3, args.runs // 4))
        everything += ours
        plain += before
        per_query[name] = {"hits": store.search(query).total, "p50_ms": round(statistics.median(ours), 1),
                           "p95_ms": round(pct(ours, 95), 1), "plain_plan_p50_ms": round(statistics.median(before), 1),
                           "speedup": round(statistics.median(before) / statistics.median(ours), 1)}
    return {"queries": per_query,
            "all": {"p50_ms": round(statistics.median(everything), 1), "p95_ms": round(pct(everything, 95), 1),
                    "p99_ms": round(pct(everything, 99), 1)},
            "plain_plan_all": {"p50_ms": round(statistics.median(plain), 1), "p95_ms": round(pct(plain, 95), 1),
                               "p99_ms": round(pct(plain, 99), 1)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/regwire-bench-store"))
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    report: dict[str, object] = {"docs": args.docs, "batch": args.batch, "words_per_doc": 600}
    with SQLiteStore(args.dir / "regwire.db") as store:
        raw = raw_store(args.dir / "raw.db")
        report["writes"] = bench_writes(args, store, raw)
        raw.close()
        print(json.dumps(report, indent=2), flush=True)
        if not args.skip_search:
            report["search"] = bench_search(args, store)
    print(json.dumps(report, indent=2))
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
