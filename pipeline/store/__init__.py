"""Stores: the protocol and the embedded SQLite backend (Elasticsearch/OpenSearch backends plug in here)."""

from __future__ import annotations

from ..settings import Settings
from .base import ArticleWrite, KnownArticle, Store, WriteResult
from .sqlite import SQLiteStore


def open_store(settings: Settings) -> Store:
    """The store the settings select: the embedded SQLite store in ``REGWIRE_HOME``."""
    return SQLiteStore(settings.db_path)


__all__ = ["ArticleWrite", "KnownArticle", "SQLiteStore", "Store", "WriteResult", "open_store"]
