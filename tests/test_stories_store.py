"""Stories on both backends: the embedded SQLite store and the real OpenSearch node (tests/opensearch).

The articles are the labelled set of tests/data/stories, written in publication order in several batches as the
pipeline would; each article must end in the story of its label's first article, on both backends alike."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from searchnode import shared_search_node
from test_store_contract import drop_prefix, make_search_store

from pipeline.models import Article
from pipeline.query import SearchQuery
from pipeline.store import SQLiteStore
from pipeline.store.base import ArticleWrite
from pipeline.tagging.models import Tags

DATA = Path(__file__).parent / "data" / "stories"
ARTICLES = sorted(json.loads((DATA / "articles.json").read_text()), key=lambda a: (a["published"], a["id"]))


def write_of(a: dict) -> ArticleWrite:
    url = f"https://{a['source']}.example/{a['id']}"
    article = Article(url=url, canonical_url=url, title=a["title"], text=a["text"],
                      published=datetime.fromisoformat(a["published"]), language="en")
    tags = Tags(topics=["policy"], jurisdictions=[a["jurisdiction"]], primary_jurisdiction=a["jurisdiction"],
                relevance=0.8, language="en", taxonomy_version="t1")
    return ArticleWrite(article=article, source=a["source"], fetched_at=datetime(2025, 7, 1, tzinfo=UTC),
                        tags=tags)


WRITES = {a["id"]: write_of(a) for a in ARTICLES}
STORY_HEAD = {}  # label → id of its first article, in publication order
for _a in ARTICLES:
    STORY_HEAD.setdefault(_a["story"], WRITES[_a["id"]].id)


@pytest.fixture(params=["sqlite", "opensearch"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "stories.db")
        yield s
        s.close()
        return
    s = make_search_store("opensearch", shared_search_node().url)
    try:
        yield s
    finally:
        drop_prefix(s)
        s.close()


def load(store) -> None:
    writes = [WRITES[a["id"]] for a in ARTICLES]
    for start in range(0, len(writes), 10):  # batches of 10: candidates come from the store and from the batch
        store.write_articles(writes[start:start + 10])


def test_every_article_gets_its_labelled_story_on_both_backends(store):
    load(store)
    for a in ARTICLES:
        stored = store.get_article(WRITES[a["id"]].id)
        assert stored.story_id == STORY_HEAD[a["story"]], a["id"]


def test_a_new_version_keeps_its_story_and_search_hits_carry_story_size(store):
    load(store)
    first = next(a for a in ARTICLES if a["story"] == "kz-ramp")
    changed = write_of({**first, "text": first["text"] + " Update: a fourth bank joined the pilot later."})
    assert store.write_articles([changed])[0].outcome.value == "updated"
    assert store.get_article(changed.id).story_id == STORY_HEAD["kz-ramp"]
    result = store.search(SearchQuery(q="Halyk", limit=10))
    assert result.hits and all(h.story_id == STORY_HEAD["kz-ramp"] and h.story_size == 3 for h in result.hits)


def test_jurisdiction_timeline_lists_stories_with_their_sources(store):
    load(store)
    stories = store.stories(jurisdiction="KZ", since=datetime(2025, 1, 1, tzinfo=UTC),
                            until=datetime(2025, 4, 30, tzinfo=UTC))
    assert [s.story_id for s in stories] == [STORY_HEAD["kz-block"], STORY_HEAD["kz-mining"], STORY_HEAD["kz-ramp"]]
    block = stories[0]
    assert block.size == 3 and block.sources == ["chainpost", "ledgerwire", "steppe-business"]
    assert block.first_seen == datetime(2025, 4, 22, 7, 45, tzinfo=UTC)
    assert block.last_seen == datetime(2025, 4, 23, 4, 15, tzinfo=UTC)
    assert block.title == "Kazakhstan blocks 36 unlicensed crypto exchange websites"
    assert len(store.stories(jurisdiction="HK")) == 4


def test_sqlite_store_from_before_stories_is_clustered_when_opened(tmp_path):
    path = tmp_path / "old.db"
    with SQLiteStore(path) as s:
        s.write_articles([WRITES[a["id"]] for a in ARTICLES])
    db = sqlite3.connect(path)  # make it a store of the previous schema: no story tables, no story_id in docs
    db.executescript("DROP TABLE article_stories; DROP TABLE story_bands;"
                     " UPDATE articles SET doc = json_remove(doc, '$.story_id');")
    db.close()
    with SQLiteStore(path) as s:
        assert {s.get_article(WRITES[a["id"]].id).story_id for a in ARTICLES} == set(STORY_HEAD.values())
        assert s.get_article(WRITES["kz-ramp-c"].id).story_id == STORY_HEAD["kz-ramp"]


def test_engine_documents_from_before_stories_are_clustered_by_backfill():
    s = make_search_store("opensearch", shared_search_node().url)
    try:
        load(s)
        # documents of the previous mapping: no story fields at all
        s.client.request("POST", f"/{s.names.articles}/_update_by_query", params={"refresh": "true"}, body={
            "query": {"match_all": {}}, "script": {"lang": "painless", "source":
                "ctx._source.remove('story_id'); ctx._source.remove('story_bands');"
                " ctx._source.remove('story_signature');"}})
        assert s.get_article(WRITES["kz-ramp-b"].id).story_id is None
        assert s.backfill_stories() == len(ARTICLES)
        assert s.backfill_stories() == 0
        for a in ARTICLES:
            assert s.get_article(WRITES[a["id"]].id).story_id == STORY_HEAD[a["story"]], a["id"]
    finally:
        drop_prefix(s)
        s.close()


def test_empty_articles_do_not_collapse_into_one_story(store):
    empty = [write_of({**ARTICLES[0], "id": f"empty-{i}", "title": "", "text": ""}) for i in range(3)]
    store.write_articles(empty[:2])
    store.write_articles(empty[2:])
    assert [store.get_article(w.id).story_id for w in empty] == [w.id for w in empty]
