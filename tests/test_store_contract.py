"""One contract suite for every store backend: embedded SQLite, OpenSearch through opensearch-py, and the
elasticsearch-py code path against the same real OpenSearch node through the loopback CompatProxy (that last one is
the Elasticsearch *client* over an OpenSearch *node*, not Elasticsearch itself).

The corpus is chosen so that FTS5's ``porter unicode61`` tokenizer and the engines' ``regwire_english`` analyser
(standard tokenizer, Porter stemmer, no stop words) agree: plain words, no apostrophes inside words, no dotted
abbreviations, no underscores. Relevance *scores* differ between BM25 implementations, so the suite compares hit
sets, date-sorted order, totals, facets and snippets, and only the top hit where the title boost decides it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from searchnode import shared_compat_proxy, shared_search_node

from pipeline.errors import ArticleNotFoundError, QuerySyntaxError
from pipeline.models import Article, FeedState, FeedStatus, WriteOutcome
from pipeline.query import SearchQuery, Sort
from pipeline.store import SQLiteStore, Store
from pipeline.store.base import ArticleWrite
from pipeline.tagging.models import Entity, Tags

BACKENDS = ["sqlite", "opensearch", "elasticsearch-client-over-opensearch-node"]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def search_node():
    return shared_search_node()


def make_search_store(engine: str, url: str, prefix: str | None = None, **kwargs):
    from pipeline.store.engine.store import SearchEngineStore

    prefix = prefix or f"t{uuid.uuid4().hex[:10]}"
    if engine == "opensearch":
        from opensearchpy import OpenSearch

        from pipeline.store.opensearch import OpenSearchAdapter

        adapter = OpenSearchAdapter(OpenSearch(hosts=[url], timeout=60, max_retries=0))
    else:
        from elasticsearch import Elasticsearch

        from pipeline.store.elastic import ElasticsearchAdapter

        adapter = ElasticsearchAdapter(Elasticsearch(url, request_timeout=60, max_retries=0))
    return SearchEngineStore(adapter, prefix=prefix, **kwargs)


def drop_prefix(store) -> None:
    store.client.request("DELETE", f"/{store.names.prefix}-*", params={"expand_wildcards": "all"})


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "contract.db")
        yield s
        s.close()
        return
    node = request.getfixturevalue("search_node")
    if request.param == "opensearch":
        s = make_search_store("opensearch", node.url)
    else:
        s = make_search_store("elasticsearch", shared_compat_proxy().url)
    try:
        yield s
    finally:
        drop_prefix(s)
        s.close()


# -- the corpus -----------------------------------------------------------------------------------------------------


def tags(topics, jurisdictions, relevance) -> Tags:
    return Tags(topics=topics, jurisdictions=jurisdictions, primary_jurisdiction=jurisdictions[0] if jurisdictions
                else None, entities=[Entity(name="ESMA", type="regulator", jurisdiction="EU")] if "EU" in
                jurisdictions else [], relevance=relevance, language="en", taxonomy_version="t1")


CORPUS = [
    # (slug, source, language, days after T0, title, text, tags)
    ("mica", "coindesk", "en", 0, "ESMA guidance on MiCA licensing for exchanges",
     "Regulators in Brussels published guidance on licensing crypto exchanges under MiCA. The rules cover custody "
     "and stablecoin reserves & disclosures <b>for</b> service providers.",
     tags(["licensing", "stablecoins"], ["EU"], 0.9)),
    ("hk", "theblock", "en", 1, "Hong Kong opens a stablecoin sandbox",
     "The monetary authority admitted three issuers to its stablecoin sandbox. Regulation of payment tokens follows.",
     tags(["stablecoins"], ["HK"], 0.8)),
    ("kz", "coindesk", "en", 1, "Kazakhstan taxes crypto mining electricity",
     "Kazakhstan raised the electricity levy on mining farms. Miners said the regulated tariff hurts margins.",
     tags(["mining", "taxation"], ["KZ"], 0.7)),
    ("dubai", "cointelegraph", "en", 2, "Dubai regulator publishes VARA rulebook",
     "The Dubai virtual assets regulator published its rulebook for exchange licensing and marketing rules.",
     tags(["licensing"], ["AE"], 0.85)),
    ("hack", "cointelegraph", "en", 3, "Exchange hot wallet hack drains funds",
     "An exchange lost funds in a hot wallet hack. No regulator has commented on the incident so far.",
     tags(["consumer-protection"], [], 0.3)),
    ("sec", "theblock", "en", 4, "SEC sues Crestline exchange",
     "The securities regulator sued the Crestline exchange for operating an unregistered broker and clearing agency.",
     tags(["enforcement"], ["US"], 0.95)),
    ("de", "handelsblatt", "de", 4, "Bafin warnt vor Krypto Betrug",
     "Die Aufsicht  warnt\n\nAnleger vor betrugerischen Plattformen.", None),
    ("price", "coindesk", "en", 5, "Bitcoin price climbs in Asian trading",
     "Bitcoin rose in Asian trading as traders bought the dip.", tags([], [], 0.05)),
]


def write_for(slug, source, language, days, title, text, tag, *, text_suffix="") -> ArticleWrite:
    url = f"https://news.example/{source}/{slug}"
    return ArticleWrite(
        article=Article(url=url + "?utm_source=feed", canonical_url=url, title=title, text=text + text_suffix,
                        published=T0 + timedelta(days=days, hours=len(slug)), language=language,
                        authors=["Desk"]),
        source=source, fetched_at=T0 + timedelta(days=days, hours=12), feed_url=f"https://news.example/{source}.xml",
        tags=tag, aliases=[f"https://feeds.example/{slug}"])


WRITES = [write_for(*row) for row in CORPUS]
IDS = {row[0]: w.id for row, w in zip(CORPUS, WRITES, strict=True)}


@pytest.fixture
def loaded(store) -> Store:
    results = store.write_articles(WRITES)
    assert [r.outcome for r in results] == [WriteOutcome.NEW] * len(WRITES)
    return store


def ids_of(result) -> set[str]:
    return {h.id for h in result.hits}


def slugs(result) -> list[str]:
    by_id = {v: k for k, v in IDS.items()}
    return [by_id[h.id] for h in result.hits]


# -- writes, versions, lookups --------------------------------------------------------------------------------------


def test_write_outcomes_versions_and_idempotence(loaded):
    again = loaded.write_articles(WRITES[:2])
    assert [(r.outcome, r.version) for r in again] == [(WriteOutcome.UNCHANGED, 1)] * 2
    changed = write_for(*CORPUS[0], text_suffix=" Updated with the final text.")
    dup = write_for(*CORPUS[1])
    res = loaded.write_articles([changed, dup, changed])
    assert [(r.outcome, r.version) for r in res] == [(WriteOutcome.UPDATED, 2), (WriteOutcome.UNCHANGED, 1),
                                                     (WriteOutcome.UNCHANGED, 2)]
    versions = loaded.article_versions(IDS["mica"])
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].text.endswith("final text.")
    assert loaded.get_article(IDS["mica"]).version == 2
    assert loaded.count_articles() == len(WRITES)
    assert sum(1 for _ in loaded.iter_articles(batch_size=3)) == len(WRITES)


def test_several_versions_in_one_batch_keep_history(loaded):
    _, mark = loaded.changes_since(0)
    v2 = write_for(*CORPUS[5], text_suffix=" Second.")
    v3 = write_for(*CORPUS[5], text_suffix=" Third.")
    res = loaded.write_articles([v2, write_for(*CORPUS[6]), v3])
    assert [(r.outcome, r.version) for r in res] == [(WriteOutcome.UPDATED, 2), (WriteOutcome.UNCHANGED, 1),
                                                     (WriteOutcome.UPDATED, 3)]
    versions = loaded.article_versions(IDS["sec"])
    assert [(v.version, v.text[-7:]) for v in versions] == [(1, "agency."), (2, "Second."), (3, " Third.")]
    pairs, mark2 = loaded.changes_since(mark)
    assert pairs == [(IDS["sec"], 2), (IDS["sec"], 3)] and mark2 > mark
    assert loaded.search(SearchQuery(q="third")).total == 1 and loaded.search(SearchQuery(q="second")).total == 0
    assert loaded.count_articles() == len(WRITES)


def test_prune_versions_keeps_current_ones(loaded):
    newer = write_for(*CORPUS[2], text_suffix=" Revised.")
    newer.fetched_at = T0 + timedelta(days=30)
    assert loaded.write_articles([newer])[0].version == 2
    assert loaded.prune_versions(T0) == 0  # nothing fetched before T0
    assert loaded.prune_versions(T0 + timedelta(days=60)) == 1  # kz v1; every current version stays
    assert [v.version for v in loaded.article_versions(IDS["kz"])] == [2]
    assert [v.version for v in loaded.article_versions(IDS["mica"])] == [1]
    assert loaded.count_articles() == len(WRITES)


def test_get_article_by_prefix_and_missing(loaded):
    art = loaded.get_article(IDS["kz"][:12])
    assert art.id == IDS["kz"] and art.tags and art.tags.topics == ["mining", "taxation"]
    assert art.published == WRITES[2].article.published
    for bad in ("ffffffffffffffffffffffffffffffff", "../_search?q=*", "a/b c"):
        with pytest.raises(ArticleNotFoundError):
            loaded.get_article(bad)


def test_known_articles_by_canonical_and_alias(loaded):
    feed_updated = datetime(2026, 3, 9, tzinfo=UTC)
    w = write_for(*CORPUS[3])
    w.feed_updated = feed_updated
    assert loaded.write_articles([w])[0].outcome is WriteOutcome.UNCHANGED
    known = loaded.known_articles(["https://news.example/cointelegraph/dubai", "https://feeds.example/dubai",
                                   "https://feeds.example/unknown"])
    assert set(known) == {"https://news.example/cointelegraph/dubai", "https://feeds.example/dubai"}
    k = known["https://feeds.example/dubai"]
    assert (k.id, k.version, k.canonical_url) == (IDS["dubai"], 1, "https://news.example/cointelegraph/dubai")
    assert k.feed_updated == feed_updated


def test_changes_since_watermark(loaded):
    pairs, mark = loaded.changes_since(0)
    assert sorted(pairs) == sorted((w.id, 1) for w in WRITES)
    assert loaded.changes_since(mark) == ([], mark)
    loaded.write_articles([write_for(*CORPUS[4], text_suffix=" Update.")])
    pairs2, mark2 = loaded.changes_since(mark)
    assert pairs2 == [(IDS["hack"], 2)] and mark2 > mark


def test_set_tags_changes_filters_and_facets(loaded):
    loaded.set_tags(IDS["price"], Tags(topics=["payments"], jurisdictions=["SG"], relevance=0.5, language="en",
                                       taxonomy_version="t2"))
    res = loaded.search(SearchQuery(topics=["payments"]))
    assert ids_of(res) == {IDS["price"]} and res.hits[0].jurisdictions == ["SG"] and res.hits[0].relevance == 0.5
    assert loaded.get_article(IDS["price"]).tags.topics == ["payments"]
    assert loaded.search(SearchQuery()).facets["jurisdiction"]["SG"] == 1


def test_feed_state_round_trip(store):
    assert store.get_feed_state("https://news.example/a.xml") is None
    a = FeedState(feed_url="https://news.example/a.xml", source="b-source", etag='W/"abc"', consecutive_errors=2,
                  last_error="HTTP 503", next_poll=T0, status=FeedStatus.SUSPENDED)
    b = FeedState(feed_url="https://news.example/b.xml", source="a-source", last_modified="Mon, 02 Mar 2026")
    store.save_feed_state(a)
    store.save_feed_state(b)
    assert store.get_feed_state(a.feed_url) == a
    a2 = a.model_copy(update={"consecutive_errors": 0, "status": FeedStatus.ACTIVE})
    store.save_feed_state(a2)
    assert store.feed_states() == [b, a2]


# -- search parity --------------------------------------------------------------------------------------------------

QUERIES = {
    # query string → expected slugs (as a set); stemming: regulators/regulator/regulated/regulation → regul
    "regulators": {"mica", "hk", "kz", "dubai", "hack", "sec"},
    '"stablecoin sandbox"': {"hk"},
    "stablecoin": {"mica", "hk"},
    "stable*": {"mica", "hk"},
    "kazakhstan OR dubai": {"kz", "dubai"},
    "exchange -hack": {"mica", "dubai", "sec"},
    "exchange licensing": {"mica", "dubai"},
    '-"hot wallet" -bitcoin': {"mica", "hk", "kz", "dubai", "sec", "de"},
    "betrugerischen": {"de"},
    "BÉTRUGERISCHEN": {"de"},
    "licence": set(),
}


@pytest.mark.parametrize("q", list(QUERIES))
def test_query_syntax_hits(loaded, q):
    res = loaded.search(SearchQuery(q=q, limit=50))
    assert set(slugs(res)) == QUERIES[q] and res.total == len(QUERIES[q])


def test_title_boost_decides_top_hit(loaded):
    assert slugs(loaded.search(SearchQuery(q="stablecoin")))[0] == "hk"
    assert slugs(loaded.search(SearchQuery(q="rulebook")))[0] == "dubai"


def test_date_sort_paging_and_filters(loaded):
    res = loaded.search(SearchQuery(sort=Sort.DATE, limit=3, offset=1))
    assert slugs(res) == ["sec", "de", "hack"] and res.total == len(WRITES)
    res = loaded.search(SearchQuery(q="regulator", sort=Sort.DATE, limit=50))
    assert slugs(res) == ["sec", "hack", "dubai", "kz", "hk", "mica"]
    assert slugs(loaded.search(SearchQuery(sources=["coindesk"], sort=Sort.DATE))) == ["price", "kz", "mica"]
    assert set(slugs(loaded.search(SearchQuery(languages=["de"])))) == {"de"}
    assert set(slugs(loaded.search(SearchQuery(topics=["licensing", "mining"])))) == {"mica", "dubai", "kz"}
    assert set(slugs(loaded.search(SearchQuery(topics=["licensing"], jurisdictions=["EU"])))) == {"mica"}
    assert set(slugs(loaded.search(SearchQuery(min_relevance=0.85)))) == {"mica", "dubai", "sec"}
    window = SearchQuery(since=T0 + timedelta(days=1), until=T0 + timedelta(days=3, hours=23))
    assert set(slugs(loaded.search(window))) == {"hk", "kz", "dubai", "hack"}
    assert set(slugs(loaded.search(SearchQuery(ids=[IDS["kz"], IDS["de"]])))) == {"kz", "de"}
    assert loaded.search(SearchQuery(ids=[])).total == 0


def test_facets_and_date_histogram(loaded):
    res = loaded.search(SearchQuery(q="regulators OR bitcoin", limit=0))
    assert res.total == 7 and res.hits == []
    assert res.facets == {
        "source": {"coindesk": 3, "cointelegraph": 2, "theblock": 2},
        "day": {"2026-03-02": 1, "2026-03-03": 2, "2026-03-04": 1, "2026-03-05": 1, "2026-03-06": 1,
                "2026-03-07": 1},
        "language": {"en": 7},
        "topic": {"licensing": 2, "stablecoins": 2, "consumer-protection": 1, "enforcement": 1, "mining": 1,
                  "taxation": 1},
        "jurisdiction": {"AE": 1, "EU": 1, "HK": 1, "KZ": 1, "US": 1},
    }
    assert loaded.search(SearchQuery(q="regulators", facets=False)).facets == {}


def marked_words(snippet: str) -> list[str]:
    return [w for m in re.findall(r"<mark>(.*?)</mark>", snippet) for w in m.split()]


def test_highlighting_is_html_safe_with_mark(loaded):
    (hit,) = loaded.search(SearchQuery(q='"service providers"')).hits
    # FTS5 marks a phrase as one <mark>, the engines' unified highlighter word by word: compare the marked words
    assert marked_words(hit.snippet) == ["service", "providers"]
    assert "&amp;" in hit.snippet and "&lt;b&gt;" in hit.snippet
    assert not re.search(r"<(?!/?mark>)", hit.snippet)
    hit = next(h for h in loaded.search(SearchQuery(q="regulated")).hits if h.id == IDS["kz"])
    assert "<mark>regulated</mark>" in hit.snippet  # the stem matched, the original word is marked
    # no query: the text's start, escaped, the same on every backend
    (plain,) = loaded.search(SearchQuery(ids=[IDS["mica"]])).hits
    assert plain.snippet == ("Regulators in Brussels published guidance on licensing crypto exchanges under MiCA. The"
                             " rules cover custody and stablecoin reserves &amp; disclosures &lt;b&gt;for&lt;/b&gt;"
                             " service providers.")
    (spaced,) = loaded.search(SearchQuery(ids=[IDS["de"]])).hits
    assert spaced.snippet == "Die Aufsicht warnt Anleger vor betrugerischen Plattformen."
    assert plain.url == "https://news.example/coindesk/mica" and plain.topics == ["licensing", "stablecoins"]
    # a match in the title only: the snippet is the start of the text, unmarked
    (title_only,) = loaded.search(SearchQuery(q="esma")).hits
    assert title_only.snippet.startswith("Regulators in Brussels published") and "<mark>" not in title_only.snippet


def test_bad_query_is_a_syntax_error(loaded):
    with pytest.raises(QuerySyntaxError):
        loaded.search(SearchQuery(q='"unbalanced'))
