"""WebSub subscriptions, kept beside the embedded store: one small SQLite file, ``REGWIRE_HOME/websub.db``.

Each subscription has its own id (the last segment of its callback URL, so a notification names its subscription
without trusting anything in the body) and its own secret (the key of the hub's ``X-Hub-Signature`` HMAC). Secrets
never leave this file and the hub; they are not logged. Whatever the search backend is, subscriptions live here: they
belong to the process that serves the callback, not to the index.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..errors import StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL UNIQUE,
    hub TEXT NOT NULL,
    source TEXT NOT NULL,
    secret TEXT NOT NULL,
    callback TEXT NOT NULL,
    state TEXT NOT NULL,               -- pending, active, denied, unsubscribed
    lease_seconds INTEGER,
    expires_at TEXT,
    requested_at TEXT NOT NULL,
    verified_at TEXT,
    reason TEXT,
    notifications INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    topic: str
    hub: str
    source: str
    secret: str
    callback: str
    state: str
    lease_seconds: int | None
    expires_at: datetime | None
    requested_at: datetime
    verified_at: datetime | None
    reason: str | None
    notifications: int
    rejected: int

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"Subscription(id={self.id!r}, topic={self.topic!r}, hub={self.hub!r}, state={self.state!r})"


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SubscriptionStore:
    """Thread-safe: one connection, one lock (callbacks arrive on the web app's threads)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"WebSub subscriptions {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    @classmethod
    def in_home(cls, home: Path) -> SubscriptionStore:
        return cls(Path(home) / "websub.db")

    def close(self) -> None:
        self._db.close()

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"WebSub subscriptions {self.path}: {exc}") from exc

    @staticmethod
    def _row(row: sqlite3.Row) -> Subscription:
        return Subscription(
            id=row["id"], topic=row["topic"], hub=row["hub"], source=row["source"], secret=row["secret"],
            callback=row["callback"], state=row["state"], lease_seconds=row["lease_seconds"],
            expires_at=_when(row["expires_at"]), requested_at=_when(row["requested_at"]) or datetime.now(UTC),
            verified_at=_when(row["verified_at"]), reason=row["reason"], notifications=row["notifications"],
            rejected=row["rejected"])

    def requested(self, *, id: str, topic: str, hub: str, source: str, secret: str, callback: str,  # noqa: A002
                  now: datetime) -> Subscription:
        """Record a subscription request (a renewal keeps the id, the secret and the current lease)."""
        self._run("""INSERT INTO subscriptions (id, topic, hub, source, secret, callback, state, requested_at)
                     VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)
                     ON CONFLICT(topic) DO UPDATE SET hub = excluded.hub, source = excluded.source,
                       requested_at = excluded.requested_at, reason = NULL,
                       state = CASE WHEN state = 'active' THEN 'active' ELSE 'pending' END""",
                  (id, topic, hub, source, secret, callback, now.isoformat()))
        found = self.by_topic(topic)
        assert found is not None
        return found

    def by_id(self, subscription_id: str) -> Subscription | None:
        rows = self._run("SELECT * FROM subscriptions WHERE id = ?", (subscription_id,))
        return self._row(rows[0]) if rows else None

    def by_topic(self, topic: str) -> Subscription | None:
        rows = self._run("SELECT * FROM subscriptions WHERE topic = ?", (topic,))
        return self._row(rows[0]) if rows else None

    def all(self) -> list[Subscription]:
        return [self._row(r) for r in self._run("SELECT * FROM subscriptions ORDER BY topic")]

    def verified(self, subscription_id: str, lease_seconds: int | None, now: datetime) -> None:
        expires = (now + timedelta(seconds=lease_seconds)).isoformat() if lease_seconds else None
        self._run("""UPDATE subscriptions SET state = 'active', lease_seconds = ?, expires_at = ?, verified_at = ?,
                     reason = NULL WHERE id = ?""", (lease_seconds, expires, now.isoformat(), subscription_id))

    def set_state(self, subscription_id: str, state: str, reason: str | None = None) -> None:
        self._run("UPDATE subscriptions SET state = ?, reason = ? WHERE id = ?", (state, reason, subscription_id))

    def count_notification(self, subscription_id: str, *, accepted: bool) -> None:
        column = "notifications" if accepted else "rejected"
        self._run(f"UPDATE subscriptions SET {column} = {column} + 1 WHERE id = ?", (subscription_id,))

    def expiring(self, before: datetime) -> list[Subscription]:
        """Active subscriptions whose lease ends before ``before`` (to renew)."""
        rows = self._run("""SELECT * FROM subscriptions WHERE state = 'active' AND expires_at IS NOT NULL
                            AND expires_at < ? ORDER BY expires_at""", (before.isoformat(),))
        return [self._row(r) for r in rows]
