"""regwire's exception tree: every error the library raises derives from :class:`RegwireError`.

    RegwireError
    ├── ConfigError                 bad settings, sources file or taxonomy (exit code 2)
    │   ├── SourcesFileError        names the file, the source and the field
    │   └── TaxonomyError           names the taxonomy file and the entry
    ├── FetchError                  one URL could not be fetched; ``url`` and ``reason`` say why
    │   ├── BlockedURLError         refused by the SSRF guard (scheme, address or allow-list)
    │   ├── RobotsDisallowedError   robots.txt forbids the page
    │   ├── HTTPStatusError         the server answered with an error status (``status``, ``retry_after``)
    │   ├── ResponseTooLargeError   the body passed the byte cap while streaming
    │   ├── DeadlineExceededError   the total deadline passed (slow or trickling server)
    │   ├── TooManyRedirectsError   the redirect cap was reached (or a loop)
    │   └── TransportError          connection refused, DNS failure, timeouts, TLS errors
    ├── FeedParseError              a feed could not be parsed at all; ``url`` names the feed
    ├── ExtractionError             trafilatura found no article in a page
    ├── QuerySyntaxError            a search query could not be parsed
    └── StoreError                  the store could not read or write
        └── ArticleNotFoundError

Third-party errors (httpx, sqlite3, yaml, pydantic) are mapped at the boundary with ``raise ... from``.
"""

from __future__ import annotations


class RegwireError(Exception):
    """Base of every error regwire raises."""


class ConfigError(RegwireError):
    """Settings, a sources file or a taxonomy file is invalid."""


class SourcesFileError(ConfigError):
    def __init__(self, path: str, message: str, *, source: str | None = None, field: str | None = None):
        self.path, self.source, self.field = path, source, field
        where = path
        if source is not None:
            where += f": source {source!r}"
        if field is not None:
            where += f": field {field!r}"
        super().__init__(f"{where}: {message}")


class TaxonomyError(ConfigError):
    """A taxonomy file is invalid; the message names the file and the entry."""


class FetchError(RegwireError):
    """A URL could not be fetched."""

    #: transient errors are worth retrying later; permanent ones are not
    transient: bool = True

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


class BlockedURLError(FetchError):
    transient = False


class RobotsDisallowedError(FetchError):
    transient = False


class HTTPStatusError(FetchError):
    def __init__(self, url: str, status: int, reason: str = "", retry_after: str | None = None):
        #: the raw Retry-After header (delta-seconds or an HTTP date), read against the scheduler's clock
        self.status, self.retry_after = status, retry_after
        self.transient = status in (408, 425, 429) or status >= 500
        super().__init__(url, f"HTTP {status}" + (f" {reason}" if reason else ""))


class ResponseTooLargeError(FetchError):
    transient = False


class DeadlineExceededError(FetchError):
    pass


class TooManyRedirectsError(FetchError):
    transient = False


class TransportError(FetchError):
    pass


class FeedParseError(RegwireError):
    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"feed {url}: {reason}")


class ExtractionError(RegwireError):
    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


class QuerySyntaxError(RegwireError):
    pass


class StoreError(RegwireError):
    pass


class ArticleNotFoundError(StoreError):
    pass
