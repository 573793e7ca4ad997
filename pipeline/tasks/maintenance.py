"""The maintenance task (daily): re-check suspended feeds, prune superseded article versions, run due index
migrations and retry dead-lettered writes (search engines), each reported, none silently skipped."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ..errors import RegwireError
from ..logs import log_context
from ..models import FeedStatus
from ..sources import Source
from ..sources.schedule import after_failure, reenable
from .context import TaskContext

log = logging.getLogger("regwire.maintenance")


def recheck_suspended(ctx: TaskContext, now: datetime) -> list[dict[str, Any]]:
    """Try each suspended feed once: one that answers goes back in rotation (due at once), one that fails stays
    suspended with its latest error recorded."""
    results = []
    for state in ctx.store.feed_states():
        if state.status is not FeedStatus.SUSPENDED:
            continue
        try:
            result = ctx.fetcher.get(state.feed_url, max_bytes=ctx.settings.http.max_feed_bytes,
                                     obey_robots=state.document == "sitemap")
        except RegwireError as exc:
            ctx.store.save_feed_state(after_failure(state, now, exc, ctx.settings.schedule, ctx.rng))
            results.append({"feed": state.feed_url, "source": state.source, "recovered": False,
                            "error": str(getattr(exc, "reason", exc))})
            continue
        ctx.store.save_feed_state(reenable(state, now))
        results.append({"feed": state.feed_url, "source": state.source, "recovered": True, "status": result.status})
    return results


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _admin(ctx: TaskContext) -> dict[str, Any]:
    """Index migration when the live mapping lacks fields the code expects; dead letters retried."""
    admin = ctx.backend.admin
    if admin is None:
        return {"migrations": "not needed by the embedded store", "deadletters": "not kept by the embedded store"}
    status = admin.status()
    if status.get("mapping_up_to_date", True):
        migration: dict[str, Any] = {"due": False, "generation": status.get("generation")}
    else:
        log.info("index migration due: missing fields %s", status.get("missing_fields"))
        migration = {"due": True, "missing_fields": status.get("missing_fields"), "report": _jsonable(admin.migrate())}
    retried = admin.retry_deadletters()
    return {"migrations": migration, "deadletters": {"resolved": len(retried.resolved), "failed": len(retried.failed)}}


def _websub(ctx: TaskContext, sources: Sequence[Source] | None) -> dict[str, Any]:
    """WebSub leases renewed before they end, and ``sources`` whose feeds advertise a hub subscribed (when
    ``REGWIRE_WEBSUB_CALLBACK`` names the app that serves the callback)."""
    callback = ctx.settings.schedule.websub_callback
    if not callback:
        return {"enabled": False}
    from .websub import renew_websub_leases, subscribe_source

    renewed = renew_websub_leases(ctx, callback)
    subscribed = [s.topic for source in (sources or []) if source.enabled
                  for s in subscribe_source(ctx, source, callback)]
    return {"enabled": True, "renewed": [s.topic for s in renewed], "subscriptions": subscribed}


def maintenance(ctx: TaskContext, *, retention_days: int = 365, now: datetime | None = None,
                sources: Sequence[Source] | None = None) -> dict[str, Any]:
    """Suspended feeds re-checked, versions older than ``retention_days`` pruned, index migrations, dead letters,
    WebSub leases renewed and ``sources`` with a hub subscribed."""
    now = now or ctx.clock()
    with log_context(stage="maintenance"):
        result: dict[str, Any] = {"suspended_feeds": recheck_suspended(ctx, now)}
        cutoff = now - timedelta(days=retention_days)
        result["prune"] = {"before": cutoff.isoformat(), "removed": ctx.store.prune_versions(before=cutoff)}
        result.update(_admin(ctx))
        result["websub"] = _websub(ctx, sources)
        result["articles"] = ctx.store.count_articles()
    log.info("maintenance: %s", result)
    return result
