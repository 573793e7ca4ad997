"""Alert definitions and the delivery log in the embedded store's SQLite file (own tables, own connection).

The delivery log is the exactly-once mechanism: one row per (alert, article, version or 'any', channel), inserted
with ``INSERT OR IGNORE`` *before* anything is sent. States: pending → sent | failed (attempts, next_try) → given_up.
A sender claims due rows with a lease (``lease_until``) inside ``BEGIN IMMEDIATE``, so two workers never send the
same row; a worker that dies after sending but before recording leaves a row whose lease expires and is sent again
(the only window for a duplicate, documented in docs/alerts.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from ..errors import AlertNotFoundError, AlertStoreError
from ..store.sqlite import SQLiteFile
from .models import STORED, Alert, Delivery, DeliveryState, MatchedArticle, Mode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    name TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_deliveries (
    id INTEGER PRIMARY KEY,
    alert TEXT NOT NULL,
    article_id TEXT NOT NULL,
    version_key TEXT NOT NULL,      -- the article version, or 'any' when the alert ignores updates
    channel TEXT NOT NULL,          -- the channel URL as defined (environment references unexpanded)
    mode TEXT NOT NULL,
    state TEXT NOT NULL,            -- pending | sent | failed | given_up | unknown
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    next_try TEXT NOT NULL,         -- when it is due (digest rows: the end of their window)
    lease_until TEXT,               -- claimed by a sender until then
    sent_at TEXT,
    last_error TEXT,
    article TEXT NOT NULL,          -- MatchedArticle snapshot, rendered into the message
    UNIQUE (alert, article_id, version_key, channel)
);
CREATE INDEX IF NOT EXISTS alert_deliveries_due ON alert_deliveries(state, next_try);
CREATE INDEX IF NOT EXISTS alert_deliveries_alert ON alert_deliveries(alert, id);
CREATE TABLE IF NOT EXISTS alert_story_articles (  -- once per story: which article of a story an alert delivers
    alert TEXT NOT NULL,
    story_id TEXT NOT NULL,
    article_id TEXT NOT NULL,
    role TEXT NOT NULL,             -- delivered | folded (a later article of a story the alert delivered already)
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (alert, story_id, article_id)
) WITHOUT ROWID;
"""

OPEN_STATES = (DeliveryState.PENDING.value, DeliveryState.FAILED.value)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    alert: str
    article: MatchedArticle
    version_key: str
    channel: str
    mode: Mode
    due: datetime


@runtime_checkable
class AlertStore(Protocol):
    """Where definitions and the delivery log live: :class:`SQLiteAlertStore` (embedded) or
    :class:`~pipeline.alerts.engine_store.EngineAlertStore` (Elasticsearch/OpenSearch)."""

    def save_alert(self, alert: Alert, now: datetime) -> bool: ...

    def get_alert(self, name: str) -> Alert: ...

    def list_alerts(self, *, enabled_only: bool = False) -> list[Alert]: ...

    def remove_alert(self, name: str) -> None: ...

    def claim_story(self, alert: str, story_id: str, article_id: str, now: datetime) -> bool:
        """Alerts fire once per story: True when ``article_id`` is (or now becomes) the article ``alert`` delivers
        for ``story_id``; False when another article holds it (this one is recorded as folded into the story)."""

    def folded(self, alert: str) -> dict[str, list[str]]:
        """story id → the articles ``alert`` folded into a story it had delivered already."""

    def record(self, pending: Iterable[PendingDelivery], now: datetime) -> int:
        """Insert rows that do not exist yet (exactly-once key); returns how many were new."""

    def claim_due(self, now: datetime, lease_seconds: float, limit: int = 10_000) -> list[Delivery]:
        """Lease due open rows to the caller; rows leased by another live claim are not returned."""

    def mark_sent(self, ids: Sequence[str], now: datetime) -> None: ...

    def mark_failed(self, ids: Sequence[str], error: str, next_try: datetime) -> None: ...

    def mark_given_up(self, ids: Sequence[str], reason: str, *, attempted: bool = True) -> None: ...

    def mark_unknown(self, ids: Sequence[str], reason: str) -> None:
        """Sent, outcome unknown (the receiver did not answer in time): final, never resent automatically."""

    def deliveries(self, *, alert: str | None = None, state: DeliveryState | None = None,
                   article_id: str | None = None, limit: int = 100) -> list[Delivery]: ...

    def counts(self) -> dict[str, int]: ...

    def close(self) -> None: ...


class SQLiteAlertStore(SQLiteFile):
    """Alerts and deliveries in ``path`` (normally ``settings.db_path``). Thread-safe (one connection, a lock)."""

    error = AlertStoreError

    def __init__(self, path: str | Path):
        super().__init__(path, _SCHEMA)

    def _run(self, work: Any) -> Any:
        """``work(connection)`` inside one transaction."""
        with self._transaction() as db:
            return work(db)

    # -- definitions ----------------------------------------------------------------------------------------------

    def save_alert(self, alert: Alert, now: datetime) -> bool:
        """Insert or replace an alert by name; True when it was new."""
        def work(db: sqlite3.Connection) -> bool:
            existed = db.execute("SELECT 1 FROM alerts WHERE name = ?", (alert.name,)).fetchone() is not None
            db.execute("INSERT INTO alerts (name, doc, created_at, updated_at) VALUES (?,?,?,?) ON CONFLICT(name)"
                       " DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
                       (alert.name, alert.model_dump_json(), _iso(now), _iso(now)))
            return not existed
        return bool(self._run(work))

    def get_alert(self, name: str) -> Alert:
        rows = self._query("SELECT doc FROM alerts WHERE name = ?", (name,))
        if not rows:
            raise AlertNotFoundError(f"no alert named {name!r}")
        return self._alert(rows[0]["doc"])

    def list_alerts(self, *, enabled_only: bool = False) -> list[Alert]:
        alerts = [self._alert(r["doc"]) for r in self._query("SELECT doc FROM alerts ORDER BY name")]
        return [a for a in alerts if a.enabled or not enabled_only]

    def remove_alert(self, name: str) -> None:
        """Remove the definition; its delivery log stays (open rows are given up when next due)."""
        if not self._query("DELETE FROM alerts WHERE name = ? RETURNING name", (name,)):
            raise AlertNotFoundError(f"no alert named {name!r}")

    def _alert(self, doc: str) -> Alert:
        try:
            return Alert.model_validate_json(doc, context={STORED: True})
        except ValidationError as exc:  # a definition stored by an older, laxer version
            # the messages only: pydantic's own text quotes the input, which may hold a channel's secret
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
            raise AlertStoreError(f"{self.path}: stored alert cannot be read: {problems}") from exc

    # -- deliveries -----------------------------------------------------------------------------------------------

    def claim_story(self, alert: str, story_id: str, article_id: str, now: datetime) -> bool:
        """True when ``article_id`` is the article ``alert`` delivers for ``story_id`` (the first one to claim it);
        False when another article of the story holds it (this one is recorded as folded into the story)."""
        def work(db: sqlite3.Connection) -> bool:
            holder = db.execute("SELECT article_id FROM alert_story_articles WHERE alert = ? AND story_id = ? AND"
                                " role = 'delivered'", (alert, story_id)).fetchone()
            role = "delivered" if holder is None or holder["article_id"] == article_id else "folded"
            db.execute("INSERT OR IGNORE INTO alert_story_articles VALUES (?,?,?,?,?)",
                       (alert, story_id, article_id, role, _iso(now)))
            return role == "delivered"
        return bool(self._run(work))

    def folded(self, alert: str) -> dict[str, list[str]]:
        """story id → the articles of it that ``alert`` did not deliver again, because it delivered the story."""
        out: dict[str, list[str]] = {}
        for row in self._query("SELECT story_id, article_id FROM alert_story_articles WHERE alert = ? AND"
                               " role = 'folded' ORDER BY story_id, recorded_at, article_id", (alert,)):
            out.setdefault(row["story_id"], []).append(row["article_id"])
        return out

    def record(self, pending: Iterable[PendingDelivery], now: datetime) -> int:
        """Record deliveries to make, once: rows that exist already are left alone. Returns how many were new."""
        rows = [(p.alert, p.article.id, p.version_key, p.channel, p.mode.value, DeliveryState.PENDING.value,
                 _iso(now), _iso(p.due), p.article.model_dump_json()) for p in pending]

        def work(db: sqlite3.Connection) -> int:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO alert_deliveries (alert, article_id, version_key, channel, mode, state,"
                " created_at, next_try, article) VALUES (?,?,?,?,?,?,?,?,?)", rows)
            return db.total_changes - before
        return int(self._run(work)) if rows else 0

    def claim_due(self, now: datetime, lease_seconds: float, limit: int = 10_000) -> list[Delivery]:
        """Due open rows (pending or failed, next_try <= now, no live lease), leased to the caller."""
        until = _iso(now + timedelta(seconds=lease_seconds))

        def work(db: sqlite3.Connection) -> list[sqlite3.Row]:
            return db.execute(
                "UPDATE alert_deliveries SET lease_until = ? WHERE id IN (SELECT id FROM alert_deliveries"
                " WHERE state IN (?, ?) AND next_try <= ? AND (lease_until IS NULL OR lease_until <= ?)"
                " ORDER BY id LIMIT ?) RETURNING *", (until, *OPEN_STATES, _iso(now), _iso(now), limit)).fetchall()
        rows = self._run(work)
        return sorted((self._delivery(r) for r in rows), key=lambda d: int(d.id))

    def mark_sent(self, ids: Sequence[str], now: datetime) -> None:
        self._update(ids, "state = ?, sent_at = ?, attempts = attempts + 1, lease_until = NULL, last_error = NULL",
                     (DeliveryState.SENT.value, _iso(now)))

    def mark_failed(self, ids: Sequence[str], error: str, next_try: datetime) -> None:
        self._update(ids, "state = ?, next_try = ?, attempts = attempts + 1, lease_until = NULL, last_error = ?",
                     (DeliveryState.FAILED.value, _iso(next_try), error))

    def mark_given_up(self, ids: Sequence[str], reason: str, *, attempted: bool = True) -> None:
        bump = ", attempts = attempts + 1" if attempted else ""
        self._update(ids, f"state = ?, lease_until = NULL, last_error = ?{bump}",
                     (DeliveryState.GIVEN_UP.value, reason))

    def mark_unknown(self, ids: Sequence[str], reason: str) -> None:
        self._update(ids, "state = ?, lease_until = NULL, last_error = ?, attempts = attempts + 1",
                     (DeliveryState.UNKNOWN.value, reason))

    def _update(self, ids: Sequence[str], assignments: str, params: tuple[Any, ...]) -> None:
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        self._run(lambda db: db.execute(
            f"UPDATE alert_deliveries SET {assignments} WHERE id IN ({marks})", (*params, *map(int, ids))))

    def deliveries(self, *, alert: str | None = None, state: DeliveryState | None = None,
                   article_id: str | None = None, limit: int = 100) -> list[Delivery]:
        """The delivery log, newest first."""
        where, params = [], []
        for column, value in (("alert", alert), ("state", state.value if state else None),
                              ("article_id", article_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._query(f"SELECT * FROM alert_deliveries{clause} ORDER BY id DESC LIMIT ?", [*params, limit])
        return [self._delivery(r) for r in rows]

    def counts(self) -> dict[str, int]:
        return {r["state"]: r["n"] for r in self._query(
            "SELECT state, count(*) AS n FROM alert_deliveries GROUP BY state")}

    @staticmethod
    def _delivery(row: sqlite3.Row) -> Delivery:
        return Delivery(
            id=str(row["id"]), alert=row["alert"], article_id=row["article_id"], version_key=row["version_key"],
            channel=row["channel"], mode=Mode(row["mode"]), state=DeliveryState(row["state"]),
            attempts=row["attempts"], created_at=datetime.fromisoformat(row["created_at"]),
            next_try=datetime.fromisoformat(row["next_try"]),
            sent_at=datetime.fromisoformat(row["sent_at"]) if row["sent_at"] else None,
            last_error=row["last_error"], article=MatchedArticle.model_validate_json(row["article"]),
        )
