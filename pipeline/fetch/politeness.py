"""Per-host politeness shared by feed polls and article fetches: a concurrency cap and a minimum delay between
request starts, on every path that fetches (the command line and Airflow tasks alike).

The delay is booked in a :class:`SlotBook`: where each host's next request may start. One book serves every fetcher
that shares it, so the delay holds across them:

    MemorySlotBook      threads of one process
    FileSlotBook        every process on one machine that uses the same directory (``REGWIRE_HOME/hosts``), through
                        one lock file per host: concurrent ``regwire run`` processes and Airflow workers on one host

    RedisSlotBook       every worker on every machine that reaches one Redis (``REGWIRE_HOST_BOOK``; in
                        :mod:`pipeline.fetch.redis_slots`): Celery workers spread over machines

A host's
delay can be raised (robots.txt Crawl-delay, a server's 429) but never drops below the configured minimum; a server's
Retry-After holds the host in the book (:meth:`SlotBook.hold`) for every process sharing it.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol


class SlotBook(Protocol):
    def reserve(self, host: str, delay: float, now: float) -> float:
        """Book the next start for ``host`` at least ``delay`` seconds after the previous one; returns the start."""

    def hold(self, host: str, until: float) -> None:
        """Nothing may start on ``host`` before ``until`` (a server's Retry-After); never shortens a longer hold."""

    def held_until(self, host: str) -> float:
        """When ``host``'s hold ends (0 when it has none)."""


class MemorySlotBook:
    """Next starts kept in this process."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}
        self._holds: dict[str, float] = {}
        self._lock = threading.Lock()

    def hold(self, host: str, until: float) -> None:
        with self._lock:
            self._holds[host] = max(until, self._holds.get(host, 0.0))

    def held_until(self, host: str) -> float:
        return self._holds.get(host, 0.0)

    def reserve(self, host: str, delay: float, now: float) -> float:
        with self._lock:
            start = max(now, self._next.get(host, 0.0))
            self._next[host] = start + delay
            return start


_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")


class FileSlotBook:
    """Next starts kept in ``directory/<host>.next``, one exclusive ``flock`` per booking, so every process that
    uses the directory waits for the others. The clock must be wall time (``time.time``): processes share it."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def _update(self, host: str, suffix: str, update: Callable[[float], tuple[float, float]]) -> float:
        """Read the time in ``<host><suffix>`` under an exclusive lock, write ``update(it)[0]``, return ``[1]``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / (_UNSAFE.sub("_", host.lower()) + suffix)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.read(fd, 64).decode("ascii", "replace").strip()
            try:
                booked = float(raw) if raw else 0.0
            except ValueError:
                booked = 0.0
            stored, result = update(booked)
            if stored != booked:
                os.lseek(fd, 0, os.SEEK_SET)
                os.ftruncate(fd, 0)
                os.write(fd, f"{stored:.6f}".encode("ascii"))
            return result
        finally:
            os.close(fd)  # closing releases the lock

    def reserve(self, host: str, delay: float, now: float) -> float:
        def book(booked: float) -> tuple[float, float]:
            # the time now, not when the lock was asked for: waiting for it may have taken a while
            start = max(now, time.time(), booked)
            return start + delay, start

        return self._update(host, ".next", book)

    def hold(self, host: str, until: float) -> None:
        self._update(host, ".hold", lambda held: (max(held, until), 0.0))

    def held_until(self, host: str) -> float:
        return self._update(host, ".hold", lambda held: (held, held))


#: the most a server's 429 widens its host's delay between requests (seconds)
MAX_WIDENED_DELAY = 60.0


class HostLimiter:
    """At most ``concurrency`` requests in flight per host (in this process), and ``delay`` seconds between request
    starts (wherever ``book`` is shared)."""

    def __init__(self, delay: float = 1.0, concurrency: int = 1, *, book: SlotBook | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.delay, self.concurrency = delay, max(1, concurrency)
        self.book: SlotBook = book or MemorySlotBook()
        self._clock, self._sleep = clock, sleep
        self._slots: dict[str, threading.Semaphore] = {}
        self._delays: dict[str, float] = {}
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting for politeness; reported by benchmarks

    def _semaphore(self, host: str) -> threading.Semaphore:
        with self._lock:
            slots = self._slots.get(host)
            if slots is None:
                slots = self._slots[host] = threading.Semaphore(self.concurrency)
            return slots

    def delay_for(self, host: str) -> float:
        return self._delays.get(host, self.delay)

    def set_delay(self, host: str, delay: float) -> None:
        """Raise ``host``'s delay (a Crawl-delay); never below the configured minimum."""
        self._delays[host] = max(self.delay, delay)

    def hold(self, host: str, until: float) -> None:
        """The host asked for a pause (429/503 Retry-After): nothing starts before ``until`` in any process sharing
        the book, and this process's delay for the host is widened (doubled, at least 1 s, at most a minute)."""
        self.book.hold(host, until)
        self._delays[host] = max(self.delay_for(host), min(MAX_WIDENED_DELAY, max(1.0, 2 * self.delay_for(host))))

    def held_until(self, host: str) -> float:
        return self.book.held_until(host)

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        with self._semaphore(host):
            if (held := self.held_until(host) - self._clock()) > 0:
                self.waited += held
                self._sleep(held)
            delay = self.delay_for(host)
            if delay > 0:
                now = self._clock()
                wait = self.book.reserve(host, delay, now) - self._clock()  # the booking itself may take a while
                if wait > 0:
                    self.waited += wait
                    self._sleep(wait)
            yield
