"""Reading articles back: by id or URL, their version history, the change feed (``seq`` watermark), and the small
in-place updates (re-tagging, pruning old versions)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from ...errors import ArticleNotFoundError, SearchEngineRequestError
from ...models import StoredArticle
from ...tagging.models import Tags
from ..base import KnownArticle
from .clients import PAGE, EngineSession
from .documents import stored_from_source, tag_fields

#: canonical URLs looked up per ``_search`` in :meth:`ArticleReader.known_articles`
URL_BATCH = 500


class ArticleReader:
    def __init__(self, session: EngineSession):
        self.session = session

    def known_articles(self, canonical_urls: Sequence[str]) -> dict[str, KnownArticle]:
        session = self.session
        known: dict[str, KnownArticle] = {}
        urls = list(dict.fromkeys(canonical_urls))
        for start in range(0, len(urls), URL_BATCH):
            chunk = urls[start:start + URL_BATCH]
            wanted = set(chunk)
            resp = session.req("POST", f"/{session.names.articles}/_search", {
                "query": {"terms": {"urls": chunk}}, "size": min(10_000, 4 * len(chunk)),
                "sort": [{"created_seq": "asc"}],
                "_source": ["id", "canonical_url", "version", "feed_updated", "urls"]})
            for hit in resp["hits"]["hits"]:
                src = hit["_source"]
                updated = datetime.fromisoformat(src["feed_updated"]) if src.get("feed_updated") else None
                for url in src.get("urls") or []:
                    if url in wanted:
                        known.setdefault(url, KnownArticle(src["id"], src["canonical_url"], int(src["version"]),
                                                           updated))
        return known

    def get_article(self, article_id: str) -> StoredArticle:
        """By full id, or by an unambiguous id prefix."""
        req, articles = self.session.req, self.session.names.articles
        try:
            doc = req("GET", f"/{articles}/_doc/{quote(article_id, safe='')}")
            if doc.get("found"):
                return stored_from_source(doc["_source"])
        except SearchEngineRequestError as exc:
            if exc.status != 404:
                raise
        resp = req("POST", f"/{articles}/_search", {"query": {"prefix": {"id": article_id}}, "size": 2})
        hits = resp["hits"]["hits"]
        if len(hits) != 1 or not article_id:
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        return stored_from_source(hits[0]["_source"])

    def article_versions(self, article_id: str) -> list[StoredArticle]:
        current = self.get_article(article_id)
        resp = self.session.req("POST", f"/{self.session.names.versions}/_search", {
            "query": {"bool": {"filter": [{"term": {"article_id": current.id}},
                                          {"range": {"version": {"lt": current.version}}}]}},
            "sort": [{"version": "asc"}], "size": 10_000})
        return [StoredArticle.model_validate(h["_source"]["doc"]) for h in resp["hits"]["hits"]] + [current]

    def iter_articles(self, batch_size: int = 500) -> Iterator[StoredArticle]:
        for hit in self.session.scan(self.session.names.articles, {"match_all": {}},
                                     [{"created_seq": "asc"}, {"id": "asc"}], True, batch_size):
            yield stored_from_source(hit["_source"])

    def count_articles(self) -> int:
        return self.session.count(self.session.names.articles)

    def changes_since(self, watermark: int, source: str | None = None) -> tuple[list[tuple[str, int]], int]:
        """Every version (current ones in the article docs, superseded ones in the versions index) by ``seq``;
        of ``source``'s articles only when given (a superseded version's source is its article's)."""
        names = self.session.names
        changes: list[tuple[str, int, int]] = []
        seen: set[tuple[str, int]] = set()
        last = watermark
        for hit in self.session.scan(f"{names.articles},{names.versions}", {"range": {"seq": {"gt": watermark}}},
                                     [{"seq": "asc"}], ["id", "article_id", "version", "seq"]):
            src = hit["_source"]
            pair = (src.get("article_id") or src["id"], int(src["version"]))
            last = max(last, int(src["seq"]))
            if pair not in seen:  # a retried batch can leave an archive of the current version behind
                seen.add(pair)
                changes.append((*pair, int(src["seq"])))
        if source is not None:
            sources = self._sources_of(list({article_id for article_id, _, _ in changes}))
            changes = [c for c in changes if sources.get(c[0]) == source]
            last = max((seq for _, _, seq in changes), default=watermark)
        return [(article_id, version) for article_id, version, _ in changes], last

    def _sources_of(self, ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(ids), PAGE):
            docs = self.session.mget(self.session.names.articles, ids[start:start + PAGE], _source="source")
            found.update({article_id: src["source"] for article_id, src in docs.items()})
        return found

    def prune_versions(self, before: datetime) -> int:
        """Delete superseded versions fetched before ``before``; current versions live in the article docs."""
        resp = self.session.req("POST", f"/{self.session.names.versions}/_delete_by_query",
                                {"query": {"range": {"fetched_at": {"lt": before.astimezone(UTC).isoformat()}}}},
                                refresh="true", conflicts="proceed")
        return int(resp.get("deleted", 0))

    def set_tags(self, article_id: str, tags: Tags) -> None:
        stored = self.get_article(article_id)
        params: dict[str, Any] = {"retry_on_conflict": 5, **self.session.refresh_param()}
        self.session.req("POST", f"/{self.session.names.articles}/_update/{quote(stored.id, safe='')}",
                         {"doc": tag_fields(tags)}, **params)
