"""Prometheus metrics, read at scrape time from what the store keeps (feed state, the alert delivery log), so any
process can serve them: ``regwire serve`` (``/metrics``), ``regwire run --metrics-port``, or a sidecar. In Airflow
the same per-source numbers also go to StatsD through Airflow's own ``Stats`` (:mod:`pipeline.airflow_helper`).

Series (label ``source``; feed-level totals summed per source):

    regwire_feed_polls_total, regwire_feed_not_modified_total, regwire_feed_failures_total
    regwire_articles_new_total, regwire_articles_updated_total
    regwire_fetch_seconds_total, regwire_fetch_last_seconds (the slowest feed's last fetch)
    regwire_feeds{state=active|backing_off|suspended|disabled}
    regwire_queue_lag_seconds     how long the most overdue active feed has been due (0 when none is)
    regwire_alert_deliveries{state=pending|sent|failed|given_up}
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from .models import FeedState, FeedStatus
from .store.backend import Backend

log = logging.getLogger("regwire.metrics")

_COUNTERS = (
    ("regwire_feed_polls", "feed polls", "polls"),
    ("regwire_feed_not_modified", "feed polls answered 304 Not Modified", "not_modified_polls"),
    ("regwire_feed_failures", "feed polls that failed", "failed_polls"),
    ("regwire_articles_new", "new articles stored", "new_articles"),
    ("regwire_articles_updated", "articles stored as a new version", "updated_articles"),
    ("regwire_fetch_seconds", "seconds spent fetching feeds", "fetch_seconds_total"),
)


def _feed_state_label(state: FeedState) -> str:
    if state.status is not FeedStatus.ACTIVE:
        return state.status.value
    return "backing_off" if state.consecutive_errors else "active"


class StoreCollector(Collector):
    """Collects the series above from a backend on every scrape."""

    def __init__(self, backend: Callable[[], Backend], *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.backend, self.clock = backend, clock

    def collect(self) -> Iterator[Any]:
        backend = self.backend()
        states = backend.articles.feed_states()
        yield from self._feed_metrics(states)
        try:
            counts = backend.alert_store().counts()
        except Exception as exc:  # noqa: BLE001 - feed metrics are still worth serving without the alert store
            log.warning("alert delivery counts not read: %s", exc)
            counts = {}
        deliveries = GaugeMetricFamily("regwire_alert_deliveries", "alert deliveries by state", labels=["state"])
        for state, n in sorted(counts.items()):
            deliveries.add_metric([state], n)
        yield deliveries

    def _feed_metrics(self, states: list[FeedState]) -> Iterator[Any]:
        now = self.clock()
        per_source: dict[str, list[FeedState]] = defaultdict(list)
        for state in states:
            per_source[state.source].append(state)
        for name, help_text, field in _COUNTERS:
            family = CounterMetricFamily(name, help_text, labels=["source"])
            for source, feeds in sorted(per_source.items()):
                family.add_metric([source], float(sum(getattr(f, field) for f in feeds)))
            yield family
        last = GaugeMetricFamily("regwire_fetch_last_seconds", "the slowest feed's last fetch", labels=["source"])
        lag = GaugeMetricFamily("regwire_queue_lag_seconds", "how long the most overdue active feed has been due",
                                labels=["source"])
        feeds_by_state = GaugeMetricFamily("regwire_feeds", "feeds by state", labels=["source", "state"])
        for source, feeds in sorted(per_source.items()):
            last.add_metric([source], max((f.last_fetch_seconds or 0.0) for f in feeds))
            overdue = [(now - f.next_poll).total_seconds() for f in feeds
                       if f.status is FeedStatus.ACTIVE and f.next_poll is not None and f.next_poll < now]
            lag.add_metric([source], max(overdue, default=0.0))
            tally: dict[str, int] = defaultdict(int)
            for f in feeds:
                tally[_feed_state_label(f)] += 1
            for label in ("active", "backing_off", "suspended", "disabled"):
                feeds_by_state.add_metric([source, label], tally[label])
        yield from (last, lag, feeds_by_state)


def registry_for(backend: Callable[[], Backend]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(backend))
    return registry


def serve_metrics(backend: Backend, *, port: int, host: str = "127.0.0.1") -> None:
    """Serve ``/metrics`` for ``backend`` on a background thread (``regwire run --metrics-port``)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=registry_for(lambda: backend))
