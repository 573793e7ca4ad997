"""A real OpenSearch node for the test suite, and a compatibility shim for the elasticsearch-py client.

``SearchNode`` runs ``scripts/search-node`` (OpenSearch from Maven Central jars, see tests/opensearch/) as a child
process in its own process group, on a free 127.0.0.1 port, and waits until the cluster is yellow. Nothing here
imports pytest: ``search_node_fixture()`` is a plain generator that a pytest fixture wraps.

``CompatProxy`` is a small loopback HTTP proxy in front of that node so that the ``elasticsearch`` Python client
(8.x/9.x) can talk to it: it rewrites Elasticsearch's versioned media types to plain JSON/NDJSON, adds the
``X-Elastic-Product: Elasticsearch`` header the client insists on, and reports an Elasticsearch-like version on
``GET /``. It lets tests exercise the elasticsearch-py code path against a real search engine; it is not
Elasticsearch, and anything that differs between the two engines (ILM vs ISM, newer ES-only APIs) is not covered.
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "search-node"

# Plugins the node must report as loaded; the launcher refuses to start without them as well.
REQUIRED_PLUGINS = (
    "org.opensearch.transport.Netty4Plugin",
    "org.opensearch.analysis.common.CommonAnalysisPlugin",
    "org.opensearch.percolator.PercolatorPlugin",
    "org.opensearch.index.mapper.MapperExtrasPlugin",
    "org.opensearch.index.reindex.ReindexPlugin",
    "org.opensearch.painless.PainlessPlugin",
)


class SearchNodeError(RuntimeError):
    """The node could not be fetched, started or stopped."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def fetch(timeout: float = 900.0) -> None:
    """Resolve the node's jars (once; fast when already there). Raises SearchNodeError on any failure."""
    try:
        proc = subprocess.run(
            [str(SCRIPT), "fetch"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            text=True,
        )
    except FileNotFoundError as e:
        raise SearchNodeError(f"cannot run {SCRIPT}: {e}") from e
    except subprocess.TimeoutExpired as e:
        raise SearchNodeError(f"'{SCRIPT} fetch' took longer than {timeout:.0f}s") from e
    if proc.returncode != 0:
        raise SearchNodeError(
            f"'{SCRIPT} fetch' failed (exit {proc.returncode}); Maven and a JDK 17+ are required:\n"
            + _tail(proc.stdout)
        )


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


class SearchNode:
    """One OpenSearch node in a child JVM, bound to 127.0.0.1.

    ``start()`` picks a free port (unless one is given), launches the JVM and waits for yellow health.
    ``stop()`` ends it by PID (SIGTERM, then SIGKILL to its process group if it lingers); the data dir is kept,
    so ``restart()`` brings the same node back on the same port with the same indices. ``close()`` stops it and
    removes the data dir if this object created it. Also a context manager (start on enter, close on exit).
    """

    def __init__(
        self,
        data_dir: os.PathLike | str | None = None,
        port: int | None = None,
        startup_timeout: float = 120.0,
        heap: str = "512m",
    ) -> None:
        self._own_data_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.port = port
        self._port_given = port is not None
        self.startup_timeout = startup_timeout
        self.heap = heap
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.startup_seconds: float | None = None
        self._log_file = None

    # -- properties ----------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise SearchNodeError("node has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return _tail(self.log_path.read_text(errors="replace"), lines)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> SearchNode:
        if self.running:
            raise SearchNodeError(f"node already running (pid {self.pid})")
        fetch()
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="regwire-search-node-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self._port_given else 3
        for attempt in range(1, attempts + 1):
            if not self._port_given:
                self.port = free_port()
            try:
                self._launch_and_wait()
                return self
            except SearchNodeError:
                # A free port picked by us can be taken by someone else before the JVM binds it: try another.
                lost_port_race = "BindException" in self.log_tail(200)
                if attempt < attempts and lost_port_race:
                    continue
                raise
        raise AssertionError("unreachable")

    def _launch_and_wait(self) -> None:
        assert self.data_dir is not None and self.port is not None
        self.log_path = self.data_dir / "search-node.log"
        self._log_file = open(self.log_path, "ab")
        env = dict(os.environ)
        env["SEARCH_NODE_HEAP"] = self.heap
        env["SEARCH_NODE_PARENT_PID"] = str(os.getpid())
        t0 = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                [str(SCRIPT), "start", str(self.port), str(self.data_dir)],
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: a Ctrl-C at the terminal does not reach it
                env=env,
            )
        except OSError as e:
            self._close_log()
            raise SearchNodeError(f"cannot run {SCRIPT}: {e}") from e
        _live_nodes.add(self)
        try:
            self._wait_healthy(t0)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0

    def _wait_healthy(self, t0: float) -> None:
        deadline = t0 + self.startup_timeout
        health = f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=2s"
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise SearchNodeError(
                    f"search node exited with status {code} before it was healthy; log {self.log_path}:\n"
                    + self.log_tail()
                )
            try:
                with urllib.request.urlopen(health, timeout=5) as resp:
                    body = json.load(resp)
                if body.get("status") in ("yellow", "green"):
                    return
                last_error = f"status {body.get('status')}"
            except (urllib.error.URLError, ConnectionError, OSError, ValueError) as e:
                last_error = repr(e)
            time.sleep(0.25)
        raise SearchNodeError(
            f"search node not healthy after {self.startup_timeout:.0f}s ({last_error}); log {self.log_path}:\n"
            + self.log_tail()
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the JVM by PID; keep the data dir. Safe to call twice."""
        proc, self.proc = self.proc, None
        _live_nodes.discard(self)
        try:
            if proc is None or proc.poll() is not None:
                return
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        finally:
            self._close_log()

    def restart(self) -> SearchNode:
        """Stop and start again on the same port with the same data dir (indices survive)."""
        if self.port is None or self.data_dir is None:
            raise SearchNodeError("restart() before start()")
        self.stop()
        self._port_given = True  # the same port, whatever happens
        return self.start()

    def close(self) -> None:
        """Stop the node and remove its data dir if this object created it."""
        self.stop()
        if self._own_data_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> SearchNode:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SearchNode(url={self.url if self.port else None}, pid={self.pid}, data_dir={self.data_dir})"

    # -- checks --------------------------------------------------------------------------------------------------

    def loaded_plugins(self) -> set[str]:
        with urllib.request.urlopen(f"{self.url}/_nodes/_local/plugins", timeout=10) as resp:
            nodes = json.load(resp)["nodes"]
        return {p["name"] for node in nodes.values() for p in node.get("plugins", []) + node.get("modules", [])}

    def rss_bytes(self) -> int | None:
        """Resident memory of the JVM (Linux), or None."""
        if self.pid is None:
            return None
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None


# Nodes still running when the interpreter exits are stopped (the JVM also watches our PID, for a hard kill).
_live_nodes: set[SearchNode] = set()


@atexit.register
def _stop_live_nodes() -> None:
    for node in list(_live_nodes):
        node.stop(timeout=10)


def search_node_fixture(**kwargs) -> Iterator[SearchNode]:
    """Generator for a session fixture: start a node, check its plugins, yield it, close it.

    Fails (raises) when Maven or Java is missing: the suite must not skip the search tests silently.
    """
    node = SearchNode(**kwargs)
    node.start()
    try:
        missing = set(REQUIRED_PLUGINS) - node.loaded_plugins()
        if missing:
            raise SearchNodeError(f"search node lacks required plugins: {sorted(missing)}")
        yield node
    finally:
        node.close()


_shared: dict[str, object] = {}
_shared_lock = threading.Lock()


def shared_search_node() -> SearchNode:
    """One node per test process, started on first use and closed at exit.

    Several test modules need the node; a session fixture defined in each module would start one node per module,
    so their fixtures call this instead (conftest.py is not ours to change). Tests that stop the node (restart
    tests) bring it back before they return, or use a node of their own.
    """
    with _shared_lock:
        node = _shared.get("node")
        if isinstance(node, SearchNode) and node.running:
            return node
        node = SearchNode()
        node.start()
        missing = set(REQUIRED_PLUGINS) - node.loaded_plugins()
        if missing:
            node.close()
            raise SearchNodeError(f"search node lacks required plugins: {sorted(missing)}")
        _shared["node"] = node
        atexit.register(node.close)
        return node


def shared_compat_proxy() -> CompatProxy:
    """One CompatProxy in front of the shared node (it reconnects per request, so it survives restarts)."""
    node = shared_search_node()
    with _shared_lock:
        proxy = _shared.get("proxy")
        if isinstance(proxy, CompatProxy) and proxy.upstream[1] == node.port:
            return proxy
        proxy = CompatProxy(node.url).start()
        _shared["proxy"] = proxy
        atexit.register(proxy.stop)
        return proxy


# ------------------------------------------------------------------------------------------------------------------
# elasticsearch-py compatibility shim
# ------------------------------------------------------------------------------------------------------------------

_ES_MEDIA_TYPES = {
    "application/vnd.elasticsearch+json": "application/json",
    "application/vnd.elasticsearch+x-ndjson": "application/x-ndjson",
}
_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "content-length", "host",
}


def _plain_media_type(value: str) -> str:
    """'application/vnd.elasticsearch+json; compatible-with=9' -> 'application/json' (other values unchanged)."""
    parts = [p.strip() for p in value.split(",")]
    out = []
    for part in parts:
        base = part.split(";", 1)[0].strip().lower()
        out.append(_ES_MEDIA_TYPES.get(base, part))
    return ", ".join(out)


class CompatProxy:
    """Loopback HTTP proxy that lets elasticsearch-py 8/9 talk to an OpenSearch node.

    Rewrites request ``Accept``/``Content-Type`` from ``application/vnd.elasticsearch+json; compatible-with=N``
    (and the ``+x-ndjson`` variant) to ``application/json``/``application/x-ndjson``, forwards method, path and body
    unchanged, adds ``X-Elastic-Product: Elasticsearch`` to every response and, on ``GET /``, reports
    ``version.number`` = ``es_version`` (the real OpenSearch version stays in ``version.opensearch_number``).
    Bodies are buffered. One upstream connection per request, so it survives a node restart.
    """

    def __init__(self, upstream_url: str, es_version: str = "9.0.0") -> None:
        if not upstream_url.startswith("http://"):
            raise ValueError("upstream must be a plain http:// URL")
        hostport = upstream_url[len("http://"):].rstrip("/")
        host, _, port = hostport.rpartition(":")
        self.upstream = (host, int(port))
        self.es_version = es_version
        self.requests_seen = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("proxy not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> CompatProxy:
        handler = type("Handler", (_CompatHandler,), {"proxy": self})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="compat-proxy", daemon=True)
        self._thread.start()
        return self

    def _rewrite_root(self, data: bytes) -> bytes:
        try:
            info = json.loads(data)
        except ValueError:
            return data
        version = info.setdefault("version", {})
        version["opensearch_number"] = version.get("number")
        version["opensearch_distribution"] = version.pop("distribution", None)
        version["number"] = self.es_version
        version.setdefault("build_flavor", "default")
        info["tagline"] = "You Know, for Search (OpenSearch behind regwire's test compatibility proxy)"
        return json.dumps(info).encode()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> CompatProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def compat_proxy_fixture(node: SearchNode, es_version: str = "9.0.0") -> Iterator[CompatProxy]:
    """Generator for a fixture: a CompatProxy in front of ``node``."""
    proxy = CompatProxy(node.url, es_version=es_version).start()
    try:
        yield proxy
    finally:
        proxy.stop()


class _CompatHandler(BaseHTTPRequestHandler):
    """One request through the compat proxy; ``proxy`` is set on a per-proxy subclass."""

    proxy: CompatProxy

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self) -> None:
        self.proxy.requests_seen += 1
        body = self._body()
        headers = {}
        for name, value in self.headers.items():
            lname = name.lower()
            if lname in _HOP_BY_HOP:
                continue
            if lname in ("accept", "content-type"):
                value = _plain_media_type(value)
            headers[name] = value
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(*self.proxy.upstream, timeout=120)
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status, reason, resp_headers = resp.status, resp.reason, resp.getheaders()
        except (OSError, http.client.HTTPException) as e:
            msg = json.dumps({"error": f"compat proxy: upstream unreachable: {e!r}"}).encode()
            self.send_response(502)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(msg)))
            self.send_header("X-Elastic-Product", "Elasticsearch")
            self.end_headers()
            self.wfile.write(msg)
            return
        finally:
            conn.close()

        if self.command == "GET" and self.path.split("?", 1)[0] in ("", "/") and status == 200:
            data = self.proxy._rewrite_root(data)

        self.send_response(status, reason)
        content_length = None
        for name, value in resp_headers:
            lname = name.lower()
            if lname == "content-length":
                content_length = value
            if lname in _HOP_BY_HOP or lname == "x-elastic-product":
                continue
            self.send_header(name, value)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        if self.command == "HEAD":
            self.send_header("Content-Length", content_length or "0")
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _forward
