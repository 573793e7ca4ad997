"""The fetch stage: one guarded, polite, bounded way to GET a URL (address guard, robots.txt, per-host slots shared
across processes, byte caps and deadlines)."""

from .fetcher import Fetcher, FetchResult, decode_html, parse_retry_after
from .guard import AddressPolicy, GuardedTransport, Resolver, system_resolver
from .politeness import FileSlotBook, HostLimiter, MemorySlotBook, SlotBook
from .redis_slots import RedisSlotBook, slot_book
from .robots import RobotsCache

__all__ = [
    "AddressPolicy",
    "FetchResult",
    "Fetcher",
    "FileSlotBook",
    "GuardedTransport",
    "HostLimiter",
    "MemorySlotBook",
    "RedisSlotBook",
    "Resolver",
    "RobotsCache",
    "SlotBook",
    "decode_html",
    "parse_retry_after",
    "slot_book",
    "system_resolver",
]
