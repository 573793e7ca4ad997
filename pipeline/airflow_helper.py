"""regwire's Airflow adapter: the one module of the package that imports Airflow (with its event trigger,
:mod:`pipeline.airflow_trigger`, which the triggerer imports by class path) (as dlt does with
``dlt.helpers.airflow_helper``). The DAG files in ``dags/`` and the plugin in ``plugins/`` import it; the rest of
``pipeline`` never imports Airflow, so the library runs and is tested without it. It is part of the installed
package, so every Airflow entry point (scheduler, dag-processor, ``airflow dags list-import-errors``, workers) imports
it without any ``sys.path`` set-up.

What it holds: the articles asset; how tasks get their settings (the ``regwire_search`` connection, Variables);
the defaults every regwire task runs with (owner, retries decided by regwire's ``transient`` mark, execution
timeout, a failure notifier an ops team wires to its pager through apprise); parse-time options from the
environment; and the per-source metrics hook (StatsD through Airflow's ``Stats``).

Nothing here does work at import time: Variables and connections are read inside tasks only. Parse-time options come
from environment variables so the dag-processor never talks to the database for them.

    REGWIRE_POLL_SCHEDULE        cron for regwire_poll (default "*/5 * * * *"); "none" = triggered runs only
    REGWIRE_POLL_RETRIES         retries per source task (default 3), exponential backoff from
    REGWIRE_POLL_RETRY_DELAY     seconds (default 30), capped at REGWIRE_POLL_MAX_RETRY_DELAY (default 900)
    REGWIRE_TASK_TIMEOUT         execution timeout of every regwire task, seconds (default 1800)
    REGWIRE_FETCH_POOL           the pool that caps parallel source polls (default "regwire_fetch")
    REGWIRE_MAINTENANCE_SCHEDULE cron for regwire_maintenance (default "@daily")
    REGWIRE_OPS_CHANNELS         apprise URLs (comma-separated, ``${ENV}`` secrets) told when a task fails for good
    REGWIRE_WATCH                "on" gives the feed-changes asset one watcher per enabled source (default "off")
    REGWIRE_WATCH_INTERVAL       seconds between two watches of a source's feeds in the triggerer (default 60)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetWatcher, BaseHook, BaseNotifier, RetryDecision, RetryPolicy, Variable
from airflow.sdk.exceptions import AirflowNotFoundException

if TYPE_CHECKING:
    from .settings import Settings

ARTICLES = Asset(name="regwire_articles", uri="regwire://articles")

SEARCH_CONN_ID = "regwire_search"
FEED_CHANGES_NAME, FEED_CHANGES_URI = "regwire_feed_changes", "regwire://feed-changes"
SOURCES_VARIABLE = "regwire_sources_file"
RETENTION_VARIABLE = "regwire_retention_days"

log = logging.getLogger("regwire.airflow")


def _schedule(name: str, default: str) -> str | None:
    """A cron/preset from the environment; "none" or "manual" means triggered runs only."""
    value = os.environ.get(name, default).strip()
    return None if value.lower() in ("", "none", "manual") else value


def _seconds(name: str, default: float) -> timedelta:
    return timedelta(seconds=float(os.environ.get(name, default)))


POLL_SCHEDULE = _schedule("REGWIRE_POLL_SCHEDULE", "*/5 * * * *")
POLL_RETRIES = int(os.environ.get("REGWIRE_POLL_RETRIES", "3"))
POLL_RETRY_DELAY = _seconds("REGWIRE_POLL_RETRY_DELAY", 30)
POLL_MAX_RETRY_DELAY = _seconds("REGWIRE_POLL_MAX_RETRY_DELAY", 900)
TASK_TIMEOUT = _seconds("REGWIRE_TASK_TIMEOUT", 1800)
FETCH_POOL = os.environ.get("REGWIRE_FETCH_POOL", "regwire_fetch")
MAINTENANCE_SCHEDULE = _schedule("REGWIRE_MAINTENANCE_SCHEDULE", "@daily")
WATCH = os.environ.get("REGWIRE_WATCH", "off").strip().lower() in ("1", "on", "true", "yes")
WATCH_INTERVAL = float(os.environ.get("REGWIRE_WATCH_INTERVAL", "60"))

#: SourceReport fields sent to StatsD as regwire.source.<field> (tagged with the source)
OUTCOME_FIELDS = ("polled", "not_modified", "new", "updated", "failed", "article_errors", "skipped")


# -- retries and failure notices ------------------------------------------------------------------------------------

class TransientOnlyRetryPolicy(RetryPolicy):
    """Retry only what may succeed on retry: a regwire error marked permanent (a 404 feed, an address the guard
    refuses, a bad sources file) fails the task at once; transient ones (a 503, a timeout, a store that is down)
    and anything unknown follow the task's retries. The recorded reason names the source, the feed or the article.

    (Airflow 3.3.2 clears a mapped task's rendered map index when it schedules a retry — the task runner's
    ``RetryTask`` carries none — so while a source's poll waits for its retry the UI shows its map index; the retry
    reason and every try's log name the source.)"""

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int,
                 context: Any = None) -> RetryDecision:
        from .errors import RegwireError

        if not isinstance(exception, RegwireError):
            return RetryDecision.default()
        where = " ".join(f"{k} {v}" for k, v in exception.where().items() if k != "stage")
        if not exception.transient:
            return RetryDecision.fail(f"{where}: permanent {type(exception).__name__}, a retry would fail the same"
                                      f" way: {exception}"[:500])
        return RetryDecision.retry(reason=f"{where}: transient {type(exception).__name__}: {exception}"[:500])

    def serialize(self) -> dict[str, Any]:
        return {"__type": "TransientOnlyRetryPolicy"}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> TransientOnlyRetryPolicy:
        return cls()


class OpsNotifier(BaseNotifier):
    """Tells the ops channels (``REGWIRE_OPS_CHANNELS``: apprise URLs, the same kinds as alert channels) that a
    task failed for good: DAG, task, source (map index), try, error and the log link."""

    def __init__(self, channels: Iterable[str] | None = None):
        super().__init__()
        self.channels = list(channels) if channels is not None else ops_channels()

    def notify(self, context: Mapping[str, Any]) -> None:
        if not self.channels:
            return
        from .alerts import AppriseSender, Message

        ti = context.get("ti") or context.get("task_instance")
        where = " / ".join(str(x) for x in (
            getattr(ti, "dag_id", "?"), getattr(ti, "task_id", "?"), getattr(ti, "rendered_map_index", None))
            if x)
        body = (f"try {getattr(ti, 'try_number', '?')}: {context.get('exception')}\n\n"
                f"log: {getattr(ti, 'log_url', '')}")
        sender = AppriseSender()
        for channel in self.channels:
            try:
                sender.send(channel, Message(title=f"regwire task failed: {where}", body=body))
            except Exception as exc:  # noqa: BLE001 - a broken pager must not hide the task's own failure
                log.error("ops notice to %s not sent: %s", channel.split("://")[0], exc)


def ops_channels() -> list[str]:
    return [c.strip() for c in os.environ.get("REGWIRE_OPS_CHANNELS", "").split(",") if c.strip()]


def default_args(**overrides: Any) -> dict[str, Any]:
    """What every regwire task runs with: an owner, retries with exponential backoff that a permanent error skips,
    an execution timeout, and the ops notifier when a task fails for good."""
    args: dict[str, Any] = {
        "owner": "regwire",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "retry_policy": TransientOnlyRetryPolicy(),
        "execution_timeout": TASK_TIMEOUT,
        "on_failure_callback": [OpsNotifier()],
    }
    args.update(overrides)
    return args


# -- settings -------------------------------------------------------------------------------------------------------

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


def task_settings() -> Settings:
    """Settings for a task: REGWIRE_* environment, the search engine from the ``regwire_search`` connection."""
    from .settings import Settings

    return Settings.from_airflow_connection(search_connection())


def sources_file(params: Mapping[str, Any]) -> str | None:
    """The sources file: the run's ``sources_file`` param, else the Variable, else REGWIRE_SOURCES / packaged."""
    return params.get("sources_file") or Variable.get(SOURCES_VARIABLE, default=None) or None


def retention_days(params: Mapping[str, Any]) -> int:
    return int(params.get("retention_days") or Variable.get(RETENTION_VARIABLE, default=365))


# -- events and metrics ---------------------------------------------------------------------------------------------

def previous_watermark(inlet_events: Any, source: str, *, look_back: int = 200) -> int:
    """Where ``source``'s last published batch ended: the watermark of its newest event on the articles asset
    (0 when there is none: everything the store holds for it is announced once)."""
    for event in inlet_events[ARTICLES].ascending(False).limit(look_back):
        extra = event.extra if isinstance(event.extra, dict) else {}
        if extra.get("source") == source and isinstance(extra.get("watermark"), int):
            return int(extra["watermark"])
    return 0


def record_outcome(report: Mapping[str, Any]) -> None:
    """The per-source metrics hook: one log line in the task log, and StatsD counters when metrics are enabled."""
    log.info("regwire source %s outcome: %s", report["source"],
             " ".join(f"{name}={report.get(name, 0)}" for name in OUTCOME_FIELDS))
    try:
        from airflow.sdk.observability.stats import Stats

        for name in OUTCOME_FIELDS:
            if report.get(name):
                Stats.incr(f"regwire.source.{name}", report[name], tags={"source": report["source"]})
        Stats.gauge("regwire.source.backing_off", len(report.get("backing_off") or []),
                    tags={"source": report["source"]})
        Stats.timing("regwire.source.poll_seconds", float(report.get("seconds") or 0) * 1000,
                     tags={"source": report["source"]})
    except Exception:  # noqa: BLE001 - metrics must never fail a poll
        log.debug("StatsD counters not sent", exc_info=True)


# -- watch, then work -----------------------------------------------------------------------------------------------

def feed_watchers(sources_path: str | None = None, interval: float | None = None) -> list[AssetWatcher]:
    """One watcher per enabled source with feeds (sitemaps stay with regwire_poll), each a
    :class:`~pipeline.airflow_trigger.FeedChangeTrigger` on the source's feeds. Read at parse time from the sources
    file (``REGWIRE_SOURCES`` / the packaged catalog): a file, never the database."""
    from .airflow_trigger import FeedChangeTrigger
    from .settings import load_settings
    from .sources import load_sources

    path = sources_path or load_settings().sources
    return [AssetWatcher(name=f"regwire_watch_{source.name}",
                         trigger=FeedChangeTrigger(source.name, source.feeds, interval or WATCH_INTERVAL))
            for source in load_sources(path) if source.enabled and source.feeds]


def feed_changes_asset(watch: bool = WATCH) -> Asset:
    """The asset the watchers feed: events with ``extra["payload"] = {"source", "feed", ...}`` for changed feeds.
    Without ``watch`` it has no watchers (nothing runs in the triggerer; runs are started by hand or by WebSub)."""
    watchers = feed_watchers() if watch else []
    return Asset(name=FEED_CHANGES_NAME, uri=FEED_CHANGES_URI, watchers=watchers)


def feed_changes_event(source: str, feed: str) -> bool:
    """Record an event on ``regwire_feed_changes`` from inside the api-server (a WebSub push the plugin's app
    received), with the payload a watcher's event carries, so ``regwire_watch`` ingests the source. False (logged)
    when the asset is not known yet (regwire_watch not parsed): the timetable poll picks the change up."""
    from airflow.assets.manager import AssetManager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.name == FEED_CHANGES_NAME))
        if asset is None:
            log.warning("websub push for %s (%s) not recorded: asset %s unknown (is regwire_watch deployed?)",
                        source, feed, FEED_CHANGES_NAME)
            return False
        event = AssetManager.register_asset_change(
            asset=asset, session=session,
            extra={"from_websub": True, "payload": {"source": source, "feed": feed, "via": "websub"}})
        return event is not None


def changed_sources(triggering_events: Any, params: Mapping[str, Any]) -> list[str]:
    """The sources a feed-changes run must ingest: those named by its triggering asset events (the trigger's payload
    is the event's ``extra["payload"]``), else by the run's ``changes`` param (the same payloads, for manual runs and
    tests). Order kept, each source once."""
    payloads: list[Any] = []
    for events in (triggering_events or {}).values():
        for event in events:
            extra = event.extra if isinstance(event.extra, dict) else {}
            payloads.append(extra.get("payload", extra))
    payloads += list(params.get("changes") or [])
    names = [p["source"] for p in payloads if isinstance(p, dict) and isinstance(p.get("source"), str)]
    return list(dict.fromkeys(names))
