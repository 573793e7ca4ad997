"""Index bodies: the analysis chain, the article mapping and template, and the small side indices.

The same bodies work on Elasticsearch 7.10+/8/9 and OpenSearch; nothing here knows which client is used.
"""

from __future__ import annotations

from typing import Any

from .names import IndexNames

#: English stemming like the embedded store's FTS5 ``porter unicode61 remove_diacritics 2``: Porter stemmer,
#: case- and accent-folding, and no stop words (FTS5 has none either, so "bank of england" behaves the same).
ANALYSIS: dict[str, Any] = {
    "filter": {
        "regwire_possessive": {"type": "stemmer", "language": "possessive_english"},
        "regwire_porter": {"type": "stemmer", "language": "english"},
    },
    "analyzer": {
        "regwire_english": {
            "type": "custom", "tokenizer": "standard",
            "filter": ["regwire_possessive", "lowercase", "asciifolding", "regwire_porter"],
        },
    },
}

_KW = {"type": "keyword"}
_STORED_ONLY = {"type": "object", "enabled": False}


def _analysed_text() -> dict[str, Any]:
    return {"type": "text", "analyzer": "regwire_english", "index_options": "offsets",
            "fields": {"std": {"type": "text", "analyzer": "standard"}}}


ARTICLE_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": _KW, "url": _KW, "canonical_url": _KW, "urls": _KW,
        "title": _analysed_text(), "text": _analysed_text(),
        "summary": {"type": "text", "analyzer": "regwire_english"},
        "published": {"type": "date"}, "fetched_at": {"type": "date"}, "feed_updated": {"type": "date"},
        "authors": _KW, "language": _KW, "categories": _KW, "site_tags": _KW,
        "image": {"type": "keyword", "index": False, "doc_values": False},
        "related_links": _STORED_ONLY,  # other stories linked from the body: returned, never searched
        "sitename": _KW, "text_origin": _KW, "source": _KW, "feed_url": _KW, "truncated": {"type": "boolean"},
        "content_hash": _KW, "version": {"type": "integer"}, "created_seq": {"type": "long"},
        "seq": {"type": "long"},  # the change watermark of the current version
        "topics": _KW, "jurisdictions": _KW, "mentioned_jurisdictions": _KW, "primary_jurisdiction": _KW,
        "entities": {"properties": {"name": _KW, "type": _KW, "jurisdiction": _KW}},
        "relevance": {"type": "float"},
        "tags": _STORED_ONLY,  # the full tag record (matches, offsets): returned, never searched
        # stories (pipeline.stories): the story's first article, the LSH band keys and MinHash signature
        "story_id": _KW, "story_bands": {"type": "keyword", "doc_values": False},
        "story_signature": {"type": "binary"},
    },
}


def index_template(names: IndexNames, *, shards: int = 1, replicas: str = "0-1") -> dict[str, Any]:
    """Composable index template for the physical article indices (same body on ES 7.10+/8/9 and OpenSearch)."""
    return {
        "index_patterns": [names.articles_pattern],
        "priority": 200,
        "template": {
            "settings": {"number_of_shards": shards, "auto_expand_replicas": replicas, "analysis": ANALYSIS},
            "mappings": ARTICLE_MAPPINGS,
        },
        "_meta": {"managed_by": "regwire", "description": "regwire articles (versioned physical indices)"},
    }


def side_indices(names: IndexNames) -> dict[str, dict[str, Any]]:
    """Bodies of the small indices that are not migrated (versions, feeds, dead letters, meta)."""
    settings = {"number_of_shards": 1, "auto_expand_replicas": "0-1"}
    return {
        names.versions: {"settings": settings, "mappings": {"dynamic": "strict", "properties": {
            "article_id": _KW, "version": {"type": "integer"}, "content_hash": _KW, "seq": {"type": "long"},
            "fetched_at": {"type": "date"}, "written_at": {"type": "date"}, "doc": _STORED_ONLY}}},
        names.feeds: {"settings": settings, "mappings": {"dynamic": "strict", "properties": {
            "feed_url": _KW, "source": _KW, "state": _STORED_ONLY}}},
        names.deadletter: {"settings": settings, "mappings": {"dynamic": "strict", "properties": {
            "article_id": _KW, "canonical_url": _KW, "source": _KW, "index": _KW, "status": {"type": "integer"},
            "error_type": _KW, "reason": {"type": "text", "fields": {"raw": {"type": "keyword",
                                                                           "ignore_above": 1024}}},
            "failed_at": {"type": "date"}, "attempts": {"type": "integer"}, "state": _KW,
            "document": _STORED_ONLY}}},
        names.meta: {"settings": settings, "mappings": {"dynamic": "strict", "properties": {
            "value": {"type": "long"}}}},
    }
