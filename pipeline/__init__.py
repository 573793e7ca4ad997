"""regwire: news ingestion for crypto-regulation intelligence.

The library never imports Airflow; the DAGs in ``dags/`` only wire these calls.
"""

from .errors import (
    ArticleNotFoundError,
    BlockedURLError,
    ConfigError,
    DeadlineExceededError,
    ExtractionError,
    FeedParseError,
    FetchError,
    HTTPStatusError,
    QuerySyntaxError,
    RegwireError,
    ResponseTooLargeError,
    RobotsDisallowedError,
    SourcesFileError,
    StoreError,
    TaxonomyError,
    TooManyRedirectsError,
    TransportError,
)
from .extract import extract_article
from .feeds import parse_feed
from .http import Fetcher
from .models import Article, FeedItem, FeedState, FeedStatus, SearchHit, SearchResult, StoredArticle
from .query import SearchQuery, parse_query
from .runner import Pipeline, SourceReport
from .settings import Settings, load_settings
from .sources import Source, load_sources
from .store import ArticleWrite, SQLiteStore, Store, open_store
from .tagging import Tagger, Tags, tag_article
from .urls import article_id, canonicalize_url

__version__ = "0.1.0"

__all__ = [
    "Article",
    "ArticleNotFoundError",
    "ArticleWrite",
    "BlockedURLError",
    "ConfigError",
    "DeadlineExceededError",
    "ExtractionError",
    "FeedItem",
    "FeedParseError",
    "FeedState",
    "FeedStatus",
    "FetchError",
    "Fetcher",
    "HTTPStatusError",
    "Pipeline",
    "QuerySyntaxError",
    "RegwireError",
    "ResponseTooLargeError",
    "RobotsDisallowedError",
    "SQLiteStore",
    "SearchHit",
    "SearchQuery",
    "SearchResult",
    "Settings",
    "Source",
    "SourceReport",
    "SourcesFileError",
    "Store",
    "StoreError",
    "StoredArticle",
    "Tagger",
    "Tags",
    "TaxonomyError",
    "TooManyRedirectsError",
    "TransportError",
    "__version__",
    "article_id",
    "canonicalize_url",
    "extract_article",
    "load_settings",
    "load_sources",
    "open_store",
    "parse_feed",
    "parse_query",
    "tag_article",
]
