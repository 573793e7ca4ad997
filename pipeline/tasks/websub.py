"""WebSub in the task layer: subscribe a source's feeds to the hubs they advertise, renew leases (a maintenance
step), and ingest a source when its hub pushes a content notification (the command-line path: ``regwire serve``
serves the callback, :mod:`pipeline.web.websub`)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..errors import FetchError
from ..settings import Settings
from ..sources import Source
from ..sources.websub import RENEW_MARGIN, find_hub, hub_client, renew_leases, subscribe
from ..store.websub import Subscription, SubscriptionStore
from .context import TaskContext, task_context
from .poll import load_source, poll_source
from .report import SourceReport

log = logging.getLogger("regwire.websub")

#: a subscription requested this recently is not requested again (renewal and subscription in one maintenance run)
RECENT_REQUEST = timedelta(minutes=10)


def subscribe_source(ctx: TaskContext, source: Source, callback_base: str) -> list[Subscription]:
    """Fetch each feed of ``source``; subscribe to the hub it advertises unless an active lease covers it. Feeds
    without a hub are left to polling; a feed or hub that fails is logged and the next feed still tries."""
    store = SubscriptionStore.in_home(ctx.settings.home)
    done: list[Subscription] = []
    try:
        with hub_client(ctx.settings) as client:
            for feed_url in source.feeds:
                try:
                    result = ctx.fetcher.get(feed_url, max_bytes=ctx.settings.http.max_feed_bytes)
                    link = find_hub(result.content, feed_url)
                    if link is None:
                        continue
                    known = store.by_topic(link.topic)
                    now = ctx.clock()
                    if known and _covered(known, now):
                        done.append(known)
                        continue
                    done.append(subscribe(store, client, link=link, source=source.name, callback_base=callback_base,
                                          now=now))
                except FetchError as exc:
                    log.warning("websub: %s of %s not subscribed: %s", feed_url, source.name, exc)
    finally:
        store.close()
    return done


def _covered(subscription: Subscription, now: datetime) -> bool:
    """No request needed: an active lease that does not end within the renewal margin, or a request sent moments
    ago (the hub's verification may still be on its way)."""
    if subscription.state in ("active", "pending") and now - subscription.requested_at < RECENT_REQUEST:
        return True
    return (subscription.state == "active" and subscription.expires_at is not None
            and subscription.expires_at > now + RENEW_MARGIN)


def renew_websub_leases(ctx: TaskContext, callback_base: str,
                        margin: timedelta = RENEW_MARGIN) -> list[Subscription]:
    """The maintenance step: re-subscribe every lease that ends within ``margin``."""
    store = SubscriptionStore.in_home(ctx.settings.home)
    try:
        with hub_client(ctx.settings) as client:
            return renew_leases(store, client, callback_base, ctx.clock(), margin)
    finally:
        store.close()


def ingest_notified_source(settings: Settings, source_name: str) -> SourceReport:
    """A hub pushed a change of one of ``source_name``'s feeds: poll that source now (its feeds' adaptive schedule
    notwithstanding) through the usual stages."""
    with task_context(settings) as ctx:
        return poll_source(ctx, load_source(ctx, source_name), force=True)
