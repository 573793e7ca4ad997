"""Feed scheduling: when a feed is due, how long until its next poll (adaptive), and how its state changes after a
poll (Miniflux-style error handling).

Pure functions over :class:`FeedState`; the caller supplies the clock and the random source, so tests are exact.
The adaptive interval itself is computed in :mod:`pipeline.sources.adaptive`.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from ..errors import FetchError, HTTPStatusError, RegwireError
from ..models import FeedState, FeedStatus
from ..settings import ScheduleSettings
from .adaptive import PollInterval


def is_due(state: FeedState | None, now: datetime) -> bool:
    if state is None:
        return True
    if state.status is not FeedStatus.ACTIVE:
        return False
    return state.next_poll is None or state.next_poll <= now


def backoff_delay(errors: int, settings: ScheduleSettings, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half the step is fixed, half random, capped at ``backoff_max``."""
    step = min(settings.backoff_max, settings.backoff_base * 2 ** max(0, errors - 1))
    return step / 2 + (rng or random).uniform(0, step / 2)


def after_success(state: FeedState, now: datetime, interval: int | PollInterval, *, status: int,
                  etag: str | None = None, last_modified: str | None = None, items: int = 0, new: int = 0,
                  updated: int = 0, fetch_seconds: float | None = None) -> FeedState:
    """A poll that worked (200 or 304): errors cleared, a suspended feed recovers, next poll one interval away.

    ``interval`` is seconds, or a :class:`PollInterval` (adaptive polling), kept on the feed with its reason.
    """
    adaptive = interval.as_state() if isinstance(interval, PollInterval) else {"poll_interval": interval}
    seconds = interval.seconds if isinstance(interval, PollInterval) else interval
    return state.model_copy(update={
        **adaptive,
        **_counted(state, fetch_seconds),
        "not_modified_polls": state.not_modified_polls + (status == 304),
        "new_articles": state.new_articles + new,
        "updated_articles": state.updated_articles + updated,
        "status": FeedStatus.ACTIVE if state.status is FeedStatus.SUSPENDED else state.status,
        "consecutive_errors": 0,
        "last_error": None,
        "last_status": status,
        "last_polled": now,
        "last_success": now,
        "next_poll": now + timedelta(seconds=seconds),
        "etag": etag if etag is not None else state.etag,
        "last_modified": last_modified if last_modified is not None else state.last_modified,
        "items_seen": state.items_seen + items,
    })


def after_failure(state: FeedState, now: datetime, error: RegwireError, settings: ScheduleSettings,
                  rng: random.Random | None = None) -> FeedState:
    """A failed poll: count it, honour Retry-After or back off, suspend after too many, disable on 410 Gone.

    The error's ``transient`` mark decides the backoff: a transient failure (a 503, a timeout) is retried on the
    exponential schedule; a permanent one (a 404, an address the guard refuses, a document that is not a feed) fails
    the same way until somebody changes something, so the feed waits the longest backoff at once.
    """
    errors = state.consecutive_errors + 1
    status_code = error.status if isinstance(error, HTTPStatusError) else None
    update: dict[str, object] = {
        **_counted(state, None),
        "failed_polls": state.failed_polls + 1,
        "consecutive_errors": errors,
        "last_error": str(error.reason if isinstance(error, FetchError) else error),
        "last_status": status_code,
        "last_polled": now,
    }
    if status_code == 410:
        update["status"] = FeedStatus.DISABLED
        update["last_error"] = "HTTP 410 Gone: the feed was removed; re-enable it by hand if it comes back"
        return state.model_copy(update=update)
    from ..fetch.fetcher import parse_retry_after  # the fetcher (httpx) loads when a poll runs, not at start-up

    retry_after = parse_retry_after(error.retry_after, now) if isinstance(error, HTTPStatusError) else None
    if retry_after is not None:
        wait = min((retry_after - now).total_seconds(), settings.backoff_max)
        update["next_poll"] = now + timedelta(seconds=max(0.0, wait))
    elif error.transient:
        update["next_poll"] = now + timedelta(seconds=backoff_delay(errors, settings, rng))
    else:
        update["next_poll"] = now + timedelta(seconds=settings.backoff_max)
    if errors >= settings.suspend_after and state.status is FeedStatus.ACTIVE:
        update["status"] = FeedStatus.SUSPENDED
        update["last_error"] = f"suspended after {errors} consecutive failures; last: {update['last_error']}"
    return state.model_copy(update=update)


def _counted(state: FeedState, fetch_seconds: float | None) -> dict[str, object]:
    """One more poll in the feed's running totals."""
    totals: dict[str, object] = {"polls": state.polls + 1}
    if fetch_seconds is not None:
        totals["fetch_seconds_total"] = state.fetch_seconds_total + fetch_seconds
        totals["last_fetch_seconds"] = fetch_seconds
    return totals


def reenable(state: FeedState, now: datetime) -> FeedState:
    """Put a suspended or disabled feed back in rotation, due at once."""
    return state.model_copy(update={"status": FeedStatus.ACTIVE, "consecutive_errors": 0, "next_poll": now})
