"""The ``elasticsearch`` (elasticsearch-py 8/9) client: construction from settings and error mapping.

Everything else (index bodies, queries, bulk handling) is shared with OpenSearch in the :mod:`.engine` package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, SearchEngineError, SearchEngineRequestError, SearchEngineUnavailableError
from ..settings import Settings
from .engine.clients import describe_error, is_transient_status

_JSON = {"accept": "application/json", "content-type": "application/json"}
_NDJSON = {"accept": "application/json", "content-type": "application/x-ndjson"}


def build_client(settings: Settings, *, request_timeout: float = 60.0, max_retries: int = 2) -> Any:
    """An ``elasticsearch.Elasticsearch`` from ``REGWIRE_SEARCH_*`` (URL, API key or user/password, CA, TLS)."""
    try:
        from elasticsearch import Elasticsearch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError("REGWIRE_SEARCH_ENGINE=elasticsearch needs the 'search' extra (elasticsearch>=9)") from exc
    if not settings.search.url:
        raise ConfigError("REGWIRE_SEARCH_URL is not set")
    kwargs: dict[str, Any] = {"request_timeout": request_timeout, "max_retries": max_retries,
                              "retry_on_timeout": False}
    if settings.search.api_key is not None:
        kwargs["api_key"] = settings.search.api_key.get_secret_value()
    elif settings.search.username:
        password = settings.search.password.get_secret_value() if settings.search.password else ""
        kwargs["basic_auth"] = (settings.search.username, password)
    if settings.search.url.startswith("https"):
        kwargs["verify_certs"] = settings.search.verify_certs
        if settings.search.ca_certs is not None:
            kwargs["ca_certs"] = str(settings.search.ca_certs)
        if not settings.search.verify_certs:
            kwargs["ssl_show_warn"] = False
    return Elasticsearch(settings.search.url, **kwargs)


def map_error(exc: Exception, what: str) -> SearchEngineError:
    """elasticsearch-py / elastic-transport errors → regwire's StoreError subclasses."""
    from elasticsearch import ApiError, TransportError

    if isinstance(exc, ApiError):
        status = int(exc.meta.status)
        body = exc.body if isinstance(exc.body, Mapping) else {}
        error_type, reason = describe_error(body.get("error") if body else str(exc.message))
        cls = SearchEngineUnavailableError if is_transient_status(status) else SearchEngineRequestError
        return cls(f"elasticsearch: {what}: HTTP {status} {error_type}: {reason}", status=status,
                   error_type=error_type, reason=reason)
    if isinstance(exc, TransportError):
        return SearchEngineUnavailableError(f"elasticsearch: {what}: {type(exc).__name__}: {exc}",
                                            error_type=type(exc).__name__, reason=str(exc))
    return SearchEngineError(f"elasticsearch: {what}: {exc!r}")


class ElasticsearchAdapter:
    """The store's client seam over elasticsearch-py (its ``perform_request``, no typed API wrappers)."""

    engine = "elasticsearch"

    def __init__(self, client: Any):
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> ElasticsearchAdapter:
        return cls(build_client(settings))

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                body: Any = None) -> Any:
        from elasticsearch import ApiError, TransportError

        headers = {"accept": "application/json"} if body is None else _JSON
        try:
            resp = self.client.perform_request(method, path, params=dict(params or {}) or None, headers=headers,
                                               body=body)
        except (ApiError, TransportError) as exc:
            raise map_error(exc, f"{method} {path}") from exc
        if method == "HEAD":
            return 200 <= resp.meta.status < 300
        return resp.body

    def bulk(self, ndjson: str, *, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        from elasticsearch import ApiError, TransportError

        try:
            resp = self.client.perform_request("POST", "/_bulk", params=dict(params or {}) or None,
                                               headers=_NDJSON, body=ndjson.encode("utf-8"))
        except (ApiError, TransportError) as exc:
            raise map_error(exc, "POST /_bulk") from exc
        return resp.body

    def close(self) -> None:
        self.client.close()
