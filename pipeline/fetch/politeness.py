"""Per-host politeness shared by feed polls and article fetches: a concurrency cap, a minimum delay, robots.txt.

Each piece is small and can be switched off through settings (``host_concurrency``, ``host_delay``, ``obey_robots``).
"""

from __future__ import annotations

import threading
import time
import urllib.robotparser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class _HostState:
    slots: threading.Semaphore
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_start: float = 0.0
    delay: float = 0.0


class HostLimiter:
    """At most ``concurrency`` requests in flight per host, and ``delay`` seconds between request starts.

    A host's delay can be raised (robots.txt Crawl-delay) but never drops below the configured minimum.
    """

    def __init__(self, delay: float = 1.0, concurrency: int = 1, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.delay, self.concurrency = delay, max(1, concurrency)
        self._clock, self._sleep = clock, sleep
        self._hosts: dict[str, _HostState] = {}
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting for politeness; reported by benchmarks

    def _state(self, host: str) -> _HostState:
        with self._lock:
            state = self._hosts.get(host)
            if state is None:
                state = self._hosts[host] = _HostState(threading.Semaphore(self.concurrency), delay=self.delay)
            return state

    def set_delay(self, host: str, delay: float) -> None:
        state = self._state(host)
        state.delay = max(self.delay, delay)

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        state = self._state(host)
        with state.slots:
            with state.lock:
                now = self._clock()
                start = max(now, state.next_start)
                state.next_start = start + state.delay
            if start > now:
                self.waited += start - now
                self._sleep(start - now)
            yield


@dataclass
class _Robots:
    parser: urllib.robotparser.RobotFileParser | None  # None: everything allowed
    fetched_at: float
    disallow_all: bool = False


class RobotsCache:
    """robots.txt per origin, fetched once and kept ``ttl`` seconds (RFC 9309 rules for errors).

    ``fetch_robots(origin)`` returns (status, text) and is supplied by the fetcher, so robots.txt requests go through
    the same guard and politeness as everything else.
    """

    def __init__(self, fetch_robots: Callable[[str], tuple[int, str]], *, agent: str = "regwire", ttl: float = 86400,
                 clock: Callable[[], float] = time.monotonic):
        self._fetch, self.agent, self.ttl, self._clock = fetch_robots, agent, ttl, clock
        self._cache: dict[str, _Robots] = {}
        self._lock = threading.Lock()
        self._origin_locks: dict[str, threading.Lock] = {}

    def _load(self, origin: str) -> _Robots:
        with self._lock:
            origin_lock = self._origin_locks.setdefault(origin, threading.Lock())
        with origin_lock:  # one fetch per origin, even when several workers ask at once
            cached = self._cache.get(origin)
            if cached is not None and self._clock() - cached.fetched_at < self.ttl:
                return cached
            entry = self._fetch_entry(origin)
            self._cache[origin] = entry
            return entry

    def _fetch_entry(self, origin: str) -> _Robots:
        try:
            status, text = self._fetch(origin)
        except Exception:  # noqa: BLE001 - an unreachable robots.txt means "assume disallowed" (RFC 9309 2.3.1.4)
            entry = _Robots(None, self._clock(), disallow_all=True)
        else:
            if 200 <= status < 300:
                parser = urllib.robotparser.RobotFileParser()
                parser.parse(text.splitlines())
                entry = _Robots(parser, self._clock())
            elif 400 <= status < 500:
                entry = _Robots(None, self._clock())  # unavailable: everything allowed
            else:
                entry = _Robots(None, self._clock(), disallow_all=True)  # unreachable: nothing allowed for now
        return entry

    def allowed(self, origin: str, url: str) -> bool:
        entry = self._load(origin)
        if entry.disallow_all:
            return False
        return entry.parser is None or entry.parser.can_fetch(self.agent, url)

    def crawl_delay(self, origin: str) -> float | None:
        entry = self._load(origin)
        if entry.parser is None:
            return None
        delay = entry.parser.crawl_delay(self.agent)
        return float(delay) if delay is not None else None
