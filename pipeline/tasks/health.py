"""Feed health: which feeds are failing, backing off, suspended or disabled, read from the feed state the store
keeps (so any process can tell: the Airflow ``check`` task, ``regwire sources list``, the metrics endpoint)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ..models import FeedState, FeedStatus
from .context import TaskContext


def unhealthy_reason(state: FeedState) -> str | None:
    """Why a feed needs attention, or None when its last poll worked."""
    if state.status is not FeedStatus.ACTIVE:
        return f"{state.status.value}: {state.last_error or 'no error recorded'}"
    if state.consecutive_errors:
        when = state.next_poll.isoformat(timespec="minutes") if state.next_poll else "soon"
        return f"backing off after {state.consecutive_errors} failure(s) until {when}: {state.last_error}"
    return None


def feed_health(ctx: TaskContext, sources: Collection[str] | None = None) -> dict[str, Any]:
    """Every known feed of ``sources`` (all when None): how many, and "source: feed: why" for each unhealthy one."""
    unhealthy = []
    feeds = 0
    for state in ctx.store.feed_states():
        if sources is not None and state.source not in sources:
            continue
        feeds += 1
        if reason := unhealthy_reason(state):
            unhealthy.append(f"{state.source}: {state.feed_url}: {reason}")
    return {"feeds": feeds, "unhealthy": unhealthy}
