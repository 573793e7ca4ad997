"""Bulk indexing throughput: regwire's writer next to a raw ``_bulk`` of the same documents, same local node.

    .venv/bin/python bench/bench_bulk.py [--docs 20000] [--batch 500] [--rounds 3]
                                         [--url http://127.0.0.1:9200 --engine opensearch]

Without ``--url`` it starts the test suite's OpenSearch node (tests/searchnode.py, Maven jars) on a free loopback
port. Both runs index into fresh indices built from the same template, with ``refresh=false`` and one refresh at the
end. "raw" sends the same article documents (dicts in memory, serialised at send time as a client's bulk helper
does) with ``_bulk`` in ``--batch``-sized requests; "raw_prebuilt" has the NDJSON ready before the clock starts.
"regwire" calls ``SearchEngineStore.write_articles`` per batch: ``_mget`` of the current docs, a seq block from the
counter, then the article docs with per-item checks (new articles: no archived versions yet).
Target: regwire >= 0.8x raw docs/s.
"""

from __future__ import annotations

import argparse
import html
import json
import random
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pipeline.models import Article  # noqa: E402
from pipeline.store.base import ArticleWrite  # noqa: E402
from pipeline.store.engine.bulk import BulkItem, chunk_actions  # noqa: E402
from pipeline.store.engine.documents import article_source  # noqa: E402
from pipeline.store.engine.store import SearchEngineStore  # noqa: E402
from pipeline.tagging.models import TOPICS, Tags  # noqa: E402

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SOURCES = [f"source-{n:02d}" for n in range(25)]
JURISDICTIONS = ["US", "EU", "UK", "SG", "HK", "AE", "KZ", "IN", "JP", "KR", "CH", "BR"]


def vocabulary() -> list[str]:
    words: list[str] = []
    for page in sorted((ROOT / "pipeline" / "demo" / "site" / "news").glob("*.html")):
        text = html.unescape(re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8", errors="replace")))
        words += [w.lower() for w in re.findall(r"[A-Za-z]{3,}", text)]
    return words or ["crypto", "regulation", "exchange", "licence", "stablecoin", "bank"]


def make_writes(n: int, seed: int = 7, words_per_doc: int = 350) -> list[ArticleWrite]:
    rng = random.Random(seed)
    vocab = vocabulary()
    writes = []
    for i in range(n):
        title = " ".join(rng.choices(vocab, k=8)).capitalize()
        text = ". ".join(" ".join(rng.choices(vocab, k=14)).capitalize() for _ in range(words_per_doc // 14)) + "."
        url = f"https://bench.example/{i % 25}/article-{i}"
        published = T0 + timedelta(minutes=37 * i)
        tags = Tags(topics=rng.sample(TOPICS, k=rng.randint(0, 3)),
                    jurisdictions=rng.sample(JURISDICTIONS, k=rng.randint(0, 2)), relevance=round(rng.random(), 3),
                    language="en", taxonomy_version="bench")
        writes.append(ArticleWrite(
            article=Article(url=url, canonical_url=url, title=title, text=text, published=published, language="en",
                            authors=[f"Author {i % 97}"]),
            source=SOURCES[i % len(SOURCES)], fetched_at=published + timedelta(minutes=5), tags=tags))
    return writes


def open_client(url: str, engine: str):
    if engine == "opensearch":
        from opensearchpy import OpenSearch

        from pipeline.store.opensearch import OpenSearchAdapter

        return OpenSearchAdapter(OpenSearch(hosts=[url], timeout=120, max_retries=0))
    from elasticsearch import Elasticsearch

    from pipeline.store.elastic import ElasticsearchAdapter

    return ElasticsearchAdapter(Elasticsearch(url, request_timeout=120, max_retries=0))


class Node:
    """The test suite's node, or nothing when --url is given."""

    def __init__(self, url: str | None, heap: str):
        self.node = None
        if url is None:
            from searchnode import SearchNode

            self.node = SearchNode(heap=heap).start()
            url = self.node.url
        self.url = url

    def close(self) -> None:
        if self.node is not None:
            self.node.close()


def raw_bulk(client, index: str, docs: list[tuple[str, dict]], batch: int, *, prebuilt: bool = False) -> float:
    """``_bulk`` of ready documents: serialised at send time like a client's bulk helper, or (``prebuilt``)
    serialised before the clock starts (the engine's own ceiling)."""
    items = [BulkItem("index", index, doc_id, source) for doc_id, source in docs]
    chunks = [c.ndjson() for c in chunk_actions(items, max_actions=batch)] if prebuilt else None
    t0 = time.perf_counter()
    for body in chunks if prebuilt else (c.ndjson() for c in chunk_actions(items, max_actions=batch)):
        resp = client.bulk(body)
        if resp.get("errors"):
            raise SystemExit("raw bulk reported item errors")
    client.request("POST", f"/{index}/_refresh")
    return time.perf_counter() - t0


def run(url: str, engine: str, n: int, batch: int, rounds: int = 1) -> dict:
    writes = make_writes(n)
    client = open_client(url, engine)
    results: dict[str, list[float]] = {"raw": [], "raw_prebuilt": [], "regwire": []}
    warm = [(w.id, article_source(w.to_stored(1), urls=[], feed_updated=None, created_seq=1))
            for w in writes[:2000]]
    SearchEngineStore(client, prefix="benchwarm")  # JVM warm-up (template, analysis chain), not timed
    raw_bulk(client, "benchwarm-articles-v900", warm, batch)
    client.request("DELETE", "/benchwarm-*", params={"expand_wildcards": "all"})
    docs = [(w.id, article_source(w.to_stored(1), urls=[w.article.canonical_url], feed_updated=None,
                                  created_seq=i + 1)) for i, w in enumerate(writes)]

    def regwire(prefix: str) -> float:
        store = SearchEngineStore(client, prefix=prefix, refresh=False)
        t0 = time.perf_counter()
        for start in range(0, n, batch):
            store.write_articles(writes[start:start + batch])
        client.request("POST", f"/{prefix}-articles,{prefix}-article-versions/_refresh")
        elapsed = time.perf_counter() - t0
        assert store.count_articles() == n, "regwire wrote a different number of articles"
        return elapsed

    runs = {
        "raw": lambda prefix: raw_bulk(client, f"{prefix}-articles-v900", docs, batch),
        "raw_prebuilt": lambda prefix: raw_bulk(client, f"{prefix}-articles-v900", docs, batch, prebuilt=True),
        "regwire": regwire,
    }
    order = list(runs)
    for r in range(rounds):
        # rotate the order each round, and drop each run's indices before the next one starts, so that no run
        # pays for another's background merges
        for name in order[r % 3:] + order[:r % 3]:
            prefix = f"bench{r}{name.replace('_', '')}-{int(time.time())}"
            SearchEngineStore(client, prefix=prefix)  # template and side indices, not timed
            results[name].append(runs[name](prefix))
            client.request("DELETE", f"/{prefix}-*", params={"expand_wildcards": "all"})
            time.sleep(1)
    raw_s, ours_s, pre_s = min(results["raw"]), min(results["regwire"]), min(results["raw_prebuilt"])
    size = sum(len(json.dumps(d[1])) for d in docs) / n
    return {"docs": n, "batch": batch, "avg_doc_bytes": round(size), "engine": engine,
            "raw_docs_per_s": round(n / raw_s), "regwire_docs_per_s": round(n / ours_s),
            "ratio": round(raw_s / ours_s, 3), "raw_seconds": round(raw_s, 2), "regwire_seconds": round(ours_s, 2),
            "raw_prebuilt_docs_per_s": round(n / pre_s), "ratio_vs_prebuilt": round(pre_s / ours_s, 3),
            "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--url", default=None)
    parser.add_argument("--engine", choices=["opensearch", "elasticsearch"], default="opensearch")
    parser.add_argument("--heap", default="1g")
    args = parser.parse_args()
    node = Node(args.url, args.heap)
    try:
        print(json.dumps(run(node.url, args.engine, args.docs, args.batch, args.rounds), indent=2))
    finally:
        node.close()


if __name__ == "__main__":
    main()
