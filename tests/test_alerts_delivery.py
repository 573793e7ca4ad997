"""The delivery state machine: pending → sent | failed (attempts, next_try) → given_up, with an injected clock.

Articles are written straight into the embedded store (tagged by the real tagger); channels are real apprise URLs
on a loopback webhook, or a recording sender where only the bookkeeping is under test.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
from test_alerts_loopback import LOOPBACK_HOSTS, WebhookReceiver

from pipeline.alerts import (
    Alert,
    AlertEvaluationError,
    AppriseSender,
    DeliveryError,
    DeliveryState,
    Message,
    Mode,
    SQLiteAlertStore,
    deliver_due,
    evaluate_and_deliver,
)
from pipeline.errors import StoreError
from pipeline.models import Article
from pipeline.settings import AlertSettings
from pipeline.store import SQLiteStore
from pipeline.store.base import ArticleWrite
from pipeline.tagging import default_tagger

T0 = datetime(2026, 11, 24, 9, 10, tzinfo=UTC)
KZ_TEXT = ("Kazakhstan's president said the country is ready to legalise crypto-to-cash conversion through local "
           "banks, letting holders convert cryptocurrency into fiat under the AIFC regime. ") * 3


class Recorder:
    """A sender that records messages; ``fail`` makes it raise (transient unless told otherwise)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Message]] = []
        self.fail: DeliveryError | None = None
        self.lock = threading.Lock()

    def send(self, channel: str, message: Message) -> None:
        if self.fail is not None:
            raise self.fail
        with self.lock:
            self.sent.append((channel, message))


@pytest.fixture
def stores(settings):
    with SQLiteStore(settings.db_path) as store, SQLiteAlertStore(settings.db_path) as alerts:
        yield store, alerts


def distinct_tail(slug: str) -> str:
    """Words only this slug's article has: the articles of these tests are distinct events, so each must stay its own
    story (alerts fire once per story, docs/stories.md); the same slug keeps its tail across versions."""
    return " ".join(hashlib.sha1(f"{slug}:{i}".encode()).hexdigest()[:10] for i in range(80))


def write(store: SQLiteStore, slug: str, title: str, text: str = KZ_TEXT) -> str:
    text = f"{text}\n{distinct_tail(slug)}"
    article = Article(url=f"http://127.0.0.1/{slug}", canonical_url=f"http://127.0.0.1/{slug}", title=title,
                      text=text, published=T0 - timedelta(hours=1))
    tags = default_tagger().tag(title, text)
    (result,) = store.write_articles([ArticleWrite(article=article, source="desk", fetched_at=T0, tags=tags)])
    return result.id


def kz_alert(**overrides) -> Alert:
    fields = {"name": "kz", "owner": "desk", "q": "Kazakhstan", "topics": ["fiat-ramp"], "channels": ["json://127.0.0.1:9/a"]}
    return Alert(**{**fields, **overrides})


def test_retried_task_and_replayed_batch_send_nothing_twice(settings, stores):
    store, alerts = stores
    alerts.save_alert(kz_alert(channels=["json://127.0.0.1:9/a", "json://127.0.0.1:9/b"]), T0)
    ids = [write(store, "kz", "Kazakhstan opens crypto-to-cash desks"), write(store, "eu", "EU ministers meet",
                                                                              "Nothing about this topic. " * 10)]
    sender = Recorder()
    first = evaluate_and_deliver(store, alerts, ids, config=settings.alerts, now=T0, sender=sender)
    assert (first.matches, first.recorded, first.sent) == (1, 2, 2)
    for minutes in (1, 2):
        again = evaluate_and_deliver(store, alerts, ids, config=settings.alerts, now=T0 + timedelta(minutes=minutes), sender=sender)
        assert (again.recorded, again.duplicates, again.sent) == (0, 2, 0)
    assert sorted(c for c, _ in sender.sent) == ["json://127.0.0.1:9/a", "json://127.0.0.1:9/b"]


def test_backoff_then_success_then_give_up(settings, stores):
    store, alerts = stores
    config = AlertSettings(max_attempts=3, backoff_base=60, backoff_max=600)
    with WebhookReceiver() as hook:
        alerts.save_alert(kz_alert(channels=[f"json://127.0.0.1:{hook.port}/flaky"]), T0)
        ids = [write(store, "kz", "Kazakhstan opens crypto-to-cash desks")]
        sender = AppriseSender(env={}, allowed_hosts=LOOPBACK_HOSTS)
        hook.fail_next = 2
        assert evaluate_and_deliver(store, alerts, ids, config=config, now=T0, sender=sender).failed == 1
        (row,) = alerts.deliveries()
        assert row.state is DeliveryState.FAILED and row.attempts == 1 and row.next_try == T0 + timedelta(seconds=60)
        assert "500" in (row.last_error or "")
        assert deliver_due(alerts, config=config, now=T0 + timedelta(seconds=59), sender=sender).failed == 0  # not due yet
        assert deliver_due(alerts, config=config, now=T0 + timedelta(seconds=60), sender=sender).failed == 1
        (row,) = alerts.deliveries()
        assert row.attempts == 2 and row.next_try == T0 + timedelta(seconds=180)  # doubled
        assert deliver_due(alerts, config=config, now=T0 + timedelta(seconds=180), sender=sender).sent == 1
        (row,) = alerts.deliveries()
        assert row.state is DeliveryState.SENT and row.attempts == 3 and len(hook.on("/flaky")) == 1

        hook.fail_always = True
        ids = [write(store, "kz2", "Kazakhstan licenses crypto-to-cash exchanges")]
        now = T0 + timedelta(hours=1)
        for _attempt in range(3):
            report = evaluate_and_deliver(store, alerts, ids, config=config, now=now, sender=sender)
            now += timedelta(seconds=600)
        assert report.given_up == 1 and report.failed == 0
        given_up = alerts.deliveries(state=DeliveryState.GIVEN_UP)
        assert len(given_up) == 1 and given_up[0].attempts == 3
        assert given_up[0].last_error.startswith("gave up after 3 attempt(s):") and "500" in given_up[0].last_error
        assert deliver_due(alerts, config=settings.alerts, now=now + timedelta(days=1), sender=sender).sent == 0


def test_permanent_errors_are_given_up_at_once_with_the_reason(settings, stores):
    store, alerts = stores
    alerts.save_alert(kz_alert(channels=["mmost://127.0.0.1:9/${REGWIRE_UNSET_TOKEN}"]), T0)
    ids = [write(store, "kz", "Kazakhstan opens crypto-to-cash desks")]
    report = evaluate_and_deliver(store, alerts, ids, config=settings.alerts, now=T0, sender=AppriseSender(env={}, allowed_hosts=LOOPBACK_HOSTS))
    assert report.given_up == 1
    (row,) = alerts.deliveries()
    assert row.state is DeliveryState.GIVEN_UP and "REGWIRE_UNSET_TOKEN" in row.last_error


def test_updates_realert_only_when_the_alert_asks(settings, stores):
    store, alerts = stores
    alerts.save_alert(kz_alert(name="once"), T0)
    alerts.save_alert(kz_alert(name="every-version", updates=True), T0)
    sender = Recorder()
    first = write(store, "kz", "Kazakhstan opens crypto-to-cash desks")
    evaluate_and_deliver(store, alerts, [first], config=settings.alerts, now=T0, sender=sender)
    updated = write(store, "kz", "Kazakhstan opens crypto-to-cash desks", KZ_TEXT + "Update: the AIFC confirmed it.")
    assert updated == first and store.get_article(first).version == 2
    report = evaluate_and_deliver(store, alerts, [updated], config=settings.alerts, now=T0 + timedelta(minutes=5), sender=sender)
    assert report.matches == 2 and report.recorded == 1 and report.sent == 1
    titles = sorted((m.title, "(updated)" in m.body) for _, m in sender.sent)
    assert titles == [("[every-version] Kazakhstan opens crypto-to-cash desks", False),
                      ("[every-version] Kazakhstan opens crypto-to-cash desks", True),
                      ("[once] Kazakhstan opens crypto-to-cash desks", False)]


def test_hourly_digest_groups_by_alert_and_is_sent_once_when_the_hour_ends(settings, stores):
    store, alerts = stores
    alerts.save_alert(kz_alert(name="kz-digest", mode=Mode.HOURLY, channels=["json://127.0.0.1:9/a",
                                                                              "json://127.0.0.1:9/b"]), T0)
    alerts.save_alert(kz_alert(name="kz-now"), T0)
    sender = Recorder()
    one = write(store, "kz1", "Kazakhstan opens crypto-to-cash desks")
    evaluate_and_deliver(store, alerts, [one], config=settings.alerts, now=T0, sender=sender)
    two = write(store, "kz2", "Kazakhstan licenses crypto-to-cash exchanges")
    evaluate_and_deliver(store, alerts, [two], config=settings.alerts, now=T0 + timedelta(minutes=20), sender=sender)
    assert [m.title.split("]")[0] for _, m in sender.sent] == ["[kz-now", "[kz-now"]
    sender.sent.clear()
    assert deliver_due(alerts, config=settings.alerts, now=T0 + timedelta(minutes=49), sender=sender).sent == 0
    report = deliver_due(alerts, config=settings.alerts, now=T0 + timedelta(minutes=50), sender=sender)  # 10:00
    assert report.sent == 2 and sorted(c for c, _ in sender.sent) == ["json://127.0.0.1:9/a", "json://127.0.0.1:9/b"]
    digest = sender.sent[0][1]
    assert digest.title == "[kz-digest] digest: 2 article(s)"
    assert "opens crypto-to-cash desks" in digest.body and "licenses crypto-to-cash exchanges" in digest.body
    assert deliver_due(alerts, config=settings.alerts, now=T0 + timedelta(hours=2), sender=sender).sent == 0


def test_removed_or_changed_alerts_do_not_send_stale_rows(settings, stores):
    store, alerts = stores
    alerts.save_alert(kz_alert(mode=Mode.DAILY), T0)
    evaluate_and_deliver(store, alerts, [write(store, "kz", "Kazakhstan opens crypto-to-cash desks")], config=settings.alerts, now=T0, sender=Recorder())
    alerts.remove_alert("kz")
    report = deliver_due(alerts, config=settings.alerts, now=T0 + timedelta(days=1), sender=Recorder())
    assert report.given_up == 1
    assert alerts.deliveries()[0].last_error == "alert removed before delivery"


def test_concurrent_workers_send_each_delivery_once(settings, stores):
    store, alerts = stores
    alerts.save_alert(kz_alert(channels=[f"json://127.0.0.1:9/{i}" for i in range(20)]), T0)
    ids = [write(store, f"kz{i}", f"Kazakhstan crypto-to-cash desk number {i}") for i in range(5)]
    sender = Recorder()
    with pytest.raises(WorkerDied):  # rows recorded and claimed, then the worker dies before anything is marked
        evaluate_and_deliver(store, alerts, ids, config=settings.alerts, now=T0, sender=Crash())
    assert alerts.counts() == {"pending": 100}
    # after a crash the lease keeps the rows away from other workers until it expires
    assert deliver_due(alerts, config=settings.alerts, now=T0 + timedelta(seconds=10), sender=sender).sent == 0
    later = T0 + timedelta(seconds=601)

    def worker() -> None:
        with SQLiteAlertStore(settings.db_path) as own:
            deliver_due(own, config=settings.alerts, now=later, sender=sender)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sender.sent) == 100 and len({(c, m.title) for c, m in sender.sent}) == 100
    assert alerts.counts() == {"sent": 100}


class WorkerDied(BaseException):
    """Like SIGKILL or an OOM kill mid-send: not an Exception, so nothing catches it."""


class Crash:
    def send(self, channel: str, message: Message) -> None:
        raise WorkerDied


class FlakySearch:
    """The real store, except that searches for one query fail (an engine hiccup on one request)."""

    def __init__(self, store: SQLiteStore, failing_q: str) -> None:
        self.store, self.failing_q = store, failing_q

    def search(self, query):
        if query.q == self.failing_q:
            raise StoreError("search engine unavailable (test)")
        return self.store.search(query)

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_one_failing_alert_does_not_cost_the_others_and_the_retry_catches_up(settings, stores):
    store, alerts = stores
    alerts.save_alert(kz_alert(name="kz"), T0)
    alerts.save_alert(kz_alert(name="kz-licences", q="Kazakhstan AIFC"), T0)
    ids = [write(store, "kz", "Kazakhstan opens crypto-to-cash desks")]
    sender = Recorder()
    with pytest.raises(AlertEvaluationError) as err:
        evaluate_and_deliver(FlakySearch(store, "Kazakhstan AIFC"), alerts, ids, config=settings.alerts, now=T0, sender=sender)
    assert set(err.value.failed) == {"kz-licences"} and "re-run the batch" in str(err.value)
    assert err.value.report.sent == 1 and [m.title[:4] for _, m in sender.sent] == ["[kz]"]
    retry = evaluate_and_deliver(store, alerts, ids, config=settings.alerts, now=T0 + timedelta(minutes=1), sender=sender)
    assert retry.ok and retry.sent == 1 and retry.duplicates == 1
    assert sorted(m.title.split("]")[0] for _, m in sender.sent) == ["[kz", "[kz-licences"]
