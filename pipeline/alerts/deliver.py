"""The entry points for orchestrators: evaluate a batch, record what to send, send what is due.

    evaluate_and_deliver(store, alert_store, article_ids, config=...)   after each indexed batch
    deliver_due(alert_store, config=...)                                 on a schedule: digests, retries

Both take the stores they work on (the task layer, :mod:`pipeline.tasks`, gets them from the backend, which also
chooses the evaluator: one search per alert, or the percolator on a search engine with many alerts).

If some alerts cannot be evaluated (a store error), the others are still recorded and delivered, then
:class:`AlertEvaluationError` is raised so that the task fails and is retried.

Exactly once per (alert, article, version-or-'any', channel): rows are recorded with INSERT OR IGNORE before
anything is sent, then claimed with a lease, sent, and marked. A retried task or a replayed batch finds its rows
recorded already and sends nothing again; see :mod:`pipeline.alerts.store` for the one window left.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import AlertEvaluationError, ArticleNotFoundError, DeliveryError, DeliveryOutcomeUnknownError
from ..settings import AlertSettings
from ..store.base import Store
from .channel_secrets import mask_channel
from .channels import AppriseSender, Sender
from .evaluate import Evaluation, Evaluator, SearchEvaluator
from .models import Alert, Delivery, MatchedArticle, Mode
from .render import Message, article_message, digest_message, plain_snippet, snapshot
from .store import AlertStore, PendingDelivery

log = logging.getLogger("regwire.alerts")


def backoff(attempts: int, config: AlertSettings) -> float:
    """Seconds to wait after the ``attempts``-th failed send: base, 2×base, 4×base… up to the cap."""
    return min(config.backoff_max, config.backoff_base * 2 ** max(0, attempts - 1))


def digest_due(mode: Mode, now: datetime) -> datetime:
    """When a digest row recorded at ``now`` is due: the end of its UTC hour or day."""
    now = now.astimezone(UTC)
    if mode is Mode.HOURLY:
        return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if mode is Mode.DAILY:
        return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return now


@dataclass
class AlertRunReport:
    articles: int = 0  #: distinct article ids in the batch
    alerts: int = 0  #: enabled alerts evaluated
    evaluator: str = ""
    evaluation_seconds: float = 0.0
    matches: int = 0  #: (alert, article) pairs that matched
    recorded: int = 0  #: new delivery rows (per channel); the rest were recorded by an earlier run
    duplicates: int = 0
    sent: int = 0  #: messages sent (a digest counts once, however many rows it carries)
    failed: int = 0  #: messages that failed and will be retried
    given_up: int = 0
    #: messages sent without an answer (timeout, dropped connection): maybe delivered, not resent
    unknown: int = 0
    #: alerts that could not be evaluated on this batch (see AlertEvaluationError)
    evaluation_errors: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.given_up == 0 and self.unknown == 0 and not self.evaluation_errors

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def pending_for(alerts: Sequence[Alert], evaluation: Evaluation, store: Store, now: datetime,
                stories: AlertStore | None = None) -> list[PendingDelivery]:
    """The delivery rows an evaluation asks for (article snapshots taken now). With ``stories``, an alert fires once
    per story: an article of a story whose first matching article the alert delivered is folded, not sent."""
    by_name = {a.name: a for a in alerts}
    articles: dict[str, Any] = {}
    for article_id in {i for found in evaluation.matches.values() for i in found}:
        try:
            articles[article_id] = store.get_article(article_id)
        except ArticleNotFoundError:  # deleted between search and now
            articles[article_id] = None

    def head_first(item: tuple[str, str]) -> bool:
        # several articles of one story in a batch: the story's first article is the one delivered (a stable sort:
        # otherwise the evaluation's order stays)
        stored = articles[item[0]]
        return stored is None or stored.story_id not in (None, stored.id)

    pending = []
    for name, found in evaluation.matches.items():
        alert = by_name[name]
        for article_id, snippet in sorted(found.items(), key=head_first):
            stored = articles[article_id]
            if stored is None:
                continue
            if stories is not None and stored.story_id and not stories.claim_story(
                    alert.name, stored.story_id, article_id, now):
                continue
            matched = snapshot(stored, alert, plain_snippet(snippet) if snippet else None)
            key = str(stored.version) if alert.updates else "any"
            due = digest_due(alert.mode, now)
            pending += [PendingDelivery(alert.name, matched, key, channel, alert.mode, due)
                        for channel in alert.channels]
    return pending


def evaluate_and_deliver(store: Store, alert_store: AlertStore, article_ids: Sequence[str], *,
                         config: AlertSettings, now: datetime | None = None, sender: Sender | None = None,
                         choose: Callable[[Sequence[Alert]], Evaluator] | None = None) -> AlertRunReport:
    """Evaluate every enabled alert against the batch's articles, record what to send, and send what is due.

    ``choose`` picks the evaluator for the enabled alerts (the backend's ``evaluator_for``); one search per alert
    when not given. Idempotent: call it again with the same ids (a retried task, a replayed batch) and nothing is
    sent twice.
    """
    now = _now(now)
    alerts = alert_store.list_alerts(enabled_only=True)
    report = AlertRunReport(articles=len(set(article_ids)), alerts=len(alerts))
    if alerts and article_ids:
        evaluator = choose(alerts) if choose is not None else SearchEvaluator(store)
        evaluation = evaluator.evaluate(alerts, article_ids)
        report.evaluator, report.evaluation_seconds = evaluation.method, round(evaluation.seconds, 4)
        report.matches = evaluation.match_count
        report.evaluation_errors = dict(evaluation.errors)
        pending = pending_for(alerts, evaluation, store, now, alert_store)
        report.recorded = alert_store.record(pending, now)
        report.duplicates = len(pending) - report.recorded
        log.info("alerts: %d alert(s) × %d article(s) by %s: %d match(es), %d new delivery row(s)",
                 len(alerts), report.articles, evaluation.method, report.matches, report.recorded)
    _merge(report, deliver_due(alert_store, config=config, now=now, sender=sender))
    if report.evaluation_errors:
        name, reason = next(iter(report.evaluation_errors.items()))
        raise AlertEvaluationError(
            f"{len(report.evaluation_errors)} alert(s) could not be evaluated on this batch of "
            f"{report.articles} article(s); the others were delivered, re-run the batch to catch up. "
            f"First: {name!r}: {reason}", failed=report.evaluation_errors, report=report)
    return report


def _merge(report: AlertRunReport, sent: AlertRunReport) -> None:
    report.sent, report.failed, report.given_up, report.unknown = sent.sent, sent.failed, sent.given_up, sent.unknown
    report.errors.extend(sent.errors)


def deliver_due(alert_store: AlertStore, *, config: AlertSettings, now: datetime | None = None,
                sender: Sender | None = None) -> AlertRunReport:
    """Send every due delivery: immediate ones, digests whose window closed, failed ones whose retry time came."""
    now = _now(now)
    sender = sender or AppriseSender(timeout=config.send_timeout)
    report = AlertRunReport()
    due = alert_store.claim_due(now, config.lease_seconds)
    alerts = {a.name: a for a in alert_store.list_alerts()}
    for alert_name, channel, rows in _group(due):
        alert = alerts.get(alert_name)
        reason = _stale(alert, channel)
        if reason:
            alert_store.mark_given_up([r.id for r in rows], reason, attempted=False)
            report.given_up += 1
            continue
        assert alert is not None
        _send_one(alert_store, sender, alert, channel, rows, now, config, report)
    return report


def _group(due: Sequence[Delivery]) -> list[tuple[str, str, list[Delivery]]]:
    """Immediate rows one by one; digest rows grouped per (alert, channel) into one message."""
    groups: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
    out: list[tuple[str, str, list[Delivery]]] = []
    for row in due:
        if row.mode.is_digest:
            groups[(row.alert, row.channel)].append(row)
        else:
            out.append((row.alert, row.channel, [row]))
    out += [(alert, channel, rows) for (alert, channel), rows in groups.items()]
    return out


def _stale(alert: Alert | None, channel: str) -> str | None:
    if alert is None:
        return "alert removed before delivery"
    if channel not in alert.channels:
        return "channel removed from the alert before delivery"
    if not alert.enabled:
        return "alert disabled before delivery"
    return None


def delivery_key(alert: str, rows: Sequence[tuple[str, str]]) -> str:
    """The idempotency key of a message: alert name + (article id, version or 'any') of each article it carries.

    The same for every send of the same message, whatever the channel, so a receiver that keeps the keys it has seen
    can drop a copy; ``rows`` are (article_id, version_key) pairs."""
    parts = [alert, *(f"{article}\x1f{version}" for article, version in sorted(rows))]
    return "regwire-" + hashlib.sha256("\x1e".join(parts).encode()).hexdigest()[:32]


def message_for(alert: Alert, rows: Sequence[Delivery]) -> Message:
    articles: list[MatchedArticle] = [r.article for r in rows]
    if len(rows) == 1 and not rows[0].mode.is_digest:
        message = article_message(alert, articles[0], updated=rows[0].version_key not in ("any", "1"))
    else:
        message = digest_message(alert, articles)
    key = delivery_key(alert.name, [(r.article_id, r.version_key) for r in rows])
    # the body carries the key too, for channels that take no header (chat, SMS): a bot can still drop a copy
    return replace(message, body=f"{message.body}\n\ndelivery key: {key}", key=key)


def _send_one(alert_store: AlertStore, sender: Sender, alert: Alert, channel: str, rows: list[Delivery],
              now: datetime, config: AlertSettings, report: AlertRunReport) -> None:
    ids = [r.id for r in rows]
    shown = mask_channel(channel)  # a definition stored before the secret rules may hold one in clear
    try:
        try:
            sender.send(channel, message_for(alert, rows))
        except DeliveryError:
            raise
        except Exception as exc:  # a bug in a channel plugin must not stop the other deliveries; retried
            log.exception("alert %r: unexpected error sending to %s", alert.name, shown)
            raise DeliveryError(channel, f"internal error: {type(exc).__name__}: {exc}") from exc
    except DeliveryOutcomeUnknownError as exc:
        # the receiver may have it: resending could deliver a second copy, so it is recorded, not retried
        alert_store.mark_unknown(ids, exc.reason)
        report.unknown += 1
        report.errors.append(f"{alert.name}: {shown}: {exc.reason}")
        log.warning("alert %r: delivery to %s sent, outcome unknown (not resent): %s", alert.name, shown,
                    exc.reason)
        return
    except DeliveryError as exc:
        attempts = max(r.attempts for r in rows) + 1
        if not exc.transient or attempts >= config.max_attempts:
            why = exc.reason if not exc.transient else f"gave up after {attempts} attempt(s): {exc.reason}"
            alert_store.mark_given_up(ids, why)
            report.given_up += 1
            report.errors.append(f"{alert.name}: {shown}: {why}")
            log.warning("alert %r: delivery to %s given up: %s", alert.name, shown, why)
        else:
            next_try = now + timedelta(seconds=backoff(attempts, config))
            alert_store.mark_failed(ids, exc.reason, next_try)
            report.failed += 1
            report.errors.append(f"{alert.name}: {shown}: {exc.reason} (retry at {next_try.isoformat()})")
            log.info("alert %r: delivery to %s failed (attempt %d), retry at %s", alert.name, shown, attempts,
                     next_try)
        return
    # the window: a crash here (sent, not yet marked) means the lease expires and the message is sent again
    alert_store.mark_sent(ids, now)
    report.sent += 1
