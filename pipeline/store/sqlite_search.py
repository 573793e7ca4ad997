"""Search over the embedded store without scanning the matches more than once.

The text is matched once, into a temporary table of the matching rows (with their score and the columns the facets
count); the total, the page and every facet read that table. Snippets, the costliest part of a hit, are made for
the returned page only. Excluded words go into the FTS5 expression (``a NOT b``) when there is a positive part,
instead of a ``NOT IN`` subquery over a second match (:mod:`pipeline.store.sqlite_query`). The results are the
same as one query per part.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..models import SearchHit, SearchResult, StoredArticle
from ..query import SearchQuery, Sort
from .sqlite import _CLOSE, _OPEN, TEXT_WEIGHT, TITLE_WEIGHT, safe_snippet

#: the temporary table of one search's matches (one connection, searches serialised by the store's lock)
_HITS = "temp.regwire_search_hits"
_SCORE = f"-bm25(articles_fts, {TITLE_WEIGHT}, {TEXT_WEIGHT})"
_SNIPPET = f"snippet(articles_fts, 1, '{_OPEN}', '{_CLOSE}', '…', 40)"


def run_search(db: sqlite3.Connection, query: SearchQuery, positive: str | None, where: list[str],
               params: list[Any]) -> SearchResult:
    """The search ``query`` (already turned into an FTS5 expression and SQL conditions on the ``articles`` row ``a``,
    :mod:`pipeline.store.sqlite_query`) over the connection."""
    clause = "".join(f" AND {w}" for w in where)
    ranked = query.sort is Sort.RELEVANCE and positive is not None
    order = "score DESC, published DESC, id" if ranked else "published IS NULL, published DESC, id"
    if not query.facets:  # nothing reads the matches twice: count them, then rank them for the page
        total, page = _count_and_page(db, query, positive, clause, params, ranked, order)
        hits = [_hit(db, rid, score if ranked else None, positive) for rid, score in page]
        return SearchResult(total=total, hits=hits, facets={}, query=query.model_dump(mode="json"))
    db.execute(f"DROP TABLE IF EXISTS {_HITS}")
    try:
        _match(db, positive, clause, params, ranked)
        total = db.execute(f"SELECT count(*) FROM {_HITS}").fetchone()[0]
        page = db.execute(f"SELECT rid, score FROM {_HITS} ORDER BY {order} LIMIT ? OFFSET ?",
                          (query.limit, query.offset)).fetchall()
        hits = [_hit(db, rid, score if ranked else None, positive) for rid, score in page]
        facets = _facets(db)
    finally:
        db.execute(f"DROP TABLE IF EXISTS {_HITS}")
    return SearchResult(total=total, hits=hits, facets=facets, query=query.model_dump(mode="json"))


def _count_and_page(db: sqlite3.Connection, query: SearchQuery, positive: str | None, clause: str,
                    params: list[Any], ranked: bool, order: str) -> tuple[int, list[tuple[int, float]]]:
    if positive:
        base = "FROM articles_fts JOIN articles a ON a.rowid = articles_fts.rowid WHERE articles_fts MATCH ?"
        params = [positive, *params]
    else:
        base = "FROM articles a WHERE 1"
    total = db.execute(f"SELECT count(*) {base}{clause}", params).fetchone()[0]
    score = _SCORE if ranked else "0.0"
    page = db.execute(f"SELECT a.rowid, {score} AS score, a.published AS published, a.id AS id {base}{clause}"
                      f" ORDER BY {order} LIMIT ? OFFSET ?", [*params, query.limit, query.offset]).fetchall()
    return total, [(row[0], row[1]) for row in page]


def _match(db: sqlite3.Connection, positive: str | None, clause: str, params: list[Any], ranked: bool) -> None:
    columns = "a.rowid AS rid, a.id AS id, a.published AS published, a.source AS source, a.language AS language"
    if positive:
        score = _SCORE if ranked else "0.0"  # sorted by date: only the page's hits are scored (in _hit)
        db.execute(f"CREATE TEMP TABLE {_HITS.removeprefix('temp.')} AS SELECT {columns}, {score} AS score"
                   " FROM articles_fts JOIN articles a ON a.rowid = articles_fts.rowid"
                   f" WHERE articles_fts MATCH ?{clause}", [positive, *params])
    else:
        db.execute(f"CREATE TEMP TABLE {_HITS.removeprefix('temp.')} AS SELECT {columns}, 0.0 AS score"
                   f" FROM articles a WHERE 1{clause}", params)


def _hit(db: sqlite3.Connection, rowid: int, score: float | None, positive: str | None) -> SearchHit:
    """One hit of the page; ``score`` None: score it here (a date-sorted search scores its page only)."""
    row = db.execute("SELECT doc, substr(text, 1, 240) AS lead FROM articles WHERE rowid = ?", (rowid,)).fetchone()
    snippet = row["lead"]
    if positive:  # one FTS5 lookup of this row: the snippet of the page's hits only
        found = db.execute(f"SELECT {_SNIPPET}, {_SCORE} FROM articles_fts WHERE articles_fts MATCH ? AND rowid = ?",
                           (positive, rowid)).fetchone()
        if found:
            snippet, score = found[0], found[1] if score is None else score
    score = score or 0.0
    stored = StoredArticle.model_validate_json(row["doc"])
    tags = stored.tags
    return SearchHit(
        id=stored.id, score=round(float(score), 4), title=stored.title, url=stored.canonical_url,
        source=stored.source, published=stored.published, language=stored.language,
        snippet=safe_snippet(snippet or ""),
        topics=tags.topics if tags else [], jurisdictions=tags.jurisdictions if tags else [],
        relevance=tags.relevance if tags else None, story_id=stored.story_id,
    )


def _facets(db: sqlite3.Connection) -> dict[str, dict[str, int]]:
    facets: dict[str, dict[str, int]] = {}
    for name, sql in (
        ("source", f"SELECT source AS k, count(*) AS n FROM {_HITS} GROUP BY k ORDER BY n DESC, k"),
        ("day", f"SELECT substr(published, 1, 10) AS k, count(*) AS n FROM {_HITS} WHERE published IS NOT NULL"
                " GROUP BY k ORDER BY k"),
        ("language", f"SELECT language AS k, count(*) AS n FROM {_HITS} WHERE language IS NOT NULL"
                     " GROUP BY k ORDER BY n DESC, k"),
    ):
        facets[name] = {r["k"]: r["n"] for r in db.execute(sql)}
    for kind in ("topic", "jurisdiction"):  # CROSS JOIN: the matches outside, a primary-key seek per match inside
        rows = db.execute(f"SELECT t.value AS k, count(*) AS n FROM {_HITS} h CROSS JOIN article_tags t"
                          " ON t.article_id = h.id AND t.kind = ? GROUP BY k ORDER BY n DESC, k", (kind,))
        facets[kind] = {r["k"]: r["n"] for r in rows}
    return facets
