"""Search latency of ``SearchEngineStore.search`` (query + filters + facets + highlighting) over N articles.

    .venv/bin/python bench/bench_search_latency.py [--docs 100000] [--runs 50] [--url ... --engine opensearch]

Builds the index with regwire's own writer (batches of 500), force-merges nothing, then times each query shape
``--runs`` times after a warm-up, end to end through the Python client (what the CLI and the web UI see).
Without ``--url`` it starts the test suite's OpenSearch node on a free loopback port.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import timedelta

from bench_bulk import T0, Node, make_writes, open_client

from pipeline.query import SearchQuery, Sort
from pipeline.store.engine.store import SearchEngineStore

QUERIES = {
    "word": SearchQuery(q="regulator"),
    "two words": SearchQuery(q="crypto exchange"),
    "phrase": SearchQuery(q='"central bank"'),
    "or": SearchQuery(q="kazakhstan OR dubai OR singapore"),
    "prefix": SearchQuery(q="stable*"),
    "exclusion": SearchQuery(q="bitcoin -price"),
    "filters only, by date": SearchQuery(topics=["licensing"], jurisdictions=["EU"], sort=Sort.DATE),
    "word + filters": SearchQuery(q="licensing", sources=["source-03", "source-07"], min_relevance=0.5,
                                  since=T0 + timedelta(days=100), until=T0 + timedelta(days=1500)),
    "word, no facets": SearchQuery(q="regulator", facets=False),
    "deep page": SearchQuery(q="crypto", offset=980, limit=20),
}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--url", default=None)
    parser.add_argument("--engine", choices=["opensearch", "elasticsearch"], default="opensearch")
    parser.add_argument("--heap", default="1g")
    args = parser.parse_args()
    node = Node(args.url, args.heap)
    try:
        client = open_client(node.url, args.engine)
        store = SearchEngineStore(client, prefix=f"benchsearch-{int(time.time())}", refresh=False)
        t0 = time.perf_counter()
        writes = make_writes(args.docs, words_per_doc=300)
        generated = time.perf_counter() - t0
        t0 = time.perf_counter()
        for start in range(0, len(writes), 500):
            store.write_articles(writes[start:start + 500])
        store.refresh_all()
        built = time.perf_counter() - t0
        del writes
        assert store.count_articles() == args.docs
        report: dict[str, object] = {"docs": args.docs, "engine": args.engine, "runs_per_query": args.runs,
                                     "generate_s": round(generated, 1), "index_s": round(built, 1),
                                     "index_docs_per_s": round(args.docs / built)}
        per_query: dict[str, dict[str, float]] = {}
        everything: list[float] = []
        for name, query in QUERIES.items():
            for _ in range(5):
                store.search(query)
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                result = store.search(query)
                times.append((time.perf_counter() - t) * 1000)
            everything += times
            per_query[name] = {"hits": result.total, "p50_ms": round(statistics.median(times), 1),
                               "p95_ms": round(pct(times, 95), 1), "max_ms": round(max(times), 1)}
        report["queries"] = per_query
        report["all"] = {"p50_ms": round(statistics.median(everything), 1), "p95_ms": round(pct(everything, 95), 1),
                         "p99_ms": round(pct(everything, 99), 1)}
        print(json.dumps(report, indent=2))
        client.request("DELETE", f"/{store.names.prefix}-*", params={"expand_wildcards": "all"})
    finally:
        node.close()


if __name__ == "__main__":
    main()
