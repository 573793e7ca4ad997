"""The store protocol: what the pipeline, the CLI and the DAGs need from any backend (embedded SQLite,
Elasticsearch, OpenSearch)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from ..models import Article, FeedState, SearchResult, StoredArticle, Story, WriteOutcome
from ..query import SearchQuery
from ..tagging.models import Tags
from ..urls import article_id, content_hash


@dataclass(slots=True)
class ArticleWrite:
    """An extracted article on its way into a store."""

    article: Article
    source: str
    fetched_at: datetime
    feed_url: str | None = None
    tags: Tags | None = None
    #: the feed's own "updated" time for the item, so a later change in the feed triggers a re-fetch
    feed_updated: datetime | None = None
    #: other canonical URLs that lead to this article (the feed's link when the page names another canonical)
    aliases: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return article_id(self.article.canonical_url)

    @property
    def content_hash(self) -> str:
        return content_hash(self.article.title, self.article.text)

    def to_stored(self, version: int, *, content_hash: str | None = None) -> StoredArticle:
        """The stored record; pass ``content_hash`` when the caller computed it already (it hashes the text)."""
        return StoredArticle(
            **self.article.model_dump(),
            id=self.id,
            source=self.source,
            feed_url=self.feed_url,
            fetched_at=self.fetched_at,
            content_hash=content_hash or self.content_hash,
            version=version,
            tags=self.tags,
        )


@dataclass(frozen=True, slots=True)
class WriteResult:
    id: str
    outcome: WriteOutcome
    version: int


@dataclass(frozen=True, slots=True)
class KnownArticle:
    id: str
    canonical_url: str
    version: int
    feed_updated: datetime | None


@runtime_checkable
class Store(Protocol):
    def write_articles(self, writes: Sequence[ArticleWrite]) -> list[WriteResult]:
        """Insert new articles, version changed ones, skip unchanged ones. Idempotent per (id, content hash)."""

    def known_articles(self, canonical_urls: Sequence[str]) -> dict[str, KnownArticle]:
        """Which of these canonical URLs are stored already."""

    def get_article(self, article_id: str) -> StoredArticle:
        """The current version; raises :class:`ArticleNotFoundError`."""

    def article_versions(self, article_id: str) -> list[StoredArticle]:
        """Every version, oldest first."""

    def search(self, query: SearchQuery) -> SearchResult: ...

    def stories(self, *, jurisdiction: str | None = None, since: datetime | None = None,
                until: datetime | None = None, limit: int = 100) -> list[Story]:
        """Stories (clusters of near-duplicate articles, :mod:`pipeline.stories`) with articles in the window and
        of the jurisdiction, newest first."""

    def backfill_stories(self) -> int:
        """Cluster the articles stored before stories existed (no ``story_id``); returns how many."""

    def iter_articles(self, batch_size: int = 500) -> Iterator[StoredArticle]: ...

    def count_articles(self) -> int: ...

    def changes_since(self, watermark: int, source: str | None = None) -> tuple[list[tuple[str, int]], int]:
        """(article id, version) pairs written after ``watermark`` (of ``source``'s articles only, when given), in
        write order, and the new watermark: the last pair's seq, or ``watermark`` when there is none."""

    def prune_versions(self, before: datetime) -> int:
        """Delete superseded versions fetched before ``before`` (the retention setting); returns how many."""

    def set_tags(self, article_id: str, tags: Tags) -> None:
        """Replace the tags of the current version (re-tagging after a taxonomy change)."""

    def get_feed_state(self, feed_url: str) -> FeedState | None: ...

    def save_feed_state(self, state: FeedState) -> None: ...

    def feed_states(self) -> list[FeedState]: ...

    def close(self) -> None: ...
