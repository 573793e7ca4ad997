"""Watch, then work under `scripts/airflow-standalone`: the real triggerer runs the feed watchers, the scheduler starts
regwire_watch on the asset event, and the changed source's new article becomes searchable through the plugin's app.

The three demo sources are polled once before Airflow starts (their validators and articles are in the store), so the
watchers' rounds are 304s; then one feed gets a new item. Exactly one asset event and one regwire_watch run must follow,
naming that source. The time from the change to the article being searchable is printed (see docs/airflow.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from test_airflow_standalone import AIRFLOW, DEMO_SOURCES, SCRIPT, _api, _free_port, _healthy, _stop, _wait

from pipeline.demo import LoopbackSite
from pipeline.demo.server import site_root
from pipeline.settings import Settings
from pipeline.sources import load_sources
from pipeline.tasks import poll_source, task_context

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

WATCH_INTERVAL = 5
TOKEN = "zqwatchtoken"
PARAGRAPH = ("The securities regulator opened a consultation on reserve requirements for stablecoin issuers, asking "
             "whether reserves should be held in cash and short-dated government bonds only, how often they must "
             "be audited, and how redemption at par should be guaranteed when markets are stressed. ")


def test_watcher_in_the_triggerer_starts_regwire_watch_for_the_changed_source_only(tmp_path: Path) -> None:
    root = tmp_path / "site"
    shutil.copytree(site_root(), root)
    site = LoopbackSite(root).start()
    sources = tmp_path / "sources.yaml"
    sources.write_text(DEMO_SOURCES.read_text().replace("{{base_url}}", site.base_url))
    home = tmp_path / "regwire"
    settings = Settings(home=home, allow_networks=["127.0.0.0/8"], host_delay=0.0)
    with task_context(settings, tagger=None) as ctx:
        for source in load_sources(sources):
            assert poll_source(ctx, source, force=True).new > 0
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "REGWIRE_"))}
    env.update({
        "AIRFLOW": str(AIRFLOW), "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin", "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
        "REGWIRE_HOME": str(home), "REGWIRE_SOURCES": str(sources), "REGWIRE_ALLOW_NETWORKS": "127.0.0.0/8",
        "REGWIRE_HOST_DELAY": "0", "REGWIRE_POLL_SCHEDULE": "none", "REGWIRE_MAINTENANCE_SCHEDULE": "none",
        "REGWIRE_WATCH": "on", "REGWIRE_WATCH_INTERVAL": str(WATCH_INTERVAL),
        "PATH": f"{AIRFLOW.parent}:{os.environ.get('PATH', '')}",
    })
    log = tmp_path / "standalone.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(SCRIPT)], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
                                start_new_session=True)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False)
    try:
        _wait("Airflow healthy", lambda: _healthy(client), 150, log, 0.5)
        passwords = tmp_path / "airflow" / "simple_auth_manager_passwords.json.generated"
        _wait("generated admin password", passwords.exists, 30, log, 0.3)
        token = _api(client, "POST", "/auth/token", ok=(200, 201),
                     json={"username": "admin", "password": json.loads(passwords.read_text())["admin"]})
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        _wait("regwire_watch parsed", lambda: client.get("/api/v2/dags/regwire_watch").status_code == 200, 90, log)

        def feed_requests() -> int:
            return sum(1 for path in site.paths_requested() if path == "/feeds/atom.xml")

        # the watchers run in the triggerer: conditional GETs answered 304, no event, no run
        before = feed_requests()
        _wait("two watch rounds", lambda: feed_requests() >= before + 2, 120, log)
        assert _api(client, "GET", "/api/v2/dags/regwire_watch/dagRuns").json()["total_entries"] == 0

        (root / "news" / "watch-consultation.html").write_text(
            f"<html><head><title>Consultation {TOKEN} on reserves</title></head><body><article>"
            f"<h1>Consultation {TOKEN} on reserves</h1>" + "".join(f"<p>{PARAGRAPH}</p>" for _ in range(6))
            + "</article></body></html>")
        rss = root / "feeds" / "rss.xml"
        item = (f"    <item>\n      <title>Consultation {TOKEN} on reserves</title>\n"
                "      <link>{{base_url}}/news/watch-consultation.html</link>\n"
                "      <guid isPermaLink=\"false\">watch-consultation</guid>\n"
                "      <pubDate>Sat, 03 Aug 2024 06:00:00 +0000</pubDate>\n    </item>\n")
        rss.write_text(rss.read_text().replace("    <item>", item + "    <item>", 1))
        changed = time.monotonic()

        def searchable() -> bool:
            return _api(client, "GET", "/regwire/api/search", params={"q": TOKEN}).json()["total"] > 0

        _wait("the new article searchable", searchable, 180, log)
        seconds = time.monotonic() - changed
        runs = _wait("regwire_watch finished", lambda: [r for r in _api(
            client, "GET", "/api/v2/dags/regwire_watch/dagRuns").json()["dag_runs"]
            if r["state"] in ("success", "failed")], 60, log)
        time.sleep(2 * WATCH_INTERVAL)  # more rounds: nothing else fires
        all_runs = _api(client, "GET", "/api/v2/dags/regwire_watch/dagRuns").json()["dag_runs"]
        assert len(all_runs) == 1 and runs[0]["state"] == "success" and runs[0]["run_type"] == "asset_triggered"
        tis = _api(client, "GET", f"/api/v2/dags/regwire_watch/dagRuns/{runs[0]['dag_run_id']}/taskInstances"
                   ).json()["task_instances"]
        assert [ti["rendered_map_index"] for ti in tis if ti["task_id"] == "source.ingest"] == ["ledger-news-rss"]
        events = _api(client, "GET", "/api/v2/assets/events").json()["asset_events"]
        watched = [e for e in events if e["uri"].startswith("regwire://feed-changes")]
        assert len(watched) == 1 and watched[0]["extra"]["payload"]["source"] == "ledger-news-rss"
        assert watched[0]["extra"]["payload"]["new"] == 1
        print(f"watch, then work: searchable {seconds:.1f}s after the feed changed "
              f"(watch interval {WATCH_INTERVAL}s, Airflow standalone defaults otherwise)")
    finally:
        client.close()
        try:
            _stop(proc, log)
        finally:
            site.stop()
