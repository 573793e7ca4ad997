"""The issue's acceptance test: the real pipeline over the bundled demo site (real HTTP on 127.0.0.1), then a
"Kazakhstan fiat-ramp" alert delivered to a Slack-compatible webhook, a generic JSON webhook and an SMTP server,
all on loopback: the seed article arrives exactly once per channel across two runs, a retried task and a replayed
batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from test_alerts_loopback import LOOPBACK_HOSTS, SMTPSink, WebhookReceiver, mail_url, text_of

from pipeline import load_sources
from pipeline.alerts import Alert, AppriseSender, DeliveryState, SQLiteAlertStore, evaluate_and_deliver
from pipeline.demo import demo_sources_path
from pipeline.fetch import Fetcher
from pipeline.store import EmbeddedBackend, SQLiteStore
from pipeline.tasks import poll_sources, task_context

SEED_TITLE = "Kazakhstan ready to legalize crypto-to-cash conversion, says president"
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def receivers():
    with WebhookReceiver() as hook, SMTPSink() as smtp:
        yield hook, smtp


def run_demo(settings, store, transport, site, *, force: bool = False) -> list[str]:
    """The demo site through the task layer into ``store`` (any backend's); returns the changed ids."""
    sources = load_sources(demo_sources_path(), substitutions={"base_url": site.base_url})
    with task_context(settings, backend=EmbeddedBackend(settings.db_path, articles=store),
                      fetcher=Fetcher(settings, transport=transport)) as ctx:
        return [i for report in poll_sources(ctx, sources, force=force) for i in report.changed_ids]


def test_seed_article_is_delivered_exactly_once_per_channel(settings, transport, site, receivers, seed_text):
    hook, smtp = receivers
    env = {"REGWIRE_TEST_HOOK": "hook-token-123"}
    alert = Alert(name="Kazakhstan fiat-ramp", owner="compliance-desk", q="Kazakhstan", topics=["fiat-ramp"],
                  channels=[f"mmost://regwire@127.0.0.1:{hook.port}/${{REGWIRE_TEST_HOOK}}?image=no",
                            f"json://127.0.0.1:{hook.port}/generic", mail_url(smtp)])
    sender = AppriseSender(env=env, allowed_hosts=LOOPBACK_HOSTS)
    with SQLiteStore(settings.db_path) as store, SQLiteAlertStore(settings.db_path) as alerts:
        alerts.save_alert(alert, T0)

        def deliver(ids: list[str], now: datetime):
            return evaluate_and_deliver(store, alerts, ids, config=settings.alerts, now=now, sender=sender)

        first_ids = run_demo(settings, store, transport, site)
        assert len(first_ids) == 13
        first = deliver(first_ids, T0)
        assert first.ok and first.evaluator == "search+prefilter"
        assert first.matches >= 1 and first.sent == first.recorded == 3 * first.matches
        # a retried task (same ids), a second pipeline run (nothing changed), a replayed batch (watermark 0)
        assert deliver(first_ids, T0 + timedelta(minutes=1)).sent == 0
        second_ids = run_demo(settings, store, transport, site, force=True)
        assert second_ids == []
        assert deliver(second_ids, T0 + timedelta(minutes=2)).sent == 0
        replayed = [article_id for article_id, _version in store.changes_since(0)[0]]
        again = deliver(replayed, T0 + timedelta(minutes=3))
        assert again.sent == 0 and again.duplicates == 3 * first.matches

        slack = [r.json for r in hook.on("/hooks/hook-token-123")]
        generic = [r.json for r in hook.on("/generic")]
        assert [m["text"].count(SEED_TITLE) > 0 for m in slack].count(True) == 1
        assert [SEED_TITLE in m["title"] for m in generic].count(True) == 1
        assert [SEED_TITLE in (m["Subject"] or "") for m in smtp.messages].count(True) == 1
        assert len(slack) == len(generic) == len(smtp.messages) == first.matches

        # what the message carries: title, source, published time, tags with evidence, snippet, link
        seed = next(m for m in generic if SEED_TITLE in m["title"])
        body = seed["message"]
        assert "Source: ledger-news-" in body and "Published: 2022-09-28 09:30 UTC" in body
        assert "topic:fiat-ramp ('crypto-to-cash'" in body and "KZ" in body
        assert "Tokayev" in body and "/news/kazakhstan-crypto-cash-conversion.html" in body
        assert set(seed) == {"version", "title", "message", "attachments", "type", "idempotency_key"}
        mail = next(m for m in smtp.messages if SEED_TITLE in m["Subject"])
        assert "crypto-to-cash" in text_of(mail) and smtp.envelopes[0][1] == ["analyst@example.org"]
        assert "Tokayev" in seed_text  # the demo page is the seed article

        log = alerts.deliveries(alert="Kazakhstan fiat-ramp")
        assert {d.state for d in log} == {DeliveryState.SENT} and len(log) == 3 * first.matches
        assert all(d.version_key == "any" and "hook-token-123" not in d.channel for d in log)


def test_a_failing_channel_is_retried_with_backoff_without_resending_the_others(settings, transport, site,
                                                                             receivers):
    hook, smtp = receivers
    alert = Alert(name="Kazakhstan fiat-ramp", owner="desk", q="Kazakhstan", topics=["fiat-ramp"],
                  channels=[f"json://127.0.0.1:{hook.port}/generic", mail_url(smtp)])
    sender = AppriseSender(env={}, allowed_hosts=LOOPBACK_HOSTS)
    with SQLiteStore(settings.db_path) as store, SQLiteAlertStore(settings.db_path) as alerts:
        alerts.save_alert(alert, T0)
        ids = run_demo(settings, store, transport, site)
        hook.fail_always = True
        first = evaluate_and_deliver(store, alerts, ids, config=settings.alerts, now=T0, sender=sender)
        matches = first.matches
        assert first.sent == matches and first.failed == matches  # email went out, the webhook failed
        hook.fail_always = False
        # the Airflow task is retried at once: the failed rows are not due yet (backoff), nothing is sent twice
        retry = evaluate_and_deliver(store, alerts, ids, config=settings.alerts, now=T0 + timedelta(seconds=10), sender=sender)
        assert retry.sent == 0 and len(hook.received) == 0
        later = evaluate_and_deliver(store, alerts, ids, config=settings.alerts, now=T0 + timedelta(seconds=61), sender=sender)
        assert later.sent == matches and later.failed == 0
        assert len(hook.on("/generic")) == matches and len(smtp.messages) == matches
        retried = [d for d in alerts.deliveries() if d.channel.startswith("json://")]
        assert all(d.state is DeliveryState.SENT and d.attempts == 2 for d in retried)
