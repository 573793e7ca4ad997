"""The write plan: what a batch of article writes turns into, decided without touching the engine.

Input: the writes, their prepared records, the current documents (``_mget``) and the first of the ``seq`` numbers
reserved for the batch (one per write, so unchanged writes leave gaps, which the watermark does not mind). Output:
the results, the article documents to index, the ``feed_updated`` touch-ups of unchanged articles, and the versions
each changed article supersedes (archived by :func:`archive_items` once the ones not written in this batch have been
read back from the engine). Several writes of one article in a batch chain: each one supersedes the previous.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ...models import StoredArticle, WriteOutcome
from ..base import ArticleWrite, WriteResult
from .bulk import BulkItem
from .documents import article_json, stored_from_source, version_id, version_source
from .names import IndexNames


@dataclass(frozen=True, slots=True)
class ArticleState:
    """The newest known state of one article: from the engine, or from an earlier write in this batch."""

    version: int
    content_hash: str
    urls: frozenset[str]
    created_seq: int | None
    seq: int | None
    #: the record when it was written in this batch; None when the state comes from the engine
    stored: StoredArticle | None = None

    @classmethod
    def from_source(cls, doc: Mapping[str, Any]) -> ArticleState:
        """From the ``_source`` of ``_mget`` (fields version, content_hash, urls, created_seq, seq)."""
        return cls(int(doc["version"]), doc["content_hash"], frozenset(doc.get("urls") or ()),
                   doc.get("created_seq"), doc.get("seq"))


@dataclass(frozen=True, slots=True)
class Superseded:
    """A version replaced by this batch: ``stored``/``seq`` are known when it was written in this batch."""

    article_id: str
    stored: StoredArticle | None
    seq: int | None


@dataclass(slots=True)
class WritePlan:
    results: list[WriteResult] = field(default_factory=list)
    #: the article documents to index (only the newest version of each article in the batch)
    articles: list[BulkItem] = field(default_factory=list)
    #: partial updates of ``feed_updated`` on unchanged articles
    touched: list[BulkItem] = field(default_factory=list)
    superseded: list[Superseded] = field(default_factory=list)

    @property
    def from_engine(self) -> list[str]:
        """Ids whose superseded version must be read from the engine before it can be archived."""
        return list(dict.fromkeys(s.article_id for s in self.superseded if s.stored is None))


def plan_writes(writes: Sequence[ArticleWrite], prepared: Sequence[StoredArticle],
                current: Mapping[str, ArticleState], first_seq: int, names: IndexNames) -> WritePlan:
    """Results and bulk actions for ``writes`` (``prepared[i]`` is ``writes[i].to_stored(...)``); pure."""
    plan = WritePlan()
    state = dict(current)
    changed: list[tuple[ArticleWrite, StoredArticle, int, int]] = []  # write, record, created_seq, seq
    for pos, (write, prepared_record) in enumerate(zip(writes, prepared, strict=True)):
        article_id = prepared_record.id
        cur = state.get(article_id)
        if cur is not None and cur.content_hash == prepared_record.content_hash:
            if write.feed_updated is not None:
                plan.touched.append(BulkItem("update", names.articles, article_id,
                                             doc={"feed_updated": write.feed_updated.astimezone(UTC).isoformat()}))
            plan.results.append(WriteResult(article_id, WriteOutcome.UNCHANGED, cur.version))
            continue
        version = 1 if cur is None else cur.version + 1
        stored = prepared_record.model_copy(update={"version": version})
        seq = first_seq + pos
        if cur is not None:  # the version being replaced: archived (from the engine or this batch)
            plan.superseded.append(Superseded(article_id, cur.stored, cur.seq))
        urls = (cur.urls if cur else frozenset()) | {write.article.canonical_url, *write.aliases}
        # created_seq: the article's creation order for date-sort ties (its first version's seq)
        created = cur.created_seq if cur is not None and cur.created_seq is not None else seq
        state[article_id] = ArticleState(version, stored.content_hash, urls, created, seq, stored)
        changed.append((write, stored, created, seq))
        plan.results.append(WriteResult(article_id, WriteOutcome.NEW if cur is None else WriteOutcome.UPDATED,
                                        version))
    for write, stored, created, seq in changed:
        newest = state[stored.id]
        if newest.stored is not stored:
            continue  # only the newest version of an article in this batch becomes its document
        raw = article_json(stored, urls=newest.urls, feed_updated=write.feed_updated, created_seq=created, seq=seq)
        plan.articles.append(BulkItem("index", names.articles, stored.id, raw=raw))
    return plan


def archive_items(superseded: Sequence[Superseded], engine_docs: Mapping[str, Mapping[str, Any]],
                  names: IndexNames, now: datetime) -> list[BulkItem]:
    """Index actions archiving each superseded version; ``engine_docs`` are the full current docs of
    :attr:`WritePlan.from_engine` (an article that vanished meanwhile has nothing to archive)."""
    items: list[BulkItem] = []
    for old in superseded:
        stored, seq = old.stored, old.seq
        if stored is None:
            src = engine_docs.get(old.article_id)
            if src is None:
                continue
            stored, seq = stored_from_source(src), src.get("seq")
        items.append(BulkItem("index", names.versions, version_id(old.article_id, stored.version),
                              version_source(stored, int(seq or 0), now)))
    return items


def without_rejected(results: Sequence[WriteResult], rejected_ids: set[str]) -> list[WriteResult]:
    """The results of a batch minus the writes the engine rejected (unchanged ones wrote nothing to reject)."""
    return [r for r in results if r.id not in rejected_ids or r.outcome is WriteOutcome.UNCHANGED]
