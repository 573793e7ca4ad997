"""The embedded store: FTS5 query language, filters, facets, snippets, versions, feed state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline import Article, ArticleNotFoundError, FeedState, QuerySyntaxError, SearchQuery
from pipeline.models import WriteOutcome
from pipeline.store import ArticleWrite, SQLiteStore
from pipeline.tagging.models import Tags


def write(store, slug, title, text, *, source="desk", day=1, hour=9, topics=(), jurisdictions=(), relevance=0.9,
          language="en"):
    article = Article(url=f"https://news.example/{slug}", canonical_url=f"https://news.example/{slug}", title=title,
                      text=text, language=language, published=datetime(2024, 3, day, hour, tzinfo=UTC))
    tags = Tags(topics=list(topics), jurisdictions=list(jurisdictions), relevance=relevance, language=language,
                taxonomy_version="test")
    return store.write_articles([ArticleWrite(article=article, source=source, fetched_at=datetime.now(UTC),
                                              tags=tags)])[0]


@pytest.fixture
def store(tmp_path):
    with SQLiteStore(tmp_path / "s.db") as s:
        write(s, "kz", "Kazakhstan opens crypto-to-cash pilot",
              "Kazakhstan will let licensed exchanges convert crypto to cash in the AIFC.", day=1,
              topics=["fiat-ramp", "licensing"], jurisdictions=["KZ"])
        write(s, "eu", "EU regulators finalise MiCA licensing rules",
              "European regulators published licensing rules for crypto asset service providers.", day=2,
              source="wire", topics=["licensing"], jurisdictions=["EU"])
        write(s, "btc", "Bitcoin price slides in Asian trading",
              "Bitcoin fell 4% while traders in Asian trading hours unwound leverage.", day=2, hour=8, source="wire",
              relevance=0.05)
        write(s, "ng", "Nigeria taxes crypto gains", "Nigeria introduced a 10% tax on regulated crypto gains.",
              day=3, topics=["taxation"], jurisdictions=["NG"], language="fr")
        yield s


def ids(result):
    return [h.url.rsplit("/", 1)[1] for h in result.hits]


@pytest.mark.parametrize("q, expected", [
    ("kazakhstan", ["kz"]),
    ("KAZAKHSTAN cash", ["kz"]),
    ("regulations", ["eu", "ng"]),  # stemmed: regulators, regulated → regul
    ('"crypto to cash"', ["kz"]),
    ("crypto-to-cash", ["kz"]),
    ("licensing -MiCA", ["kz"]),
    ("nigeria OR kazakhstan", ["kz", "ng"]),
    ("bitc*", ["btc"]),
    ("-bitcoin", ["eu", "kz", "ng"]),
    ("zebra", []),
])
def test_query_language(store, q, expected):
    assert sorted(ids(store.search(SearchQuery(q=q)))) == expected


def test_title_matches_rank_higher(store):
    for i in range(6):  # BM25 needs a term to be rarer than in half of the documents to weigh anything
        write(store, f"filler{i}", f"Market wrap {i}", "Stocks and bonds moved little on the day.")
    result = store.search(SearchQuery(q="licensing"))
    assert ids(result) == ["eu", "kz"]  # "licensing" in the EU title, only in the KZ text
    assert result.hits[0].score > result.hits[1].score


@pytest.mark.parametrize("bad", ['"unclosed', "OR kazakhstan", "kazakhstan OR", "MiCA~", "(a OR b"])
def test_bad_queries_are_clear_errors(store, bad):
    with pytest.raises(QuerySyntaxError):
        store.search(SearchQuery(q=bad))


def test_filters_and_sorting(store):
    assert ids(store.search(SearchQuery(sources=["wire"], sort="date"))) == ["eu", "btc"]
    assert ids(store.search(SearchQuery(sort="date"))) == ["ng", "eu", "btc", "kz"]
    assert ids(store.search(SearchQuery(since=datetime(2024, 3, 2, tzinfo=UTC),
                                        until=datetime(2024, 3, 2, 23, tzinfo=UTC), sort="date"))) == ["eu", "btc"]
    assert ids(store.search(SearchQuery(topics=["licensing"], sort="date"))) == ["eu", "kz"]
    assert ids(store.search(SearchQuery(topics=["licensing"], jurisdictions=["KZ"]))) == ["kz"]
    assert ids(store.search(SearchQuery(min_relevance=0.5, sort="date"))) == ["ng", "eu", "kz"]
    assert ids(store.search(SearchQuery(languages=["fr"]))) == ["ng"]
    assert store.search(SearchQuery(ids=[])).total == 0


def test_facets_count_the_matching_articles(store):
    facets = store.search(SearchQuery(q="crypto")).facets
    assert facets["source"] == {"desk": 2, "wire": 1}
    assert facets["day"] == {"2024-03-01": 1, "2024-03-02": 1, "2024-03-03": 1}
    assert facets["topic"] == {"licensing": 2, "fiat-ramp": 1, "taxation": 1}
    assert facets["jurisdiction"] == {"EU": 1, "KZ": 1, "NG": 1}


def test_snippets_are_escaped_html_with_marks(tmp_path):
    with SQLiteStore(tmp_path / "x.db") as s:
        write(s, "xss", "<img src=x onerror=alert(1)>", "A <script>alert(1)</script> story about stablecoins.")
        hit = s.search(SearchQuery(q="stablecoins")).hits[0]
        assert "<script>" not in hit.snippet and "&lt;script&gt;" in hit.snippet
        assert "<mark>stablecoins</mark>" in hit.snippet
        assert hit.title == "<img src=x onerror=alert(1)>"  # raw in data; every renderer escapes it


def test_versions_and_idempotent_writes(store):
    again = write(store, "kz", "Kazakhstan opens crypto-to-cash pilot",
                  "Kazakhstan will let licensed exchanges convert crypto to cash in the AIFC.")
    assert again.outcome is WriteOutcome.UNCHANGED and again.version == 1
    changed = write(store, "kz", "Kazakhstan opens crypto-to-cash pilot", "Updated: the pilot starts in May.")
    assert changed.outcome is WriteOutcome.UPDATED and changed.version == 2
    assert [v.version for v in store.article_versions(changed.id)] == [1, 2]
    assert ids(store.search(SearchQuery(q="AIFC"))) == []  # the index follows the current version
    assert ids(store.search(SearchQuery(q="pilot May"))) == ["kz"]
    changes, mark = store.changes_since(0)
    assert (changed.id, 2) in changes and store.changes_since(mark) == ([], mark)


def test_prune_keeps_current_versions(tmp_path):
    with SQLiteStore(tmp_path / "p.db") as s:
        for text in ("one", "two", "three"):
            result = write(s, "kz", "Title", f"Version {text} of the story.")
        write(s, "other", "Other", "Only one version.")
        assert s.prune_versions(before=datetime(2000, 1, 1, tzinfo=UTC)) == 0  # all fetched later
        assert s.prune_versions(before=datetime.now(UTC) + timedelta(minutes=1)) == 2
        assert [v.version for v in s.article_versions(result.id)] == [3]
        assert s.get_article(result.id).text == "Version three of the story." and s.count_articles() == 2


def test_get_by_unique_prefix_and_missing(store):
    article = next(store.iter_articles())
    assert store.get_article(article.id[:10]).id == article.id
    with pytest.raises(ArticleNotFoundError):
        store.get_article("0000")


def test_feed_state_round_trip(store):
    state = FeedState(feed_url="https://news.example/rss", source="desk", etag='"x"', consecutive_errors=2,
                      next_poll=datetime(2026, 1, 1, tzinfo=UTC))
    store.save_feed_state(state)
    store.save_feed_state(state.model_copy(update={"etag": '"y"'}))
    assert store.get_feed_state(state.feed_url).etag == '"y"'
    assert [s.feed_url for s in store.feed_states()] == [state.feed_url]
