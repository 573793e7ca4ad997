"""A hostile HTTP server on 127.0.0.1 for the fetcher's robustness tests: raw sockets, so it can do what a polite
server never would (trickle its headers a byte at a time, stack compression, lie about lengths) and count the TCP
connections it accepts (keep-alive checks).

Routes map a path to a :class:`Reply` (sent as given, keep-alive when it has a Content-Length) or to a function that
writes to the socket itself.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Writer = Callable[[socket.socket], None]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def raw(self) -> bytes:
        headers = {"Content-Length": str(len(self.body)), **self.headers}
        head = f"HTTP/1.1 {self.status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        return head.encode("latin-1") + self.body


def gzip_bomb(decoded_bytes: int, layers: int = 1) -> bytes:
    """``decoded_bytes`` of zeros gzip-compressed ``layers`` times, compressed as a stream (never held decoded):
    512 MiB of zeros become ~500 KB with one layer, a few KB with two."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1024 * 1024)
    parts = []
    for _ in range(decoded_bytes // len(zeros)):
        parts.append(compressor.compress(zeros))
    parts.append(compressor.compress(b"\0" * (decoded_bytes % len(zeros))) + compressor.flush())
    body = b"".join(parts)
    for _ in range(layers - 1):
        body = gzip.compress(body, compresslevel=9, mtime=0)
    return body


def trickle_headers(interval: float = 1.0, count: int = 120) -> Writer:
    """A status line, then one header byte every ``interval`` seconds, never finishing the headers."""

    def write(sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nX-Slow: ")
        for _ in range(count):
            time.sleep(interval)
            sock.sendall(b"a")

    return write


class HostileServer:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.routes: dict[str, Reply | Writer] = {}
        self.connections = 0  #: TCP connections accepted
        self.requests: list[str] = []  #: paths asked for, in order
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(self, path: str, reply: Reply | Writer) -> None:
        self.routes[path] = reply

    def __enter__(self) -> HostileServer:
        thread = threading.Thread(target=self._accept, daemon=True, name="hostile-accept")
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True, name="hostile-conn").start()

    def _requests(self, conn: socket.socket) -> Iterator[str]:
        buffer = b""
        while not self._stop.is_set():
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            yield head.split(b" ", 2)[1].decode("latin-1").split("?", 1)[0]

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                for path in self._requests(conn):
                    with self._lock:
                        self.requests.append(path)
                    reply = self.routes.get(path, Reply(404, b"not found"))
                    if isinstance(reply, Reply):
                        conn.sendall(reply.raw())
                        if "close" in reply.headers.get("Connection", "").lower():
                            return
                    else:
                        reply(conn)
                        return
            except OSError:
                return  # the client hung up: that is what the tests want
