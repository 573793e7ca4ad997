"""``_bulk``: actions, chunking by count and bytes, and the retry loop.

Why not the clients' own helpers (``elasticsearch.helpers.streaming_bulk`` / ``opensearchpy.helpers.streaming_bulk``,
checked against opensearch-py 3 and elasticsearch-py 9): they retry only items answered ``429`` (not 5xx, not a
request that failed as a whole, not the ``cluster_block_exception`` a migration leaves on the retired index), they
sleep with ``time.sleep`` (no injected clock for tests), they need the library's client object while the store works
through :class:`~.clients.EngineClient` (one seam for both libraries, and the fault-injecting adapters of the tests),
and when retries run out they mix transient and permanent failures in one ``BulkIndexError``, while the store must
tell them apart (raise and keep nothing back vs. dead-letter). So the chunking here is the helpers' rule (max actions,
max bytes) in a few lines, and :class:`BulkRunner` is the retry policy regwire needs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import SearchEngineError, SearchEngineUnavailableError
from .clients import EngineClient, describe_error, is_transient_status

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BulkItem:
    """One bulk action (index, update or delete) and what came of it."""

    op: str
    index: str
    id: str
    source: dict[str, Any] | None = None
    #: for "update": the partial document
    doc: dict[str, Any] | None = None
    status: int | None = None
    error: Any = None
    attempts: int = 0
    #: the source already serialised (the writer builds it once); ``source`` is parsed from it when needed
    raw: str | None = None

    def lines(self) -> list[str]:
        head = json.dumps({self.op: {"_index": self.index, "_id": self.id}}, separators=(",", ":"))
        if self.op == "delete":
            return [head]
        if self.op == "index" and self.raw is not None:
            return [head, self.raw]
        body = {"doc": self.doc} if self.op == "update" else self.source
        return [head, json.dumps(body, separators=(",", ":"), ensure_ascii=False)]

    def body(self) -> dict[str, Any]:
        if self.source is None and self.raw is not None:
            self.source = json.loads(self.raw)
        return self.source or {}

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        """Worth retrying: 429/5xx, no answer, or a write block (the index was retired by a migration: a retry
        resolves the alias again and lands in the new index)."""
        if self.status is None or is_transient_status(self.status):
            return True
        return isinstance(self.error, Mapping) and self.error.get("type") == "cluster_block_exception"


@dataclass(slots=True)
class Chunk:
    items: list[BulkItem] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    size: int = 0

    def ndjson(self) -> str:
        return "\n".join(self.lines) + "\n"


def chunk_actions(items: Sequence[BulkItem], *, max_actions: int = 500,
                  max_bytes: int = 10 * 1024 * 1024) -> list[Chunk]:
    """Split actions into ``_bulk`` requests by count and bytes, like ``helpers.streaming_bulk``."""
    chunks: list[Chunk] = []
    current = Chunk()
    for item in items:
        lines = item.lines()
        size = sum(len(line.encode("utf-8")) + 1 for line in lines)
        if current.items and (len(current.items) >= max_actions or current.size + size > max_bytes):
            chunks.append(current)
            current = Chunk()
        current.items.append(item)
        current.lines.extend(lines)
        current.size += size
    if current.items:
        chunks.append(current)
    return chunks


def apply_bulk_response(chunk: Chunk, response: Mapping[str, Any]) -> None:
    """Record each item's status and error from a ``_bulk`` response (items come back in request order)."""
    results = response.get("items", [])
    if len(results) != len(chunk.items):
        raise SearchEngineError(f"bulk response has {len(results)} items for {len(chunk.items)} actions")
    for item, result in zip(chunk.items, results, strict=True):
        (outcome,) = result.values()
        item.status = int(outcome.get("status", 500))
        item.error = outcome.get("error")
        item.attempts += 1


@dataclass(slots=True)
class BulkRunner:
    """Sends actions in chunks; retries 429/5xx items (and whole failed requests) with exponential backoff."""

    client: EngineClient
    sleep: Callable[[float], None]
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    chunk_actions: int = 500
    chunk_bytes: int = 10 * 1024 * 1024
    #: counters for every bulk decision (actions sent, retried, dead-lettered, requests)
    stats: dict[str, int] = field(default_factory=lambda: {"actions": 0, "retried": 0, "deadlettered": 0,
                                                           "bulk_requests": 0})

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))

    def _send(self, pending: list[BulkItem], params: dict[str, Any]) -> str:
        """One round over ``pending``; returns the last whole-request failure ("" if none)."""
        problem = ""
        for chunk in chunk_actions(pending, max_actions=self.chunk_actions, max_bytes=self.chunk_bytes):
            self.stats["bulk_requests"] += 1
            self.stats["actions"] += len(chunk.items)
            try:
                apply_bulk_response(chunk, self.client.bulk(chunk.ndjson(), params=params))
            except SearchEngineUnavailableError as exc:  # the whole request: node down, 429, 503 ...
                problem = str(exc)
                for item in chunk.items:
                    item.status, item.error = exc.status, exc.reason
                    item.attempts += 1
        return problem

    def run(self, items: Sequence[BulkItem], *, params: dict[str, Any] | None = None) -> list[BulkItem]:
        """Send ``items``; return the ones rejected for good (non-transient errors).

        Raises :class:`SearchEngineUnavailableError` when transient failures remain after ``max_attempts``.
        """
        pending = list(items)
        attempt = 0
        last_problem = ""
        while pending:
            attempt += 1
            last_problem = self._send(pending, params or {}) or last_problem
            retry = [i for i in pending if not i.ok and i.transient]
            if retry and not last_problem:
                last_problem = f"item status {retry[0].status}: {describe_error(retry[0].error)[1]}"
            if retry and attempt >= self.max_attempts:
                raise SearchEngineUnavailableError(
                    f"{len(retry)} of {len(items)} bulk action(s) still failing after {attempt} attempt(s);"
                    f" nothing was dead-lettered and the batch can be written again: {last_problem}",
                    status=retry[0].status)
            if retry:
                self.stats["retried"] += len(retry)
                delay = self.backoff(attempt)
                log.info("bulk: retrying %d action(s) in %.1fs (%s)", len(retry), delay, last_problem)
                self.sleep(delay)
            pending = retry
        return [i for i in items if not i.ok]
