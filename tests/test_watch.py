"""Watch, then work: the feed watcher over loopback (no Airflow: conditional GETs, change detection against memory and
the store, the address guard, the shared slot book), then the real Airflow trigger's ``run()`` driven with asyncio
and the asset-scheduled ``regwire_watch`` DAG run with ``dag.test()`` on the event's payload (in a subprocess: this
test process never imports Airflow, see test_dags.py)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from test_dags import DAGS, DEMO_SOURCES, _airflow_env, _run_python, airflow_home  # noqa: F401

from pipeline.demo import LoopbackSite, Response
from pipeline.demo.server import site_root
from pipeline.errors import BlockedURLError
from pipeline.fetch.politeness import FileSlotBook
from pipeline.settings import Settings
from pipeline.sources import load_sources
from pipeline.sources.watch import FeedWatcher, watch_once
from pipeline.store import open_backend
from pipeline.tasks import poll_source, task_context

NEW_ITEM = """    <item>
      <title>Regulator opens consultation on stablecoin reserves</title>
      <link>{{base_url}}/news/consultation-stablecoin-reserves.html</link>
      <guid isPermaLink="false">llnews-new-consultation</guid>
      <pubDate>Sat, 03 Aug 2024 06:00:00 +0000</pubDate>
      <description>A new consultation on reserve rules.</description>
    </item>
"""


@pytest.fixture
def copied_site(tmp_path: Path):
    """The demo site, copied so that a test can change its feeds."""
    root = tmp_path / "site"
    shutil.copytree(site_root(), root)
    with LoopbackSite(root) as site:
        yield site


def _add_item(site: LoopbackSite) -> None:
    rss = site.root / "feeds" / "rss.xml"
    text = rss.read_text(encoding="utf-8")
    rss.write_text(text.replace("    <item>", NEW_ITEM + "    <item>", 1), encoding="utf-8")


def _check(watcher: FeedWatcher, feed: str):
    async def go():
        try:
            return await watcher.check("src", feed)
        finally:
            await watcher.aclose()
    return asyncio.run(go())


def _checks(settings: Settings, feed: str, steps: list, **kwargs: Any) -> list:
    """Run ``steps`` (callables between watches) on one watcher in one loop: [change after each step]."""
    async def go():
        watcher = FeedWatcher(settings, **kwargs)
        try:
            found = []
            for step in steps:
                step()
                found.append(await watcher.check("src", feed))
            return found, watcher.requests
        finally:
            await watcher.aclose()
    return asyncio.run(go())


def test_watch_fires_for_new_items_not_for_a_304_and_again_for_an_added_item(settings: Settings,
                                                                              copied_site: LoopbackSite) -> None:
    feed = copied_site.url("/feeds/rss.xml")
    with open_backend(settings) as backend:
        store = backend.articles
        found, requests = _checks(settings, feed, [lambda: None, lambda: None, lambda: _add_item(copied_site)],
                                  feed_state=store.get_feed_state, known_articles=store.known_articles)
    first, unchanged, added = found
    assert first.status == 200 and first.changed and len(first.new) >= 5 and not first.updated
    assert unchanged.status == 304 and not unchanged.changed
    assert added.status == 200 and added.new == [copied_site.url("/news/consultation-stablecoin-reserves.html")]
    assert requests == 3
    sent = [h for _m, path, h in copied_site.requests if path == "/feeds/rss.xml"]
    assert "if-none-match" not in {k.lower() for k in sent[0]} and "if-none-match" in {k.lower() for k in sent[1]}
    extra = added.as_extra()
    assert extra["source"] == "src" and extra["feed"] == feed and extra["new"] == 1


def test_watch_after_ingest_uses_stored_validators_and_known_articles(settings: Settings, transport,
                                                                      copied_site: LoopbackSite, tmp_path: Path) -> None:
    """A restarted triggerer: nothing fires for what the store already holds; a feed that ignores validators and
    answers 200 with the same items fires neither."""
    sources = tmp_path / "sources.yaml"
    sources.write_text(DEMO_SOURCES.read_text().replace("{{base_url}}", copied_site.base_url))
    rss = next(s for s in load_sources(sources) if s.name == "ledger-news-rss")
    from pipeline.fetch import Fetcher

    with Fetcher(settings, transport=transport) as fetcher, task_context(settings, fetcher=fetcher, tagger=None) as ctx:
        assert poll_source(ctx, rss, force=True).new > 0
    feed = rss.feeds[0]
    [stored] = _checks(settings, feed, [lambda: None])[0]
    assert stored.status == 304 and not stored.changed
    # the same document at a URL without validators: compared with the store's articles, nothing is new
    copied_site.route("/no-validators.xml", lambda _r: Response(200, copied_site.render("/feeds/rss.xml") or b"",
                                                                {"Content-Type": "application/rss+xml"}))
    again = copied_site.url("/no-validators.xml")
    first, second = _checks(settings, again, [lambda: None, lambda: None])[0]
    assert first.status == second.status == 200
    assert not first.changed and not second.changed


def test_watch_refuses_addresses_the_guard_refuses_and_sends_nothing(tmp_path: Path,
                                                                     copied_site: LoopbackSite) -> None:
    closed = Settings(home=tmp_path / "home", host_delay=0.0)  # no allow-list: loopback is refused
    with pytest.raises(BlockedURLError, match="address guard"):
        _check(FeedWatcher(closed, feed_state=lambda _u: None, known_articles=lambda _u: {}),
               copied_site.url("/feeds/rss.xml"))
    assert copied_site.requests == []


def test_watch_books_the_shared_host_slots_and_skips_a_held_host(tmp_path: Path, copied_site: LoopbackSite) -> None:
    settings = Settings(home=tmp_path / "home", allow_networks=["127.0.0.0/8"], host_delay=0.3)
    feeds = [("src", copied_site.url(p)) for p in ("/feeds/rss.xml", "/feeds/atom.xml", "/feeds/feed.json")]

    async def go():
        watcher = FeedWatcher(settings, feed_state=lambda _u: None, known_articles=lambda _u: {})
        try:
            started = time.monotonic()
            changes = await watch_once(watcher, feeds)
            return changes, time.monotonic() - started
        finally:
            await watcher.aclose()

    changes, seconds = asyncio.run(go())
    assert len(changes) == 3
    assert seconds >= 0.55, "three requests to one host, 0.3 s apart, from the book the fetcher shares"
    # a Retry-After hold written by any process sharing REGWIRE_HOME/hosts: the host is not asked this round
    FileSlotBook(settings.home / "hosts").hold("127.0.0.1", time.time() + 60)
    before = len(copied_site.requests)
    assert asyncio.run(go())[0] == []
    assert len(copied_site.requests) == before


# -- the Airflow trigger and the asset-scheduled DAG ------------------------------------------------------------------

TRIGGER_AND_DAG_SCRIPT = """
    import asyncio, json, os
    from pipeline.airflow_trigger import FeedChangeTrigger
    from pipeline.store import open_backend
    from pipeline.settings import load_settings

    feeds = json.loads(os.environ["TEST_FEEDS"])

    async def collect(trigger):
        return [event.payload async for event in trigger.run()]

    # one round over a feed whose stored validators answer 304 and a feed never seen: one event, for the latter
    trigger = FeedChangeTrigger("ledger-news-atom", feeds, interval=0.01, max_rounds=1)
    classpath, kwargs = trigger.serialize()
    events = asyncio.run(collect(FeedChangeTrigger(**kwargs)))

    from airflow.dag_processing.dagbag import BundleDagBag
    bag = BundleDagBag(dag_folder="{dags}", bundle_path="{dags}", bundle_name="dags-folder")
    dag = bag.dags["regwire_watch"]
    schedule = [a.name for a in dag.schedule]
    dr = dag.test(run_conf={{"changes": events}})
    tis = [{{"task": ti.task_id, "source": ti.rendered_map_index, "state": str(ti.state)}}
           for ti in dr.get_task_instances()]
    with open_backend(load_settings()) as backend:
        by_source = {{}}
        for article in backend.articles.iter_articles():
            by_source[article.source] = by_source.get(article.source, 0) + 1
    print("RESULT " + json.dumps({{"classpath": classpath, "events": events, "state": str(dr.state), "tis": tis,
                                   "by_source": by_source, "schedule": schedule}}))
"""


@pytest.mark.usefixtures("airflow_home")
def test_trigger_run_fires_only_for_the_changed_feed_and_the_dag_ingests_just_that_source(
        airflow_home: Path, tmp_path: Path, copied_site: LoopbackSite, settings: Settings, transport) -> None:  # noqa: F811
    sources = tmp_path / "sources.yaml"
    sources.write_text(DEMO_SOURCES.read_text().replace("{{base_url}}", copied_site.base_url))
    regwire_home = tmp_path / "rw"
    # the RSS feed was polled before: its validators are in the store, so the watch gets a 304
    rss = next(s for s in load_sources(sources) if s.name == "ledger-news-rss")
    stored = settings.model_copy(update={"home": regwire_home})
    from pipeline.fetch import Fetcher

    with Fetcher(stored, transport=transport) as fetcher, task_context(stored, fetcher=fetcher, tagger=None) as ctx:
        assert poll_source(ctx, rss, force=True).new > 0
        rss_articles = ctx.store.count_articles()
    atom_feed = copied_site.url("/feeds/atom.xml")
    env = _airflow_env(airflow_home, regwire_home, REGWIRE_SOURCES=str(sources),
                       TEST_FEEDS=json.dumps([rss.feeds[0], atom_feed]))
    result = _run_python(TRIGGER_AND_DAG_SCRIPT.format(dags=DAGS), env, timeout=240)
    assert result["classpath"] == "pipeline.airflow_trigger.FeedChangeTrigger"
    assert result["schedule"] == ["regwire_feed_changes"]
    [event] = result["events"]
    assert event["source"] == "ledger-news-atom" and event["feed"] == atom_feed and event["new"] > 0
    rss_requests = [h for _m, p, h in copied_site.requests if p == "/feeds/rss.xml"]
    assert "if-none-match" in {k.lower() for k in rss_requests[-1]}, "the watch sent the stored validator: a 304"
    assert result["state"] == "success", result["_output"][-4000:]
    ingests = [ti for ti in result["tis"] if ti["task"] == "source.ingest"]
    assert [ti["source"] for ti in ingests] == ["ledger-news-atom"]
    # just that source was ingested: the RSS source's articles are those of the earlier poll, JSON was never polled
    assert result["by_source"].get("ledger-news-atom", 0) > 0
    assert result["by_source"].get("ledger-news-rss") == rss_articles
    assert "ledger-news-json" not in result["by_source"]
    assert not [p for p in copied_site.paths_requested() if p == "/feeds/feed.json"]


WATCHERS_SCRIPT = """
    import json
    from airflow.dag_processing.dagbag import BundleDagBag
    bag = BundleDagBag(dag_folder="{dags}/regwire_watch.py", bundle_path="{dags}", bundle_name="dags-folder")
    [asset] = list(bag.dags["regwire_watch"].schedule)
    print("RESULT " + json.dumps({{"errors": bag.import_errors, "watchers": [
        {{"name": w.name, "trigger": w.trigger.serialize()}} for w in asset.watchers]}}))
"""


@pytest.mark.usefixtures("airflow_home")
def test_watchers_parse_with_the_dag_processors_own_parsing(airflow_home: Path, tmp_path: Path) -> None:  # noqa: F811
    """REGWIRE_WATCH=on: one watcher per source, built at parse time from the sources file; Airflow's CLI parsing
    (as the dag-processor does it) finds no import error."""
    import subprocess

    from test_dags import AIRFLOW, _json_output

    sources = tmp_path / "sources.yaml"
    sources.write_text(DEMO_SOURCES.read_text().replace("{{base_url}}", "http://127.0.0.1:9"))
    env = _airflow_env(airflow_home, tmp_path / "rw", REGWIRE_SOURCES=str(sources), REGWIRE_WATCH="on",
                       REGWIRE_WATCH_INTERVAL="30")
    errors = subprocess.run([str(AIRFLOW), "dags", "list-import-errors", "--local", "-o", "json"], env=env,
                            capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert errors.returncode == 0, errors.stderr[-3000:]
    assert _json_output(errors.stdout) == [], errors.stdout
    result = _run_python(WATCHERS_SCRIPT.format(dags=DAGS), env)
    assert result["errors"] == {}
    by_name = {w["name"]: w["trigger"] for w in result["watchers"]}
    assert set(by_name) == {"regwire_watch_ledger-news-rss", "regwire_watch_ledger-news-atom",
                            "regwire_watch_ledger-news-json"}
    classpath, kwargs = by_name["regwire_watch_ledger-news-atom"]
    assert classpath == "pipeline.airflow_trigger.FeedChangeTrigger"
    assert kwargs == {"source": "ledger-news-atom", "feeds": ["http://127.0.0.1:9/feeds/atom.xml"], "interval": 30.0,
                      "max_rounds": 0}


WEBSUB_EVENT_SCRIPT = """
    import hashlib, hmac, json, os
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow import plugins_manager
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    # regwire_watch serialized once (an empty manual run): its asset is known to the metadata DB
    bag = BundleDagBag(dag_folder="{dags}", bundle_path="{dags}", bundle_name="dags-folder")
    bag.dags["regwire_watch"].test(run_conf={{"changes": []}})
    from airflow.models.dag import DagModel
    with create_session() as session:  # new DAGs start paused here; an event queues runs for unpaused ones only
        session.query(DagModel).filter(DagModel.dag_id == "regwire_watch").update({{"is_paused": False}})
    plugins_manager.ensure_plugins_loaded()
    [plugin] = [p for p in plugins_manager._get_plugins()[0] if p.name == "regwire"]
    host = FastAPI()
    [app] = [a for a in plugin.fastapi_apps if a["url_prefix"] == "/regwire-websub"]
    host.mount(app["url_prefix"], app["app"])
    client = TestClient(host)
    body = b"<rss/>"
    sid, secret = os.environ["TEST_SUBSCRIPTION"], os.environ["TEST_SECRET"]
    forged = client.post(f"/regwire-websub/websub/{{sid}}", content=body, headers={{"X-Hub-Signature": "sha256=00"}})
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    good = client.post(f"/regwire-websub/websub/{{sid}}", content=body, headers={{"X-Hub-Signature": signature}})
    with create_session() as session:
        events = [e.extra for e in session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                  .filter(AssetModel.name == "regwire_feed_changes")]
        queued = [q.target_dag_id for q in session.query(AssetDagRunQueue)]
    print("RESULT " + json.dumps({{"forged": forged.status_code, "good": good.status_code, "events": events,
                                   "queued": queued}}))
"""


@pytest.mark.usefixtures("airflow_home")
def test_websub_push_to_the_plugin_app_becomes_a_feed_changes_event(airflow_home: Path, tmp_path: Path) -> None:  # noqa: F811
    """On Airflow, a verified push to the api-server's WebSub app (no Airflow login: hubs cannot log in; the HMAC
    authenticates) records the same asset event a watcher would (and queues
    regwire_watch); a forged one records nothing."""
    from datetime import UTC, datetime

    from pipeline.store.websub import SubscriptionStore

    home = tmp_path / "rw"
    store = SubscriptionStore.in_home(home)
    now = datetime.now(UTC)
    store.requested(id="sub-1", topic="http://127.0.0.1:9/feeds/rss.xml", hub="http://127.0.0.1:9/hub",
                    source="ledger-news-rss", secret="s" * 64, callback="http://127.0.0.1:9/regwire-websub/websub/sub-1",
                    now=now)
    store.verified("sub-1", 3600, now)
    store.close()
    env = _airflow_env(airflow_home, home, TEST_SUBSCRIPTION="sub-1", TEST_SECRET="s" * 64)
    result = _run_python(WEBSUB_EVENT_SCRIPT.format(dags=DAGS), env, timeout=180)
    assert result["forged"] == result["good"] == 202
    assert result["events"] == [{"from_websub": True, "payload": {
        "source": "ledger-news-rss", "feed": "http://127.0.0.1:9/feeds/rss.xml", "via": "websub"}}]
    assert "regwire_watch" in result["queued"]


def test_watch_of_a_rate_limited_feed_holds_the_host_for_everyone(tmp_path: Path, copied_site: LoopbackSite) -> None:
    settings = Settings(home=tmp_path / "home", allow_networks=["127.0.0.0/8"], host_delay=0.0)
    copied_site.route("/busy.xml", Response(429, b"slow down", {"Retry-After": "120"}))
    from pipeline.errors import HTTPStatusError

    with pytest.raises(HTTPStatusError, match="429"):
        _check(FeedWatcher(settings, feed_state=lambda _u: None, known_articles=lambda _u: {}),
               copied_site.url("/busy.xml"))
    held = FileSlotBook(settings.home / "hosts").held_until("127.0.0.1")
    assert 100 < held - time.time() <= 121, "the fetcher and every other watch see the host's Retry-After"
