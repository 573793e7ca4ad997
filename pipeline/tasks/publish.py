"""The publish task: what one source wrote since its last published batch, as the extra of an asset event that
downstream work (alerts, quality) runs on.

The store's change log is the source of truth: every written version has an increasing ``seq``. A batch names the
source, the seq range it covers and the changed ids (capped; a consumer reads a capped batch back from the store).
Because it reads the store, a batch also covers what a failing poll wrote before it failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .context import TaskContext

#: ids carried in an asset event's extra at most; beyond that consumers re-read the batch from the store
MAX_EVENT_IDS = 5000


def publish_changes(ctx: TaskContext, previous_watermark: int, *, source: str | None = None,
                    report: Mapping[str, Any] | None = None, max_ids: int = MAX_EVENT_IDS) -> dict[str, Any] | None:
    """What ``source`` (every source when None) wrote after ``previous_watermark``, as an event extra; None when
    nothing changed (no event then). ``report`` (the poll's, when it succeeded) adds its counts."""
    pairs, watermark = ctx.store.changes_since(previous_watermark, source=source)
    if not pairs:
        return None
    first_version: dict[str, int] = {}
    for article_id, version in pairs:
        first_version[article_id] = min(version, first_version.get(article_id, version))
    ids = list(first_version)
    new = sum(1 for v in first_version.values() if v == 1)
    extra: dict[str, Any] = {
        "source": source,
        "watermark_from": previous_watermark,
        "watermark": watermark,
        "changes": len(pairs),
        "articles": len(ids),
        "new": new,
        "updated": len(ids) - new,
        "ids": ids[:max_ids],
        "ids_truncated": len(ids) > max_ids,
    }
    if report:
        extra["poll"] = {k: report.get(k, 0) for k in ("polled", "not_modified", "failed", "article_errors")}
    return extra


def batch_ids(ctx: TaskContext, extra: Mapping[str, Any]) -> list[str]:
    """The article ids of one published batch; read back from the store's change log when the extra was capped."""
    if not extra.get("ids_truncated"):
        return list(extra.get("ids") or [])
    pairs, _ = ctx.store.changes_since(int(extra["watermark_from"]), source=extra.get("source"))
    ids: dict[str, None] = {}
    for article_id, _version in pairs[: int(extra["changes"])]:  # ordered: the batch is the first `changes` pairs
        ids.setdefault(article_id, None)
    return list(ids)


def batch_ids_of_events(ctx: TaskContext, extras: list[Mapping[str, Any]]) -> list[str]:
    """The distinct ids of several batches (an asset-triggered run may carry more than one event)."""
    ids: dict[str, None] = {}
    for extra in extras:
        ids.update(dict.fromkeys(batch_ids(ctx, extra)))
    return list(ids)
