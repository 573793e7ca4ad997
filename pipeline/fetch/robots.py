"""robots.txt per origin, parsed by protego (RFC 9309: ``*`` and ``$`` in paths, the longest match wins, Allow wins a
tie), fetched once and kept ``ttl`` seconds, with RFC 9309's rules for errors:

    2xx                     the rules apply
    4xx (unavailable)       everything is allowed (RFC 9309 2.3.1.3); so are more redirects than the fetcher follows
    5xx, 429, timeouts,     unreachable: nothing is allowed *for now* (2.3.1.4). That is not a verdict on the page:
    connection failures     :class:`RobotsUnavailableError` is transient, the page is tried again on a later poll,
                            and robots.txt is asked again after ``retry`` seconds (a copy fetched earlier is used
                            meanwhile when there is one, as 2.4 allows)
    address guard refusal,  re-raised as they are: the page's own host is refused, or asked for a pause
    Retry-After hold
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from protego import Protego

from ..errors import (
    BlockedURLError,
    FetchError,
    InvalidURLError,
    RateLimitedError,
    RobotsUnavailableError,
    TooManyRedirectsError,
)

#: seconds before an unreachable robots.txt is asked again
RETRY_UNREACHABLE = 300.0


@dataclass
class _Robots:
    parser: Protego | None  #: None: everything allowed (no robots.txt)
    fetched_at: float
    unreachable: str | None = None  #: why robots.txt could not be read (nothing allowed until it can)


class RobotsCache:
    """robots.txt per origin, fetched once and kept ``ttl`` seconds.

    ``fetch_robots(origin)`` returns (status, text) or raises a :class:`FetchError`; the fetcher supplies it, so
    robots.txt requests go through the same guard and politeness as everything else.
    """

    def __init__(self, fetch_robots: Callable[[str], tuple[int, str]], *, agent: str = "regwire", ttl: float = 86400,
                 clock: Callable[[], float] = time.monotonic, retry: float = RETRY_UNREACHABLE):
        self._fetch, self.agent, self.ttl, self._clock = fetch_robots, agent, ttl, clock
        self.retry = min(retry, ttl) if ttl > 0 else 0.0
        self._cache: dict[str, _Robots] = {}
        self._good: dict[str, _Robots] = {}  # the last robots.txt that could be read, per origin
        self._lock = threading.Lock()
        self._origin_locks: dict[str, threading.Lock] = {}

    def _load(self, origin: str) -> _Robots:
        with self._lock:
            origin_lock = self._origin_locks.setdefault(origin, threading.Lock())
        with origin_lock:  # one fetch per origin, even when several workers ask at once
            cached = self._cache.get(origin)
            keep = self.retry if cached is not None and cached.unreachable else self.ttl
            if cached is not None and self._clock() - cached.fetched_at < keep:
                return cached
            entry = self._fetch_entry(origin)
            self._cache[origin] = entry
            if entry.unreachable is None:
                self._good[origin] = entry
            return entry

    def _fetch_entry(self, origin: str) -> _Robots:
        now = self._clock()
        try:
            status, text = self._fetch(origin)
        except (BlockedURLError, InvalidURLError, RateLimitedError):
            raise  # the page's own host is refused, or has asked for a pause: no answer about robots.txt
        except TooManyRedirectsError:
            return _Robots(None, now)  # RFC 9309 2.3.1.2: past the redirects followed, robots.txt is unavailable
        except FetchError as exc:
            return _Robots(None, now, unreachable=exc.reason)
        if 200 <= status < 300:
            return _Robots(Protego.parse(text), now)
        if 400 <= status < 500 and status != 429:
            return _Robots(None, now)  # unavailable: everything allowed
        return _Robots(None, now, unreachable=f"HTTP {status}")

    def _usable(self, origin: str, url: str) -> _Robots:
        entry = self._load(origin)
        if entry.unreachable is None:
            return entry
        good = self._good.get(origin)
        if good is not None:
            return good  # RFC 9309 2.4: a copy read earlier stands in while robots.txt cannot be read
        raise RobotsUnavailableError(url, f"robots.txt of {origin} is unreachable ({entry.unreachable}); "
                                          "the page waits for a later poll")

    def allowed(self, origin: str, url: str) -> bool:
        """Whether robots.txt allows ``url``; raises :class:`RobotsUnavailableError` when it cannot be read now."""
        entry = self._usable(origin, url)
        return entry.parser is None or bool(entry.parser.can_fetch(url, self.agent))

    def crawl_delay(self, origin: str) -> float | None:
        entry = self._cache.get(origin) or self._load(origin)
        if entry.parser is None:
            return None
        delay = entry.parser.crawl_delay(self.agent)
        return float(delay) if delay is not None else None
