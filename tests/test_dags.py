"""The DAGs: DagBag import test, Airflow's own CLI parsing, `dag.test()` end to end on a temporary AIRFLOW_HOME
(SQLite), and the plugin. The task functions the DAGs call are tested without Airflow in test_tasks.py.

Airflow reads AIRFLOW_HOME when it is first imported, so everything that imports Airflow runs in a subprocess with
its own environment; this test process never imports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
AIRFLOW = REPO / ".venv" / "bin" / "airflow"
DEMO_SOURCES = REPO / "pipeline" / "demo" / "sources.yaml"
DAG_IDS = {"regwire_poll", "regwire_alerts", "regwire_alert_delivery", "regwire_quality", "regwire_maintenance",
           "regwire_watch"}



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
    task = poll.get_task("source.poll")
    detail = {{
        "pool": task.pool, "retries": task.retries, "exponential": task.retry_exponential_backoff,
        "mapped": type(task.task_group).__name__, "schedule": str(poll.schedule),
        "publish_outlets": [a.uri for a in poll.get_task("source.publish").outlets],
        "map_index_template": task.map_index_template, "owner": task.owner,
        "retry_policy": type(task.retry_policy).__name__, "timeout": task.execution_timeout.total_seconds(),
        "callbacks": [type(c).__name__ for c in task.on_failure_callback],
        "every_task": {{d.dag_id: sorted({{(t.owner, bool(t.execution_timeout), bool(t.retry_policy))
                                          for t in d.tasks}}) for d in found.values()}},
        "docs": {{d.dag_id: bool(d.doc_md) and bool(d.tags) for d in found.values()}},
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
    assert result["pipeline_imported"] == ["pipeline", "pipeline._lazy", "pipeline.airflow_helper"]
    assert result["heavy_imported"] == []
    detail = result["detail"]
    assert detail["pool"] == "regwire_fetch"
    assert detail["retries"] == 1 and detail["exponential"]  # exponential backoff (True, or its factor)
    assert detail["mapped"] == "MappedTaskGroup"  # one poll → publish pair per source
    assert detail["schedule"] == "*/5 * * * *"
    articles = "regwire://articles/"  # Airflow normalises the URI
    assert detail["publish_outlets"] == [articles]
    assert detail["consumers"] == {"regwire_alerts": [articles], "regwire_quality": [articles]}
    assert {"sources_file", "force"} <= set(detail["params"])
    # the map index is named after the source on every try (rendered from the task's input, not its result)
    assert detail["map_index_template"] == "{{ ti.xcom_pull(task_ids='list_sources')[ti.map_index] }}"
    assert detail["owner"] == "regwire" and detail["retry_policy"] == "TransientOnlyRetryPolicy"
    assert detail["timeout"] > 0 and detail["callbacks"] == ["OpsNotifier"]
    # every task of every DAG: an owner, an execution timeout and retries decided by the transient mark
    assert all(tasks == [["regwire", True, True]] for tasks in detail["every_task"].values()), detail["every_task"]
    assert all(detail["docs"].values())


# -- dag.test() end to end ------------------------------------------------------------------------------------------

DAG_TEST_SCRIPT = """
    import json, os, pathlib, sys
    from pipeline.demo import LoopbackSite, Response
    from pipeline.query import SearchQuery
    from pipeline.store import open_backend
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
            return [{{"extra": e.extra, "at": e.timestamp.isoformat()}}
                    for e in session.query(AssetEvent).order_by(AssetEvent.id)]

    def run():
        dr = dag.test()
        tis = [{{"task": ti.task_id, "map_index": ti.map_index, "source": ti.rendered_map_index,
                 "state": str(ti.state), "try": ti.try_number,
                 "end": ti.end_date.isoformat() if ti.end_date else None}} for ti in dr.get_task_instances()]
        return {{"state": str(dr.state), "tis": tis, "events": events()}}

    first = run()
    with open_backend(load_settings()) as backend:
        search = backend.articles.search(SearchQuery(q="stablecoin")).model_dump(mode="json")
        count = backend.articles.count_articles()
    second = run()
    maintenance = bag.dags["regwire_maintenance"].test()
    site.stop()
    print("RESULT " + json.dumps({{"first": first, "second": second, "hits": search["total"], "count": count,
                                   "maintenance": str(maintenance.state)}}))
"""

GOOD_SOURCES = {"ledger-news-rss", "ledger-news-atom", "ledger-news-json"}


@pytest.fixture(scope="module")
def dag_test_result(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("dagtest")
    env = _airflow_env(airflow_home, tmp / "regwire", TEST_TMP=str(tmp))
    started = time.monotonic()
    result = _run_python(DAG_TEST_SCRIPT.format(demo=DEMO_SOURCES, dags=DAGS), env, timeout=240)
    result["seconds"] = time.monotonic() - started
    return result


def _tis(run: dict[str, Any], task: str) -> list[dict[str, Any]]:
    return [ti for ti in run["tis"] if ti["task"] == task]


@needs_airflow
def test_each_source_publishes_its_own_asset_event(dag_test_result: dict[str, Any]) -> None:
    first = dag_test_result["first"]
    assert dag_test_result["count"] > 0
    assert dag_test_result["hits"] > 0, "articles must be searchable after the poll"
    publishes = {ti["source"]: ti["state"] for ti in _tis(first, "source.publish")}
    assert publishes == {**dict.fromkeys(GOOD_SOURCES, "success"), "broken": "skipped"}
    extras = [e["extra"] for e in first["events"]]
    assert {e["source"] for e in extras} == GOOD_SOURCES
    for extra in extras:
        assert extra["watermark_from"] == 0 and extra["watermark"] > 0
        assert extra["new"] == extra["articles"] == len(extra["ids"]) > 0
        assert extra["updated"] == 0 and extra["ids_truncated"] is False
    assert sum(e["new"] for e in extras) == dag_test_result["count"]


@needs_airflow
def test_failing_source_fails_only_its_own_map_index_and_delays_nobody(dag_test_result: dict[str, Any]) -> None:
    first = dag_test_result["first"]
    polls = {ti["source"]: ti for ti in _tis(first, "source.poll")}
    assert set(polls) == GOOD_SOURCES | {"broken"}
    assert polls["broken"]["state"] == "failed"
    assert polls["broken"]["try"] == 2, "a 500 is transient: retried once (REGWIRE_POLL_RETRIES=1)"
    assert all(polls[s]["state"] == "success" for s in GOOD_SOURCES)
    # (that the good sources' batches and alerts do not wait for the failing source's retries is shown with a real
    # scheduler in test_airflow_standalone.py: dag.test() runs tasks one after another)
    # the run names the broken feed and fails: never green while a feed is broken
    assert _tis(first, "check")[0]["state"] == "failed"
    assert first["state"] == "failed"
    output = dag_test_result["_output"]
    assert "feed(s) need attention" in output and "broken.xml" in output
    # the metrics hook's per-source outcome line (StatsD counters go out too when [metrics] statsd_on is set)
    assert "regwire source broken outcome: polled=1 not_modified=0 new=0 updated=0 failed=1" in output
    assert "regwire source ledger-news-rss outcome: polled=1 not_modified=0 new=" in output
    # the plugin's listener sees the failed map index too
    assert "regwire poll task failed for source broken" in output


@needs_airflow
def test_second_poll_indexes_nothing_but_still_reports_the_feed_backing_off(dag_test_result: dict[str, Any]) -> None:
    second = dag_test_result["second"]
    assert {ti["state"] for ti in _tis(second, "source.publish")} == {"skipped"}
    assert len(second["events"]) == 3, "no new asset event when nothing changed"
    # the broken feed is backing off (not due): the poll has nothing to retry, the check still fails the run
    assert {ti["state"] for ti in _tis(second, "source.poll")} == {"success"}
    assert _tis(second, "check")[0]["state"] == "failed" and second["state"] == "failed"
    assert dag_test_result["maintenance"] == "success"
    assert dag_test_result["seconds"] < 150


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
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient
    plugins_manager.ensure_plugins_loaded()  # Airflow's own loading from the plugins folder, no sys.path set-up
    assert not plugins_manager.get_import_errors(), plugins_manager.get_import_errors()
    [plugin] = [p for p in plugins_manager._get_plugins()[0] if p.name == "regwire"]
    app = plugin.fastapi_apps[0]
    client = TestClient(create_app(apps="all"))  # the api-server's own app, with Airflow's login in front
    token = client.post("/auth/token", json={"username": "admin", "password": "admin"}).json()["access_token"]
    signed_in = {"Authorization": "Bearer " + token}
    page = client.get(app["url_prefix"] + "/", params={"q": "anything"}, headers=signed_in)
    print("RESULT " + json.dumps({"prefix": app["url_prefix"], "views": plugin.external_views,
        "health": client.get(app["url_prefix"] + "/api/health", headers=signed_in).json(),
        "page": page.status_code, "form_action": 'action="/regwire/"' in page.text}))
"""


@needs_airflow
def test_plugin_mounts_search_app_and_links_it(airflow_home: Path, tmp_path: Path) -> None:
    env = _airflow_env(airflow_home, tmp_path / "rw", AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
                       AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING")
    (airflow_home / "simple_auth_manager_passwords.json.generated").write_text('{"admin": "admin"}')
    result = _run_python(PLUGIN_SCRIPT, env, timeout=180)
    assert result["prefix"] == "/regwire"
    assert result["health"] == {"status": "ok", "articles": 0}
    assert result["page"] == 200 and result["form_action"]
    assert result["views"][0]["href"] == "/regwire/" and result["views"][0]["name"] == "News search"
