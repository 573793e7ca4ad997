"""Documents: an article as the engine stores it, its archived versions, and the way back to a StoredArticle."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ...models import StoredArticle
from .stories import story_fields

#: article doc fields that are not part of StoredArticle (denormalised for search, aggregations and bookkeeping)
SEARCH_ONLY_FIELDS = ("urls", "topics", "jurisdictions", "mentioned_jurisdictions", "primary_jurisdiction", "entities",
                      "relevance", "feed_updated", "created_seq", "seq", "story_bands",
                      "story_signature")


def iso(value: datetime | None) -> str | None:
    """UTC ISO-8601, as every date field is stored."""
    return value.astimezone(UTC).isoformat() if value is not None else None


def article_extras(stored: StoredArticle, *, urls: Iterable[str], feed_updated: datetime | None,
                   created_seq: int, seq: int) -> dict[str, Any]:
    """Fields of the article document beyond the StoredArticle: denormalised tags, alias URLs, bookkeeping."""
    tags = stored.tags
    return {
        "urls": sorted(set(urls)),
        "topics": tags.topics if tags else [],
        "jurisdictions": tags.jurisdictions if tags else [],
        "mentioned_jurisdictions": tags.mentioned_jurisdictions if tags else [],
        "primary_jurisdiction": tags.primary_jurisdiction if tags else None,
        "entities": [e.model_dump(mode="json") for e in tags.entities] if tags else [],
        "relevance": tags.relevance if tags else None,
        "feed_updated": iso(feed_updated),
        "created_seq": created_seq,
        "seq": seq,
        **story_fields(stored),
    }


def article_source(stored: StoredArticle, *, urls: Iterable[str], feed_updated: datetime | None,
                   created_seq: int, seq: int = 0) -> dict[str, Any]:
    """The article document: the StoredArticle as JSON plus denormalised tag fields for filters and facets."""
    doc = stored.model_dump(mode="json")
    doc.update(article_extras(stored, urls=urls, feed_updated=feed_updated, created_seq=created_seq, seq=seq))
    return doc


def article_json(stored: StoredArticle, **extras: Any) -> str:
    """``article_source`` serialised, fast: pydantic's JSON of the record with the extras spliced in."""
    base = stored.model_dump_json()
    more = json.dumps(article_extras(stored, **extras), separators=(",", ":"), ensure_ascii=False)
    return base[:-1] + "," + more[1:]


def tag_fields(tags: Any) -> dict[str, Any]:
    """The partial update that re-tags an article doc."""
    return {"tags": tags.model_dump(mode="json"), "topics": tags.topics, "jurisdictions": tags.jurisdictions,
            "mentioned_jurisdictions": tags.mentioned_jurisdictions, "primary_jurisdiction": tags.primary_jurisdiction,
            "entities": [e.model_dump(mode="json") for e in tags.entities], "relevance": tags.relevance}


def stored_from_source(source: Mapping[str, Any]) -> StoredArticle:
    return StoredArticle.model_validate({k: v for k, v in source.items() if k not in SEARCH_ONLY_FIELDS})


def version_source(stored: StoredArticle, seq: int, written_at: datetime) -> dict[str, Any]:
    """A superseded version, archived when a newer one replaces it (the current version lives in the article doc)."""
    return {"article_id": stored.id, "version": stored.version, "content_hash": stored.content_hash, "seq": seq,
            "fetched_at": iso(stored.fetched_at), "written_at": iso(written_at),
            "doc": stored.model_dump(mode="json")}


def version_id(article_id: str, version: int) -> str:
    return f"{article_id}:{version}"
