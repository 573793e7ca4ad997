"""The app's one backend, opened on first use, and the mapping of store failures to HTTP answers."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..errors import ConfigError, SearchEngineRequestError, StoreError
from ..store.backend import Backend
from ..store.base import Store


class BackendHolder:
    """Opens the backend once, on the first request that needs it (stores are thread-safe), closes it at shutdown.

    A failed open is not cached: the next request tries again (a store made writable, an engine back up).
    """

    def __init__(self, factory: Callable[[], Backend]):
        self._factory = factory
        self._lock = threading.Lock()
        self._backend: Backend | None = None

    def backend(self) -> Backend:
        with self._lock:
            if self._backend is None:
                try:
                    self._backend = self._factory()
                except (StoreError, ConfigError):
                    raise
                except Exception as exc:  # noqa: BLE001 - e.g. sqlite3.DatabaseError from a corrupt file
                    raise StoreError(f"the store could not be opened: {exc}") from exc
            return self._backend

    def store(self) -> Store:
        return self.backend().articles

    def close(self) -> None:
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None


def store_failure(exc: Exception) -> tuple[int, str]:
    """(status, reason) for a store or configuration failure: 400 for a request the engine refused, else 503."""
    if isinstance(exc, SearchEngineRequestError) and getattr(exc, "status", None) == 400:
        return 400, str(exc)
    return 503, f"the article store is unavailable: {exc}"
