"""Stores: the protocol and the embedded SQLite backend (Elasticsearch/OpenSearch backends plug in here)."""

from __future__ import annotations

from ..settings import Settings
from .base import ArticleWrite, KnownArticle, Store, WriteResult
from .sqlite import SQLiteStore


def open_store(settings: Settings) -> Store:
    """The store the settings select: Elasticsearch/OpenSearch when ``REGWIRE_SEARCH_URL`` is set (engine from
    ``REGWIRE_SEARCH_ENGINE``), else the embedded SQLite store in ``REGWIRE_HOME``."""
    if settings.search.url:
        from .search_backend import open_search_store

        return open_search_store(settings)
    return SQLiteStore(settings.db_path)


__all__ = ["ArticleWrite", "KnownArticle", "SQLiteStore", "Store", "WriteResult", "open_store"]
