"""The per-host slot book in Redis (REGWIRE_HOST_BOOK): against a real redis-server on 127.0.0.1, started here and
stopped by PID. Two processes with separate REGWIRE_HOMEs (two machines, as far as the file book can tell) fetch
from one loopback host; the server's own arrival log must show the delay between every two requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from services import RedisServer, free_port

from pipeline.demo import LoopbackSite
from pipeline.errors import ConfigError, HostBookError
from pipeline.fetch import FileSlotBook, RedisSlotBook, slot_book
from pipeline.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

DELAY = 0.5
#: the log records when the server read a request, the book when it may be sent: the gap between the two differs
#: from request to request by scheduling (a loaded 2-core machine), so gaps are compared with this much slack
ARRIVAL_SLACK = 0.15
PER_PROCESS = 8

FETCH_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from pipeline.fetch import Fetcher
    from pipeline.settings import Settings
    settings = Settings(home=os.environ["HOME_DIR"], allow_networks=["127.0.0.0/8"], host_delay=float(os.environ["DELAY"]),
                        host_book=os.environ.get("BOOK") or None, obey_robots=False)
    with Fetcher(settings) as fetcher:
        print(type(fetcher.limiter.book).__name__, file=sys.stderr)
        for n in range(int(os.environ["COUNT"])):
            fetcher.get(os.environ["BASE"] + f"/robots.txt?{os.environ['NAME']}={n}")
    print(json.dumps(fetcher.limiter.waited))
""")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


def _hammer(site: LoopbackSite, tmp_path: Path, book: str | None) -> list[float]:
    """Two processes, each with its own home, fetch PER_PROCESS pages of one host at once; the arrival times."""
    site.arrivals.clear()
    procs = []
    for name in ("a", "b"):
        env = {**os.environ, "HOME_DIR": str(tmp_path / f"home-{name}"), "DELAY": str(DELAY), "BOOK": book or "",
               "COUNT": str(PER_PROCESS), "BASE": site.base_url, "NAME": name}
        procs.append(subprocess.Popen([sys.executable, "-c", FETCH_SCRIPT], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert ("RedisSlotBook" if book else "FileSlotBook") in err
        assert json.loads(out.strip().splitlines()[-1]) >= 0
    times = sorted(t for t, _method, _path in site.arrivals)
    assert len(times) == 2 * PER_PROCESS
    return times


def test_two_processes_keep_the_delay_through_redis(redis_server: RedisServer, tmp_path: Path) -> None:
    with LoopbackSite() as site:
        shared = _hammer(site, tmp_path, redis_server.url)
        gaps = [b - a for a, b in zip(shared, shared[1:], strict=False)]
        assert min(gaps) >= DELAY - ARRIVAL_SLACK, gaps
        # and the control: the same two processes with only their own (file) books do come closer than the delay,
        # so the check above is one the shared book passes, not one any run would
        separate = _hammer(site, tmp_path, None)
        gaps_alone = [b - a for a, b in zip(separate, separate[1:], strict=False)]
        assert min(gaps_alone) < DELAY / 2, gaps_alone


def test_hold_is_seen_by_every_book_and_never_shortened(redis_server: RedisServer) -> None:
    first, second = RedisSlotBook(redis_server.url), RedisSlotBook(redis_server.url)
    try:
        host = f"hold-{time.time_ns()}.example"
        assert second.held_until(host) == 0.0
        until = time.time() + 30
        first.hold(host, until)
        assert abs(second.held_until(host) - until) < 1.0
        second.hold(host, time.time() + 5)  # a shorter hold leaves the longer one
        assert abs(first.held_until(host) - until) < 1.0
        first.hold(host, time.time() - 1)  # a hold in the past is no hold
        assert abs(first.held_until(host) - until) < 1.0
        # keys expire some time after the hold ends: the book does not keep every host forever
        ttl = first._redis.pttl(f"regwire:host:{host}:hold")
        assert 30_000 < ttl <= (30 + 3600) * 1000
    finally:
        first.close()
        second.close()


def test_bookings_are_spaced_by_the_delay_and_a_longer_delay_wins(redis_server: RedisServer) -> None:
    book = RedisSlotBook(redis_server.url)
    try:
        host = f"book-{time.time_ns()}.example"
        now = time.time()
        starts = [book.reserve(host, 2.0, now) for _ in range(3)]
        assert starts[0] - now < 0.5
        assert 1.9 < starts[1] - starts[0] < 2.1 and 1.9 < starts[2] - starts[1] < 2.1
        assert book._redis.pttl(f"regwire:host:{host}:next") > 3600_000
    finally:
        book.close()


def test_unreachable_redis_is_a_transient_host_book_error() -> None:
    book = RedisSlotBook(f"redis://127.0.0.1:{free_port()}/0", timeout=1.0)
    with pytest.raises(HostBookError, match="unreachable while booking example.org") as caught:
        book.reserve("example.org", 1.0, time.time())
    assert caught.value.transient


def test_setting_chooses_the_book(tmp_path: Path, redis_server: RedisServer) -> None:
    assert isinstance(slot_book(Settings(home=tmp_path)), FileSlotBook)
    assert isinstance(slot_book(Settings(home=tmp_path, host_book="")), FileSlotBook)
    book = slot_book(Settings(home=tmp_path, host_book=redis_server.url))
    assert isinstance(book, RedisSlotBook)
    book.close()
    with pytest.raises(ConfigError, match="REGWIRE_HOST_BOOK"):
        Settings(home=tmp_path, host_book="http://127.0.0.1:6379")
