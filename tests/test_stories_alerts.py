"""Alerts fire once per story: a later article of a story an alert delivered already is folded into the story
(recorded, not sent). Real loopback webhook, embedded stores; the engine alert store's claim on the real node."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from searchnode import shared_search_node
from test_alerts_loopback import LOOPBACK_HOSTS, WebhookReceiver
from test_stories_store import STORY_HEAD, WRITES

from pipeline.alerts import Alert, AppriseSender, SQLiteAlertStore, evaluate_and_deliver
from pipeline.store import SQLiteStore

T0 = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)


def test_second_article_of_an_alerted_story_is_folded_not_sent(settings):
    with SQLiteStore(settings.db_path) as store, SQLiteAlertStore(settings.db_path) as alerts, \
            WebhookReceiver() as hook:
        alerts.save_alert(Alert(name="kz", owner="desk", q="Kazakhstan", jurisdictions=["KZ"],
                                channels=[f"json://127.0.0.1:{hook.port}/kz"]), T0)
        sender = AppriseSender(env={}, allowed_hosts=LOOPBACK_HOSTS)
        first = [r.id for r in store.write_articles([WRITES["kz-ramp-a"]])]
        report = evaluate_and_deliver(store, alerts, first, config=settings.alerts, now=T0, sender=sender)
        assert (report.matches, report.recorded, report.sent) == (1, 1, 1)

        # the same event from two more outlets, and another KZ event, in the next batches
        later = [r.id for r in store.write_articles([WRITES["kz-ramp-b"], WRITES["kz-block-a"]])]
        report = evaluate_and_deliver(store, alerts, later, config=settings.alerts, now=T0 + timedelta(minutes=5),
                                      sender=sender)
        assert (report.matches, report.recorded, report.sent) == (2, 1, 1)
        last = [r.id for r in store.write_articles([WRITES["kz-ramp-c"]])]
        report = evaluate_and_deliver(store, alerts, last, config=settings.alerts, now=T0 + timedelta(minutes=9),
                                      sender=sender)
        assert (report.matches, report.recorded, report.sent) == (1, 0, 0)

        titles = [json.loads(r.body)["title"] for r in hook.on("/kz")]
        assert len(titles) == 2
        assert "Kazakhstan lets licensed crypto exchanges open accounts at local banks" in titles[0]
        assert "Kazakhstan blocks 36 unlicensed crypto exchange websites" in titles[1]
        # folded in the order they came
        assert alerts.folded("kz") == {STORY_HEAD["kz-ramp"]: [WRITES["kz-ramp-b"].id, WRITES["kz-ramp-c"].id]}
        # a replayed batch sends nothing again and folds nothing twice
        report = evaluate_and_deliver(store, alerts, first + later + last, config=settings.alerts,
                                      now=T0 + timedelta(minutes=20), sender=sender)
        assert report.sent == 0 and len(hook.on("/kz")) == 2
        assert sum(map(len, alerts.folded("kz").values())) == 2


def test_a_story_arriving_in_one_batch_is_delivered_once_as_its_first_article(settings):
    with SQLiteStore(settings.db_path) as store, SQLiteAlertStore(settings.db_path) as alerts, \
            WebhookReceiver() as hook:
        alerts.save_alert(Alert(name="hk", owner="desk", q="Harbourline",
                                channels=[f"json://127.0.0.1:{hook.port}/hk"]), T0)
        sender = AppriseSender(env={}, allowed_hosts=LOOPBACK_HOSTS)
        ids = [r.id for r in store.write_articles([WRITES[k] for k in ("hk-vatp-a", "hk-vatp-b", "hk-vatp-c")])]
        report = evaluate_and_deliver(store, alerts, list(reversed(ids)), config=settings.alerts, now=T0,
                                      sender=sender)
        assert (report.matches, report.recorded, report.sent) == (3, 1, 1)
        (received,) = hook.on("/hk")
        assert "SFC grants virtual asset trading platform licence to Harbourline" in json.loads(received.body)["title"]
        folded = alerts.folded("hk")
        assert list(folded) == [STORY_HEAD["hk-vatp"]] and sorted(folded[STORY_HEAD["hk-vatp"]]) == sorted(ids[1:])


def test_engine_alert_store_claims_a_story_once_per_alert():
    from test_store_contract import make_search_store

    from pipeline.alerts.engine_store import EngineAlertStore

    store = make_search_store("opensearch", shared_search_node().url)
    prefix = f"t{uuid.uuid4().hex[:10]}"
    alerts = EngineAlertStore(store.client, prefix=prefix)
    try:
        assert alerts.claim_story("kz", "s1", "a1", T0) is True
        assert alerts.claim_story("kz", "s1", "a1", T0) is True  # the holder again (a retried batch)
        assert alerts.claim_story("kz", "s1", "a2", T0) is False
        assert alerts.claim_story("other", "s1", "a2", T0) is True  # per alert
        assert alerts.folded("kz") == {"s1": ["a2"]} and alerts.folded("other") == {}
    finally:
        store.client.request("DELETE", f"/{prefix}-*", params={"expand_wildcards": "all"})
        store.close()
