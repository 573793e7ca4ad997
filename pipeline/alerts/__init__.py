"""Alerts: saved searches evaluated on every new batch, delivered once per (alert, article), through apprise.

The task layer (:mod:`pipeline.tasks`) calls :func:`evaluate_and_deliver` after each indexed batch and
:func:`deliver_due` on a schedule (digests, retries). Definitions and the delivery log live next to the articles:
the embedded store's SQLite file (:class:`SQLiteAlertStore`) or the search engine (:class:`EngineAlertStore`), as the
backend (:func:`pipeline.store.open_backend`) decides; they can come from YAML (:func:`load_alerts`). On
Elasticsearch/OpenSearch, :class:`PercolatorEvaluator` matches a batch against every alert at once. See
docs/alerts.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys([
        "AlertDefinitionError", "AlertEvaluationError", "AlertNotFoundError", "AlertStoreError", "DeliveryError",
        "DeliveryOutcomeUnknownError",
    ], "..errors"),
    **dict.fromkeys(["AppriseSender", "Sender", "expand"], ".channels"),
    **dict.fromkeys(["AlertRunReport", "deliver_due", "evaluate_and_deliver"], ".deliver"),
    **dict.fromkeys(["EngineAlertStore"], ".engine_store"),
    **dict.fromkeys(["Evaluation", "Evaluator", "SearchEvaluator"], ".evaluate"),
    **dict.fromkeys(["alert_from_dict", "load_alerts"], ".loader"),
    **dict.fromkeys(["Alert", "Delivery", "DeliveryState", "MatchedArticle", "Mode"], ".models"),
    **dict.fromkeys(["PercolatorEvaluator"], ".percolator"),
    **dict.fromkeys(["Message", "article_message", "digest_message"], ".render"),
    **dict.fromkeys(["AlertStore", "SQLiteAlertStore"], ".store"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "Alert",
    "AlertDefinitionError",
    "AlertEvaluationError",
    "AlertNotFoundError",
    "AlertRunReport",
    "AlertStore",
    "AlertStoreError",
    "AppriseSender",
    "Delivery",
    "DeliveryError",
    "DeliveryOutcomeUnknownError",
    "DeliveryState",
    "EngineAlertStore",
    "Evaluation",
    "Evaluator",
    "MatchedArticle",
    "Message",
    "Mode",
    "PercolatorEvaluator",
    "SQLiteAlertStore",
    "SearchEvaluator",
    "Sender",
    "alert_from_dict",
    "article_message",
    "deliver_due",
    "digest_message",
    "evaluate_and_deliver",
    "expand",
    "load_alerts",
]

if TYPE_CHECKING:
    from ..errors import (
        AlertDefinitionError,
        AlertEvaluationError,
        AlertNotFoundError,
        AlertStoreError,
        DeliveryError,
        DeliveryOutcomeUnknownError,
    )
    from .channels import AppriseSender, Sender, expand
    from .deliver import AlertRunReport, deliver_due, evaluate_and_deliver
    from .engine_store import EngineAlertStore
    from .evaluate import Evaluation, Evaluator, SearchEvaluator
    from .loader import alert_from_dict, load_alerts
    from .models import Alert, Delivery, DeliveryState, MatchedArticle, Mode
    from .percolator import PercolatorEvaluator
    from .render import Message, article_message, digest_message
    from .store import AlertStore, SQLiteAlertStore
