"""Dead letters: documents the engine rejected for good (mapping or parse errors), kept with the reason in
``<prefix>-deadletter`` so they can be written again after a mapping fix or ``index migrate``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from ...errors import SearchEngineError
from ...models import Article
from ..base import ArticleWrite
from .bulk import BulkItem, BulkRunner
from .clients import EngineSession, describe_error
from .documents import iso, stored_from_source

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    article_id: str
    canonical_url: str | None
    status: int
    error_type: str
    reason: str
    attempts: int
    state: str
    failed_at: str | None = None


@dataclass(slots=True)
class RetryReport:
    resolved: list[str] = field(default_factory=list)
    failed: list[DeadLetter] = field(default_factory=list)


def deadletter_record(item: BulkItem, error: Mapping[str, Any] | str, status: int, *, attempts: int,
                      now: datetime) -> dict[str, Any]:
    """A dead-letter document for an item the engine rejected: the reason and everything needed to retry it."""
    error_type, reason = describe_error(error)
    doc = item.body()
    return {"article_id": item.id, "canonical_url": doc.get("canonical_url"), "source": doc.get("source"),
            "index": item.index, "status": status, "error_type": error_type, "reason": reason,
            "failed_at": iso(now), "attempts": attempts, "state": "pending", "document": doc}


def write_from_document(doc: Mapping[str, Any]) -> ArticleWrite:
    """The ArticleWrite that produced a dead-lettered article document (to write it again)."""
    stored = stored_from_source(doc)
    article = Article.model_validate(stored.model_dump(include=set(Article.model_fields)))
    return ArticleWrite(
        article=article, source=stored.source, fetched_at=stored.fetched_at, feed_url=stored.feed_url,
        tags=stored.tags, aliases=[u for u in doc.get("urls") or [] if u != stored.canonical_url],
        feed_updated=datetime.fromisoformat(doc["feed_updated"]) if doc.get("feed_updated") else None)


class DeadLetters:
    """Recording, listing and retrying dead letters."""

    def __init__(self, session: EngineSession, bulk: BulkRunner):
        self.session, self.bulk = session, bulk

    def record(self, rejected: list[BulkItem], archives: list[BulkItem], now: datetime) -> list[DeadLetter]:
        """Record rejected article items in the dead-letter index and undo their archived versions."""
        names = self.session.names
        articles = [i for i in rejected if i.index == names.articles]
        ids = {i.id for i in articles}
        keys = {i.id: f"{i.id}:{i.body().get('content_hash')}" for i in articles}
        previous = self._attempts(list(keys.values()))
        records: list[BulkItem] = []
        letters: list[DeadLetter] = []
        for item in articles:
            dl_id = keys[item.id]
            record = deadletter_record(item, item.error, item.status or 0, attempts=previous.get(dl_id, 0) + 1,
                                       now=now)
            records.append(BulkItem("index", names.deadletter, dl_id, record))
            letters.append(DeadLetter(dl_id, item.id, record["canonical_url"], record["status"],
                                      record["error_type"], record["reason"], record["attempts"], "pending",
                                      record["failed_at"]))
            log.warning("article %s (%s) rejected by the search engine, sent to %s: %s", item.id,
                        record["canonical_url"], names.deadletter, record["reason"])
        # the article document was not replaced, so the versions archived for it in this batch are not history yet
        records += [BulkItem("delete", names.versions, a.id) for a in archives
                    if a.id.rsplit(":", 1)[0] in ids]
        for item in rejected:
            if item.index != names.articles:  # an archived version refused: never expected (not indexed)
                log.error("version document %s rejected: %s", item.id, describe_error(item.error))
        self.bulk.stats["deadlettered"] += len(articles)
        still = [i for i in self.bulk.run(records, params=self.session.refresh_param())
                 if not (i.op == "delete" and i.status == 404)]
        if still:
            raise SearchEngineError(f"could not record {len(still)} dead letter(s): {describe_error(still[0].error)}")
        return letters

    def _attempts(self, ids: list[str]) -> dict[str, int]:
        found = self.session.mget(self.session.names.deadletter, ids, _source="attempts")
        return {dl_id: int(src.get("attempts", 0)) for dl_id, src in found.items()}

    def pending(self, state: str | None = "pending", limit: int = 100) -> list[DeadLetter]:
        """Dead letters in ``state`` (all when None), newest first."""
        query: dict[str, Any] = {"term": {"state": state}} if state else {"match_all": {}}
        resp = self.session.req("POST", f"/{self.session.names.deadletter}/_search", {
            "query": query, "size": limit, "sort": [{"failed_at": "desc"}],
            "_source": {"excludes": ["document"]}})
        out = []
        for hit in resp["hits"]["hits"]:
            s = hit["_source"]
            out.append(DeadLetter(hit["_id"], s["article_id"], s.get("canonical_url"), int(s.get("status") or 0),
                                  s.get("error_type", ""), s.get("reason", ""), int(s.get("attempts", 1)),
                                  s.get("state", "pending"), s.get("failed_at")))
        return out

    def retry(self, write: Callable[[ArticleWrite], list[DeadLetter]],
              ids: Sequence[str] | None = None) -> RetryReport:
        """Write pending dead letters again with ``write`` (returns the new dead letters); resolved ones are
        marked."""
        session = self.session
        query: dict[str, Any] = {"ids": {"values": list(ids)}} if ids else {"term": {"state": "pending"}}
        report = RetryReport()
        for hit in list(session.scan(session.names.deadletter, query, [{"failed_at": "asc"}, {"article_id": "asc"}],
                                     True)):
            again = write_from_document(hit["_source"]["document"])
            failed = [d for d in write(again) if d.article_id == again.id]
            if failed:
                report.failed.extend(failed)
            else:
                session.req("POST", f"/{session.names.deadletter}/_update/{quote(hit['_id'], safe='')}",
                            {"doc": {"state": "resolved"}}, **session.refresh_param())
                report.resolved.append(hit["_id"])
        return report
