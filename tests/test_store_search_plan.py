"""The embedded store's search matches once and snippets the page only: its results must equal those of the plain
plan (one full query per part: count, page with snippets, each facet), kept here as the reference."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from pipeline import Article, SearchQuery
from pipeline.models import SearchResult
from pipeline.query import Sort
from pipeline.store import ArticleWrite, SQLiteStore
from pipeline.store.sqlite import _CLOSE, _OPEN, TEXT_WEIGHT, TITLE_WEIGHT, safe_snippet
from pipeline.store.sqlite_query import fts_query
from pipeline.store.sqlite_search import _hit
from pipeline.tagging.models import Tags

WORDS = ("crypto exchange licence regulator stablecoin bitcoin tax sanctions custody token bank wallet audit market"
         " fine court ruling mining energy reserve").split()


def reference_search(store: SQLiteStore, query: SearchQuery) -> SearchResult:
    """The plan before issue 16, written out plainly (on the current query translation)."""
    text = fts_query(query.parsed())
    positive = text.match
    where, params = store._filters(query)
    where += text.where
    params += text.params
    if positive:
        base = "FROM articles_fts JOIN articles a ON a.rowid = articles_fts.rowid WHERE articles_fts MATCH ?"
        params = [positive, *params]
        score = f"-bm25(articles_fts, {TITLE_WEIGHT}, {TEXT_WEIGHT})"
        snippet = f"snippet(articles_fts, 1, '{_OPEN}', '{_CLOSE}', '…', 40)"
    else:
        base, score, snippet = "FROM articles a WHERE 1", "0.0", "substr(a.text, 1, 240)"
    clause = "".join(f" AND {w}" for w in where)
    order = f"{score} DESC, a.published DESC, a.id" if query.sort is Sort.RELEVANCE and positive else \
        "a.published IS NULL, a.published DESC, a.id"
    db = store._db
    total = db.execute(f"SELECT count(*) {base}{clause}", params).fetchone()[0]
    rows = db.execute(f"SELECT a.rowid, {score} AS score, {snippet} AS snippet {base}{clause} ORDER BY {order}"
                      " LIMIT ? OFFSET ?", [*params, query.limit, query.offset]).fetchall()
    # the record → hit conversion is shared; the snippet is the one the full query computed for every row
    hits = [_hit(db, r[0], r[1], None).model_copy(update={"snippet": safe_snippet(r[2] or "")}) for r in rows]
    facets: dict[str, dict[str, int]] = {}
    if query.facets:
        for name, sql in (
            ("source", f"SELECT a.source, count(*) AS n {base}{clause} GROUP BY 1 ORDER BY n DESC, 1"),
            ("day", f"SELECT substr(a.published, 1, 10), count(*) AS n {base}{clause} AND a.published IS NOT NULL"
                    " GROUP BY 1 ORDER BY 1"),
            ("language", f"SELECT a.language, count(*) AS n {base}{clause} AND a.language IS NOT NULL GROUP BY 1"
                         " ORDER BY n DESC, 1"),
        ):
            facets[name] = {r[0]: r[1] for r in db.execute(sql, params)}
        for kind in ("topic", "jurisdiction"):
            facets[kind] = {r[0]: r[1] for r in db.execute(
                f"SELECT value, count(*) AS n FROM article_tags WHERE kind = ? AND article_id IN"
                f" (SELECT a.id {base}{clause}) GROUP BY 1 ORDER BY n DESC, 1", [kind, *params])}
    store._attach_story_sizes(hits)  # shared too: how many articles each hit's story has
    return SearchResult(total=total, hits=hits, facets=facets, query=query.model_dump(mode="json"))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rng = random.Random(16)
    with SQLiteStore(tmp_path_factory.mktemp("plan") / "s.db") as s:
        writes = []
        for n in range(300):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 120)))
            article = Article(url=f"https://news.example/{n}", canonical_url=f"https://news.example/{n}",
                              title=" ".join(rng.sample(WORDS, 4)), text=text, language=rng.choice(["en", "fr", None]),
                              published=None if n % 17 == 0 else datetime(2024, 3, 1 + n % 28, n % 24, tzinfo=UTC))
            tags = Tags(topics=rng.sample(["licensing", "taxation", "aml", "stablecoins"], rng.randint(0, 2)),
                        jurisdictions=rng.sample(["EU", "US", "KZ", "NG"], rng.randint(0, 2)),
                        relevance=rng.random(), language="en", taxonomy_version="test")
            writes.append(ArticleWrite(article=article, source=rng.choice(["wire", "desk", "blog"]),
                                       fetched_at=datetime(2024, 4, 1, tzinfo=UTC), tags=tags))
        s.write_articles(writes)
        yield s


QUERIES = [
    dict(q="crypto"), dict(q="crypto exchange"), dict(q='"stablecoin bitcoin"'), dict(q="crypto -bitcoin"),
    dict(q="-bitcoin"), dict(q="tok*"), dict(q="crypto OR mining"), dict(q=""), dict(q="regulator", sort="date"),
    dict(q="bank", offset=40), dict(q="audit", sources=["wire"], topics=["licensing"], jurisdictions=["EU", "US"]),
    dict(q="market -court", languages=["en"], min_relevance=0.5), dict(q="", topics=["aml"], sort="date"),
    dict(q="energy", since=datetime(2024, 3, 10, tzinfo=UTC), until=datetime(2024, 3, 20, tzinfo=UTC)),
    dict(q="zzzunknown"),
]


@pytest.mark.parametrize("facets", [True, False], ids=["facets", "no facets"])
@pytest.mark.parametrize("spec", QUERIES, ids=[str(q) for q in QUERIES])
def test_search_equals_the_plain_plan(store, spec, facets):
    query = SearchQuery(facets=facets, limit=20, **spec)
    got = store.search(query)
    assert got == reference_search(store, query)
    if spec.get("q") == "crypto":
        assert got.total > 20 and "<mark>" in got.hits[0].snippet and bool(got.facets) == facets
