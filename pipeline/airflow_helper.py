"""regwire's Airflow adapter: the one module of the package that imports Airflow (as dlt does with
``dlt.helpers.airflow_helper``). The DAG files in ``dags/`` and the plugin in ``plugins/`` import it; the rest of
``pipeline`` never imports Airflow, so the library runs and is tested without it.

What it holds: the articles asset, configuration lookup (the ``regwire_search`` connection, Variables, parse-time
options from the environment) and the per-source metrics hook. It is part of the installed package, so every Airflow
entry point (scheduler, dag-processor, ``airflow dags list-import-errors``, workers) imports it without any
``sys.path`` set-up.

Nothing here does work at import time: Variables and connections are read inside tasks only. Parse-time options
(schedule, retries, pool) come from environment variables so the dag-processor never talks to the database for them.

    REGWIRE_POLL_SCHEDULE        cron for regwire_poll (default "*/5 * * * *")
    REGWIRE_POLL_RETRIES         retries per source task (default 3), exponential backoff from
    REGWIRE_POLL_RETRY_DELAY     seconds (default 30), capped at REGWIRE_POLL_MAX_RETRY_DELAY (default 900)
    REGWIRE_FETCH_POOL           the pool that caps parallel source polls (default "regwire_fetch")
    REGWIRE_MAINTENANCE_SCHEDULE cron for regwire_maintenance (default "@daily")

"none" as a schedule means: triggered runs only.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseHook, Variable
from airflow.sdk.exceptions import AirflowNotFoundException

if TYPE_CHECKING:
    from .settings import Settings

ARTICLES = Asset(name="regwire_articles", uri="regwire://articles")

SEARCH_CONN_ID = "regwire_search"
SOURCES_VARIABLE = "regwire_sources_file"
RETENTION_VARIABLE = "regwire_retention_days"



def _schedule(name: str, default: str) -> str | None:
    """A cron/preset from the environment; "none" or "manual" means triggered runs only."""
    value = os.environ.get(name, default).strip()
    return None if value.lower() in ("", "none", "manual") else value


POLL_SCHEDULE = _schedule("REGWIRE_POLL_SCHEDULE", "*/5 * * * *")
POLL_RETRIES = int(os.environ.get("REGWIRE_POLL_RETRIES", "3"))
POLL_RETRY_DELAY = timedelta(seconds=float(os.environ.get("REGWIRE_POLL_RETRY_DELAY", "30")))
POLL_MAX_RETRY_DELAY = timedelta(seconds=float(os.environ.get("REGWIRE_POLL_MAX_RETRY_DELAY", "900")))
FETCH_POOL = os.environ.get("REGWIRE_FETCH_POOL", "regwire_fetch")
MAINTENANCE_SCHEDULE = _schedule("REGWIRE_MAINTENANCE_SCHEDULE", "@daily")

log = logging.getLogger("regwire.airflow")

#: SourceReport fields sent to StatsD as regwire.source.<field> (tagged with the source)
OUTCOME_FIELDS = ("polled", "not_modified", "new", "updated", "failed", "article_errors", "skipped")


def _as_mapping(conn: Any) -> dict[str, Any]:
    return {"conn_type": conn.conn_type, "host": conn.host, "port": conn.port, "schema": conn.schema,
            "login": conn.login, "password": conn.password, "extra": conn.extra_dejson}


def search_connection() -> dict[str, Any] | None:
    """The ``regwire_search`` connection (read in a task, through the execution API) as a plain mapping, or None
    (the embedded store) when it is not set."""
    try:
        conn = BaseHook.get_connection(SEARCH_CONN_ID)
    except AirflowNotFoundException:
        return None
    return _as_mapping(conn)


def server_search_connection() -> dict[str, Any] | None:
    """The same connection read inside the api-server (the plugin's search app), through the secrets backends."""
    try:
        from airflow.models.connection import Connection

        conn = Connection.get_connection_from_secrets(SEARCH_CONN_ID)
    except Exception as exc:  # noqa: BLE001 - AirflowNotFoundException, or no metadata DB: the embedded store
        log.info("no %s connection (%s): the search page uses the embedded store", SEARCH_CONN_ID,
                 type(exc).__name__)
        return None
    return _as_mapping(conn)


def regwire_settings() -> Settings:
    """Settings for a task: REGWIRE_* environment, the search engine from the ``regwire_search`` connection."""
    from .orchestration import settings_from_connection

    return settings_from_connection(search_connection())


def sources_file(params: dict[str, Any]) -> str | None:
    """The sources file: the run's ``sources_file`` param, else the Variable, else REGWIRE_SOURCES / packaged."""
    return params.get("sources_file") or Variable.get(SOURCES_VARIABLE, default=None) or None


def record_outcome(report: dict[str, Any]) -> None:
    """The per-source metrics hook: one log line in the task log, and StatsD counters when metrics are enabled."""
    log.info("regwire source %s outcome: %s", report["source"],
             " ".join(f"{name}={report.get(name, 0)}" for name in OUTCOME_FIELDS))
    try:
        from airflow.sdk.observability.stats import Stats

        for name in OUTCOME_FIELDS:
            if report.get(name):
                Stats.incr(f"regwire.source.{name}", report[name], tags={"source": report["source"]})
    except Exception:  # noqa: BLE001 - metrics must never fail a poll
        log.debug("StatsD counters not sent", exc_info=True)
