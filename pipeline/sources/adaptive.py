"""Adaptive polling: each feed's next poll follows how often it publishes.

The interval is the mean gap between the entries the document itself dates (the newest ``MAX_DATES`` within the last
``OBSERVATION_WINDOW``), as Miniflux does from its weekly entry count, but read from the document so that a feed's
first poll already knows its rhythm. Publishers may ask for less: RSS ``<ttl>`` (minutes), the syndication module's
``sy:updatePeriod``/``sy:updateFrequency`` and a response's ``Cache-Control: max-age`` are lower limits. The result is
kept within the source's (else the global) minimum and maximum, and never below the host's politeness delay.

A source with a ``poll_interval`` keeps that fixed interval; so does every feed when adaptive polling is off.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..settings import ScheduleSettings
    from .config import Source

#: entries older than this say nothing about the current rhythm
OBSERVATION_WINDOW = timedelta(days=30)
#: the newest entries considered (a feed lists its latest items; older gaps are history)
MAX_DATES = 50
SYNDICATION_PERIODS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400,
                       "yearly": 365 * 86400}

_TTL = re.compile(rb"<ttl>\s*(\d{1,7})\s*</ttl>", re.IGNORECASE)
_SY_PERIOD = re.compile(rb"<(?:[\w.-]+:)?updatePeriod>\s*([A-Za-z]+)\s*</", re.IGNORECASE)
_SY_FREQUENCY = re.compile(rb"<(?:[\w.-]+:)?updateFrequency>\s*(\d{1,6})\s*</", re.IGNORECASE)
#: max-age only: s-maxage is for shared caches, and regwire is a private client
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})", re.IGNORECASE)
#: hints sit in the channel header; the first bytes are enough and keep a huge document cheap
_HINT_SCAN_BYTES = 65536


@dataclass(frozen=True)
class PollInterval:
    """The seconds until a feed's next poll and why, with what was observed (kept on the feed's state)."""

    seconds: int
    reason: str
    observed: float | None = None
    feed_hint: int | None = None

    def as_state(self) -> dict[str, Any]:
        return {"poll_interval": self.seconds, "interval_reason": self.reason, "observed_interval": self.observed,
                "feed_hint": self.feed_hint}


@dataclass(frozen=True)
class Bounds:
    minimum: int
    maximum: int
    #: the host's politeness delay (seconds between requests): no interval is shorter
    politeness: float = 0.0

    @classmethod
    def for_source(cls, source: Source, settings: ScheduleSettings, politeness: float = 0.0) -> Bounds:
        """The source's own bounds, the global ones where it sets none (a source's bound wins over a global one
        that would contradict it: ``max_poll_interval: 120`` under a global minimum of 300 s polls every 120 s)."""
        minimum = source.min_poll_interval or min(settings.min_poll_interval,
                                                  source.max_poll_interval or settings.min_poll_interval)
        maximum = source.max_poll_interval or max(settings.max_poll_interval, minimum)
        return cls(minimum, max(minimum, maximum), politeness)


def human_seconds(seconds: float) -> str:
    """``5400`` → ``1h30m`` (for reasons people read)."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else "",
             f"{secs}s" if secs and not days and not hours else ""]
    return "".join(parts) or "0s"


def observed_entry_interval(dates: Iterable[datetime | None], now: datetime) -> float | None:
    """Mean seconds between the document's recent entries, or None when it dates fewer than two distinct moments.

    Dates in the future (a publisher's wrong clock) are left out; a document whose recent entries all carry one date
    (a CMS stamping every item with the build time) tells nothing.
    """
    recent = sorted((d for d in dates if d is not None and now - OBSERVATION_WINDOW <= d <= now + timedelta(hours=1)),
                    reverse=True)[:MAX_DATES]
    if len(recent) < 2 or recent[0] == recent[-1]:
        return None
    return (recent[0] - recent[-1]).total_seconds() / (len(recent) - 1)


def entry_rhythm(dates: Iterable[datetime | None], now: datetime) -> tuple[float | None, str]:
    """Seconds between entries as the document shows them, and how that was read (None: it dates nothing).

    A document whose entries are all older than the observation window, or that has one recent entry, is quiet:
    one entry per window at most (the bounds then hold it at the maximum), as Miniflux does with a weekly count of 0.
    """
    dated = [d for d in dates if d is not None]
    if (observed := observed_entry_interval(dated, now)) is not None:
        return observed, f"observed one entry every {human_seconds(observed)}"
    window = OBSERVATION_WINDOW.total_seconds()
    recent = {d for d in dated if now - OBSERVATION_WINDOW <= d <= now + timedelta(hours=1)}
    if len(recent) == 1:
        return window, f"one distinct entry date in the last {human_seconds(window)}"
    if dated and not recent:
        return window, f"no entry in the last {human_seconds(window)}"
    return None, ""


def feed_hint(content: bytes) -> tuple[int | None, str]:
    """The publisher's own update interval stated in a feed document, in seconds, and where it came from.

    RSS ``<ttl>`` is minutes; the syndication module states a period and a number of updates in it.
    """
    head = content[:_HINT_SCAN_BYTES]
    hints: list[tuple[int, str]] = []
    if (ttl := _TTL.search(head)) and int(ttl.group(1)) > 0:
        hints.append((int(ttl.group(1)) * 60, f"<ttl> {ttl.group(1).decode()} min"))
    if (period := _SY_PERIOD.search(head)) and (name := period.group(1).decode().lower()) in SYNDICATION_PERIODS:
        frequency = _SY_FREQUENCY.search(head)
        times = max(1, int(frequency.group(1))) if frequency else 1
        hints.append((SYNDICATION_PERIODS[name] // times, f"sy:updatePeriod {name} x{times}"))
    if not hints:
        return None, ""
    return max(hints)


def max_age(headers: Mapping[str, str]) -> int | None:
    """``Cache-Control: max-age`` in seconds; None when absent, zero or ``no-store``."""
    value = headers.get("cache-control") or ""
    if "no-store" in value.lower():
        return None
    match = _MAX_AGE.search(value)
    return int(match.group(1)) or None if match else None


def choose_interval(*, bounds: Bounds, default: int, observed: float | None = None, hint: int | None = None,
                    hint_source: str = "", cache_max_age: int | None = None, observed_how: str = "") -> PollInterval:
    """The next interval from what was observed and what the publisher asks, within ``bounds``."""
    if observed is not None:
        seconds, reason = observed, observed_how or f"observed one entry every {human_seconds(observed)}"
    else:
        seconds, reason = float(default), "no dated entries yet: the default interval"
    for asked, label in ((hint, hint_source or "the feed's update hint"), (cache_max_age, "Cache-Control max-age")):
        if asked is not None and asked > seconds:
            seconds, reason = float(asked), f"{reason}; the publisher asks for {human_seconds(asked)} ({label})"
    floor = max(bounds.minimum, bounds.politeness)
    if seconds < floor:
        which = "minimum" if bounds.minimum >= bounds.politeness else "host politeness delay"
        seconds, reason = floor, f"{reason}; raised to the {which} {human_seconds(floor)}"
    elif seconds > bounds.maximum:
        seconds, reason = bounds.maximum, f"{reason}; capped at the maximum {human_seconds(bounds.maximum)}"
    return PollInterval(int(round(seconds)), reason, observed, hint)


def fixed_interval(source: Source, settings: ScheduleSettings) -> PollInterval | None:
    """The interval when it does not adapt: the source's ``poll_interval``, or the default with adaptive polling off."""
    if source.poll_interval is not None:
        return PollInterval(source.poll_interval, "fixed by the source's poll_interval")
    if not settings.adaptive:
        return PollInterval(settings.default_poll_interval, "fixed: adaptive polling is off (REGWIRE_ADAPTIVE)")
    return None
