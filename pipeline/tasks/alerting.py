"""The alert tasks: evaluate a batch of new or updated articles against every alert and deliver; send what is due
(digests whose window closed, retries). Both run on the backend's alert store, with its choice of evaluator."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from ..logs import log_context
from .context import TaskContext

if TYPE_CHECKING:
    from ..alerts import AlertRunReport, Sender


def evaluate_alerts(ctx: TaskContext, article_ids: Sequence[str], *, sender: Sender | None = None,
                    now: datetime | None = None) -> AlertRunReport:
    """Evaluate every enabled alert on these articles and deliver, once per (alert, article).

    Safe to retry: the delivery log makes a replayed batch send nothing twice. Raises
    :class:`~pipeline.errors.AlertEvaluationError` (after delivering the rest) when some alerts failed.
    """
    from ..alerts import evaluate_and_deliver

    config = ctx.settings.alerts
    with log_context(stage="alerts"):
        return evaluate_and_deliver(ctx.store, ctx.backend.alert_store(), list(dict.fromkeys(article_ids)),
                                    config=config, now=now or ctx.clock(), sender=sender,
                                    choose=lambda alerts: ctx.backend.evaluator_for(alerts, config))


def deliver_alerts(ctx: TaskContext, *, sender: Sender | None = None, now: datetime | None = None) -> AlertRunReport:
    """Send what is due without a new batch: digests whose window closed and failed deliveries due for a retry."""
    from ..alerts import deliver_due

    with log_context(stage="alerts"):
        return deliver_due(ctx.backend.alert_store(), config=ctx.settings.alerts, now=now or ctx.clock(),
                           sender=sender)
