"""The alert-store contract, on the embedded SQLite file and on a real OpenSearch node: definitions, exactly-once
recording, leases that keep concurrent workers apart, marks and the log."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.alerts import (
    Alert,
    AlertNotFoundError,
    AlertStore,
    DeliveryState,
    EngineAlertStore,
    MatchedArticle,
    Mode,
    SQLiteAlertStore,
)
from pipeline.alerts.store import PendingDelivery
from pipeline.store import EngineBackend

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ALERT = Alert(name="Kazakhstan fiat-ramp", owner="desk", q="Kazakhstan", topics=["fiat-ramp"],
              channels=["json://127.0.0.1:9/a", "mmost://127.0.0.1:9/${T}"])


@pytest.fixture(params=["sqlite", pytest.param("opensearch", marks=pytest.mark.slow)])
def alert_store(request, tmp_path):
    if request.param == "sqlite":
        store: AlertStore = SQLiteAlertStore(tmp_path / "alerts.db")
        yield store
        store.close()
        return
    from searchnode import shared_search_node
    from test_store_contract import drop_prefix, make_search_store

    engine = make_search_store("opensearch", shared_search_node().url)
    store = EngineBackend(engine).alert_store()
    assert isinstance(store, EngineAlertStore)
    yield store
    drop_prefix(engine)
    engine.close()


def pending(n: int, *, alert: str = ALERT.name, version_key: str = "any", due: datetime = T0):
    return [PendingDelivery(alert, MatchedArticle(id=f"art{i:03d}", version=1, title=f"Article {i}",
                                                  url=f"http://127.0.0.1/{i}", source="desk"),
                            version_key, channel, Mode.IMMEDIATE, due)
            for i in range(n) for channel in ALERT.channels]


def test_definitions(alert_store):
    assert alert_store.save_alert(ALERT, T0) is True
    assert alert_store.save_alert(ALERT.model_copy(update={"enabled": False}), T0) is False
    assert alert_store.get_alert(ALERT.name).enabled is False
    assert [a.name for a in alert_store.list_alerts()] == [ALERT.name]
    assert alert_store.list_alerts(enabled_only=True) == []
    alert_store.remove_alert(ALERT.name)
    with pytest.raises(AlertNotFoundError):
        alert_store.get_alert(ALERT.name)
    with pytest.raises(AlertNotFoundError):
        alert_store.remove_alert(ALERT.name)


def test_recording_is_exactly_once_and_claims_are_exclusive(alert_store):
    assert alert_store.record(pending(3), T0) == 6
    assert alert_store.record(pending(3), T0 + timedelta(minutes=1)) == 0  # a replayed batch
    assert alert_store.record(pending(3, version_key="2"), T0) == 6  # another version is another delivery
    later = [p for p in pending(4, due=T0 + timedelta(hours=1)) if p.article.id == "art003"]  # a digest row
    assert alert_store.record(later, T0) == 2
    claimed = alert_store.claim_due(T0, lease_seconds=60)
    assert len(claimed) == 12 and all(d.state is DeliveryState.PENDING for d in claimed)
    assert alert_store.claim_due(T0 + timedelta(seconds=30), lease_seconds=60) == []  # leased
    first, second, third, *rest = claimed
    alert_store.mark_sent([first.id], T0)
    alert_store.mark_failed([second.id], "HTTP 500", T0 + timedelta(minutes=5))
    alert_store.mark_given_up([third.id], "environment variable(s) not set: T")
    # the lease of the rest expired (a worker died): they are claimable again; the failed row is not due yet
    again = alert_store.claim_due(T0 + timedelta(seconds=61), lease_seconds=3600)
    assert {d.id for d in again} == {d.id for d in rest}
    retry = alert_store.claim_due(T0 + timedelta(minutes=5), lease_seconds=7200)
    assert [d.id for d in retry] == [second.id] and retry[0].state is DeliveryState.FAILED
    assert retry[0].attempts == 1 and retry[0].last_error == "HTTP 500"
    log = {d.id: d for d in alert_store.deliveries(limit=100)}
    assert log[first.id].state is DeliveryState.SENT and log[first.id].sent_at == T0
    assert log[third.id].state is DeliveryState.GIVEN_UP and log[third.id].attempts == 1
    assert alert_store.counts() == {"sent": 1, "failed": 1, "given_up": 1, "pending": 11}
    assert len(alert_store.deliveries(state=DeliveryState.PENDING, article_id="art003")) == 2
    assert [d.article_id for d in alert_store.claim_due(T0 + timedelta(hours=1), lease_seconds=60)] == ["art003"] * 2


def test_concurrent_claims_never_overlap(alert_store):
    alert_store.record(pending(25), T0)
    got: list[list[str]] = []
    lock = threading.Lock()

    def worker() -> None:
        ids = [d.id for d in alert_store.claim_due(T0, lease_seconds=600)]
        with lock:
            got.append(ids)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [i for ids in got for i in ids]
    assert len(flat) == len(set(flat)) == 50


def test_unknown_outcome_is_final_until_queued_again_and_old_definitions_still_load(alert_store):
    alert_store.record(pending(1), T0)
    first, second = alert_store.claim_due(T0, lease_seconds=60)
    alert_store.mark_unknown([first.id], "sent, outcome unknown (no answer within 10 s): Read timed out")
    alert_store.mark_sent([second.id], T0)
    # neither the lease expiring nor any later run claims it: it may have arrived
    assert alert_store.claim_due(T0 + timedelta(days=1), lease_seconds=60) == []
    (row,) = alert_store.deliveries(state=DeliveryState.UNKNOWN)
    assert row.id == first.id and row.attempts == 1 and "outcome unknown" in (row.last_error or "")
    alert_store.mark_failed([first.id], "queued again by hand (alerts resend)", T0)  # what `alerts resend` does
    assert [d.id for d in alert_store.claim_due(T0 + timedelta(days=1), lease_seconds=60)] == [first.id]
    # a definition saved before the secret rules were strict (a token in clear) still loads, for delivery and show
    clear = "json://127.0.0.1:9/hook?+Authorization=Bearer%20s3cr3tT0kenABCD9876"
    legacy = Alert.model_construct(**{**ALERT.model_dump(), "name": "old", "channels": [clear]})
    alert_store.save_alert(legacy, T0)
    assert alert_store.get_alert("old").channels == [clear]
    assert alert_store.get_alert("old").shown()["channels"] == ["json://127.0.0.1:9/hook?+Authorization=***"]
