"""Typed records that flow from stage to stage: feed items → articles → stored articles and search results."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .caps import cap_fields
from .tagging.models import Tags


class Record(BaseModel):
    model_config = ConfigDict(frozen=False, extra="forbid")


class CappedRecord(Record):
    """A record whose text fields are cut to the caps of :mod:`pipeline.caps`; ``truncated`` says when they were."""

    #: True when a field passed its cap and was cut (the feed or page sent more than regwire keeps)
    truncated: bool = False

    @model_validator(mode="before")
    @classmethod
    def _cap(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if cap_fields(data):
                data["truncated"] = True
        return data


class FeedItem(CappedRecord):
    """One entry of a feed, as the feed describes it (before the page is fetched)."""

    feed_url: str
    url: str  #: the link as given (may carry tracking parameters)
    canonical_url: str
    guid: str | None = None
    title: str = ""
    summary: str = ""
    #: full text when the feed carries it (content:encoded, Atom content, JSON Feed content_*), as plain text
    content: str = ""
    published: datetime | None = None
    updated: datetime | None = None
    authors: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    language: str | None = None
    image: str | None = None


class RelatedLink(Record):
    """A link to another story that sat inside an article's body ("Related: <headline>", a link list), kept out of
    the article's text."""

    title: str
    url: str | None = None


class Article(CappedRecord):
    """An article's text and metadata, extracted from its page (or taken from the feed when that failed)."""

    url: str
    canonical_url: str
    title: str = ""
    text: str = ""
    summary: str = ""
    published: datetime | None = None
    authors: list[str] = Field(default_factory=list)
    language: str | None = None
    categories: list[str] = Field(default_factory=list)
    site_tags: list[str] = Field(default_factory=list)
    image: str | None = None
    sitename: str | None = None
    #: where the text came from: "page" (trafilatura) or "feed" (the feed's own content)
    text_origin: str = "page"
    #: other stories linked from inside the body, taken out of ``text`` (pipeline/extract/furniture.py)
    related_links: list[RelatedLink] = Field(default_factory=list)


class StoredArticle(Article):
    """An article as the store keeps it: identity, provenance, version and tags."""

    id: str
    source: str
    feed_url: str | None = None
    fetched_at: datetime
    content_hash: str
    version: int = 1
    tags: Tags | None = None
    #: the story this article belongs to: the id of the story's first article (pipeline.stories); None for
    #: records from before stories, until the store clusters them
    story_id: str | None = None


class WriteOutcome(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class FeedStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  #: too many consecutive failures; re-checked by maintenance or re-enabled by hand
    DISABLED = "disabled"  #: 410 Gone, or disabled by hand


class FeedState(Record):
    """What regwire remembers about one feed between polls (HTTP cache validators, errors, schedule)."""

    feed_url: str
    source: str
    etag: str | None = None
    last_modified: str | None = None
    status: FeedStatus = FeedStatus.ACTIVE
    consecutive_errors: int = 0
    last_error: str | None = None
    last_status: int | None = None
    last_polled: datetime | None = None
    last_success: datetime | None = None
    next_poll: datetime | None = None
    items_seen: int = 0
    #: articles of this feed that failed for a transient reason: canonical URL → failed polls so far
    retrying: dict[str, int] = Field(default_factory=dict)
    #: articles given up after too many transient failures: canonical URL → the recorded reason (not tried again)
    given_up: dict[str, str] = Field(default_factory=dict)
    #: running totals, kept with the feed so that any process can export them as metrics
    polls: int = 0
    not_modified_polls: int = 0
    failed_polls: int = 0
    new_articles: int = 0
    updated_articles: int = 0
    fetch_seconds_total: float = 0.0
    last_fetch_seconds: float | None = None
    #: adaptive polling: the current interval (seconds) and why, the entry interval observed in the document's
    #: dates, and the publisher's own hint from the document (<ttl>, sy:updatePeriod/updateFrequency)
    poll_interval: int | None = None
    interval_reason: str | None = None
    observed_interval: float | None = None
    feed_hint: int | None = None
    #: what the URL is: a feed, or a sitemap (fetched under robots.txt, also when maintenance re-checks it)
    document: Literal["feed", "sitemap"] = "feed"
    #: sitemap indexes: the lastmod of each child sitemap last read, so unchanged children are not fetched again
    sitemap_children: dict[str, str] = Field(default_factory=dict)


class SearchHit(Record):
    id: str
    score: float
    title: str
    url: str
    source: str
    published: datetime | None = None
    language: str | None = None
    #: HTML-safe: the text is escaped and matches are wrapped in <mark>…</mark>
    snippet: str = ""
    topics: list[str] = Field(default_factory=list)
    jurisdictions: list[str] = Field(default_factory=list)
    relevance: float | None = None
    #: the hit's story (see StoredArticle.story_id) and how many stored articles that story has ("N sources")
    story_id: str | None = None
    story_size: int = 1


class Story(Record):
    """One entry of a stories timeline: near-duplicate articles of several sources, clustered at ingest."""

    story_id: str  #: the id of the story's first article
    title: str  #: the first article's title
    url: str | None = None
    size: int  #: articles of the story within the timeline's filters
    sources: list[str]
    first_seen: datetime
    last_seen: datetime
    article_ids: list[str]
    topics: list[str] = Field(default_factory=list)
    jurisdictions: list[str] = Field(default_factory=list)


class SearchResult(Record):
    total: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
