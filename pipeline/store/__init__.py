"""The store stage: the Store protocol, the embedded SQLite FTS5 store, the Elasticsearch/OpenSearch store, and the
one factory that picks between them (:func:`open_backend`)."""

from .backend import Backend, EmbeddedBackend, EngineBackend, StoreAdmin, open_backend
from .base import ArticleWrite, KnownArticle, Store, WriteResult
from .sqlite import SQLiteStore

__all__ = [
    "ArticleWrite",
    "Backend",
    "EmbeddedBackend",
    "EngineBackend",
    "KnownArticle",
    "SQLiteStore",
    "Store",
    "StoreAdmin",
    "WriteResult",
    "open_backend",
]
