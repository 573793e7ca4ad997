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
from test_store_contract import search_node, store  # noqa: F401 - fixtures: every backend

from pipeline import Article, SearchQuery
from pipeline.alerts import Alert
from pipeline.alerts.evaluate import could_match
from pipeline.models import RelatedLink
from pipeline.store import ArticleWrite, SQLiteStore
from pipeline.tagging.models import Tags


def write(sqlite: SQLiteStore, slug: str, title: str, subjects: list[str], mentioned: list[str]) -> str:
    article = Article(url=f"https://news.example/{slug}", canonical_url=f"https://news.example/{slug}", title=title,
                      text=f"{title}. More words about the story.", language="en",
                      published=datetime(2024, 3, 1, 9, tzinfo=UTC))
    tags = Tags(topics=["licensing"], jurisdictions=subjects, mentioned_jurisdictions=mentioned, relevance=0.9,
                language="en", taxonomy_version="test")
    return sqlite.write_articles([ArticleWrite(article=article, source="desk", fetched_at=datetime.now(UTC),
                                              tags=tags)])[0].id


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "regwire.db"
    with SQLiteStore(path) as sqlite:
        write(sqlite, "hk", "Hong Kong licenses two exchanges", ["HK"], ["SG", "AE"])
        write(sqlite, "sg", "MAS restricts retail crypto trading", ["SG"], [])
        write(sqlite, "in", "India's crypto TDS takes effect", ["IN"], ["KZ"])
    return path


def slugs(result) -> list[str]:
    return sorted(h.url.rsplit("/", 1)[1] for h in result.hits)


def test_filters_and_facets_use_subjects_unless_mentions_are_asked_for(db):
    with SQLiteStore(db) as sqlite:
        assert slugs(sqlite.search(SearchQuery(jurisdictions=["SG"]))) == ["sg"]
        assert slugs(sqlite.search(SearchQuery(jurisdictions=["SG"], include_mentions=True))) == ["hk", "sg"]
        assert slugs(sqlite.search(SearchQuery(jurisdictions=["KZ"]))) == []
        assert slugs(sqlite.search(SearchQuery(jurisdictions=["KZ", "HK"], include_mentions=True))) == ["hk", "in"]
        facets = sqlite.search(SearchQuery()).facets["jurisdiction"]
        assert facets == {"HK": 1, "IN": 1, "SG": 1}  # mentions do not inflate the counts


def test_a_store_written_before_mention_rows_gets_them_when_opened(db):
    raw = sqlite3.connect(db)
    with raw:  # the store as an earlier release left it: subjects and topics only
        raw.execute("DELETE FROM article_tags WHERE kind = 'mentioned'")
        raw.execute("DELETE FROM meta WHERE key = 'mentioned_rows'")
    raw.close()
    with SQLiteStore(db) as sqlite:
        assert slugs(sqlite.search(SearchQuery(jurisdictions=["SG"], include_mentions=True))) == ["hk", "sg"]
        rows = sqlite._query("SELECT value FROM article_tags WHERE kind = 'mentioned' ORDER BY value")
        assert [r["value"] for r in rows] == ["AE", "KZ", "SG"]


def test_search_cli_include_mentions(db):
    home = db.parent
    subjects = json.loads(regwire("search", "--jurisdiction", "kz", "--json", home=home).stdout)
    assert subjects["total"] == 0
    widened = regwire("search", "--jurisdiction", "kz", "--include-mentions", "--json", home=home)
    assert widened.returncode == 0, widened.stderr
    assert [h["title"] for h in json.loads(widened.stdout)["hits"]] == ["India's crypto TDS takes effect"]


def test_alerts_match_subjects_by_default(db):
    with SQLiteStore(db) as sqlite:
        ids = [a.id for a in sqlite.iter_articles()]
        default = Alert(name="kz", owner="desk", jurisdictions=["KZ"], channels=["json://127.0.0.1:9/x"])
        widened = default.model_copy(update={"include_mentions": True})
        assert sqlite.search(default.search_query(ids)).total == 0
        assert slugs(sqlite.search(widened.search_query(ids))) == ["in"]
        facets = sqlite.search(SearchQuery(ids=ids, limit=0)).facets
    assert not could_match(default, facets) and could_match(widened, facets)
    assert default.fingerprint != widened.fingerprint
    # an alert saved before the field existed keeps its fingerprint (the formula before the field: no re-sends)
    before = default.model_dump(include={"q", "topics", "jurisdictions", "sources", "languages", "min_relevance"})
    assert default.fingerprint == hashlib.sha1(json.dumps(before, sort_keys=True).encode()).hexdigest()[:16]


def test_every_backend_stores_both_roles_and_filters_on_subjects(store):  # noqa: F811 - the contract fixture
    related = [RelatedLink(title="Dubai's VARA fines seven firms", url="https://news.example/vara")]
    for slug, subjects, mentioned in (("hk", ["HK"], ["SG"]), ("sg", ["SG"], [])):
        article = Article(url=f"https://news.example/{slug}", canonical_url=f"https://news.example/{slug}",
                          title=f"{slug} story", text="Licensing news.", language="en", related_links=related,
                          published=datetime(2024, 3, 1, 9, tzinfo=UTC))
        tags = Tags(topics=["licensing"], jurisdictions=subjects, mentioned_jurisdictions=mentioned, relevance=0.9,
                    language="en", taxonomy_version="test")
        store.write_articles([ArticleWrite(article=article, source="desk", fetched_at=datetime.now(UTC),
                                           tags=tags)])
    assert slugs(store.search(SearchQuery(jurisdictions=["SG"]))) == ["sg"]
    widened = store.search(SearchQuery(jurisdictions=["SG"], include_mentions=True))
    assert slugs(widened) == ["hk", "sg"] and widened.facets["jurisdiction"] == {"HK": 1, "SG": 1}
    hk = next(h for h in widened.hits if h.url.endswith("/hk"))
    stored = store.get_article(hk.id)
    assert stored.related_links == related and stored.tags.mentioned_jurisdictions == ["SG"]
    # re-tagging (what `regwire retag` does) moves a jurisdiction between the roles
    store.set_tags(hk.id, stored.tags.model_copy(update={"jurisdictions": ["HK", "SG"], "mentioned_jurisdictions": []}))
    assert slugs(store.search(SearchQuery(jurisdictions=["SG"]))) == ["hk", "sg"]
    store.set_tags(hk.id, stored.tags.model_copy(update={"mentioned_jurisdictions": ["AE"]}))
    assert slugs(store.search(SearchQuery(jurisdictions=["AE"], include_mentions=True))) == ["hk"]
    assert slugs(store.search(SearchQuery(jurisdictions=["AE"]))) == []


def test_an_engine_index_created_before_the_new_fields_gets_them_in_place(search_node):  # noqa: F811
    import copy

    from test_store_contract import drop_prefix, make_search_store

    from pipeline.store.engine.mappings import ANALYSIS, ARTICLE_MAPPINGS

    store = make_search_store("opensearch", search_node.url, ensure_schema=False)  # noqa: F811
    try:
        names = store.names
        old = copy.deepcopy(ARTICLE_MAPPINGS)
        for field in ("mentioned_jurisdictions", "related_links"):
            del old["properties"][field]
        store.client.request("PUT", f"/{names.articles_physical(1)}", body={
            "settings": {"analysis": ANALYSIS}, "mappings": old,
            "aliases": {names.articles: {"is_write_index": True}}})
        live = store.client.request("GET", f"/{names.articles}/_mapping")[names.articles_physical(1)]
        assert "mentioned_jurisdictions" not in live["mappings"]["properties"]
        store.ensure_schema()  # what every process opening the store does
        assert store.status()["missing_fields"] == []
        write(store, "in", "India's crypto TDS takes effect", ["IN"], ["KZ"])  # type: ignore[arg-type]
        assert store.deadletters() == []
        assert slugs(store.search(SearchQuery(jurisdictions=["KZ"], include_mentions=True))) == ["in"]
    finally:
        drop_prefix(store)
        store.close()
