"""Benchmark: the query language (issue 13). Three figures:

1. parse + translate cost per query (luqum → our tree → FTS5/SQL and engine DSL), on a fixed set of queries;
2. how fast a 10 KB query is refused: in process, and through the ``regwire search`` command (it took 56 s on
   53 articles before the length cap);
3. agreement between backends: N random *valid* Lucene queries (words, phrases, ``~N``, prefixes, AND/OR/NOT, fields,
   date ranges) over generated articles, on the embedded store and on a real OpenSearch node: how many return the
   same hit set, and the median search time on each.

    .venv/bin/python bench/bench_query.py                   # 300 queries × 1,000 articles, both backends
    .venv/bin/python bench/bench_query.py --no-opensearch   # figures 1 and 2 and the embedded search time only
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from bench_alerts import JURISDICTIONS, SOURCES, T0, WORDS, gen_articles  # noqa: E402

from pipeline.errors import QuerySyntaxError  # noqa: E402
from pipeline.query import SearchQuery, parse_query  # noqa: E402
from pipeline.store import SQLiteStore  # noqa: E402
from pipeline.store.engine.queries import engine_query  # noqa: E402
from pipeline.store.sqlite_query import fts_query  # noqa: E402
from pipeline.tagging.models import TOPICS  # noqa: E402

FIXED = [
    "stablecoin", "stablecoin AND NOT bitcoin", "stablecoin -bitcoin", "(stablecoin OR cbdc) AND hong -bitcoin",
    '"travel rule"', '"travel rule"~3', "regul*", "title:Kazakhstan", "jurisdiction:KZ AND cash",
    "published:[2024-01-01 TO 2024-06-30]", 'title:(stablecoin OR bitcoin) AND source:coin* -"hot wallet"',
]


def _clause(rng: random.Random, depth: int = 0) -> str:
    word, other = rng.choice(WORDS), rng.choice(WORDS)
    start = T0 + timedelta(minutes=rng.randint(0, 1500))
    end = start + timedelta(minutes=rng.randint(1, 600))
    choices = [
        word, word, f'"{word} {other}"', f'"{word} {other}"~{rng.randint(1, 8)}', f"{word[:4]}*",
        f"title:{word}", f"text:{word}", f"topic:{rng.choice(TOPICS)}", f"jurisdiction:{rng.choice(JURISDICTIONS)}",
        f"source:{rng.choice(SOURCES)}", f"published:[{start:%Y-%m-%dT%H:%M} TO {end:%Y-%m-%dT%H:%M}]",
    ]
    if depth < 2:
        choices.append(f"({_clause(rng, depth + 1)} {rng.choice(['OR', 'AND'])} {_clause(rng, depth + 1)})")
    return rng.choice(choices)


def random_query(rng: random.Random) -> str:
    parts = []
    for i in range(rng.randint(1, 3)):
        clause = _clause(rng)
        negate = i > 0 and rng.random() < 0.3
        parts.append(("-" if negate else "") + clause)
    joiner = rng.choice([" ", " AND ", " OR "])
    return joiner.join(parts)


def translate_cost(repeat: int) -> dict[str, float]:
    timings: dict[str, list[float]] = {"parse_us": [], "fts_us": [], "engine_us": []}
    for _ in range(repeat):
        for q in FIXED:
            started = time.perf_counter()
            tree = parse_query(q)
            parsed = time.perf_counter()
            fts_query(tree)
            translated = time.perf_counter()
            engine_query(tree)
            done = time.perf_counter()
            timings["parse_us"].append((parsed - started) * 1e6)
            timings["fts_us"].append((translated - parsed) * 1e6)
            timings["engine_us"].append((done - translated) * 1e6)
    return {k: round(statistics.median(v), 1) for k, v in timings.items()}


def refusal_cost(home: Path) -> dict[str, float]:
    big = "stablecoin OR " * 730  # ~10 KB
    started = time.perf_counter()
    try:
        parse_query(big)
    except QuerySyntaxError:
        pass
    in_process = time.perf_counter() - started
    env = {**os.environ, "REGWIRE_HOME": str(home)}
    regwire = REPO / ".venv" / "bin" / "regwire"
    started = time.perf_counter()
    proc = subprocess.run([str(regwire), "search", big], env=env, capture_output=True, text=True, timeout=120)
    cli = time.perf_counter() - started
    assert proc.returncode == 2 and "the limit is 1000" in proc.stderr, proc.stderr
    started = time.perf_counter()
    subprocess.run([str(regwire), "search", "stablecoin"], env=env, capture_output=True, text=True, timeout=120)
    ordinary = time.perf_counter() - started
    return {"query_chars": len(big), "in_process_ms": round(in_process * 1e3, 3), "cli_s": round(cli, 2),
            "cli_ordinary_search_s": round(ordinary, 2)}


def run_queries(store: Any, queries: list[str]) -> tuple[list[frozenset[str]], float]:
    results, times = [], []
    for q in queries:
        started = time.perf_counter()
        result = store.search(SearchQuery(q=q, limit=5000, facets=False))
        times.append(time.perf_counter() - started)
        results.append(frozenset(h.id for h in result.hits))
    return results, round(statistics.median(times) * 1e3, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-opensearch", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    articles = gen_articles(rng, args.articles, 0)
    queries = [random_query(rng) for _ in range(args.queries)]
    report: dict[str, Any] = {"translate": translate_cost(200)}
    with tempfile.TemporaryDirectory(prefix="regwire-bench-query-") as tmp:
        with SQLiteStore(Path(tmp) / "regwire.db") as store:
            for start in range(0, len(articles), 500):
                store.write_articles(articles[start:start + 500])
            embedded, report["embedded_median_ms"] = run_queries(store, queries)
        report["refusal"] = refusal_cost(Path(tmp))
    report["queries"] = len(queries)
    report["queries_with_hits"] = sum(1 for r in embedded if r)
    if not args.no_opensearch:
        from opensearchpy import OpenSearch
        from searchnode import SearchNode

        from pipeline.store.engine.store import SearchEngineStore
        from pipeline.store.opensearch import OpenSearchAdapter

        with SearchNode() as node:
            client = OpenSearchAdapter(OpenSearch(hosts=[node.url], timeout=120, max_retries=0))
            with SearchEngineStore(client, prefix="benchq") as store:
                store.write_articles(articles)
                engine, report["opensearch_median_ms"] = run_queries(store, queries)
        differ = [q for q, a, b in zip(queries, embedded, engine, strict=True) if a != b]
        report["same_hits"] = len(queries) - len(differ)
        report["differing_examples"] = differ[:5]
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
