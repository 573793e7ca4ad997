"""Adaptive polling: each feed's interval follows its entry frequency within bounds, honours the publisher's hints,
and is shown with its reason in ``regwire sources list``. Polls run over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from test_cli import regwire
from test_pipeline import Clock, make_context

from pipeline import ConfigError, Source
from pipeline.demo import Response
from pipeline.sources.adaptive import (
    Bounds,
    choose_interval,
    entry_rhythm,
    feed_hint,
    max_age,
    observed_entry_interval,
)
from pipeline.store import SQLiteStore
from pipeline.tasks import poll_source

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def store(settings):
    with SQLiteStore(settings.db_path) as s:
        yield s


def dated_feed(base: str, now: datetime, every: timedelta, count: int = 10, channel_extra: str = "") -> bytes:
    """An RSS feed whose items appeared every ``every`` up to ``now`` (links lead nowhere: only dates matter)."""
    items = "".join(
        f"<item><title>Item {i}</title><link>{base}/missing/{i}-{int(every.total_seconds())}</link>"
        f"<pubDate>{format_datetime(now - i * every, usegmt=True)}</pubDate></item>" for i in range(count))
    return (f'<?xml version="1.0"?><rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">'
            f"<channel><title>Rhythm</title>{channel_extra}{items}</channel></rss>").encode()


def serve(site, body: bytes, headers: dict[str, str] | None = None) -> None:
    site.route("/feed.xml", Response(200, body, {"Content-Type": "application/rss+xml", **(headers or {})}))


def test_interval_moves_toward_the_observed_frequency_within_bounds(settings, store, transport, empty_site):
    clock = Clock()
    ctx = make_context(settings, store, transport, clock)
    url = empty_site.url("/feed.xml")
    source = Source(name="rhythm", feeds=[url], min_poll_interval=600, max_poll_interval=6 * 3600)

    def poll_every(every: timedelta) -> tuple[int, str]:
        serve(empty_site, dated_feed(empty_site.base_url, clock.now, every))
        poll_source(ctx, source, force=True)
        state = store.get_feed_state(url)
        assert state.next_poll == clock.now + timedelta(seconds=state.poll_interval)
        clock.advance(state.poll_interval)
        return state.poll_interval, state.interval_reason

    # an item every 40 minutes: polled every 40 minutes
    assert poll_every(timedelta(minutes=40)) == (2400, "observed one entry every 40m")
    # the feed slows to one item every 2 hours: the interval follows
    assert poll_every(timedelta(hours=2))[0] == 7200
    # one item a day: held at the source's maximum
    interval, reason = poll_every(timedelta(days=1))
    assert interval == 6 * 3600 and reason == "observed one entry every 1d; capped at the maximum 6h"
    # a burst, one item a minute: raised to the source's minimum, never faster
    interval, reason = poll_every(timedelta(minutes=1))
    assert interval == 600 and reason.endswith("raised to the minimum 10m")
    # the global bounds apply where the source sets none
    loose = Source(name="rhythm", feeds=[url])
    serve(empty_site, dated_feed(empty_site.base_url, clock.now, timedelta(minutes=1)))
    poll_source(ctx, loose, force=True)
    assert store.get_feed_state(url).poll_interval == settings.schedule.min_poll_interval == 300


def test_publisher_hints_and_304s(settings, store, transport, empty_site):
    clock = Clock()
    ctx = make_context(settings, store, transport, clock)
    url = empty_site.url("/feed.xml")
    source = Source(name="hinted", feeds=[url])
    every_10m = timedelta(minutes=10)

    serve(empty_site, dated_feed(empty_site.base_url, clock.now, every_10m, channel_extra="<ttl>60</ttl>"))
    poll_source(ctx, source)
    state = store.get_feed_state(url)
    assert state.poll_interval == 3600 and state.observed_interval == 600 and state.feed_hint == 3600
    assert "the publisher asks for 1h (<ttl> 60 min)" in state.interval_reason

    hourly_twice = "<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>"
    serve(empty_site, dated_feed(empty_site.base_url, clock.now, every_10m, channel_extra=hourly_twice))
    poll_source(ctx, source, force=True)
    assert store.get_feed_state(url).poll_interval == 1800

    serve(empty_site, dated_feed(empty_site.base_url, clock.now, every_10m), {"Cache-Control": "public, max-age=7200"})
    poll_source(ctx, source, force=True)
    state = store.get_feed_state(url)
    assert state.poll_interval == 7200 and "Cache-Control max-age" in state.interval_reason

    # a 304 keeps what the last full response showed, with the 304's own Cache-Control
    empty_site.route("/feed.xml", Response(304, b"", {"Cache-Control": "max-age=900"}))
    poll_source(ctx, source, force=True)
    state = store.get_feed_state(url)
    assert state.last_status == 304 and state.observed_interval == 600 and state.poll_interval == 900


def test_a_fixed_poll_interval_or_adaptive_off_does_not_adapt(settings, store, transport, empty_site):
    clock = Clock()
    url = empty_site.url("/feed.xml")
    serve(empty_site, dated_feed(empty_site.base_url, clock.now, timedelta(hours=3)))
    poll_source(make_context(settings, store, transport, clock), Source(name="fixed", feeds=[url], poll_interval=600))
    state = store.get_feed_state(url)
    assert (state.poll_interval, state.interval_reason) == (600, "fixed by the source's poll_interval")
    off = make_context(settings.replace(adaptive=False), store, transport, clock)
    poll_source(off, Source(name="fixed", feeds=[url]), force=True)
    assert store.get_feed_state(url).poll_interval == settings.schedule.default_poll_interval


def test_observed_interval_ignores_what_says_nothing():
    every_hour = [NOW - timedelta(hours=i) for i in range(5)]
    assert observed_entry_interval(every_hour, NOW) == 3600
    assert observed_entry_interval([*every_hour, None, NOW + timedelta(days=30)], NOW) == 3600  # undated, future
    assert observed_entry_interval([NOW - timedelta(days=60), NOW - timedelta(days=61)], NOW) is None  # too old
    assert observed_entry_interval([NOW] * 10, NOW) is None  # one build date stamped on every item
    assert observed_entry_interval([NOW], NOW) is None


def test_a_quiet_feed_goes_to_the_maximum_and_an_undated_one_to_the_default():
    assert entry_rhythm([NOW - timedelta(days=400), NOW - timedelta(days=500)], NOW) == (
        30 * 86400, "no entry in the last 30d")
    assert entry_rhythm([NOW - timedelta(days=3), NOW - timedelta(days=300)], NOW) == (
        30 * 86400, "one distinct entry date in the last 30d")
    assert entry_rhythm([None, None], NOW) == (None, "")
    observed, how = entry_rhythm([NOW - timedelta(days=400)], NOW)
    quiet = choose_interval(bounds=Bounds(300, 86400), default=900, observed=observed, observed_how=how)
    assert (quiet.seconds, quiet.reason) == (86400, "no entry in the last 30d; capped at the maximum 1d")


@pytest.mark.parametrize("source_bounds, expected", [
    ({}, (300, 86400)),
    ({"min_poll_interval": 600}, (600, 86400)),
    ({"max_poll_interval": 120}, (120, 120)),  # the source's maximum wins over the global minimum
    ({"min_poll_interval": 3 * 86400}, (3 * 86400, 3 * 86400)),
    ({"min_poll_interval": 60, "max_poll_interval": 90}, (60, 90)),
])
def test_bounds_source_first_then_global(settings, source_bounds, expected):
    source = Source(name="s", feeds=["https://a.example/rss"], **source_bounds)
    bounds = Bounds.for_source(source, settings.schedule, politeness=1.0)
    assert (bounds.minimum, bounds.maximum) == expected


def test_global_bounds_out_of_order_name_the_variable(settings):
    with pytest.raises(ConfigError, match="REGWIRE_MAX_POLL_INTERVAL: .*below REGWIRE_MIN_POLL_INTERVAL"):
        settings.replace(min_poll_interval=3600, max_poll_interval=600)


def test_never_below_the_host_politeness_delay():
    polite = Bounds(minimum=30, maximum=3600, politeness=120)
    chosen = choose_interval(bounds=polite, default=900, observed=40)
    assert chosen.seconds == 120 and chosen.reason.endswith("raised to the host politeness delay 2m")
    assert choose_interval(bounds=Bounds(300, 600), default=900).reason == (
        "no dated entries yet: the default interval; capped at the maximum 10m")


@pytest.mark.parametrize("document, expected", [
    (b"<rss><channel><ttl>15</ttl></channel></rss>", 900),
    (b"<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>", 21600),
    (b"<sy:updatePeriod>weekly</sy:updatePeriod>", 7 * 86400),
    (b"<sy:updatePeriod>fortnightly</sy:updatePeriod>", None),
    (b"<ttl>0</ttl>", None),
])
def test_feed_hints(document, expected):
    assert feed_hint(document)[0] == expected


@pytest.mark.parametrize("value, expected", [
    ("max-age=300", 300), ("public, s-maxage=60", None), ("public, max-age=60", 60), ("no-store, max-age=60", None),
    ("max-age=0", None), ("", None),
])
def test_max_age(value, expected):
    assert max_age({"cache-control": value}) == expected


def test_sources_list_shows_the_interval_and_why(tmp_path, empty_site):
    now = datetime.now(UTC)
    serve(empty_site, dated_feed(empty_site.base_url, now, timedelta(hours=1)))
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - name: hourly\n    kind: regulator\n    feeds: ['{empty_site.url('/feed.xml')}']\n"
                       f"  - name: press\n    kind: outlet\n    feeds: ['{empty_site.url('/other.xml')}']\n")
    regwire("run", "--once", "--sources", str(sources), home=tmp_path)
    listed = json.loads(regwire("sources", "list", "--json", "--kind", "regulator", "--sources", str(sources),
                                home=tmp_path).stdout)
    assert [(r["source"], r["poll_interval"], r["interval_reason"]) for r in listed] == [
        ("hourly", 3600, "observed one entry every 1h")]
    table = regwire("sources", "list", "--sources", str(sources), home=tmp_path).stdout
    assert "observed one entry every 1h" in table and "never polled" in table
    bad = regwire("sources", "list", "--kind", "blog", "--sources", str(sources), home=tmp_path)
    assert bad.returncode == 2 and "--kind must be one of outlet, regulator, standard-setter" in bad.stderr
