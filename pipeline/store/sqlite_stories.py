"""Stories in the embedded store: each article's story, signature and LSH band keys in side tables.

A new article is clustered inside its write transaction (:meth:`SQLiteStories._story_for`): the articles sharing
one of its band keys are the candidates, the most similar one at or above the threshold gives its story, else the
article starts one. A new version keeps its article's story. Stores written before stories existed are migrated
when opened: the articles without a story are clustered in write order (:meth:`SQLiteStories.backfill_stories`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..models import SearchHit, StoredArticle, Story
from ..stories import DEFAULT_PARAMS, Candidate, band_keys, choose_story, decode, encode, sign

STORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS article_stories (
    article_id TEXT PRIMARY KEY,
    story_id TEXT NOT NULL,   -- the id of the story's first article
    signature BLOB NOT NULL   -- MinHash values (pipeline.stories.encode); empty for too little text
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS article_stories_story ON article_stories(story_id);
CREATE TABLE IF NOT EXISTS story_bands (
    band TEXT NOT NULL,
    article_id TEXT NOT NULL,
    PRIMARY KEY (band, article_id)
) WITHOUT ROWID;
"""


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


class SQLiteStories:
    """Story bookkeeping for :class:`~pipeline.store.sqlite.SQLiteStore` (mixed in; uses its connection and lock)."""

    _db: sqlite3.Connection
    _lock: threading.RLock

    def _story_for(self, article_id: str, title: str, text: str) -> str:
        """The story of an article being written (inside the caller's transaction): kept when known, else found."""
        row = self._db.execute("SELECT story_id FROM article_stories WHERE article_id = ?", (article_id,)).fetchone()
        if row is not None:
            return str(row["story_id"])
        minhash = sign(title, text, DEFAULT_PARAMS)
        if minhash is None:  # too little text: its own story, never a candidate (no bands)
            self._db.execute("INSERT INTO article_stories VALUES (?,?,?)", (article_id, article_id, b""))
            return article_id
        keys = band_keys(minhash, DEFAULT_PARAMS)
        marks = ",".join("?" * len(keys))
        rows = self._db.execute(
            "SELECT s.article_id, s.story_id, s.signature FROM article_stories s WHERE s.article_id IN"
            f" (SELECT article_id FROM story_bands WHERE band IN ({marks}))", keys).fetchall()
        candidates = [Candidate(r["article_id"], r["story_id"], decode(r["signature"], DEFAULT_PARAMS))
                      for r in rows]
        story = choose_story(article_id, minhash, candidates, DEFAULT_PARAMS)
        self._db.execute("INSERT INTO article_stories VALUES (?,?,?)", (article_id, story, encode(minhash)))
        self._db.executemany("INSERT OR IGNORE INTO story_bands VALUES (?,?)", [(k, article_id) for k in keys])
        return story

    def backfill_stories(self) -> int:
        """Cluster the articles that have no story yet (a store written before stories), in write order."""
        with self._lock:
            missing = self._db.execute(
                "SELECT rowid, id, title, text, doc FROM articles WHERE id NOT IN"
                " (SELECT article_id FROM article_stories) ORDER BY rowid").fetchall()
            if not missing:
                return 0
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for row in missing:
                    story = self._story_for(row["id"], row["title"], row["text"])
                    self._db.execute("UPDATE articles SET doc = json_set(doc, '$.story_id', ?) WHERE id = ?",
                                     (story, row["id"]))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(missing)

    def _attach_story_sizes(self, hits: Sequence[SearchHit]) -> None:
        """Fill ``story_size`` of each hit: how many stored articles its story has."""
        stories = list({h.story_id for h in hits if h.story_id})
        if not stories:
            return
        with self._lock:
            rows = self._db.execute(
                "SELECT story_id, count(*) AS n FROM article_stories WHERE story_id IN"
                f" ({','.join('?' * len(stories))}) GROUP BY story_id", stories).fetchall()
        sizes = {r["story_id"]: r["n"] for r in rows}
        for hit in hits:
            if hit.story_id:
                hit.story_size = sizes.get(hit.story_id, 1)

    def stories(self, *, jurisdiction: str | None = None, since: datetime | None = None,
                until: datetime | None = None, limit: int = 100) -> list[Story]:
        """Stories with articles in the window (and of the jurisdiction), newest first; counts cover the articles
        that match the filters. An article without a publication date counts at its fetch time."""
        when = "coalesce(a.published, a.fetched_at)"
        where: list[str] = ["1"]
        params: list[Any] = []
        if jurisdiction:
            where.append("a.id IN (SELECT article_id FROM article_tags WHERE kind = 'jurisdiction' AND value = ?)")
            params.append(jurisdiction)
        if since:
            where.append(f"{when} >= ?")
            params.append(_iso(since))
        if until:
            where.append(f"{when} <= ?")
            params.append(_iso(until))
        with self._lock:
            rows = self._db.execute(
                f"SELECT s.story_id, count(*) AS n, min({when}) AS first, max({when}) AS last,"
                " group_concat(a.source, char(31)) AS sources, group_concat(a.id, char(31)) AS ids"
                " FROM article_stories s JOIN articles a ON a.id = s.article_id"
                f" WHERE {' AND '.join(where)} GROUP BY s.story_id ORDER BY first DESC, s.story_id LIMIT ?",
                [*params, limit]).fetchall()
            heads = {r["id"]: StoredArticle.model_validate_json(r["doc"]) for r in self._db.execute(
                f"SELECT id, doc FROM articles WHERE id IN ({','.join('?' * len(rows))})",
                [r["story_id"] for r in rows]).fetchall()} if rows else {}
        return [story_from(r["story_id"], heads.get(r["story_id"]), r["n"], r["first"], r["last"],
                           r["sources"].split("\x1f"), r["ids"].split("\x1f")) for r in rows]


def story_from(story_id: str, head: StoredArticle | None, size: int, first: str, last: str,
               sources: Sequence[str], article_ids: Sequence[str]) -> Story:
    """A timeline entry; ``head`` is the story's first article (None when it was deleted)."""
    tags = head.tags if head is not None else None
    return Story(story_id=story_id, title=head.title if head else "", url=head.canonical_url if head else None,
                 size=size, sources=sorted(set(sources)), first_seen=datetime.fromisoformat(first),
                 last_seen=datetime.fromisoformat(last), article_ids=sorted(article_ids),
                 topics=tags.topics if tags else [], jurisdictions=tags.jurisdictions if tags else [])
