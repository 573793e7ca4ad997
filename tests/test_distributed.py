"""Airflow beyond one machine, started for real on 127.0.0.1: PostgreSQL as the metadata DB, Redis as Celery broker
and host book, api-server, scheduler, dag-processor, triggerer and two ``celery worker`` processes with their own
hostnames and REGWIRE_HOMEs (two machines, as far as regwire can tell), the OpenSearch node as the store.

regwire_poll runs over a loopback site with many sources on one host. Asserted from what the parts recorded, not
assumed: the site's arrival log (no two requests closer than the host delay, across both workers), the metadata
DB (the source tasks ran on both workers) and the search engine (every article stored once). The deployment starts
once for the module; every process is stopped by PID.
"""

from __future__ import annotations

import html
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from deployment import COMMANDS, POOL_COMMAND, SHARED_ENV
from searchnode import shared_search_node
from services import PostgresServer, RedisServer, free_port

from pipeline.demo import LoopbackSite, Response, site_root

REPO = Path(__file__).resolve().parents[1]
AIRFLOW = REPO / ".venv" / "bin" / "airflow"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SOURCES = 6
HOST_DELAY = 0.5
#: the site logs when it read a request, the host book when the request may be sent; scheduling on a loaded
#: 2-core machine puts a varying gap between the two, so arrival gaps are compared with this much slack
ARRIVAL_SLACK = 0.15
WORKERS = ("machine-a", "machine-b")
#: this source's feed is slow, and the worker that polls it is killed (SIGKILL, whole process tree) mid-request
SLOW_SOURCE = SOURCES - 1  # the last mapped task: the others have spread over both workers by then
SLOW_FEED = 10.0


def _tree(pid: int) -> set[int]:
    """``pid`` and every live process below it (from /proc; nothing is looked up by name)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = {pid}, [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stop_tree(proc: subprocess.Popen, first: int = signal.SIGTERM, grace: float = 45) -> None:
    tree = _tree(proc.pid)
    if proc.poll() is None:
        proc.send_signal(first)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    for pid in (p for p in tree if _alive(p)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.poll()


@dataclass
class Deployment:
    site: LoopbackSite
    postgres: PostgresServer
    redis: RedisServer
    search_url: str
    index_prefix: str
    api: httpx.Client
    directory: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    killed: set[str] = field(default_factory=set)

    def sql(self, query: str, *args: object) -> list[tuple]:
        import psycopg2

        with psycopg2.connect(host="127.0.0.1", port=self.postgres.port, user="airflow", dbname="airflow") as db:
            with db.cursor() as cursor:
                cursor.execute(query, args)
                return cursor.fetchall()

    def logs(self) -> str:
        out = []
        for name in self.procs:
            path = self.directory / f"{name}.log"
            if path.exists():
                out.append(f"--- {name} ---\n" + path.read_text(errors="replace")[-2500:])
        return "\n".join(out)


def _one_host_site() -> tuple[LoopbackSite, dict[str, list[str]]]:
    """The demo site's news pages split over SOURCES sources, each with its own RSS feed, all on one host."""
    pages = sorted((site_root() / "news").glob("*.html"))
    site = LoopbackSite().start()
    feeds: dict[str, list[str]] = {}
    for n in range(SOURCES):
        mine = pages[n::SOURCES]
        items = []
        for page in mine:
            title = re.search(r"<title>(.*?)</title>", page.read_text(errors="replace"), re.S)
            url = site.url(f"/news/{page.name}")
            feeds.setdefault(f"source-{n}", []).append(url)
            items.append(f"<item><title>{html.escape(html.unescape(title.group(1) if title else page.stem))}</title>"
                         f"<link>{url}</link><guid isPermaLink=\"false\">{page.stem}</guid>"
                         "<pubDate>Fri, 02 Aug 2024 06:00:00 +0000</pubDate></item>")
        rss = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>source {n}</title>'
               f"<link>{site.base_url}/</link><description>part {n}</description>{''.join(items)}</channel></rss>")
        response = Response(200, rss.encode(), {"Content-Type": "application/rss+xml"})
        site.route(f"/feeds/source-{n}.xml", _slow(response) if n == SLOW_SOURCE else response)
    return site, feeds


def _slow(response: Response):
    """The feed answers after SLOW_FEED seconds: long enough to kill the worker polling it mid-task."""
    def handler(_request: object) -> Response:
        time.sleep(SLOW_FEED)
        return response

    return handler


def _env(deployment_values: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "REGWIRE_"))}
    env.update({k: v.format(**deployment_values) for k, v in SHARED_ENV.items()})
    env.update(extra)
    return env


def _start(deployment: Deployment, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    log = (deployment.directory / f"{name}.log").open("wb")
    proc = subprocess.Popen([str(AIRFLOW), *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=deployment.directory, start_new_session=True)
    deployment.procs[name] = proc
    return proc


def _wait(what: str, check, timeout: float, deployment: Deployment, every: float = 1.0):
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, OSError, Exception) as exc:  # noqa: BLE001 - a DB or API not up yet: try again
            last = exc
        else:
            if last:
                return last
        for name, proc in deployment.procs.items():
            if proc.poll() is not None and name not in deployment.killed:
                pytest.fail(f"{name} exited ({proc.returncode}) while waiting for {what}\n{deployment.logs()}")
        time.sleep(every)
    pytest.fail(f"timed out waiting for {what} (last: {last!r})\n{deployment.logs()}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    assert AIRFLOW.exists(), f"Airflow is not installed at {AIRFLOW}: run `make setup-dev`"
    directory = tmp_path_factory.mktemp("distributed")
    node = shared_search_node()
    site, feeds = _one_host_site()
    sources = directory / "sources.yaml"
    sources.write_text("sources:\n" + "".join(f'  - name: {name}\n    feeds: ["{site.base_url}/feeds/{name}.xml"]\n'
                                              "    language: en\n" for name in feeds))
    postgres = PostgresServer(directory / "postgres")
    redis = RedisServer(directory / "redis")
    api_port = free_port()
    deployment = Deployment(site=site, postgres=postgres, redis=redis, search_url=node.url,
                            index_prefix=f"dist{secrets.token_hex(4)}", directory=directory,
                            api=httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=15, trust_env=False))
    deployment.feeds = feeds  # type: ignore[attr-defined]
    try:
        postgres.start()
        redis.start()
        values = {"fernet_key": Fernet.generate_key().decode(), "jwt_secret": secrets.token_hex(16),
                  "api_host": "127.0.0.1", "api_port": str(api_port), "password": "",
                  "postgres": f"127.0.0.1:{postgres.port}", "redis": f"127.0.0.1:{redis.port}",
                  "worker_concurrency": "2", "search_url": node.url, "search_engine": "opensearch",
                  "fetch_slots": "4"}
        common = {
            "AIRFLOW_HOME": str(directory / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "false",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "true",  # a loopback test deployment: no logins
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "false",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "REGWIRE_HOME": str(directory / "regwire"),
            "REGWIRE_SOURCES": str(sources),
            "REGWIRE_SEARCH_INDEX_PREFIX": deployment.index_prefix,
            "REGWIRE_ALLOW_NETWORKS": "127.0.0.0/8",
            "REGWIRE_HOST_DELAY": str(HOST_DELAY),
            "REGWIRE_POLL_SCHEDULE": "none",
            "REGWIRE_MAINTENANCE_SCHEDULE": "none",
            "REGWIRE_POLL_RETRIES": "2",
            "REGWIRE_POLL_RETRY_DELAY": "5",
            # a killed worker's task is noticed by its missing heartbeats, and retried on the other worker
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            # tasks the killed worker had taken from the queue but not started go back to the scheduler
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",
            "PATH": f"{AIRFLOW.parent}:{os.environ.get('PATH', '')}",
        }
        env = _env(values, common)
        for args in (COMMANDS["init"], [a.format(**values) for a in POOL_COMMAND]):
            done = subprocess.run([str(AIRFLOW), *args], env=env, capture_output=True, text=True, timeout=300,
                                  cwd=directory)
            assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
            _start(deployment, name, COMMANDS[name], env)
        for worker in WORKERS:
            worker_env = {**env,
                          "AIRFLOW_HOME": str(directory / worker / "airflow"),
                          "REGWIRE_HOME": str(directory / worker / "regwire"),
                          "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                          # the task instance's recorded hostname: this worker's stand-in machine name
                          "AIRFLOW__CORE__HOSTNAME_CALLABLE": "distributed_worker.hostname",
                          "REGWIRE_TEST_MACHINE": worker,
                          "PYTHONPATH": str(REPO / "tests")}
            _start(deployment, worker, [*COMMANDS["worker"], "--celery-hostname", f"{worker}@%h"], worker_env)
        yield deployment
    finally:
        deployment.api.close()
        for name in reversed(list(deployment.procs)):
            _stop_tree(deployment.procs[name])
        redis.stop()
        postgres.stop()
        site.stop()


def _articles(deployment: Deployment) -> list[str]:
    index = f"{deployment.index_prefix}-articles"
    with httpx.Client(trust_env=False, timeout=30) as client:
        client.post(f"{deployment.search_url}/{index}/_refresh")
        found = client.post(f"{deployment.search_url}/{index}/_search",
                            json={"size": 1000, "_source": ["canonical_url"], "query": {"match_all": {}}}).json()
    return [hit["_source"]["canonical_url"] for hit in found["hits"]["hits"]]


def test_poll_spreads_over_two_celery_workers_politely_and_stores_once(deployment: Deployment) -> None:
    started = time.monotonic()
    _wait("the api-server", lambda: deployment.api.get("/api/v2/monitor/health").status_code == 200, 180,
          deployment, 1.0)
    _wait("two Celery workers registered", lambda: all(
        re.search(r"celery@?.*ready|ready\.", (deployment.directory / f"{w}.log").read_text(errors="replace"))
        for w in WORKERS), 180, deployment, 1.0)
    _wait("regwire_poll parsed", lambda: deployment.sql("SELECT 1 FROM dag WHERE dag_id = 'regwire_poll'"), 180,
          deployment, 1.0)
    run_id = "distributed-run"

    def trigger() -> bool:
        response = deployment.api.post("/api/v2/dags/regwire_poll/dagRuns",
                                       json={"dag_run_id": run_id, "logical_date": None})
        return response.status_code in (200, 201, 409)

    _wait("regwire_poll triggered", trigger, 90, deployment, 2.0)

    # kill the worker that is polling the slow feed, mid-request: everything it ran, and its process tree
    _wait("the slow feed requested", lambda: any(p == f"/feeds/source-{SLOW_SOURCE}.xml"
                                                 for _t, _m, p in list(deployment.site.arrivals)), 240, deployment, 0.3)
    victim = _wait("the slow poll's worker recorded", lambda: (rows := deployment.sql(
        "SELECT hostname FROM task_instance WHERE dag_id = 'regwire_poll' AND run_id = %s AND task_id = 'source.poll'"
        " AND map_index = %s AND state = 'running'", run_id, SLOW_SOURCE)) and rows[0][0] in WORKERS and rows[0][0],
        30, deployment, 0.3)
    deployment.killed.add(victim)
    for pid in _tree(deployment.procs[victim].pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    survivor = next(w for w in WORKERS if w != victim)

    def finished() -> str | None:
        rows = deployment.sql("SELECT state FROM dag_run WHERE dag_id = 'regwire_poll' AND run_id = %s", run_id)
        return rows[0][0] if rows and rows[0][0] in ("success", "failed") else None

    state = _wait("regwire_poll to finish", finished, 360, deployment, 2.0)
    tis = deployment.sql("SELECT task_id, map_index, state, hostname, try_number FROM task_instance"
                         " WHERE dag_id = 'regwire_poll' AND run_id = %s ORDER BY task_id, map_index", run_id)
    assert state == "success", f"{tis}\n{deployment.logs()}"
    polls = [ti for ti in tis if ti[0] == "source.poll"]
    assert len(polls) == SOURCES and all(ti[2] == "success" for ti in polls), polls
    # the killed worker's poll was retried, and finished, on the other worker
    slow = next(ti for ti in polls if ti[1] == SLOW_SOURCE)
    assert slow[3] == survivor and slow[4] >= 2, slow
    earlier = deployment.sql("SELECT try_number, hostname, state FROM task_instance_history WHERE dag_id ="
                             " 'regwire_poll' AND run_id = %s AND task_id = 'source.poll' AND map_index = %s"
                             " ORDER BY try_number", run_id, SLOW_SOURCE)
    assert earlier and earlier[0][1] == victim and earlier[0][2] != "success", earlier
    # the mapped source polls ran on both machines
    history = deployment.sql("SELECT hostname FROM task_instance_history WHERE dag_id = 'regwire_poll' AND run_id = %s"
                             " AND task_id = 'source.poll'", run_id)
    assert {ti[3] for ti in polls} | {h for (h,) in history} == set(WORKERS), polls
    # and both finished tasks for good: the victim got the last poll only after finishing work of its own
    assert {ti[3] for ti in tis if ti[2] == "success"} == set(WORKERS), tis

    # the per-host delay held across both workers: the site's own arrival log
    arrivals = sorted(t for t, _method, _path in deployment.site.arrivals)
    paths = [p for _t, _m, p in deployment.site.arrivals]
    assert sum(p.startswith("/feeds/") for p in paths) >= SOURCES
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert gaps and min(gaps) >= HOST_DELAY - ARRIVAL_SLACK, sorted(gaps)[:5]

    # every article stored once: the killed try's writes (if any got through) and the retry's are the same documents
    stored = _articles(deployment)
    expected = {url for urls in deployment.feeds.values() for url in urls}  # type: ignore[attr-defined]
    duplicates = [url for url, n in Counter(stored).items() if n > 1]
    assert not duplicates, duplicates
    assert set(stored) == expected, sorted(expected - set(stored))
    print(f"distributed: {len(stored)} articles, {len(arrivals)} requests, run took "
          f"{time.monotonic() - started:.1f}s; killed {victim}; successful tasks per worker "
          f"{Counter(ti[3] for ti in tis if ti[2] == 'success')}; earlier tries {Counter(h for (h,) in history)}",
          file=sys.stderr)
