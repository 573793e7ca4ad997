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


# -- schema versions --------------------------------------------------------------------------------------------------

#: what a version 1 file (before issue 16) held: the articles columns in their old order, the text in articles.doc
#: too, and the current version's whole record in article_versions (whose doc was NOT NULL)
_TO_V1 = """
CREATE TABLE articles_v1 (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, canonical_url TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL, published TEXT, fetched_at TEXT NOT NULL,
    language TEXT, content_hash TEXT NOT NULL, version INTEGER NOT NULL, feed_updated TEXT, relevance REAL,
    doc TEXT NOT NULL);
INSERT INTO articles_v1 SELECT rowid, id, canonical_url, source, title, text, published, fetched_at, language,
    content_hash, version, feed_updated, relevance, json_set(doc, '$.text', text) FROM articles;
DROP TABLE articles;
ALTER TABLE articles_v1 RENAME TO articles;
CREATE TABLE article_versions_v1 (seq INTEGER PRIMARY KEY AUTOINCREMENT, article_id TEXT NOT NULL,
    version INTEGER NOT NULL, content_hash TEXT NOT NULL, doc TEXT NOT NULL, UNIQUE (article_id, version));
INSERT INTO article_versions_v1 SELECT v.seq, v.article_id, v.version, v.content_hash, coalesce(v.doc, a.doc)
    FROM article_versions v JOIN articles a ON a.id = v.article_id;
DROP TABLE article_versions;
ALTER TABLE article_versions_v1 RENAME TO article_versions;
UPDATE meta SET value = '1' WHERE key = 'schema_version';
"""


def test_a_version_1_store_is_migrated_in_place_and_reads_the_same(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    with SQLiteStore(path) as s:
        write(s, "kz", "Kazakhstan opens crypto-to-cash pilot", "Kazakhstan will let exchanges convert crypto. " * 50)
        write(s, "kz", "Kazakhstan opens crypto-to-cash pilot", "Kazakhstan now lets exchanges convert crypto. " * 50)
        write(s, "eu", "EU regulators finalise MiCA rules", "European regulators published licensing rules. " * 50)
        before = {a.id: s.article_versions(a.id) for a in s.iter_articles()}
        found = s.search(SearchQuery(q="crypto", facets=True))
        changes = s.changes_since(0)
    from pipeline.store.sqlite_schema import SCHEMA

    with sqlite3.connect(path) as db:
        db.executescript(_TO_V1 + SCHEMA)  # the same indexes and triggers as version 1 had
    old_size = _checkpointed_size(path)
    with sqlite3.connect(path) as db:  # it really is the old layout: three copies of the current text
        assert db.execute("SELECT count(*) FROM article_versions WHERE doc LIKE '%now lets exchanges%'").fetchone()
        assert db.execute("SELECT json_extract(doc, '$.text') IS NOT NULL FROM articles LIMIT 1").fetchone()[0]
        assert [r[1] for r in db.execute("PRAGMA table_info(articles)")][4:6] == ["title", "text"]

    with SQLiteStore(path) as s:
        assert {a.id: s.article_versions(a.id) for a in s.iter_articles()} == before
        assert s.search(SearchQuery(q="crypto", facets=True)) == found and s.changes_since(0) == changes
        write(s, "kz", "Kazakhstan opens crypto-to-cash pilot", "Version three. " * 50)  # versions go on
        assert [v.version for v in s.article_versions(before and next(iter(before)))] == [1, 2, 3]
        assert s.search(SearchQuery(q="three")).total == 1 and s.search(SearchQuery(q="now lets")).total == 0
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
        assert db.execute("SELECT count(*) FROM article_versions WHERE doc IS NOT NULL").fetchone()[0] == 2
        assert db.execute("SELECT count(*) FROM articles WHERE json_extract(doc, '$.text') IS NOT NULL"
                          ).fetchone()[0] == 0
        assert [r[1] for r in db.execute("PRAGMA table_info(articles)")][-3:] == ["title", "text", "doc"]
        assert {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")} == {
            "articles_ai", "articles_ad", "articles_au"}
    assert _checkpointed_size(path) < old_size


def _checkpointed_size(path):
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def test_a_store_from_a_newer_regwire_is_refused_with_a_clear_message(tmp_path):
    import sqlite3

    from pipeline import StoreError

    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 9, newer than this regwire's"):
        SQLiteStore(path)


def test_each_text_is_stored_once(tmp_path):
    import sqlite3

    path = tmp_path / "lean.db"
    with SQLiteStore(path) as s:
        write(s, "kz", "Kazakhstan pilot", "Original wording of the story. " * 40)
        write(s, "kz", "Kazakhstan pilot", "Changed wording of the story. " * 40)
    with sqlite3.connect(path) as db:
        # articles_fts reads its text from articles (external content): its dump lines are no stored copy
        dump = "\n".join(line for line in db.iterdump() if not line.startswith('INSERT INTO "articles_fts"'))
    assert dump.count("Changed wording of the story.") == 40  # one copy of the current text: articles.text
    assert dump.count("Original wording of the story.") == 40  # one of the superseded one: its version row
