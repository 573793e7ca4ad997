"""Subject and mentioned jurisdictions in storage, search and alerts: filters and facets use subjects; the
``include_mentions`` switch (``--include-mentions`` on the CLI) widens a jurisdiction filter to mentions; stores
written before mentioned jurisdictions had their own rows get them when opened (real SQLite, the real CLI)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime

import pytest
from test_cli import regwire

from pipeline import Article, SearchQuery
from pipeline.alerts import Alert
from pipeline.alerts.evaluate import could_match
from pipeline.store import ArticleWrite, SQLiteStore
from pipeline.tagging.models import Tags


def write(store: SQLiteStore, slug: str, title: str, subjects: list[str], mentioned: list[str]) -> str:
    article = Article(url=f"https://news.example/{slug}", canonical_url=f"https://news.example/{slug}", title=title,
                      text=f"{title}. More words about the story.", language="en",
                      published=datetime(2024, 3, 1, 9, tzinfo=UTC))
    tags = Tags(topics=["licensing"], jurisdictions=subjects, mentioned_jurisdictions=mentioned, relevance=0.9,
                language="en", taxonomy_version="test")
    return store.write_articles([ArticleWrite(article=article, source="desk", fetched_at=datetime.now(UTC),
                                              tags=tags)])[0].id


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "regwire.db"
    with SQLiteStore(path) as store:
        write(store, "hk", "Hong Kong licenses two exchanges", ["HK"], ["SG", "AE"])
        write(store, "sg", "MAS restricts retail crypto trading", ["SG"], [])
        write(store, "in", "India's crypto TDS takes effect", ["IN"], ["KZ"])
    return path


def slugs(result) -> list[str]:
    return sorted(h.url.rsplit("/", 1)[1] for h in result.hits)


def test_filters_and_facets_use_subjects_unless_mentions_are_asked_for(db):
    with SQLiteStore(db) as store:
        assert slugs(store.search(SearchQuery(jurisdictions=["SG"]))) == ["sg"]
        assert slugs(store.search(SearchQuery(jurisdictions=["SG"], include_mentions=True))) == ["hk", "sg"]
        assert slugs(store.search(SearchQuery(jurisdictions=["KZ"]))) == []
        assert slugs(store.search(SearchQuery(jurisdictions=["KZ", "HK"], include_mentions=True))) == ["hk", "in"]
        facets = store.search(SearchQuery()).facets["jurisdiction"]
        assert facets == {"HK": 1, "IN": 1, "SG": 1}  # mentions do not inflate the counts


def test_a_store_written_before_mention_rows_gets_them_when_opened(db):
    raw = sqlite3.connect(db)
    with raw:  # the store as an earlier release left it: subjects and topics only
        raw.execute("DELETE FROM article_tags WHERE kind = 'mentioned'")
        raw.execute("DELETE FROM meta WHERE key = 'mentioned_rows'")
    raw.close()
    with SQLiteStore(db) as store:
        assert slugs(store.search(SearchQuery(jurisdictions=["SG"], include_mentions=True))) == ["hk", "sg"]
        rows = store._query("SELECT value FROM article_tags WHERE kind = 'mentioned' ORDER BY value")
        assert [r["value"] for r in rows] == ["AE", "KZ", "SG"]


def test_search_cli_include_mentions(db):
    home = db.parent
    subjects = json.loads(regwire("search", "--jurisdiction", "kz", "--json", home=home).stdout)
    assert subjects["total"] == 0
    widened = regwire("search", "--jurisdiction", "kz", "--include-mentions", "--json", home=home)
    assert widened.returncode == 0, widened.stderr
    assert [h["title"] for h in json.loads(widened.stdout)["hits"]] == ["India's crypto TDS takes effect"]


def test_alerts_match_subjects_by_default(db):
    with SQLiteStore(db) as store:
        ids = [a.id for a in store.iter_articles()]
        default = Alert(name="kz", owner="desk", jurisdictions=["KZ"], channels=["json://127.0.0.1:9/x"])
        widened = default.model_copy(update={"include_mentions": True})
        assert store.search(default.search_query(ids)).total == 0
        assert slugs(store.search(widened.search_query(ids))) == ["in"]
        facets = store.search(SearchQuery(ids=ids, limit=0)).facets
    assert not could_match(default, facets) and could_match(widened, facets)
    assert default.fingerprint != widened.fingerprint
    # an alert saved before the field existed keeps its fingerprint (the formula before the field: no re-sends)
    before = default.model_dump(include={"q", "topics", "jurisdictions", "sources", "languages", "min_relevance"})
    assert default.fingerprint == hashlib.sha1(json.dumps(before, sort_keys=True).encode()).hexdigest()[:16]
