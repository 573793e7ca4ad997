"""The embedded store's tables, and the migration of older files.

Each text is stored once: ``articles.text`` (indexed by the external-content FTS5 table, which keeps no copy);
``articles.doc`` holds the rest of the record as JSON (no text). ``article_versions`` has one row per version for the
change watermark (``seq``), but a ``doc`` only for superseded versions: the current version is the ``articles`` row.

Schema versions: 1 (until issue 16) stored the text three times (``articles.text``, ``articles.doc`` and the current
version's ``article_versions.doc``); :func:`migrate` rewrites such a file to version 2 in place, once, when it is
opened. A file from a newer regwire is refused with a message saying so.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import StoreError

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (  -- small columns first: filters and facets never read past the text
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    canonical_url TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    published TEXT,
    fetched_at TEXT NOT NULL,
    language TEXT,
    content_hash TEXT NOT NULL,
    version INTEGER NOT NULL,
    feed_updated TEXT,
    relevance REAL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    doc TEXT NOT NULL  -- the record as JSON, without its text
);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE TABLE IF NOT EXISTS article_versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- a watermark: every new or changed article gets a higher seq
    article_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    doc TEXT,  -- the whole record (with its text) once superseded; NULL while it is the current version
    UNIQUE (article_id, version)
);
CREATE TABLE IF NOT EXISTS article_urls (  -- every canonical URL known to lead to an article
    url TEXT PRIMARY KEY,
    article_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS article_tags (
    article_id TEXT NOT NULL,
    kind TEXT NOT NULL,   -- topic | jurisdiction (a subject) | mentioned (a jurisdiction only named)
    value TEXT NOT NULL,
    PRIMARY KEY (article_id, kind, value)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS article_tags_value ON article_tags(kind, value);
CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5(
    title, text, content='articles', content_rowid='rowid',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS articles_ai AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts(rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;
CREATE TRIGGER IF NOT EXISTS articles_ad AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts(articles_fts, rowid, title, text) VALUES ('delete', old.rowid, old.title, old.text);
END;
CREATE TRIGGER IF NOT EXISTS articles_au AFTER UPDATE OF title, text ON articles BEGIN
    INSERT INTO articles_fts(articles_fts, rowid, title, text) VALUES ('delete', old.rowid, old.title, old.text);
    INSERT INTO articles_fts(rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;
CREATE TABLE IF NOT EXISTS feed_state (
    feed_url TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

#: version 1 → 2: the articles table rebuilt with its small columns first (same rowids, so the FTS5 index stays
#: valid) and its documents without their texts; the current version's document out of article_versions. The
#: indexes and triggers are created again from :data:`SCHEMA` afterwards.
_V1_TO_V2 = """
CREATE TABLE articles_v2 (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, canonical_url TEXT NOT NULL UNIQUE, source TEXT NOT NULL,
    published TEXT, fetched_at TEXT NOT NULL, language TEXT, content_hash TEXT NOT NULL, version INTEGER NOT NULL,
    feed_updated TEXT, relevance REAL, title TEXT NOT NULL, text TEXT NOT NULL, doc TEXT NOT NULL
);
INSERT INTO articles_v2 (rowid, id, canonical_url, source, published, fetched_at, language, content_hash, version,
                         feed_updated, relevance, title, text, doc)
    SELECT rowid, id, canonical_url, source, published, fetched_at, language, content_hash, version, feed_updated,
           relevance, title, text, json_remove(doc, '$.text') FROM articles ORDER BY rowid;
CREATE TABLE article_versions_v2 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    doc TEXT,
    UNIQUE (article_id, version)
);
INSERT INTO article_versions_v2 (seq, article_id, version, content_hash, doc)
    SELECT v.seq, v.article_id, v.version, v.content_hash,
           CASE WHEN v.version = a.version THEN NULL ELSE v.doc END
    FROM article_versions v LEFT JOIN articles_v2 a ON a.id = v.article_id ORDER BY v.seq;
DROP TABLE article_versions;
ALTER TABLE article_versions_v2 RENAME TO article_versions;
DROP TABLE articles;
ALTER TABLE articles_v2 RENAME TO articles;
"""


def _statements(script: str) -> list[str]:
    """The statements of a script, for running them inside one transaction (``executescript`` commits first)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def stored_version(db: sqlite3.Connection) -> int | None:
    """The file's schema version (None for a new, empty file)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else None


def migrate(db: sqlite3.Connection, path: Path) -> bool:
    """Bring the file to :data:`SCHEMA_VERSION` (the tables must exist). Returns whether it rewrote anything."""
    version = stored_version(db)
    if version is None:
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return False
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} has store schema version {version}, newer than this regwire's"
                         f" ({SCHEMA_VERSION}): upgrade regwire, or point REGWIRE_HOME at another directory")
    if version == SCHEMA_VERSION:
        return False
    db.execute("BEGIN IMMEDIATE")  # all or nothing: a failed migration leaves the version 1 file as it was
    try:
        for statement in _statements(_V1_TO_V2):
            db.execute(statement)
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        for statement in _statements(SCHEMA):  # the dropped table's indexes and triggers, on the new one
            db.execute(statement)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("VACUUM")  # give the space of the removed copies back to the file system
    return True
