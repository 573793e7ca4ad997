"""A small HTTP server on 127.0.0.1 that serves a directory of files (the bundled sample news site by default).

``{{base_url}}`` in any served file becomes the server's own origin, so feeds can carry absolute links. Files get an
ETag and Last-Modified and answer conditional requests with 304, as a well-behaved news site does. Tests add routes
with their own behaviour (errors, Retry-After, trickling bodies...) through :meth:`LoopbackSite.route`; POST bodies are
recorded in :attr:`LoopbackSite.posted` (the demo's alert webhook).
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

_TYPES = {".xml": "application/xml; charset=utf-8", ".json": "application/feed+json; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8"}
_STARTED = formatdate(usegmt=True)


def demo_sources_path() -> Path:
    """The demo's sources file (``{{base_url}}`` placeholders for the loopback site's address)."""
    return Path(str(resources.files("pipeline.demo") / "sources.yaml"))


def site_root() -> Path:
    return Path(str(resources.files("pipeline.demo") / "site"))


@dataclass
class Response:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[BaseHTTPRequestHandler], Response]


class LoopbackSite:
    """Serve ``root`` on 127.0.0.1 (a free port unless given). Use as a context manager or start()/stop()."""

    def __init__(self, root: Path | None = None, *, port: int = 0):
        self.root = root or site_root()
        self.routes: dict[str, Handler] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers) seen, for tests
        self.posted: list[tuple[str, bytes]] = []  # (path, body) of every POST: the demo's alert webhook
        #: (wall time the request line was read, method, path): per-host politeness is asserted from this log
        self.arrivals: list[tuple[float, str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(self, path: str, handler: Handler | Response) -> None:
        """Answer ``path`` (without query) with ``handler`` instead of a file."""
        if isinstance(handler, Response):
            response = handler

            def handler(_request: BaseHTTPRequestHandler) -> Response:
                return response

        self.routes[path] = handler

    def paths_requested(self) -> list[str]:
        return [path for _method, path, _headers in self.requests]

    def start(self) -> LoopbackSite:
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-site", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LoopbackSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def render(self, path: str) -> bytes | None:
        """A file of the site with its placeholder filled in, or None when there is no such file."""
        relative = path.lstrip("/") or "index.html"
        target = (self.root / relative).resolve()
        if self.root.resolve() not in target.parents or not target.is_file():
            return None
        return target.read_bytes().replace(b"{{base_url}}", self.base_url.encode("ascii"))

    def _file_response(self, request: BaseHTTPRequestHandler, path: str) -> Response:
        body = self.render(path)
        if body is None:
            return Response(404, b"not found", {"Content-Type": "text/plain"})
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        suffix = Path(path).suffix or ".html"
        headers = {"Content-Type": _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream",
                   "ETag": etag, "Last-Modified": _STARTED}
        if request.headers.get("If-None-Match") == etag:
            return Response(304, b"", headers)
        return Response(200, body, headers)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: with Nagle's algorithm the body waits for the client's delayed
            # ACK (~40 ms a response on a keep-alive connection), which real servers do not make clients wait for
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                site.arrivals.append((time.time(), "GET", self.path))
                path = urlsplit(self.path).path
                site.requests.append(("GET", self.path, dict(self.headers.items())))
                handler = site.routes.get(path)
                response = handler(self) if handler else site._file_response(self, path)
                self._send(response)

            def do_POST(self) -> None:  # noqa: N802
                site.arrivals.append((time.time(), "POST", self.path))
                path = urlsplit(self.path).path
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                site.requests.append(("POST", self.path, dict(self.headers.items())))
                site.posted.append((path, body))
                handler = site.routes.get(path)
                self._send(handler(self) if handler else Response(404, b"not found"))

            def _send(self, response: Response) -> None:
                self.send_response(response.status)
                headers = dict(response.headers)
                body = response.body
                if isinstance(body, bytes):
                    headers.setdefault("Content-Length", str(len(body)))
                else:
                    headers["Connection"] = "close"  # streamed: the end of the body is the end of the connection
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    if isinstance(body, bytes):
                        self.wfile.write(body)
                    else:
                        for chunk in body:
                            self.wfile.write(chunk)
                            self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (byte cap, deadline): that is the point of those tests
                if not isinstance(body, bytes):
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep test output quiet
                pass

        return _Handler
