"""Alerts on a real OpenSearch node (tests/searchnode.py): the percolator finds exactly what one search per alert
finds, keeps its stored queries in step with the definitions, and drives exactly-once delivery with definitions
and delivery log stored in the engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from searchnode import shared_search_node
from test_alerts_loopback import LOOPBACK_HOSTS, WebhookReceiver
from test_alerts_seed import SEED_TITLE, run_demo
from test_store_contract import drop_prefix, make_search_store

from pipeline.alerts import (
    Alert,
    AppriseSender,
    DeliveryState,
    EngineAlertStore,
    PercolatorEvaluator,
    SearchEvaluator,
    evaluate_and_deliver,
)
from pipeline.settings import AlertSettings
from pipeline.store import EngineBackend

pytestmark = pytest.mark.slow
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
HOOK = ["json://127.0.0.1:9/h"]

ALERTS = [
    Alert(name="kz-fiat", owner="o", q="Kazakhstan", topics=["fiat-ramp"], channels=HOOK),
    Alert(name="phrase", owner="o", q='"crypto-to-cash"', channels=HOOK),
    Alert(name="or-juris", owner="o", q="stablecoin OR CBDC", jurisdictions=["HK"], channels=HOOK),
    Alert(name="prefix", owner="o", q="regul*", channels=HOOK),
    Alert(name="exclusion", owner="o", q="licensing -MiCA", channels=HOOK),
    Alert(name="topic-only", owner="o", topics=["mining"], channels=HOOK),
    Alert(name="source", owner="o", q="crypto", sources=["ledger-news-json"], channels=HOOK),
    Alert(name="relevant", owner="o", min_relevance=0.8, channels=HOOK),
    Alert(name="language", owner="o", q="exchange", languages=["en"], channels=HOOK),
    Alert(name="nothing", owner="o", q="zzzyzzyx", channels=HOOK),
    Alert(name="other-source", owner="o", q="crypto", sources=["not-in-this-batch"], channels=HOOK),
    # Lucene syntax: the percolator stores the same translation that search runs
    Alert(name="lucene-fields", owner="o", q="title:Kazakhstan AND published:[2022-01-01 TO 2022-12-31]",
          channels=HOOK),
    Alert(name="lucene-near", owner="o", q='"crypto cash"~2 OR (stablecoin -bitcoin)', channels=HOOK),
    Alert(name="lucene-keywords", owner="o", q="jurisdiction:KZ OR source:ledger* OR regul*", channels=HOOK),
]


@pytest.fixture(scope="module")
def engine_store():
    node = shared_search_node()
    store = make_search_store("opensearch", node.url)
    yield store
    drop_prefix(store)
    store.close()


@pytest.fixture(scope="module")
def batch(engine_store, tmp_path_factory):
    from conftest import LOOPBACK, LoopbackOnlyTransport

    from pipeline.demo import LoopbackSite
    from pipeline.settings import Settings

    settings = Settings(home=tmp_path_factory.mktemp("perc"), allow_networks=[LOOPBACK], host_delay=0.0)
    transport = LoopbackOnlyTransport()
    with LoopbackSite() as site:
        ids = run_demo(settings, engine_store, transport, site)
    transport.close()
    return ids


def as_sets(evaluation):
    return {name: set(found) for name, found in evaluation.matches.items()}


def test_percolator_matches_what_search_matches(engine_store, batch):
    percolator = PercolatorEvaluator(engine_store.client, prefix=engine_store.names.prefix)
    by_percolator = percolator.evaluate(ALERTS, batch)
    by_search = SearchEvaluator(engine_store, prefilter=False).evaluate(ALERTS, batch)
    by_prefilter = SearchEvaluator(engine_store).evaluate(ALERTS, batch)
    assert as_sets(by_percolator) == as_sets(by_search) == as_sets(by_prefilter)
    # only the seed story is about Kazakhstan and fiat conversion (the others mention one or the other in passing)
    assert len(as_sets(by_search)["kz-fiat"]) == 1 and not {"nothing", "other-source"} & set(as_sets(by_search))
    assert {"lucene-fields", "lucene-near", "lucene-keywords"} <= set(as_sets(by_search))
    assert len(as_sets(by_search)) >= 8
    assert by_percolator.requests < by_search.requests and by_prefilter.skipped_alerts == 1
    # only part of the batch: only those articles can match
    part = batch[:4]
    assert as_sets(percolator.evaluate(ALERTS, part)) == as_sets(SearchEvaluator(engine_store).evaluate(ALERTS, part))


def test_percolator_index_follows_the_definitions(engine_store, batch):
    percolator = PercolatorEvaluator(engine_store.client, prefix=engine_store.names.prefix)
    percolator.sync(ALERTS)
    assert percolator.sync(ALERTS) == 0  # unchanged: nothing re-indexed
    changed = [a.model_copy(update={"q": "Kazakhstan mining"}) if a.name == "kz-fiat" else a for a in ALERTS[:3]]
    assert percolator.sync(changed) == 1 + (len(ALERTS) - 3)  # one update, the rest deleted
    found = as_sets(percolator.evaluate(changed, batch, sync=False))
    assert set(found) <= {"kz-fiat", "phrase", "or-juris"}
    assert found["kz-fiat"] == as_sets(SearchEvaluator(engine_store).evaluate(changed[:1], batch))["kz-fiat"]


def test_exactly_once_through_the_percolator_with_alerts_stored_in_the_engine(engine_store, batch, tmp_path):
    config = AlertSettings(percolate_min_alerts=1)
    backend = EngineBackend(engine_store)  # not closed here: the module's store is shared
    alerts = backend.alert_store()
    assert isinstance(alerts, EngineAlertStore)

    def choose(enabled):
        return backend.evaluator_for(enabled, config)
    with WebhookReceiver() as hook:
        alerts.save_alert(Alert(name="Kazakhstan fiat-ramp", owner="desk", q="Kazakhstan", topics=["fiat-ramp"],
                                channels=[f"json://127.0.0.1:{hook.port}/generic"]), T0)
        sender = AppriseSender(env={}, allowed_hosts=LOOPBACK_HOSTS)
        first = evaluate_and_deliver(engine_store, alerts, batch, config=config, now=T0, sender=sender,
                                     choose=choose)
        assert first.evaluator == "percolator" and first.sent == first.matches == 1
        replay = [i for i, _ in engine_store.changes_since(0)[0]]
        again = evaluate_and_deliver(engine_store, alerts, replay, config=config, now=T0 + timedelta(minutes=1),
                                     sender=sender, choose=choose)
        assert again.sent == 0 and again.duplicates == 1
        assert [SEED_TITLE in r.json["title"] for r in hook.on("/generic")] == [True]
        log = alerts.deliveries(alert="Kazakhstan fiat-ramp")
        assert len(log) == 1 and {d.state for d in log} == {DeliveryState.SENT}
