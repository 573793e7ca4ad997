"""Benchmark: evaluating N alerts against a batch of new articles, embedded (SQLite FTS5) and on a real OpenSearch
node (tests/searchnode.py), one search per alert vs. the percolator.

    .venv/bin/python bench/bench_alerts.py                    # 1,000 alerts × 500-article batch, both backends
    .venv/bin/python bench/bench_alerts.py --no-opensearch    # embedded only
    .venv/bin/python bench/bench_alerts.py --json             # figures as JSON

Articles and alerts are generated from a fixed seed (words, phrases, OR groups, prefixes, exclusions, topic /
jurisdiction / source / relevance filters), so runs are comparable. The batch (``--articles``) is written after
``--background`` older articles, so searches really are restricted to the batch ids. Every strategy must return the
same matches (checked); the figure is the wall time of one evaluation after a warm-up run. The cross-over is the
smallest number of alerts at which the percolator beats the faster per-alert strategy on the same node.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from pipeline.alerts import Alert, PercolatorEvaluator, SearchEvaluator  # noqa: E402
from pipeline.models import Article  # noqa: E402
from pipeline.store import SQLiteStore  # noqa: E402
from pipeline.store.base import ArticleWrite  # noqa: E402
from pipeline.tagging.models import TOPICS, Tags  # noqa: E402

WORDS = ("regulator exchange stablecoin licence licensing custody wallet token bitcoin ether mining tax taxation "
         "sanction sanctions ban court ruling enforcement fine penalty consultation framework sandbox payment "
         "payments bank banks fiat cash conversion deposit withdrawal broker dealer securities commodity derivative "
         "audit reserve disclosure investor consumer protection travel rule aml kyc compliance ministry parliament "
         "bill law decree guidance registration approval rejection pilot cbdc digital currency settlement "
         "transfer remittance crackdown raid arrest fraud hack breach insolvency bankruptcy").split()
PLACES = ("Kazakhstan Singapore Hong Kong Dubai India Brazil Nigeria Japan Korea Germany France Switzerland "
          "Canada Australia Turkey Argentina Kenya Vietnam Thailand Indonesia").split()
JURISDICTIONS = ("KZ SG HK AE IN BR NG JP KR DE FR CH CA AU TR AR KE VN TH ID EU US GB").split()
SOURCES = [f"source-{i}" for i in range(8)]
T0 = datetime(2026, 11, 1, tzinfo=UTC)


FILLER = [f"{a}{b}{c}" for a in "bdfgklmnprstvz" for b in "aeiou" for c in ("lan", "ret", "mos", "dix", "pur")]


def _word(rng: random.Random) -> str:
    """Mostly filler (350 made-up words), a domain word one time in eight: each domain word is in ~10% of texts."""
    return rng.choice(WORDS + PLACES) if rng.random() < 0.125 else rng.choice(FILLER)


def gen_articles(rng: random.Random, n: int, start: int) -> list[ArticleWrite]:
    writes = []
    for i in range(start, start + n):
        title = " ".join(_word(rng) for _ in range(rng.randint(6, 10))).capitalize()
        sentences = [" ".join(_word(rng) for _ in range(rng.randint(10, 18))) for _ in range(12)]
        text = ". ".join(s.capitalize() for s in sentences) + "."
        article = Article(url=f"http://127.0.0.1/a/{i}", canonical_url=f"http://127.0.0.1/a/{i}", title=title,
                          text=text, published=T0 + timedelta(minutes=i), language="en")
        tags = Tags(topics=rng.sample(TOPICS, rng.randint(0, 3)), jurisdictions=rng.sample(JURISDICTIONS,
                    rng.randint(0, 2)), relevance=round(rng.random(), 2), language="en", taxonomy_version="bench")
        writes.append(ArticleWrite(article=article, source=rng.choice(SOURCES), fetched_at=T0, tags=tags))
    return writes


def gen_query(rng: random.Random) -> str:
    kind = rng.random()
    a, b = rng.choice(WORDS), rng.choice(WORDS + PLACES)
    if kind < 0.35:
        return a
    if kind < 0.55:
        return f"{a} {b}"
    if kind < 0.7:
        return f'"{a} {rng.choice(WORDS)}"'
    if kind < 0.8:
        return f"{a} OR {b}"
    if kind < 0.9:
        return f"{a[:4]}*"
    return f"{a} -{b}"


def gen_alerts(rng: random.Random, n: int) -> list[Alert]:
    alerts = []
    for i in range(n):
        fields: dict[str, Any] = {"name": f"alert-{i:05d}", "owner": "bench", "channels": ["json://127.0.0.1:9/h"],
                                  "q": gen_query(rng) if rng.random() < 0.9 else ""}
        if rng.random() < 0.5:
            fields["topics"] = rng.sample(TOPICS, rng.randint(1, 2))
        if rng.random() < 0.3:
            fields["jurisdictions"] = rng.sample(JURISDICTIONS, rng.randint(1, 2))
        if rng.random() < 0.1:
            fields["sources"] = [rng.choice(SOURCES)]
        if rng.random() < 0.2:
            fields["min_relevance"] = round(rng.random() * 0.8, 1)
        if not fields["q"] and "topics" not in fields:
            fields["topics"] = [rng.choice(TOPICS)]
        alerts.append(Alert(**fields))
    return alerts


def timed(evaluator: Any, alerts: list[Alert], ids: list[str], **kwargs: Any) -> tuple[float, dict[str, set[str]]]:
    evaluator.evaluate(alerts, ids, **kwargs)  # warm-up (caches, JIT, connection pool)
    started = time.perf_counter()
    result = evaluator.evaluate(alerts, ids, **kwargs)
    elapsed = time.perf_counter() - started
    return elapsed, {k: set(v) for k, v in result.matches.items()}


def run_backend(label: str, store: Any, alerts: list[Alert], ids: list[str], sizes: list[int],
                percolator: PercolatorEvaluator | None) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        subset = alerts[:n]
        row: dict[str, Any] = {"backend": label, "alerts": n, "articles": len(ids)}
        t_search, m_search = timed(SearchEvaluator(store, prefilter=False), subset, ids)
        t_pre, m_pre = timed(SearchEvaluator(store, prefilter=True), subset, ids)
        assert m_search == m_pre, f"{label}: prefilter changed the matches at {n} alerts"
        row.update(search_s=round(t_search, 3), prefilter_s=round(t_pre, 3),
                   matches=sum(len(v) for v in m_search.values()))
        if percolator is not None:
            started = time.perf_counter()
            percolator.sync(subset)
            row["percolator_sync_s"] = round(time.perf_counter() - started, 3)
            t_perc, m_perc = timed(percolator, subset, ids, sync=False)
            assert m_perc == m_search, f"{label}: percolator and search disagree at {n} alerts"
            row["percolator_s"] = round(t_perc, 3)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def crossover(rows: list[dict[str, Any]]) -> int | None:
    for row in rows:
        if "percolator_s" in row and row["percolator_s"] < min(row["search_s"], row["prefilter_s"]):
            return row["alerts"]
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--background", type=int, default=1500, help="older articles outside the batch")
    parser.add_argument("--sizes", default="1,10,30,100,300,1000", help="alert counts to measure")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-opensearch", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sizes = sorted({min(int(s), args.alerts) for s in args.sizes.split(",")})
    background = gen_articles(rng, args.background, 0)
    batch = gen_articles(rng, args.articles, args.background)
    alerts = gen_alerts(rng, args.alerts)
    rows: list[dict[str, Any]] = []

    with tempfile.TemporaryDirectory(prefix="regwire-bench-alerts-") as tmp:
        with SQLiteStore(Path(tmp) / "bench.db") as store:
            for start in range(0, len(background), 500):
                store.write_articles(background[start:start + 500])
            ids = [r.id for r in store.write_articles(batch)]
            rows += run_backend("embedded", store, alerts, ids, sizes, None)

    if not args.no_opensearch:
        from opensearchpy import OpenSearch
        from searchnode import SearchNode

        from pipeline.store.engine.store import SearchEngineStore
        from pipeline.store.opensearch import OpenSearchAdapter

        with SearchNode() as node:
            client = OpenSearchAdapter(OpenSearch(hosts=[node.url], timeout=120, max_retries=0))
            with SearchEngineStore(client, prefix="bench") as store:
                store.write_articles(background)
                ids = [r.id for r in store.write_articles(batch)]
                percolator = PercolatorEvaluator(client, prefix="bench")
                rows += run_backend("opensearch", store, alerts, ids, sizes, percolator)

    summary = {"rows": rows, "crossover_alerts": crossover([r for r in rows if r["backend"] == "opensearch"]),
               "python": sys.version.split()[0]}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"\n{'backend':<11} {'alerts':>6} {'articles':>8} {'matches':>8} {'search/alert':>13} "
          f"{'+prefilter':>11} {'percolator':>11} {'(sync)':>8}")
    for r in rows:
        perc = f"{r['percolator_s']:.3f}s" if "percolator_s" in r else "—"
        sync = f"{r['percolator_sync_s']:.2f}s" if "percolator_sync_s" in r else ""
        print(f"{r['backend']:<11} {r['alerts']:>6} {r['articles']:>8} {r['matches']:>8} {r['search_s']:>12.3f}s "
              f"{r['prefilter_s']:>10.3f}s {perc:>11} {sync:>8}")
    if not args.no_opensearch:
        x = summary["crossover_alerts"]
        print(f"\ncross-over on OpenSearch: the percolator is faster from {x} alert(s) on" if x else
              "\nthe percolator was never faster in this run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
