"""Smoke test: `scripts/airflow-standalone` on a temporary AIRFLOW_HOME, driven through the REST API.

It triggers regwire_poll against the loopback demo site, waits for the asset-triggered regwire_alerts and
regwire_quality runs to succeed, checks the search app the plugin mounts, and stops every process it started by PID.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipeline.demo import LoopbackSite, Response

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "airflow-standalone"
AIRFLOW = REPO / ".venv" / "bin" / "airflow"
DEMO_SOURCES = REPO / "pipeline" / "demo" / "sources.yaml"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(480),
]

#: seconds between the broken source's tries (two retries)
BROKEN_RETRY_DELAY = 20
#: how long an Airflow REST call is retried on a 5xx answer or a dropped connection (SQLite busy while the scheduler,
#: dag-processor and api-server all write, on a loaded machine)
API_RETRY_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc; no process is looked up by name)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _stop(proc: subprocess.Popen, log: Path) -> None:
    """SIGINT Airflow (a clean shutdown of its children), escalate by PID if it hangs, and check nothing is left.

    Every signal goes to a PID recorded from the process tree, never to a name. On a loaded 2-core machine Airflow's
    own shutdown can take tens of seconds, so SIGINT gets a generous wait before SIGTERM and SIGKILL.
    """
    tree = _descendants(proc.pid) | {proc.pid}
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            print(f"airflow standalone ignored SIGINT for 90 s; terminating its processes by PID (see {log})")
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        left = {p for p in tree if _alive(p)}
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while (left := {p for p in tree if _alive(p)}) and time.monotonic() < deadline:
            time.sleep(0.3)
    proc.poll()
    assert not {p for p in tree if _alive(p)}, f"processes survived SIGKILL: see {log}"


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[tuple[httpx.Client, LoopbackSite, Path]]:
    site = LoopbackSite().start()
    site.route("/feeds/broken.xml", Response(503, b"down for maintenance"))
    sources = tmp_path / "sources.yaml"
    sources.write_text(DEMO_SOURCES.read_text().replace("{{base_url}}", site.base_url)
                       + f'  - name: broken\n    feeds: ["{site.base_url}/feeds/broken.xml"]\n')
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "REGWIRE_"))}
    env.update({
        "AIRFLOW": str(AIRFLOW),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        # free ports for the log servers too, so this can run beside another Airflow on the machine
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "REGWIRE_HOME": str(tmp_path / "regwire"),
        "REGWIRE_SOURCES": str(sources),
        "REGWIRE_ALLOW_NETWORKS": "127.0.0.0/8",
        "REGWIRE_HOST_DELAY": "0",
        "REGWIRE_POLL_SCHEDULE": "none",  # only the run this test triggers
        # the broken source's retries take a while: long enough to see that nobody waits for them
        "REGWIRE_POLL_RETRIES": "2",
        "REGWIRE_POLL_RETRY_DELAY": str(BROKEN_RETRY_DELAY),
        "REGWIRE_MAINTENANCE_SCHEDULE": "none",
        "PATH": f"{AIRFLOW.parent}:{os.environ.get('PATH', '')}",
    })
    log = tmp_path / "standalone.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(SCRIPT)], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
                                start_new_session=True)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False)
    client.airflow_home = env["AIRFLOW_HOME"]  # type: ignore[attr-defined]
    try:
        yield client, site, log
    finally:
        client.close()
        try:
            _stop(proc, log)
        finally:
            site.stop()


def _wait(what: str, check, timeout: float, log: Path, every: float = 1.0):
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except httpx.HTTPError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    pytest.fail(f"timed out waiting for {what} (last: {last!r})\n--- log tail ---\n{tail}")


def _api(client: httpx.Client, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs) -> httpx.Response:
    """One REST call, retried on 5xx or a transport error until ``API_RETRY_SECONDS`` pass (only idempotent calls
    come here: GET, PATCH of a field, and POST of a run with an explicit run id, whose replay answers 409)."""
    deadline = time.monotonic() + API_RETRY_SECONDS
    delay = 0.5
    while True:
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            problem: object = exc
        else:
            if response.status_code in ok or response.status_code < 500:
                return response
            problem = f"{response.status_code} {response.text[:300]}"
        if time.monotonic() > deadline:
            pytest.fail(f"{method} {path} kept failing for {API_RETRY_SECONDS:.0f}s: {problem}")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def _healthy(client: httpx.Client) -> bool:
    """The api-server answers and the scheduler, dag-processor and triggerer have reported a heartbeat."""
    response = client.get("/api/v2/monitor/health")
    if response.status_code != 200:
        return False
    health = response.json()
    return all((health.get(part) or {}).get("status") == "healthy"
               for part in ("metadatabase", "scheduler", "dag_processor", "triggerer"))


def test_standalone_poll_triggers_downstream(standalone) -> None:
    client, site, log = standalone
    started = time.monotonic()
    assert AIRFLOW.exists(), f"Airflow is not installed at {AIRFLOW}: run `make setup-dev`"
    _wait("api-server, scheduler, dag-processor and triggerer healthy", lambda: _healthy(client), 150, log, 0.5)

    # the search app mounted by the plugin is behind Airflow's login, API and page alike
    assert _api(client, "GET", "/regwire/api/search", params={"q": "stablecoin"}).status_code == 401
    anonymous_page = _api(client, "GET", "/regwire/", ok=(307,), follow_redirects=False)
    assert anonymous_page.status_code == 307 and "/auth/login" in anonymous_page.headers["location"]

    passwords = Path(client.airflow_home) / "simple_auth_manager_passwords.json.generated"
    _wait("generated admin password", passwords.exists, 30, log, 0.3)
    password = json.loads(passwords.read_text())["admin"]
    token = _api(client, "POST", "/auth/token", ok=(200, 201), json={"username": "admin", "password": password})
    assert token.status_code in (200, 201), token.text
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    for dag_id in ("regwire_poll", "regwire_alerts", "regwire_quality"):
        _wait(f"{dag_id} parsed", lambda d=dag_id: client.get(f"/api/v2/dags/{d}").status_code == 200, 90, log, 0.5)
        response = _api(client, "PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        assert response.status_code == 200, response.text

    run_id = "smoke-test-run"  # explicit, so a retried POST cannot start a second run (the replay answers 409)
    run = _api(client, "POST", "/api/v2/dags/regwire_poll/dagRuns", ok=(200, 201, 409),
               json={"dag_run_id": run_id, "logical_date": None})
    assert run.status_code in (200, 201, 409), run.text

    def poll_state() -> str | None:
        state = _api(client, "GET", f"/api/v2/dags/regwire_poll/dagRuns/{run_id}").json()["state"]
        return state if state in ("success", "failed") else None

    def broken_poll() -> dict | None:
        tis = _api(client, "GET", f"/api/v2/dags/regwire_poll/dagRuns/{run_id}/taskInstances",
                   params={"limit": 100}).json()["task_instances"]
        return next((ti for ti in tis if ti["task_id"] == "source.poll" and ti["map_index"] == 3), None)

    _wait("the broken source up for retry", lambda: (ti := broken_poll()) and ti["state"] == "up_for_retry", 120,
          log, 0.5)

    def downstream_done(dag_id: str):
        runs = _api(client, "GET", f"/api/v2/dags/{dag_id}/dagRuns").json()["dag_runs"]
        finished = [r for r in runs if r["state"] in ("success", "failed")]
        return finished[0] if finished else None

    alerts = _wait("asset-triggered regwire_alerts run", lambda: downstream_done("regwire_alerts"), 120, log)
    assert alerts["state"] == "success", alerts
    assert alerts["run_type"] == "asset_triggered"
    quality = _wait("asset-triggered regwire_quality run", lambda: downstream_done("regwire_quality"), 60, log)
    assert quality["state"] == "success", quality

    # the run fails (the broken feed), but only after the other sources' batches were alerted on
    assert _wait("regwire_poll to finish", poll_state, 180, log) == "failed"
    final = broken_poll()
    assert final is not None and final["state"] == "failed" and final["try_number"] == 3
    # every retry's recorded reason names the source and says why it is retried (the REST API does not return
    # earlier tries' reasons, so they are read from the metadata DB's history table); Airflow 3.3.2 itself clears
    # the rendered map index between tries (see TransientOnlyRetryPolicy)
    with sqlite3.connect(Path(client.airflow_home) / "airflow.db") as db:
        reasons = db.execute("SELECT try_number, retry_reason FROM task_instance_history WHERE dag_id = ?"
                             " AND run_id = ? AND task_id = 'source.poll' AND map_index = 3 ORDER BY try_number",
                             ("regwire_poll", run_id)).fetchall()
    assert [n for n, _ in reasons] == [1, 2], reasons
    assert all(r.startswith("source broken") and "transient SourcePollError" in r and "503" in r
               for _, r in reasons), reasons
    assert alerts["end_date"] < final["end_date"], "alerts waited for the failing source's retries"

    events = _api(client, "GET", "/api/v2/assets/events",
                  params={"source_dag_id": "regwire_poll"}).json()["asset_events"]
    assert {e["extra"]["source"] for e in events} == {"ledger-news-rss", "ledger-news-atom", "ledger-news-json"}
    for event in events:
        extra = event["extra"]
        assert extra["new"] == extra["articles"] == len(extra["ids"]) > 0

    # the plugin's search app, mounted by the api-server
    result = _api(client, "GET", "/regwire/api/search", params={"q": "stablecoin"}).json()
    assert result["total"] > 0
    page = _api(client, "GET", "/regwire/", params={"q": "stablecoin"})
    assert page.status_code == 200 and 'href="/regwire/articles/' in page.text
    plugins = json.dumps(_api(client, "GET", "/api/v2/plugins").json())
    assert "News search" in plugins
    print(f"standalone smoke: downstream succeeded {time.monotonic() - started:.1f}s after start")
