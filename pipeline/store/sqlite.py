"""The embedded store: one SQLite file (WAL) with FTS5/BM25 full-text search, article versions and feed state.

Tables and migrations: :mod:`pipeline.store.sqlite_schema` (each text stored once).
"""

from __future__ import annotations

import html
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from ..errors import ArticleNotFoundError, RegwireError, StoreError
from ..models import FeedState, SearchResult, StoredArticle, WriteOutcome
from ..query import SearchQuery
from ..tagging.models import Tags
from .base import ArticleWrite, KnownArticle, WriteResult
from .sqlite_query import fts_query
from .sqlite_schema import SCHEMA, SCHEMA_VERSION, migrate
from .sqlite_stories import STORY_SCHEMA, SQLiteStories

__all__ = ["SCHEMA_VERSION", "SQLiteFile", "SQLiteStore", "connect", "safe_snippet"]

#: BM25 column weights (title, text): a word in the title counts five times as much
TITLE_WEIGHT, TEXT_WEIGHT = 5.0, 1.0
#: snippet markers: control characters that never occur in extracted text, swapped for <mark> after escaping
_OPEN, _CLOSE = "\x02", "\x03"

#: an 8 MiB page cache (4x the default: the FTS5 merges of a batch and a search's pages stay in it, while a
#: ``regwire run`` stays within its memory budget, bench/bench_ingest.py), temporary tables (a search's matches,
#: facet GROUP BYs, sorts) in memory
_PRAGMAS = ("PRAGMA cache_size=-8192", "PRAGMA temp_store=MEMORY")
#: the whole record of an article row: its document with its text put back
_FULL_DOC = "json_set(doc, '$.text', text)"


def _marks(values: Sequence[Any]) -> str:
    """``?,?,?``: one SQL parameter per value."""
    return ",".join("?" * len(values))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def safe_snippet(raw: str) -> str:
    """Escape a snippet for HTML, fold its whitespace, and turn the match markers into <mark> elements."""
    return html.escape(" ".join(raw.split())).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def connect(path: Path) -> sqlite3.Connection:
    """A connection to regwire's SQLite file, as every embedded table set uses it: WAL (readers never block the
    writer), autocommit with explicit transactions, shareable between threads behind the caller's lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    for pragma in _PRAGMAS:
        db.execute(pragma)
    return db


class SQLiteFile:
    """One connection to regwire's SQLite file behind a lock, and its error mapping: the plumbing shared by the
    article store and the alert store (each with its own tables)."""

    #: the error every sqlite3 failure is mapped to
    error: type[RegwireError] = StoreError

    def __init__(self, path: str | Path, schema: str):
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self._db = connect(self.path)
            self._db.executescript(schema)
        except sqlite3.Error as exc:
            raise self.error(f"cannot open {self.path}: {exc}") from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self.error(f"{self.path}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error (sqlite3 errors mapped)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self.error(f"{self.path}: {exc}") from exc
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SQLiteStore(SQLiteFile, SQLiteStories):
    """Store protocol over SQLite. Safe to share between threads (one connection, serialised by a lock)."""

    def __init__(self, path: str | Path):
        super().__init__(path, SCHEMA + STORY_SCHEMA)
        with self._lock:
            try:
                migrate(self._db, self.path)
            except sqlite3.Error as exc:
                self._db.close()
                raise StoreError(f"{self.path}: cannot migrate the store to schema version {SCHEMA_VERSION}:"
                                 f" {exc}") from exc
            except StoreError:
                self._db.close()
                raise
        self.backfill_stories()  # a store written before stories: cluster its articles once
        self._add_mentioned_rows()

    def _add_mentioned_rows(self) -> None:
        """Stores written before mentioned jurisdictions had rows get them from the stored tags, once."""
        if self._query("SELECT 1 FROM meta WHERE key = 'mentioned_rows'"):
            return
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO article_tags SELECT a.id, 'mentioned', j.value FROM articles a,"
                       " json_each(a.doc, '$.tags.mentioned_jurisdictions') j WHERE j.type = 'text'")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('mentioned_rows', '1')")

    # -- articles -------------------------------------------------------------------------------------------------

    def write_articles(self, writes: Sequence[ArticleWrite]) -> list[WriteResult]:
        with self._transaction():  # all or nothing: a failed batch is written again by the next run
            return [self._write_one(write) for write in writes]

    def _write_one(self, write: ArticleWrite) -> WriteResult:
        article_id = write.id  # a hash of the URL, like content_hash: computed once
        row = self._db.execute(
            "SELECT id, version, content_hash FROM articles WHERE id = ?", (article_id,)).fetchone()
        new_hash = write.content_hash  # hashed once per write
        if row is not None and row["content_hash"] == new_hash:
            if write.feed_updated is not None:
                # not a new version: only remember that the feed's "updated" mark was seen
                self._db.execute("UPDATE articles SET feed_updated = ? WHERE id = ?",
                                 (_iso(write.feed_updated), article_id))
            return WriteResult(article_id, WriteOutcome.UNCHANGED, row["version"])
        version = 1 if row is None else row["version"] + 1
        stored = write.to_stored(version, content_hash=new_hash)
        stored.story_id = self._story_for(write.id, stored.title, stored.text)
        doc = stored.model_dump_json(exclude={"text"})
        values = (stored.title, stored.text, _iso(stored.published), _iso(stored.fetched_at), stored.language,
                  new_hash, version, _iso(write.feed_updated),
                  stored.tags.relevance if stored.tags else None, doc)
        if row is None:
            self._db.execute(
                "INSERT INTO articles (title, text, published, fetched_at, language, content_hash, version,"
                " feed_updated, relevance, doc, id, canonical_url, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (*values, article_id, stored.canonical_url, stored.source))
        else:  # the current version becomes a superseded one: its whole record moves to article_versions
            self._db.execute(
                f"UPDATE article_versions SET doc = (SELECT {_FULL_DOC} FROM articles WHERE id = ?)"
                " WHERE article_id = ? AND version = ?", (article_id, article_id, row["version"]))
            self._db.execute(
                "UPDATE articles SET title=?, text=?, published=?, fetched_at=?, language=?, content_hash=?,"
                " version=?, feed_updated=?, relevance=?, doc=? WHERE id=?", (*values, article_id))
        self._db.executemany("INSERT OR IGNORE INTO article_urls VALUES (?, ?)",
                             [(url, article_id) for url in {stored.canonical_url, *write.aliases}])
        self._db.execute("INSERT INTO article_versions (article_id, version, content_hash) VALUES (?,?,?)",
                         (article_id, version, new_hash))
        self._replace_tags(article_id, stored.tags)
        return WriteResult(article_id, WriteOutcome.NEW if row is None else WriteOutcome.UPDATED, version)

    def _replace_tags(self, article_id: str, tags: Tags | None) -> None:
        self._db.execute("DELETE FROM article_tags WHERE article_id = ?", (article_id,))
        if tags is None:
            return
        rows = [(article_id, "topic", t) for t in tags.topics]
        rows += [(article_id, "jurisdiction", j) for j in tags.jurisdictions]
        rows += [(article_id, "mentioned", j) for j in tags.mentioned_jurisdictions]
        self._db.executemany("INSERT OR IGNORE INTO article_tags VALUES (?,?,?)", rows)

    def set_tags(self, article_id: str, tags: Tags) -> None:
        stored = self.get_article(article_id)
        stored.tags = tags
        with self._transaction() as db:
            db.execute("UPDATE articles SET doc = ?, relevance = ? WHERE id = ?",
                       (stored.model_dump_json(exclude={"text"}), tags.relevance, article_id))
            self._replace_tags(article_id, tags)

    def known_articles(self, canonical_urls: Sequence[str]) -> dict[str, KnownArticle]:
        known: dict[str, KnownArticle] = {}
        urls = list(dict.fromkeys(canonical_urls))
        for start in range(0, len(urls), 500):
            chunk = urls[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._query(
                    "SELECT u.url, a.id, a.canonical_url, a.version, a.feed_updated FROM article_urls u"
                    f" JOIN articles a ON a.id = u.article_id WHERE u.url IN ({marks})", chunk):
                updated = datetime.fromisoformat(row["feed_updated"]) if row["feed_updated"] else None
                known[row["url"]] = KnownArticle(row["id"], row["canonical_url"], row["version"], updated)
        return known

    def get_article(self, article_id: str) -> StoredArticle:
        rows = self._query(f"SELECT {_FULL_DOC} AS doc FROM articles WHERE id = ?", (article_id,))
        if not rows:
            rows = self._query(f"SELECT {_FULL_DOC} AS doc FROM articles WHERE id LIKE ? || '%' LIMIT 2",
                               (article_id,))
            if len(rows) != 1:
                raise ArticleNotFoundError(f"no article with id {article_id!r}")
        return StoredArticle.model_validate_json(rows[0]["doc"])

    def article_versions(self, article_id: str) -> list[StoredArticle]:
        current = self.get_article(article_id)
        rows = self._query("SELECT doc FROM article_versions WHERE article_id = ? AND version < ? AND doc IS NOT NULL"
                           " ORDER BY version", (current.id, current.version))
        return [*(StoredArticle.model_validate_json(r["doc"]) for r in rows), current]

    def iter_articles(self, batch_size: int = 500) -> Iterator[StoredArticle]:
        last = 0
        while True:
            rows = self._query(f"SELECT rowid, {_FULL_DOC} AS doc FROM articles WHERE rowid > ? ORDER BY rowid LIMIT ?",
                               (last, batch_size))
            if not rows:
                return
            for row in rows:
                yield StoredArticle.model_validate_json(row["doc"])
            last = rows[-1]["rowid"]

    def count_articles(self) -> int:
        return self._query("SELECT count(*) AS n FROM articles")[0]["n"]

    def prune_versions(self, before: datetime) -> int:
        """Delete superseded versions fetched before ``before``; every article's current version is kept."""
        cutoff = before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        with self._lock:
            try:
                cursor = self._db.execute(
                    "DELETE FROM article_versions WHERE seq IN (SELECT v.seq FROM article_versions v"
                    " JOIN articles a ON a.id = v.article_id"
                    " WHERE v.version < a.version AND v.doc IS NOT NULL"
                    " AND json_extract(v.doc, '$.fetched_at') < ?)", (cutoff,))
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: pruning versions failed: {exc}") from exc
        return cursor.rowcount

    def changes_since(self, watermark: int, source: str | None = None) -> tuple[list[tuple[str, int]], int]:
        """(article id, version) written after ``watermark``, and the new watermark."""
        if source is None:
            rows = self._query("SELECT seq, article_id, version FROM article_versions WHERE seq > ? ORDER BY seq",
                               (watermark,))
        else:
            rows = self._query("SELECT v.seq, v.article_id, v.version FROM article_versions v JOIN articles a"
                               " ON a.id = v.article_id WHERE v.seq > ? AND a.source = ? ORDER BY v.seq",
                               (watermark, source))
        return [(r["article_id"], r["version"]) for r in rows], (rows[-1]["seq"] if rows else watermark)

    # -- search ---------------------------------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchResult:
        from .sqlite_search import run_search  # it imports this module's helpers

        text = fts_query(query.parsed())
        where, params = self._filters(query)
        where += text.where
        params += text.params
        with self._lock:
            try:
                result = run_search(self._db, query, text.match, where, params)
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from exc
        self._attach_story_sizes(result.hits)
        return result

    def _filters(self, query: SearchQuery) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []

        def any_of(column: str, values: Sequence[Any]) -> None:
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)

        if query.sources:
            any_of("a.source", query.sources)
        if query.languages:
            any_of("a.language", query.languages)
        if query.ids is not None:
            any_of("a.id", query.ids) if query.ids else where.append("0")
        if query.since:
            where.append("a.published >= ?")
            params.append(_iso(query.since))
        if query.until:
            where.append("a.published <= ?")
            params.append(_iso(query.until))
        if query.min_relevance is not None:
            where.append("a.relevance >= ?")
            params.append(query.min_relevance)
        # subjects only, unless the query also wants the articles that merely name the jurisdiction
        roles = ("jurisdiction", "mentioned") if query.include_mentions else ("jurisdiction",)
        for kinds, values in ((("topic",), query.topics), (roles, query.jurisdictions)):
            if values:  # any of the values (OR within a filter, AND across filters)
                where.append(f"a.id IN (SELECT article_id FROM article_tags WHERE kind IN ({_marks(kinds)})"
                             f" AND value IN ({_marks(values)}))")
                params.extend([*kinds, *values])
        return where, params

    # -- feed state -----------------------------------------------------------------------------------------------

    def get_feed_state(self, feed_url: str) -> FeedState | None:
        rows = self._query("SELECT doc FROM feed_state WHERE feed_url = ?", (feed_url,))
        return FeedState.model_validate_json(rows[0]["doc"]) if rows else None

    def save_feed_state(self, state: FeedState) -> None:
        self._query("INSERT INTO feed_state (feed_url, source, doc) VALUES (?,?,?) ON CONFLICT(feed_url) DO UPDATE"
                    " SET source = excluded.source, doc = excluded.doc",
                    (state.feed_url, state.source, state.model_dump_json()))

    def feed_states(self) -> list[FeedState]:
        return [FeedState.model_validate_json(r["doc"])
                for r in self._query("SELECT doc FROM feed_state ORDER BY source, feed_url")]
