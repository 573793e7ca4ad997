"""Fetching: SSRF guard, politeness and bounded responses."""

from .fetcher import Fetcher, FetchResult, decode_html, parse_retry_after
from .guard import AddressPolicy, GuardedTransport, Resolver, system_resolver
from .politeness import HostLimiter, RobotsCache

__all__ = [
    "AddressPolicy",
    "FetchResult",
    "Fetcher",
    "GuardedTransport",
    "HostLimiter",
    "Resolver",
    "RobotsCache",
    "decode_html",
    "parse_retry_after",
    "system_resolver",
]
