"""The client seam (one JSON request, one NDJSON bulk request) and how engine answers are classified.

The adapters (:mod:`pipeline.store.elastic`, :mod:`pipeline.store.opensearch`) implement :class:`EngineClient` and
map their library's errors to :class:`~pipeline.errors.SearchEngineError` and its subclasses. :class:`EngineSession`
is what every part of the store shares: the client, the index names, the refresh policy and the small request
helpers (JSON request, ``_mget``, ``search_after`` scan).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .names import IndexNames

#: page size of ``search_after`` scans and ``_mget`` batches
PAGE = 1000


def is_transient_status(status: int) -> bool:
    """Worth retrying: 429 (rejected, back off) or any 5xx."""
    return status == 429 or status >= 500


def describe_error(error: Mapping[str, Any] | str | None) -> tuple[str, str]:
    """(type, reason) of an engine error object, following ``caused_by`` for the root cause."""
    if error is None:
        return "unknown", ""
    if isinstance(error, str):
        return "error", error
    error_type = str(error.get("type", "error"))
    reason = str(error.get("reason", ""))
    cause = error.get("caused_by")
    if isinstance(cause, Mapping) and cause.get("reason"):
        reason = f"{reason}: {cause.get('type', '')}: {cause['reason']}".strip()
    return error_type, reason


class EngineClient(Protocol):
    """What the store needs from a client: one JSON request, one NDJSON bulk request. Adapters map errors."""

    engine: str

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                body: Any = None) -> Any:
        """Perform a request; returns the decoded JSON body (or True/False for HEAD)."""

    def bulk(self, ndjson: str, *, params: Mapping[str, Any] | None = None) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EngineSession:
    """The client, the index names and the refresh policy every part of the store works with."""

    client: EngineClient
    names: IndexNames
    #: ``refresh`` of writes: "wait_for", True, or False/None for none
    refresh: str | bool | None = "wait_for"

    def req(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        return self.client.request(method, path, params={k: v for k, v in params.items() if v is not None},
                                   body=body)

    def refresh_param(self) -> dict[str, Any]:
        if self.refresh is False or self.refresh is None:
            return {}
        return {"refresh": "true" if self.refresh is True else self.refresh}

    def mget(self, index: str, ids: Sequence[str], **params: Any) -> dict[str, dict[str, Any]]:
        """``_source`` of the documents found, by id (one request; callers page large id lists)."""
        if not ids:
            return {}
        resp = self.req("POST", f"/{index}/_mget", {"ids": list(ids)}, **params)
        return {d["_id"]: d["_source"] for d in resp["docs"] if d.get("found")}

    def count(self, index: str) -> int:
        return int(self.req("GET", f"/{index}/_count")["count"])

    def scan(self, index: str, query: dict[str, Any], sort: list[Any], source: Any,
             batch_size: int = PAGE) -> Iterator[dict[str, Any]]:
        """Every hit of ``query`` in ``sort`` order, page by page with ``search_after``."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"query": query, "sort": sort, "size": batch_size, "_source": source}
            if after is not None:
                body["search_after"] = after
            hits = self.req("POST", f"/{index}/_search", body)["hits"]["hits"]
            yield from hits
            if len(hits) < batch_size:
                return
            after = hits[-1]["sort"]
