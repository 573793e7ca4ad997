"""Canonical URLs and article ids: the same story reached through two feeds (or two tracking links) is one article."""

from __future__ import annotations

import hashlib
from urllib.parse import urljoin, urlsplit, urlunsplit


def canonicalize_url(url: str, base: str | None = None) -> str:
    """Absolute, normalised URL without tracking parameters, fragment or default port.

    courlan does the normalisation (lower-cased scheme and host, default ports, utm_*/fbclid/gclid/ref… removed,
    path cleaned); fragments are dropped here because they never name a different article.
    """
    from courlan.clean import normalize_url  # imported on first use: the command line starts without it

    if base:
        url = urljoin(base, url.strip())
    parts = urlsplit(url.strip())
    return normalize_url(urlunsplit(parts._replace(fragment="")))


def same_site(url_a: str, url_b: str) -> bool:
    """True when both URLs are on the same registrable-ish host (www. ignored): a page may only re-home itself."""
    host_a = (urlsplit(url_a).hostname or "").removeprefix("www.")
    host_b = (urlsplit(url_b).hostname or "").removeprefix("www.")
    return bool(host_a) and host_a == host_b


def article_id(canonical_url: str) -> str:
    """Stable id of an article: a hash of its canonical URL (32 hex characters)."""
    return hashlib.blake2b(canonical_url.encode("utf-8"), digest_size=16).hexdigest()


def content_hash(title: str, text: str) -> str:
    """Hash of an article's normalised title and text; a change means a new version."""
    normalised = " ".join(title.split()) + "\n" + " ".join(text.split())
    return hashlib.blake2b(normalised.encode("utf-8"), digest_size=16).hexdigest()
