"""robots.txt per origin, fetched once and kept ``ttl`` seconds, with RFC 9309's rules for errors."""

from __future__ import annotations

import threading
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass


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
