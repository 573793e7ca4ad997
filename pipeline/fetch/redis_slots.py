"""Per-host politeness across machines: a :class:`~pipeline.fetch.politeness.SlotBook` kept in Redis, chosen by
``REGWIRE_HOST_BOOK=redis://host:6379/0`` (unset: :class:`FileSlotBook` under ``REGWIRE_HOME/hosts``, which only
the processes of one machine share).

Every booking is one Lua script run by the Redis server, so it is atomic: two workers on two machines can never be
given starts for one host closer than the delay. Times are the Redis server's clock (``TIME``), so the machines'
clocks need not agree: a booking comes back as "start in N seconds" and is turned into this machine's wall time.
Keys expire a while after they stop mattering, so the book does not grow with every host ever seen.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, HostBookError

if TYPE_CHECKING:
    from ..settings import Settings
    from .politeness import SlotBook

#: Redis keys: <prefix>:<host>:next (the next free start) and <prefix>:<host>:hold (a Retry-After pause)
KEY_PREFIX = "regwire:host"
#: how long a host's keys outlive the time they book (seconds): long enough that no booking is forgotten early
KEEP_SECONDS = 3600

# KEYS[1] = next-start key; ARGV[1] = delay (s), ARGV[2] = keep (s). Returns the wait before the booked start.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local booked = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local start = math.max(now, booked)
local delay = tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.6f', start + delay), 'PX', math.ceil((delay + tonumber(ARGV[2])) * 1000))
return string.format('%.6f', start - now)
"""

# KEYS[1] = hold key; ARGV[1] = seconds from now the hold lasts, ARGV[2] = keep (s). Never shortens a longer hold.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
local held = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if held >= until_ then return 0 end
local keep = math.ceil((tonumber(ARGV[1]) + tonumber(ARGV[2])) * 1000)
redis.call('SET', KEYS[1], string.format('%.6f', until_), 'PX', keep)
return 1
"""

# KEYS[1] = hold key. Returns the seconds left of the hold (0 when none).
_HELD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local held = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
return string.format('%.6f', math.max(0, held - now))
"""


class RedisSlotBook:
    """Next starts and holds per host in Redis, shared by every worker that reaches the server."""

    def __init__(self, url: str, *, prefix: str = KEY_PREFIX, timeout: float = 5.0, client: Any = None):
        try:
            import redis
        except ImportError as exc:  # the `distributed` extra
            raise ConfigError("REGWIRE_HOST_BOOK is a Redis URL but the redis package is not installed: "
                              "pip install 'regwire[distributed]'") from exc
        self.url, self.prefix = url, prefix
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        try:
            self._redis = client or redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                                        retry_on_timeout=True)
        except ValueError as exc:
            raise ConfigError(f"REGWIRE_HOST_BOOK: not a Redis URL: {exc}") from exc
        self._reserve = self._redis.register_script(_RESERVE)
        self._hold = self._redis.register_script(_HOLD)
        self._held = self._redis.register_script(_HELD)

    def _key(self, host: str, kind: str) -> str:
        return f"{self.prefix}:{host.lower()}:{kind}"

    def _run(self, script: Any, host: str, key: str, *args: float) -> Any:
        try:
            return script(keys=[key], args=list(args))
        except self._errors as exc:
            raise HostBookError(f"host book {self.url} unreachable while booking {host}: {exc}") from exc

    def reserve(self, host: str, delay: float, now: float) -> float:
        wait = float(self._run(self._reserve, host, self._key(host, "next"), delay, KEEP_SECONDS))
        # the wait counts from when Redis booked it; this machine's clock is read after the answer came
        return max(now, time.time()) + wait

    def hold(self, host: str, until: float) -> None:
        seconds = until - time.time()
        if seconds > 0:
            self._run(self._hold, host, self._key(host, "hold"), seconds, KEEP_SECONDS)

    def held_until(self, host: str) -> float:
        left = float(self._run(self._held, host, self._key(host, "hold")))
        return time.time() + left if left > 0 else 0.0

    def close(self) -> None:
        self._redis.close()


def slot_book(settings: Settings) -> SlotBook:
    """The book ``settings`` ask for: Redis when ``REGWIRE_HOST_BOOK`` is set, else files under the home."""
    from .politeness import FileSlotBook

    url = settings.http.host_book
    if url:
        return RedisSlotBook(url)
    return FileSlotBook(settings.home / "hosts")
