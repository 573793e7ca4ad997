"""regwire's event trigger: feeds watched in Airflow's triggerer, an asset event only when a feed changed.

:class:`FeedChangeTrigger` is a ``BaseEventTrigger`` for an ``AssetWatcher``: every ``interval`` seconds it makes one
conditional GET per feed of its source (async httpx through the address guard, the per-host slot book shared with the
fetcher, the validators stored with the feed), and yields a ``TriggerEvent`` only for a feed with new or updated
items; its payload (``{"source", "feed", "new", "updated", "items"}``) becomes the asset event's
``extra["payload"]``. A 304 or an unchanged feed costs one request in the triggerer: no worker slot, no task run.
The work lives in :mod:`pipeline.sources.watch`; this module only adapts it to Airflow (it is imported by the
triggerer and by :mod:`pipeline.airflow_helper`, like that module one of the few that import Airflow).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

if TYPE_CHECKING:
    from .sources.watch import FeedWatcher

log = logging.getLogger("regwire.airflow.trigger")

#: seconds between two watches of a source's feeds (the event-driven DAG's latency floor)
DEFAULT_INTERVAL = 60.0


class FeedChangeTrigger(BaseEventTrigger):
    """Watches ``feeds`` of ``source``; fires once per change of a feed. ``settings`` are the environment's
    (REGWIRE_HOME, REGWIRE_ALLOW_NETWORKS, REGWIRE_HOST_DELAY ... of the triggerer process)."""

    def __init__(self, source: str, feeds: list[str], interval: float = DEFAULT_INTERVAL, max_rounds: int = 0):
        super().__init__()
        self.source, self.feeds, self.interval = source, list(feeds), float(interval)
        #: stop after this many rounds (0: never); tests and benchmarks drive ``run()`` with it
        self.max_rounds = int(max_rounds)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"source": self.source, "feeds": self.feeds, "interval": self.interval, "max_rounds": self.max_rounds})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from .sources.watch import watch_once

        watcher = _acquire_watcher()
        rounds = 0
        try:
            while True:
                for change in await watch_once(watcher, [(self.source, feed) for feed in self.feeds]):
                    log.info("feed %s of %s changed: %d new, %d updated", change.feed_url, self.source,
                             len(change.new), len(change.updated))
                    yield TriggerEvent(change.as_extra())
                rounds += 1
                if self.max_rounds and rounds >= self.max_rounds:
                    return
                await asyncio.sleep(self.interval)
        finally:
            await _release_watcher()


#: one watcher (HTTP connection pool, store connection, what was seen) per event loop, shared by every trigger the
#: triggerer runs in it: 500 sources cost one client and one store connection, not 500
_SHARED: dict[int, tuple[FeedWatcher, int]] = {}


def _acquire_watcher() -> FeedWatcher:
    from .settings import load_settings
    from .sources.watch import FeedWatcher

    key = id(asyncio.get_running_loop())
    watcher, users = _SHARED.get(key) or (FeedWatcher(load_settings()), 0)
    _SHARED[key] = (watcher, users + 1)
    return watcher


async def _release_watcher() -> None:
    key = id(asyncio.get_running_loop())
    watcher, users = _SHARED[key]
    if users > 1:
        _SHARED[key] = (watcher, users - 1)
        return
    del _SHARED[key]
    await watcher.aclose()
