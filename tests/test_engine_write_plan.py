"""The search-engine store's write plan (pipeline/store/engine/writes.py): a pure function, tested without a node.

The same behaviour is exercised end to end against the real OpenSearch node in test_store_contract.py and
test_search_backends.py; these cases pin the bookkeeping (versions, seq, created_seq, archives) directly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from pipeline.models import Article, WriteOutcome
from pipeline.store.base import ArticleWrite
from pipeline.store.engine.documents import article_source
from pipeline.store.engine.names import IndexNames
from pipeline.store.engine.writes import ArticleState, archive_items, plan_writes, without_rejected

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
NAMES = IndexNames("plan")


def write(n: int, text: str = "", *, feed_updated: datetime | None = None, alias: str | None = None) -> ArticleWrite:
    url = f"https://news.example/a/{n}"
    return ArticleWrite(article=Article(url=url, canonical_url=url, title=f"Story {n}", text=text or f"Body {n}."),
                        source="src", fetched_at=T0 + timedelta(minutes=n), feed_updated=feed_updated,
                        aliases=[alias] if alias else [])


def plan(writes, current=None, first_seq=100):
    return plan_writes(writes, [w.to_stored(1) for w in writes], current or {}, first_seq, NAMES)


def test_new_articles_get_version_1_and_their_own_seq():
    writes = [write(1), write(2)]
    p = plan(writes)
    assert [(r.id, r.outcome, r.version) for r in p.results] == [(w.id, WriteOutcome.NEW, 1) for w in writes]
    docs = [json.loads(i.raw or "") for i in p.articles]
    assert [(d["id"], d["version"], d["seq"], d["created_seq"]) for d in docs] == [
        (writes[0].id, 1, 100, 100), (writes[1].id, 1, 101, 101)]
    assert p.superseded == [] and p.touched == [] and p.from_engine == []


def test_unchanged_write_only_touches_feed_updated():
    w = write(1, feed_updated=T0)
    stored = w.to_stored(3)
    current = {w.id: ArticleState.from_source(article_source(stored, urls=[w.article.canonical_url],
                                                             feed_updated=None, created_seq=7, seq=9))}
    p = plan([w], current)
    assert [(r.outcome, r.version) for r in p.results] == [(WriteOutcome.UNCHANGED, 3)]
    assert p.articles == [] and [(i.op, i.doc) for i in p.touched] == [("update", {"feed_updated": T0.isoformat()})]


def test_changed_write_supersedes_the_engine_version_keeping_created_seq_and_urls():
    old = write(1)
    current = {old.id: ArticleState.from_source(article_source(old.to_stored(2), urls=["https://old.example/1"],
                                                               feed_updated=None, created_seq=7, seq=9))}
    p = plan([write(1, "Revised body.", alias="https://alias.example/1")], current)
    assert [(r.outcome, r.version) for r in p.results] == [(WriteOutcome.UPDATED, 3)]
    (doc,) = [json.loads(i.raw or "") for i in p.articles]
    assert (doc["version"], doc["created_seq"], doc["seq"]) == (3, 7, 100)
    assert doc["urls"] == sorted({"https://old.example/1", "https://alias.example/1", old.article.canonical_url})
    assert p.from_engine == [old.id]  # the superseded version is read back from the engine to be archived
    engine_doc = article_source(old.to_stored(2), urls=[], feed_updated=None, created_seq=7, seq=9)
    (archive,) = archive_items(p.superseded, {old.id: engine_doc}, NAMES, T0)
    assert (archive.index, archive.id, archive.source and archive.source["seq"]) == (NAMES.versions, f"{old.id}:2", 9)
    assert archive_items(p.superseded, {}, NAMES, T0) == []  # vanished meanwhile: nothing to archive


def test_several_versions_in_one_batch_chain_and_only_the_newest_becomes_the_document():
    writes = [write(1), write(2), write(1, "Second body."), write(1, "Third body.")]
    p = plan(writes)
    assert [(r.outcome, r.version) for r in p.results] == [
        (WriteOutcome.NEW, 1), (WriteOutcome.NEW, 1), (WriteOutcome.UPDATED, 2), (WriteOutcome.UPDATED, 3)]
    docs = {d["id"]: d for d in (json.loads(i.raw or "") for i in p.articles)}
    assert len(p.articles) == 2
    assert (docs[writes[0].id]["version"], docs[writes[0].id]["created_seq"], docs[writes[0].id]["seq"]) == (3, 100, 103)
    assert p.from_engine == []
    archives = archive_items(p.superseded, {}, NAMES, T0)
    assert [(a.id, a.source and a.source["seq"]) for a in archives] == [
        (f"{writes[0].id}:1", 100), (f"{writes[0].id}:2", 102)]
    assert [w.article.text for w in writes] == ["Body 1.", "Body 2.", "Second body.", "Third body."]  # inputs kept


def test_rejected_writes_leave_the_results_but_unchanged_ones_stay():
    w = write(1)
    p = plan([w, write(2)])
    assert [r.id for r in without_rejected(p.results, {w.id})] == [write(2).id]
