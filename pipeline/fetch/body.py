"""Bounded reading of a response: the body is decoded here, step by step, never by httpx.

httpx decodes a whole received chunk at once, so a few kilobytes of stacked gzip expand to gigabytes before any cap can
be checked. Here the raw bytes are fed to one decompressor whose output per step is limited (``max_length``), the cap
is checked after every step, and only one Content-Encoding layer of a known kind is accepted: peak memory stays a small
multiple of the byte cap whatever the server sends.

The deadline is enforced by :class:`DeadlineBackend`: every socket operation (connect, each read and write, headers
included) gets at most the time left before the request's wall-clock deadline, so a server that trickles its headers
one byte a second is cut off at the deadline, not after one read timeout per byte.
"""

from __future__ import annotations

import contextvars
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from ..errors import ContentEncodingError, ResponseTooLargeError

#: the encodings asked for and accepted; anything else a server sends is refused
ACCEPT_ENCODING = "gzip, deflate"
#: decompressed bytes produced per step: the cap is checked between steps
STEP = 64 * 1024

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("regwire_fetch_deadline", default=None)


class _Identity:
    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        return data

    @property
    def unconsumed_tail(self) -> bytes:
        return b""


class _Deflate:
    """``deflate`` is zlib-wrapped per RFC 9110, but some servers send raw deflate: decide on the first bytes."""

    def __init__(self) -> None:
        self._inner: Any = None

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        if self._inner is None:
            if not data:
                return b""
            raw = (data[0] & 0x0F) != 8 or ((data[0] << 8) | (data[1] if len(data) > 1 else 0)) % 31 != 0
            self._inner = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        return bytes(self._inner.decompress(data, max_length))

    @property
    def unconsumed_tail(self) -> bytes:
        return bytes(self._inner.unconsumed_tail) if self._inner is not None else b""


def _decoder(url: str, content_encoding: str) -> Any:
    layers = [part.strip().lower() for part in content_encoding.split(",") if part.strip()]
    layers = [layer for layer in layers if layer != "identity"]
    if len(layers) > 1:
        raise ContentEncodingError(url, f"refused stacked Content-Encoding {content_encoding!r} (one layer at most)")
    if not layers:
        return _Identity()
    if layers[0] in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if layers[0] == "deflate":
        return _Deflate()
    raise ContentEncodingError(url, f"refused unknown Content-Encoding {layers[0]!r} (accepted: {ACCEPT_ENCODING})")


def read_bounded(url: str, raw_chunks: Iterable[bytes], content_encoding: str, max_bytes: int) -> bytes:
    """The decoded body of ``raw_chunks``; raises :class:`ResponseTooLargeError` as soon as it passes ``max_bytes``.

    Both the raw and the decoded size are capped; decoding never produces more than :data:`STEP` bytes past the cap.
    """
    decoder = _decoder(url, content_encoding)
    body = bytearray()
    received = 0
    for chunk in raw_chunks:
        received += len(chunk)
        if received > max_bytes:
            raise ResponseTooLargeError(url, f"body exceeds the {max_bytes}-byte cap")
        pending = chunk
        while pending:
            body += decoder.decompress(pending, STEP)
            if len(body) > max_bytes:
                raise ResponseTooLargeError(url, f"decoded body exceeds the {max_bytes}-byte cap")
            pending = decoder.unconsumed_tail
    while tail := decoder.decompress(b"", STEP):  # output the decompressor may still hold, step by step
        body += tail
        if len(body) > max_bytes:
            raise ResponseTooLargeError(url, f"decoded body exceeds the {max_bytes}-byte cap")
    return bytes(body)


# -- the deadline ---------------------------------------------------------------------------------------------------

@contextmanager
def deadline(at: float) -> Iterator[None]:
    """Every socket operation of this thread's requests inside the block ends by ``at`` (``time.monotonic``)."""
    token = _deadline.set(at)
    try:
        yield
    finally:
        _deadline.reset(token)


def _bounded(timeout: float | None, exc: type[Exception]) -> float | None:
    at = _deadline.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise exc("the request's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return DeadlineStream(self.inner.start_tls(ssl_context, server_hostname,
                                                   _bounded(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend with every operation bounded by the current request's deadline."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None):
        self.inner = inner or httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return DeadlineStream(self.inner.connect_tcp(host, port, _bounded(timeout, httpcore.ConnectTimeout),
                                                     local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return DeadlineStream(self.inner.connect_unix_socket(path, _bounded(timeout, httpcore.ConnectTimeout),
                                                             socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def deadline_transport(**kwargs: Any) -> httpx.HTTPTransport:
    """httpx's HTTP transport whose sockets obey :func:`deadline` (the transport every fetcher should wrap)."""
    transport = httpx.HTTPTransport(**kwargs)
    pool = transport._pool  # noqa: SLF001 - httpx has no public hook for the network backend
    if not isinstance(getattr(pool, "_network_backend", None), httpcore.NetworkBackend):
        # a silently ignored backend would leave requests without their deadline: fail loudly on an httpx upgrade
        raise RuntimeError("httpx/httpcore changed: cannot install the deadline backend")
    pool._network_backend = DeadlineBackend(pool._network_backend)  # noqa: SLF001
    return transport
