"""Errors of the alerts package, placed in regwire's tree (:mod:`pipeline.errors`)::

    RegwireError
    ├── ConfigError
    │   └── AlertDefinitionError    a bad alert definition; names the file, the alert and the field (exit code 2)
    ├── StoreError
    │   └── AlertStoreError         the alert tables could not be read or written
    │       └── AlertNotFoundError  no alert with that name (exit code 1)
    ├── DeliveryError               one channel could not be notified; ``transient`` says whether a retry may help
    └── AlertEvaluationError        some alerts could not be evaluated on a batch (the others were delivered);
                                    ``report`` and ``failed`` tell which; re-running the batch is safe

sqlite3, yaml, pydantic and apprise errors are mapped at the boundary with ``raise ... from``.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, RegwireError, StoreError


class AlertDefinitionError(ConfigError):
    """An alert definition is invalid (refused before anything is stored)."""

    def __init__(self, message: str, *, path: str | None = None, alert: str | None = None, field: str | None = None):
        self.path, self.alert, self.field = path, alert, field
        where = [part for part in (
            path,
            f"alert {alert!r}" if alert is not None else None,
            f"field {field!r}" if field is not None else None,
        ) if part]
        super().__init__(": ".join([*where, message]))


class AlertStoreError(StoreError):
    pass


class AlertNotFoundError(AlertStoreError):
    pass


class DeliveryError(RegwireError):
    """A channel could not be notified. Transient failures are retried with backoff; others are given up at once."""

    def __init__(self, channel: str, reason: str, *, transient: bool = True):
        self.channel, self.reason, self.transient = channel, reason, transient
        super().__init__(f"{channel}: {reason}")


class AlertEvaluationError(RegwireError):
    """Some alerts could not be evaluated on a batch; the rest were recorded and delivered.

    Raised after delivery so that the orchestrator's task fails and is retried: re-running the batch is idempotent,
    so only what was missed gets sent.
    """

    def __init__(self, message: str, *, failed: dict[str, str], report: Any):
        self.failed, self.report = failed, report
        super().__init__(message)
