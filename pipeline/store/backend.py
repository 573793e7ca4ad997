"""The one backend factory: :func:`open_backend` reads the settings once and hands out everything that lives next to
the articles — the article store, the alert store, the alert evaluator, and (search engines only) the admin side.

    Backend                  protocol: articles, admin, alert_store(), evaluator_for(alerts), close()
    EmbeddedBackend          SQLite FTS5 in ``REGWIRE_HOME`` (articles, feed state, alerts, delivery log: one file)
    EngineBackend            Elasticsearch/OpenSearch (``REGWIRE_SEARCH_URL`` or the Airflow connection)

Nothing else in regwire decides between SQLite and a search engine: the CLI, the task layer, the DAGs and the search
page all take a backend from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..settings import AlertSettings, Settings
from .base import Store
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from ..alerts.evaluate import Evaluator
    from ..alerts.models import Alert
    from ..alerts.store import AlertStore
    from .engine.store import SearchEngineStore


@runtime_checkable
class StoreAdmin(Protocol):
    """Index administration a search-engine backend offers (the embedded store needs none)."""

    def status(self) -> dict[str, Any]:
        """Alias, physical indices, counts, pending dead letters, whether the live mapping is up to date."""

    def migrate(self, *, delete_old: bool = False, timeout: float = 3600.0) -> Any:
        """Create the next physical index, copy, swap the alias, catch up, verify."""

    def deadletters(self, state: str | None = "pending", limit: int = 100) -> list[Any]:
        """Documents the engine rejected, newest first."""

    def retry_deadletters(self, ids: Sequence[str] | None = None) -> Any:
        """Write pending dead letters again; resolved ones are marked."""


class Backend(Protocol):
    #: "sqlite", "elasticsearch" or "opensearch"
    name: str
    articles: Store
    #: None for the embedded store
    admin: StoreAdmin | None

    def alert_store(self) -> AlertStore:
        """Alert definitions and the delivery log, next to the articles (opened once, closed with the backend)."""

    def evaluator_for(self, alerts: Sequence[Alert], config: AlertSettings) -> Evaluator:
        """How to match a batch against ``alerts``: one search per alert, or the percolator for many."""

    def close(self) -> None: ...

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc: object) -> None: ...


class _BackendBase:
    name = "sqlite"
    articles: Store
    admin: StoreAdmin | None = None

    def __init__(self) -> None:
        self._alert_store: AlertStore | None = None

    def alert_store(self) -> AlertStore:
        if self._alert_store is None:
            self._alert_store = self._open_alert_store()
        return self._alert_store

    def _open_alert_store(self) -> AlertStore:
        raise NotImplementedError

    def evaluator_for(self, alerts: Sequence[Alert], config: AlertSettings) -> Evaluator:
        from ..alerts.evaluate import SearchEvaluator

        return SearchEvaluator(self.articles)

    def close(self) -> None:
        try:
            if self._alert_store is not None:
                self._alert_store.close()
        finally:
            self.articles.close()

    def __enter__(self) -> _BackendBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EmbeddedBackend(_BackendBase):
    """Everything in one SQLite file in ``REGWIRE_HOME``."""

    def __init__(self, db_path: Path, *, articles: Store | None = None):
        super().__init__()
        self.db_path = Path(db_path)
        self.articles = articles or SQLiteStore(self.db_path)

    def _open_alert_store(self) -> AlertStore:
        from ..alerts.store import SQLiteAlertStore

        return SQLiteAlertStore(self.db_path)


class EngineBackend(_BackendBase):
    """Articles, alerts and the delivery log on one Elasticsearch/OpenSearch cluster."""

    def __init__(self, engine: SearchEngineStore):
        super().__init__()
        self.engine = engine
        self.articles = self.admin = engine
        self.name = engine.engine

    def _open_alert_store(self) -> AlertStore:
        from ..alerts.engine_store import EngineAlertStore

        return EngineAlertStore(self.engine.client, prefix=self.engine.names.prefix)

    def evaluator_for(self, alerts: Sequence[Alert], config: AlertSettings) -> Evaluator:
        if len(alerts) >= config.percolate_min_alerts:
            from ..alerts.percolator import PercolatorEvaluator

            return PercolatorEvaluator(self.engine.client, prefix=self.engine.names.prefix)
        return super().evaluator_for(alerts, config)


def open_backend(settings: Settings, *, ensure_schema: bool = True) -> Backend:
    """The backend the settings select: Elasticsearch/OpenSearch when ``search.url`` is set (engine from
    ``search.engine``), else the embedded SQLite store in ``REGWIRE_HOME``."""
    if settings.search.url:
        from .engine.store import open_search_store

        return EngineBackend(open_search_store(settings, ensure_schema=ensure_schema))
    return EmbeddedBackend(settings.db_path)
