"""regwire's exception tree, all of it: every error the library raises derives from :class:`RegwireError` and is
defined here (the packages that raise them import them from this module).

    RegwireError                        ``transient``: may a retry succeed? ``stage``, ``source``, ``feed``, ``article``
    ├── ConfigError                     bad settings, sources file, taxonomy or alert definition (exit code 2)
    │   ├── SourcesFileError            names the file, the source and the field
    │   ├── TaxonomyError               names the taxonomy file and the entry
    │   └── AlertDefinitionError        names the file, the alert and the field
    ├── FetchError                      one URL could not be fetched; ``url`` and ``reason`` say why
    │   ├── BlockedURLError             refused by the address guard (scheme, address or allow-list)    permanent
    │   ├── RobotsDisallowedError       robots.txt forbids the page                                     permanent
    │   ├── HTTPStatusError             an error status (``status``, ``retry_after``): 408/425/429/5xx transient
    │   ├── ResponseTooLargeError       the body passed the byte cap while streaming                     permanent
    │   ├── DeadlineExceededError       the total deadline passed (slow or trickling server)             transient
    │   ├── TooManyRedirectsError       the redirect cap was reached (or a loop)                         permanent
    │   ├── TransportError              connection refused, DNS failure, timeouts, TLS errors            transient
    │   ├── ContentEncodingError        stacked or unknown Content-Encoding                              permanent
    │   ├── InvalidURLError             a URL that cannot be requested (bad IDNA host, bad port ...)     permanent
    │   ├── RateLimitedError            the host asked us to wait (Retry-After); ``until`` says how long transient
    │   └── RobotsUnavailableError      robots.txt unreachable (5xx, network): nothing fetched for now   transient
    ├── FeedParseError                  a feed could not be parsed at all; ``url`` names the feed        permanent
    ├── FeedItemError                   one item of a feed was skipped; names the feed, item and field   permanent
    ├── ExtractionError                 trafilatura found no article in a page                           permanent
    │   └── ExtractionWorkerError       the extraction process crashed or timed out on the page          transient
    ├── QuerySyntaxError                a search query is invalid, unsupported or too long; ``position`` points at
    │                                   the offending character (exit code 2, HTTP 400)
    ├── StoreError                      the store could not read or write                                transient
    │   ├── ArticleNotFoundError        no article with that id                                          permanent
    │   ├── HostBookError               the shared per-host slot book (Redis) could not be reached       transient
    │   ├── AlertStoreError             the alert tables could not be read or written
    │   │   └── AlertNotFoundError      no alert with that name                                          permanent
    │   └── SearchEngineError           a request to Elasticsearch/OpenSearch failed (``status``, ``error_type``)
    │       ├── SearchEngineUnavailableError   unreachable, timeout, 429/5xx after retries               transient
    │       ├── SearchEngineRequestError       the engine refused the request (4xx)                      permanent
    │       └── IndexMigrationError            ``regwire index migrate`` could not verify or swap        permanent
    ├── DeliveryError                   one alert channel could not be notified (``transient`` set per case)
    │   └── DeliveryOutcomeUnknownError the request went out but no answer came (maybe delivered)    permanent
    ├── AlertEvaluationError            some alerts could not be evaluated on a batch (the others were delivered)
    └── SourcePollError                 a source had failing feeds; ``report`` holds what did work; transient when
                                        any of its feed errors is

``transient`` decides retries everywhere: a feed whose poll failed permanently is not hammered with quick retries
(see :mod:`pipeline.sources.schedule`), and an Airflow task fails without retrying on a permanent error
(:mod:`pipeline.airflow_helper`). Third-party errors (httpx, idna, sqlite3, yaml, pydantic, the search clients,
apprise) are mapped at the boundary where they occur, with ``raise ... from``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Self


class RegwireError(Exception):
    """Base of every error regwire raises.

    ``stage`` names the pipeline stage that failed (a class attribute); ``source``, ``feed`` and ``article`` say
    where, when known (set with :meth:`at` by the code that knows it).
    """

    #: transient errors are worth retrying later; permanent ones fail the same way again until something changes
    transient: bool = False
    stage: str = "pipeline"

    source: str | None = None
    feed: str | None = None
    article: str | None = None

    def at(self, *, source: str | None = None, feed: str | None = None, article: str | None = None) -> Self:
        """Record where the error happened (keeps what was recorded already); returns the error itself."""
        self.source = self.source or source
        self.feed = self.feed or feed
        self.article = self.article or article
        return self

    def where(self) -> dict[str, str]:
        """The error's context as log fields (only what is known)."""
        fields = {"stage": self.stage, "source": self.source, "feed": self.feed, "article": self.article}
        return {k: v for k, v in fields.items() if v}


# -- configuration --------------------------------------------------------------------------------------------------

class ConfigError(RegwireError):
    """Settings, a sources file, a taxonomy or an alert definition is invalid."""

    stage = "config"


class SourcesFileError(ConfigError):
    def __init__(self, path: str, message: str, *, source: str | None = None, field: str | None = None):
        self.path, self.field = path, field
        self.source = source
        where = path
        if source is not None:
            where += f": source {source!r}"
        if field is not None:
            where += f": field {field!r}"
        super().__init__(f"{where}: {message}")


class TaxonomyError(ConfigError):
    """A taxonomy file is invalid; the message names the file and the entry."""


class AlertDefinitionError(ConfigError):
    """An alert definition is invalid (refused before anything is stored)."""

    def __init__(self, message: str, *, path: str | None = None, alert: str | None = None, field: str | None = None):
        self.path, self.alert, self.field = path, alert, field
        where = [part for part in (
            path,
            f"alert {alert!r}" if alert is not None else None,
            f"field {field!r}" if field is not None else None,
        ) if part]
        super().__init__(": ".join([*where, message]))


# -- fetching -------------------------------------------------------------------------------------------------------

class FetchError(RegwireError):
    """A URL could not be fetched."""

    transient = True
    stage = "fetch"

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


class ContentEncodingError(FetchError):
    transient = False


class InvalidURLError(FetchError):
    transient = False


class RateLimitedError(FetchError):
    """The host asked for a pause (429/503 with Retry-After): nothing is sent to it before ``until`` (wall time)."""

    def __init__(self, url: str, until: datetime):
        self.until = until
        super().__init__(url, f"rate-limited until {until.astimezone(UTC):%H:%M} UTC")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.url, self.until), self.__dict__


class RobotsUnavailableError(FetchError):
    """robots.txt could not be read (5xx, timeout, connection failure): RFC 9309 says assume complete disallow for
    now, so the page is not fetched on this attempt and is retried on a later poll."""


# -- parsing and extraction -----------------------------------------------------------------------------------------

class FeedParseError(RegwireError):
    stage = "parse"

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        self.feed = url
        super().__init__(f"feed {url}: {reason}")


class FeedItemError(RegwireError):
    """One item of a feed is unusable and was skipped (the rest of the feed is kept)."""

    stage = "parse"

    def __init__(self, feed: str, item: str, field: str | None, reason: str):
        self.feed, self.item, self.field, self.reason = feed, item, field, reason
        where = f"feed {feed}: item {item}" + (f": field {field!r}" if field else "")
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable, so a parse in a worker process can report it
        return type(self), (self.feed, self.item, self.field, self.reason), self.__dict__


class ExtractionError(RegwireError):
    stage = "extract"

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        self.article = url
        super().__init__(f"{url}: {reason}")


class ExtractionWorkerError(ExtractionError):
    """The worker process extracting a page died (a crash in lxml/trafilatura) or ran past its time limit: that
    article is skipped with this reason, the worker is replaced, the rest of the batch goes on."""

    transient = True


class QuerySyntaxError(RegwireError):
    """``position``: 0-based offset of the offending character in the query (``None`` when the whole query is at
    fault); the message shows it 1-based, as "at character N"."""

    stage = "search"

    def __init__(self, reason: str, position: int | None = None):
        self.reason, self.position = reason, position
        super().__init__(reason if position is None else f"{reason} (at character {position + 1})")


# -- stores ---------------------------------------------------------------------------------------------------------

class StoreError(RegwireError):
    """The store could not read or write; a retry later may succeed (nothing was half-written)."""

    transient = True
    stage = "store"


class ArticleNotFoundError(StoreError):
    transient = False


class HostBookError(StoreError):
    """The shared per-host slot book (``REGWIRE_HOST_BOOK``, Redis) could not be reached: nothing is fetched from the
    host rather than fetching without the delay the other workers keep."""

    stage = "fetch"


class AlertStoreError(StoreError):
    stage = "alerts"


class AlertNotFoundError(AlertStoreError):
    transient = False


class SearchEngineError(StoreError):
    """A request to Elasticsearch/OpenSearch failed."""

    transient = False

    def __init__(self, message: str, *, status: int | None = None, error_type: str | None = None,
                 reason: str | None = None):
        self.status, self.error_type, self.reason = status, error_type, reason
        super().__init__(message)


class SearchEngineUnavailableError(SearchEngineError):
    """The engine could not be reached or is overloaded (retry later; nothing was lost)."""

    transient = True


class SearchEngineRequestError(SearchEngineError):
    """The engine refused the request (bad request, missing index or document, conflict)."""


class IndexMigrationError(SearchEngineError):
    """``index migrate`` could not verify the copy or swap the alias."""


# -- alerts ---------------------------------------------------------------------------------------------------------

class DeliveryError(RegwireError):
    """A channel could not be notified. Transient failures are retried with backoff; others are given up at once."""

    stage = "alerts"

    def __init__(self, channel: str, reason: str, *, transient: bool = True):
        self.channel, self.reason, self.transient = channel, reason, transient
        super().__init__(f"{channel}: {reason}")


class DeliveryOutcomeUnknownError(DeliveryError):
    """The request reached the receiver (or may have) but no answer came in time: it may have been delivered.

    Not retried: resending blindly is how a slow receiver gets five copies of one alert."""

    def __init__(self, channel: str, reason: str):
        super().__init__(channel, reason, transient=False)


class AlertEvaluationError(RegwireError):
    """Some alerts could not be evaluated on a batch; the rest were recorded and delivered.

    Raised after delivery so that the orchestrator's task fails and is retried: re-running the batch is idempotent,
    so only what was missed gets sent.
    """

    transient = True
    stage = "alerts"

    def __init__(self, message: str, *, failed: dict[str, str], report: Any):
        self.failed, self.report = failed, report
        super().__init__(message)


# -- orchestration --------------------------------------------------------------------------------------------------

class SourcePollError(RegwireError):
    """A source had failing feeds. ``report`` (a JSON-ready dict) holds what did work: articles written before the
    failure stay written. Transient when any feed failed for a reason a retry may cure."""

    stage = "poll"

    def __init__(self, report: dict[str, Any], *, transient: bool):
        self.report, self.transient = report, transient
        self.source = report["source"]
        super().__init__(f"source {report['source']!r}: {report['failed']} feed(s) failed: "
                         + "; ".join(report["errors"][:5]))


#: what third-party code raises on bad input data, caught at the boundaries where input is parsed and mapped onto the
#: errors above: idna's errors are UnicodeErrors, pydantic's ValidationError and httpx's InvalidURL are ValueErrors,
#: deep nesting raises RecursionError, absurd numbers OverflowError
BAD_INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, UnicodeError, RecursionError,
                                                     OverflowError)
