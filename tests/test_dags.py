"""The DAGs: DagBag import test, `dag.test()` end to end on a temporary AIRFLOW_HOME (SQLite), and the library
functions the tasks call (:mod:`pipeline.orchestration`, which never imports Airflow).

Airflow reads AIRFLOW_HOME when it is first imported, so everything that imports Airflow runs in a subprocess with
its own environment; this test process never imports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline import orchestration
from pipeline.demo import LoopbackSite, Response
from pipeline.errors import ConfigError
from pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
AIRFLOW = REPO / ".venv" / "bin" / "airflow"
DEMO_SOURCES = REPO / "pipeline" / "demo" / "sources.yaml"
DAG_IDS = {"regwire_poll", "regwire_alerts", "regwire_alert_delivery", "regwire_quality", "regwire_maintenance"}



@pytest.fixture(scope="session", autouse=True)
def _airflow_installed() -> None:
    """Airflow is a real part of the suite: missing, it fails (``make test`` installs it), it never skips."""
    if not AIRFLOW.exists():
        pytest.fail(f"Airflow is not installed at {AIRFLOW}: run `make setup-dev` (or `make test`)")


def needs_airflow(test):  # kept as a marker of which tests start Airflow
    return test


# -- helpers: Airflow in a subprocess -------------------------------------------------------------------------------

def _airflow_env(home: Path, regwire_home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "REGWIRE_"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "REGWIRE_HOME": str(regwire_home),
        "REGWIRE_ALLOW_NETWORKS": "127.0.0.0/8",
        "REGWIRE_HOST_DELAY": "0",
        "REGWIRE_POLL_RETRIES": "1",  # one retry, one second later: the retry path runs, quickly
        "REGWIRE_POLL_RETRY_DELAY": "1",
    })
    env.update(extra)
    return env


def _run_python(code: str, env: dict[str, str], timeout: float = 120) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints one ``RESULT <json>`` line, which is returned."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result["_output"] = proc.stdout + proc.stderr
            return result
    pytest.fail(f"subprocess exited {proc.returncode} without a result\nstdout:\n{proc.stdout[-3000:]}\n"
                f"stderr:\n{proc.stderr[-6000:]}")


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite metadata DB in a temporary AIRFLOW_HOME."""
    home = tmp_path_factory.mktemp("airflow")
    env = _airflow_env(home, home / "unused-regwire")
    proc = subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return home


# -- DagBag ---------------------------------------------------------------------------------------------------------

DAGBAG_SCRIPT = """
    import json, sys, time
    from pathlib import Path
    from airflow.dag_processing.dagbag import BundleDagBag
    dags = Path(sys.argv[1] if len(sys.argv) > 1 else "{dags}")
    timings, errors, found = {{}}, {{}}, {{}}
    for path in sorted(dags.glob("*.py")):
        started = time.perf_counter()
        bag = BundleDagBag(dag_folder=str(path), bundle_path=str(dags), bundle_name="dags-folder")
        timings[path.name] = time.perf_counter() - started
        errors.update(bag.import_errors)
        found.update(bag.dags)
    poll = found["regwire_poll"]
    task = poll.get_task("poll")
    detail = {{
        "pool": task.pool, "retries": task.retries, "exponential": task.retry_exponential_backoff,
        "mapped": type(task).__name__, "schedule": str(poll.schedule),
        "publish_outlets": [a.uri for a in poll.get_task("publish").outlets],
        "consumers": {{d: [a.uri for a in found[d].schedule] for d in ("regwire_alerts", "regwire_quality")}},
        "params": sorted(poll.params.keys()),
    }}
    print("RESULT " + json.dumps({{"timings": timings, "errors": errors, "dags": sorted(found), "detail": detail,
        "pipeline_imported": sorted(m for m in sys.modules if m == "pipeline" or m.startswith("pipeline.")),
        "heavy_imported": sorted(m for m in ("trafilatura", "lxml", "feedparser", "ahocorasick", "pydantic_settings")
                                 if m in sys.modules)}}))
"""


@needs_airflow
def test_dagbag_imports_every_file_quickly(airflow_home: Path, tmp_path: Path) -> None:
    result = _run_python(DAGBAG_SCRIPT.format(dags=DAGS), _airflow_env(airflow_home, tmp_path / "rw"))
    assert result["errors"] == {}
    assert set(result["dags"]) == DAG_IDS
    assert {p.name for p in DAGS.glob("*.py")} == set(result["timings"])
    slow = {name: t for name, t in result["timings"].items() if t >= 0.5}
    assert not slow, f"DAG files must import in well under a second: {slow}"
    # thin DAG files: only the Airflow adapter is imported at parse time; the library (trafilatura, lxml, ...) is
    # imported by the tasks
    assert result["pipeline_imported"] == ["pipeline", "pipeline.airflow_helper"]
    assert result["heavy_imported"] == []
    detail = result["detail"]
    assert detail["pool"] == "regwire_fetch"
    assert detail["retries"] == 1 and float(detail["exponential"]) > 1  # True is stored as the factor 2.0
    assert detail["mapped"].endswith("MappedOperator")
    assert detail["schedule"] == "*/5 * * * *"
    articles = "regwire://articles/"  # Airflow normalises the URI
    assert detail["publish_outlets"] == [articles]
    assert detail["consumers"] == {"regwire_alerts": [articles], "regwire_quality": [articles]}
    assert {"sources_file", "force", "since_watermark"} <= set(detail["params"])


# -- dag.test() end to end ------------------------------------------------------------------------------------------

DAG_TEST_SCRIPT = """
    import json, os, pathlib, sys
    from pipeline.demo import LoopbackSite, Response
    from pipeline.query import SearchQuery
    from pipeline.store import open_store
    from pipeline.settings import load_settings

    site = LoopbackSite().start()
    site.route("/feeds/broken.xml", Response(500, b"server error"))
    sources = pathlib.Path(os.environ["TEST_TMP"]) / "sources.yaml"
    sources.write_text(pathlib.Path("{demo}").read_text().replace("{{{{base_url}}}}", site.base_url)
                       + '  - name: broken\\n    feeds: ["' + site.base_url + '/feeds/broken.xml"]\\n')
    os.environ["REGWIRE_SOURCES"] = str(sources)

    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    bag = BundleDagBag(dag_folder="{dags}", bundle_path="{dags}", bundle_name="dags-folder")
    dag = bag.dags["regwire_poll"]

    def events():
        with create_session() as session:
            return [e.extra for e in session.query(AssetEvent).order_by(AssetEvent.id)]

    def run():
        dr = dag.test()
        tis = [{{"task": ti.task_id, "map_index": ti.map_index, "source": ti.rendered_map_index,
                 "state": str(ti.state), "try": ti.try_number}} for ti in dr.get_task_instances()]
        return {{"state": str(dr.state), "tis": tis, "events": events()}}

    first = run()
    with open_store(load_settings()) as store:
        search = store.search(SearchQuery(q="stablecoin")).model_dump(mode="json")
        count = store.count_articles()
    second = run()
    maintenance = bag.dags["regwire_maintenance"].test()
    site.stop()
    print("RESULT " + json.dumps({{"first": first, "second": second, "hits": search["total"], "count": count,
                                   "maintenance": str(maintenance.state)}}))
"""


@pytest.fixture(scope="module")
def dag_test_result(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("dagtest")
    env = _airflow_env(airflow_home, tmp / "regwire", TEST_TMP=str(tmp))
    started = time.monotonic()
    result = _run_python(DAG_TEST_SCRIPT.format(demo=DEMO_SOURCES, dags=DAGS), env, timeout=180)
    result["seconds"] = time.monotonic() - started
    return result


def _tis(run: dict[str, Any], task: str) -> list[dict[str, Any]]:
    return [ti for ti in run["tis"] if ti["task"] == task]


@needs_airflow
def test_poll_indexes_and_emits_one_asset_event(dag_test_result: dict[str, Any]) -> None:
    first = dag_test_result["first"]
    assert dag_test_result["count"] > 0
    assert dag_test_result["hits"] > 0, "articles must be searchable after the poll"
    assert [ti["state"] for ti in _tis(first, "publish")] == ["success"]
    assert len(first["events"]) == 1
    extra = first["events"][0]
    assert extra["watermark_from"] == 0 and extra["watermark"] > 0
    assert extra["new"] == extra["articles"] == len(extra["ids"]) == dag_test_result["count"]
    assert extra["updated"] == 0 and extra["ids_truncated"] is False
    assert set(extra["sources"]) == {"ledger-news-rss", "ledger-news-atom", "ledger-news-json"}
    assert sum(s["new"] for s in extra["sources"].values()) == extra["new"]


@needs_airflow
def test_failing_source_fails_only_its_own_map_index(dag_test_result: dict[str, Any]) -> None:
    first = dag_test_result["first"]
    polls = {ti["source"]: ti for ti in _tis(first, "poll")}
    assert set(polls) == {"ledger-news-rss", "ledger-news-atom", "ledger-news-json", "broken"}
    assert polls["broken"]["state"] == "failed"
    assert polls["broken"]["try"] == 2, "the failing source is retried once (REGWIRE_POLL_RETRIES=1)"
    assert all(polls[s]["state"] == "success" for s in polls if s != "broken")
    # the good sources were still published, and the run shows that a source failed
    assert _tis(first, "publish")[0]["state"] == "success"
    assert _tis(first, "all_sources_ok")[0]["state"] == "upstream_failed"
    assert first["state"] == "failed"
    # the metrics hook's per-source outcome line (StatsD counters go out too when [metrics] statsd_on is set)
    output = dag_test_result["_output"]
    assert "regwire source broken outcome: polled=1 not_modified=0 new=0 updated=0 failed=1" in output
    assert "regwire source ledger-news-rss outcome: polled=1 not_modified=0 new=" in output
    # the plugin's listener sees the failed map index too
    assert "regwire poll task failed for source broken" in output


@needs_airflow
def test_second_poll_indexes_nothing_and_emits_no_event(dag_test_result: dict[str, Any]) -> None:
    second = dag_test_result["second"]
    assert second["state"] == "success"  # the broken feed is backing off (not due): nothing fails
    assert [ti["state"] for ti in _tis(second, "publish")] == ["skipped"]
    assert len(second["events"]) == 1, "no new asset event when nothing changed"
    assert dag_test_result["maintenance"] == "success"
    assert dag_test_result["seconds"] < 90


def _json_output(stdout: str) -> Any:
    """The JSON document an ``airflow ... -o json`` command printed (after any warning lines)."""
    return json.loads(stdout.strip().splitlines()[-1])


@needs_airflow
def test_airflow_cli_parses_every_dag_without_errors(airflow_home: Path, tmp_path: Path) -> None:
    """The way Airflow's own CLI (and the dag-processor) parse the files: no sys.path set-up by the test."""
    env = _airflow_env(airflow_home, tmp_path / "rw")
    errors = subprocess.run([str(AIRFLOW), "dags", "list-import-errors", "--local", "-o", "json"], env=env,
                            capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert errors.returncode == 0, errors.stderr[-3000:]
    assert _json_output(errors.stdout) == [], errors.stdout
    listed = subprocess.run([str(AIRFLOW), "dags", "list", "--local", "-o", "json"], env=env, capture_output=True,
                            text=True, timeout=180, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert {d["dag_id"] for d in _json_output(listed.stdout)} == DAG_IDS


# -- the plugin -----------------------------------------------------------------------------------------------------

PLUGIN_SCRIPT = """
    import json
    from airflow import plugins_manager
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    plugins_manager.ensure_plugins_loaded()  # Airflow's own loading from the plugins folder, no sys.path set-up
    assert not plugins_manager.get_import_errors(), plugins_manager.get_import_errors()
    [plugin] = [p for p in plugins_manager._get_plugins()[0] if p.name == "regwire"]
    host = FastAPI()
    app = plugin.fastapi_apps[0]
    host.mount(app["url_prefix"], app["app"])
    client = TestClient(host)
    page = client.get(app["url_prefix"] + "/", params={"q": "anything"})
    print("RESULT " + json.dumps({"prefix": app["url_prefix"], "views": plugin.external_views,
        "health": client.get(app["url_prefix"] + "/api/health").json(), "page": page.status_code,
        "form_action": 'action="/regwire/"' in page.text}))
"""


@needs_airflow
def test_plugin_mounts_search_app_and_links_it(airflow_home: Path, tmp_path: Path) -> None:
    result = _run_python(PLUGIN_SCRIPT, _airflow_env(airflow_home, tmp_path / "rw"))
    assert result["prefix"] == "/regwire"
    assert result["health"] == {"status": "ok", "articles": 0}
    assert result["page"] == 200 and result["form_action"]
    assert result["views"][0]["href"] == "/regwire/" and result["views"][0]["name"] == "News search"


# -- pipeline.orchestration (no Airflow) ----------------------------------------------------------------------------

@pytest.fixture
def demo_sources(tmp_path: Path, site: LoopbackSite) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(DEMO_SOURCES.read_text().replace("{{base_url}}", site.base_url))
    return path


def test_orchestration_never_imports_airflow() -> None:
    source = (REPO / "pipeline" / "orchestration.py").read_text()
    assert "import airflow" not in source and "from airflow" not in source
    code = "import sys, pipeline.orchestration; print(any(m.split('.')[0] == 'airflow' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_poll_source_is_idempotent(settings: Settings, demo_sources: Path) -> None:
    names = orchestration.list_sources(demo_sources, settings=settings)
    assert names == ["ledger-news-rss", "ledger-news-atom", "ledger-news-json"]
    first = [orchestration.poll_source(n, settings, sources_path=demo_sources, tagger=None) for n in names]
    assert sum(r["new"] for r in first) > 0
    json.dumps(first)  # XCom-safe
    batch = orchestration.publish_batch(settings, 0, first)
    assert batch is not None and batch["new"] == sum(r["new"] for r in first)
    again = [orchestration.poll_source(n, settings, sources_path=demo_sources, force=True, tagger=None)
             for n in names]
    assert sum(r["new"] + r["updated"] for r in again) == 0
    assert orchestration.publish_batch(settings, batch["watermark"], again) is None


def test_poll_source_raises_with_report_for_failing_feed(settings: Settings, site: LoopbackSite,
                                                         tmp_path: Path) -> None:
    site.route("/feeds/down.xml", Response(500, b"nope"))
    path = tmp_path / "s.yaml"
    path.write_text(f'sources:\n  - name: down\n    feeds: ["{site.base_url}/feeds/down.xml"]\n')
    with pytest.raises(orchestration.SourcePollError) as info:
        orchestration.poll_source("down", settings, sources_path=path, tagger=None)
    assert info.value.report["failed"] == 1 and "500" in info.value.report["errors"][0]
    with pytest.raises(ConfigError):
        orchestration.poll_source("missing", settings, sources_path=path, tagger=None)


def test_batch_ids_reads_back_a_truncated_batch(settings: Settings, demo_sources: Path) -> None:
    orchestration.poll_source("ledger-news-rss", settings, sources_path=demo_sources, tagger=None)
    full = orchestration.publish_batch(settings, 0)
    capped = orchestration.publish_batch(settings, 0, max_ids=2)
    assert capped["ids_truncated"] and len(capped["ids"]) == 2
    assert orchestration.batch_ids(capped, settings=settings) == full["ids"]
    report = orchestration.quality_report(full["ids"], settings)
    assert report["totals"]["articles"] == len(full["ids"]) and report["missing"] == []
    alerts = orchestration.alert_batch([*full["ids"], "nope"], settings)
    assert alerts["missing"] == ["nope"] and alerts["alerts"] == 0 and alerts["sent"] == 0  # no alert saved


def test_settings_from_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGWIRE_HOME", str(tmp_path))
    assert Settings.from_airflow_connection(None).search.url is None
    s = Settings.from_airflow_connection({
        "conn_type": "opensearch", "host": "127.0.0.1", "port": 9200, "schema": "https", "login": "u",
        "password": "p", "extra": '{"verify_certs": false, "index_prefix": "rw"}'}).search
    assert s.url == "https://127.0.0.1:9200" and s.engine == "opensearch"
    assert s.username == "u" and s.password is not None and s.password.get_secret_value() == "p"
    assert s.verify_certs is False and s.index_prefix == "rw"
    es = Settings.from_airflow_connection({"conn_type": "elasticsearch", "host": "http://es:9200"}).search
    assert es.url == "http://es:9200" and es.engine == "elasticsearch"
    os_ = Settings.from_airflow_connection({"conn_type": "elasticsearch", "host": "os", "port": 9200,
                                            "extra": {"engine": "opensearch"}}).search
    assert os_.url == "http://os:9200" and os_.engine == "opensearch"


def test_shared_host_limiter_spaces_requests_across_limiters(tmp_path: Path) -> None:
    """Two limiters (as in two worker processes) on one directory still keep the per-host delay between them."""
    a = orchestration.SharedHostLimiter(tmp_path, delay=0.3)
    b = orchestration.SharedHostLimiter(tmp_path, delay=0.3)
    starts: list[float] = []

    def request(limiter: orchestration.SharedHostLimiter) -> None:
        with limiter.slot("news.example"):
            starts.append(time.time())

    threads = [threading.Thread(target=request, args=(lim,)) for lim in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert len(gaps) == 3 and min(gaps) >= 0.28, gaps
    with orchestration.SharedHostLimiter(tmp_path, delay=0).slot("other.example"):
        pass
    assert not (tmp_path / "other.example.next").exists()


def test_maintenance_rechecks_suspended_feeds(settings: Settings, site: LoopbackSite) -> None:
    from pipeline.models import FeedState, FeedStatus
    from pipeline.store import open_store

    with open_store(settings) as store:
        store.save_feed_state(FeedState(feed_url=site.url("/feeds/rss.xml"), source="s", status=FeedStatus.SUSPENDED,
                                        consecutive_errors=10))
        store.save_feed_state(FeedState(feed_url=site.url("/feeds/gone.xml"), source="s",
                                        status=FeedStatus.SUSPENDED, consecutive_errors=10))
        result = orchestration.maintenance(settings, store=store, retention_days=30)
        states = {s.feed_url: s for s in store.feed_states()}
    recovered = {r["feed"]: r["recovered"] for r in result["suspended_feeds"]}
    assert recovered == {site.url("/feeds/rss.xml"): True, site.url("/feeds/gone.xml"): False}
    assert states[site.url("/feeds/rss.xml")].status is FeedStatus.ACTIVE
    assert states[site.url("/feeds/gone.xml")].status is FeedStatus.SUSPENDED
    assert "before" in result["prune"]


class _MigratingStore:
    """The embedded store plus the search backends' status()/migrate(), to check that migrations run only when due."""

    def __init__(self, inner, up_to_date: bool):
        self.inner, self.up_to_date, self.migrated = inner, up_to_date, 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def status(self) -> dict:
        return {"mapping_up_to_date": self.up_to_date, "missing_fields": [] if self.up_to_date else ["x"],
                "generation": 1}

    def migrate(self):
        from dataclasses import dataclass

        @dataclass
        class Report:
            old_index: str = "regwire-articles-v1"
            new_index: str = "regwire-articles-v2"

        self.migrated += 1
        return Report()


@pytest.mark.parametrize("up_to_date", [True, False])
def test_maintenance_migrates_only_when_due(settings: Settings, up_to_date: bool) -> None:
    from pipeline.store import open_store

    with open_store(settings) as inner:
        store = _MigratingStore(inner, up_to_date)
        result = orchestration.maintenance(settings, store=store)  # type: ignore[arg-type]
    assert store.migrated == (0 if up_to_date else 1)
    assert result["migrations"]["due"] is (not up_to_date)
    if not up_to_date:
        assert result["migrations"]["report"]["new_index"] == "regwire-articles-v2"
    json.dumps(result)
