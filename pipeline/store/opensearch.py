"""The ``opensearch-py`` client: construction from settings and error mapping.

Everything else (index bodies, queries, bulk handling) is shared with Elasticsearch in the :mod:`.engine` package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, SearchEngineError, SearchEngineRequestError, SearchEngineUnavailableError
from ..settings import Settings
from .engine.clients import describe_error, is_transient_status


def build_client(settings: Settings, *, timeout: float = 60.0, max_retries: int = 2) -> Any:
    """An ``opensearchpy.OpenSearch`` from ``REGWIRE_SEARCH_*`` (URL, user/password or API key, CA, TLS)."""
    try:
        from opensearchpy import OpenSearch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError("REGWIRE_SEARCH_ENGINE=opensearch needs the 'search' extra (opensearch-py>=3)") from exc
    if not settings.search.url:
        raise ConfigError("REGWIRE_SEARCH_URL is not set")
    kwargs: dict[str, Any] = {"timeout": timeout, "max_retries": max_retries, "retry_on_timeout": False}
    if settings.search.api_key is not None:
        kwargs["headers"] = {"Authorization": f"ApiKey {settings.search.api_key.get_secret_value()}"}
    elif settings.search.username:
        password = settings.search.password.get_secret_value() if settings.search.password else ""
        kwargs["http_auth"] = (settings.search.username, password)
    if settings.search.url.startswith("https"):
        kwargs["use_ssl"] = True
        kwargs["verify_certs"] = settings.search.verify_certs
        if settings.search.ca_certs is not None:
            kwargs["ca_certs"] = str(settings.search.ca_certs)
        if not settings.search.verify_certs:
            kwargs["ssl_show_warn"] = False
    return OpenSearch(hosts=[settings.search.url], **kwargs)


def map_error(exc: Exception, what: str) -> SearchEngineError:
    """opensearch-py errors → regwire's StoreError subclasses."""
    from opensearchpy import ConnectionError as OSConnectionError
    from opensearchpy import TransportError

    if isinstance(exc, OSConnectionError):  # includes ConnectionTimeout and SSLError; status_code is "N/A"
        return SearchEngineUnavailableError(f"opensearch: {what}: {type(exc).__name__}: {exc.error}",
                                            error_type=type(exc).__name__, reason=str(exc.error))
    if isinstance(exc, TransportError) and isinstance(exc.status_code, int):
        status = exc.status_code
        info = exc.info if isinstance(exc.info, Mapping) else {}
        error_type, reason = describe_error(info.get("error") if info else str(exc.error))
        cls = SearchEngineUnavailableError if is_transient_status(status) else SearchEngineRequestError
        return cls(f"opensearch: {what}: HTTP {status} {error_type}: {reason}", status=status,
                   error_type=error_type, reason=reason)
    return SearchEngineError(f"opensearch: {what}: {exc!r}")


class OpenSearchAdapter:
    """The store's client seam over opensearch-py (its transport's ``perform_request``)."""

    engine = "opensearch"

    def __init__(self, client: Any):
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenSearchAdapter:
        return cls(build_client(settings))

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                body: Any = None) -> Any:
        from opensearchpy import TransportError

        try:
            if method == "HEAD":
                return bool(self.client.transport.perform_request(method, path, params=dict(params or {})))
            return self.client.transport.perform_request(method, path, params=dict(params or {}), body=body)
        except TransportError as exc:
            if method == "HEAD" and exc.status_code == 404:
                return False
            raise map_error(exc, f"{method} {path}") from exc

    def bulk(self, ndjson: str, *, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        from opensearchpy import TransportError

        try:
            return self.client.transport.perform_request(
                "POST", "/_bulk", params=dict(params or {}), body=ndjson,
                headers={"content-type": "application/x-ndjson"})
        except TransportError as exc:
            raise map_error(exc, "POST /_bulk") from exc

    def close(self) -> None:
        self.client.close()
