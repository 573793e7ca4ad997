"""The task layer: the units of work the command line and the Airflow DAGs both run, each over a
:class:`TaskContext` (settings, backend, fetcher, tagger) opened by :func:`task_context`.

    poll_source(ctx, source)            one source's due feeds → fetch → extract → tag → store
    poll_sources(ctx, sources)          every source, a few at a time (``regwire run``)
    publish_changes(ctx, watermark)     what a source wrote since its last batch, as an asset event's extra
    evaluate_alerts(ctx, ids)           alerts on a batch, delivered once per (alert, article)
    deliver_alerts(ctx)                 digests and retries that are due
    quality_report(ctx, ids)            extraction and tagging numbers of a batch
    maintenance(ctx)                    suspended feeds, old versions, index migrations, dead letters
    feed_health(ctx)                    feeds failing, backing off, suspended or disabled

Nothing here imports Airflow; :mod:`pipeline.airflow_helper` adapts these to Airflow tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["deliver_alerts", "evaluate_alerts"], ".alerting"),
    **dict.fromkeys(["TaskContext", "task_context"], ".context"),
    **dict.fromkeys(["feed_health", "unhealthy_reason"], ".health"),
    **dict.fromkeys(["maintenance", "recheck_suspended"], ".maintenance"),
    **dict.fromkeys(["enabled_sources", "load_source", "poll_source", "poll_sources", "raise_if_failed"], ".poll"),
    **dict.fromkeys(["MAX_EVENT_IDS", "batch_ids", "batch_ids_of_events", "publish_changes"], ".publish"),
    **dict.fromkeys(["quality_report"], ".quality"),
    **dict.fromkeys(["SourceReport"], ".report"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "MAX_EVENT_IDS",
    "SourceReport",
    "TaskContext",
    "batch_ids",
    "batch_ids_of_events",
    "deliver_alerts",
    "enabled_sources",
    "evaluate_alerts",
    "feed_health",
    "load_source",
    "maintenance",
    "poll_source",
    "poll_sources",
    "publish_changes",
    "quality_report",
    "raise_if_failed",
    "recheck_suspended",
    "task_context",
    "unhealthy_reason",
]

if TYPE_CHECKING:
    from .alerting import deliver_alerts, evaluate_alerts
    from .context import TaskContext, task_context
    from .health import feed_health, unhealthy_reason
    from .maintenance import maintenance, recheck_suspended
    from .poll import enabled_sources, load_source, poll_source, poll_sources, raise_if_failed
    from .publish import MAX_EVENT_IDS, batch_ids, batch_ids_of_events, publish_changes
    from .quality import quality_report
    from .report import SourceReport
