"""The sources file: which sites to poll and how often.

    sources:
      - name: cointelegraph
        feeds: ["https://cointelegraph.com/rss"]
        poll_interval: 600          # seconds, optional
        language: en                # optional
        enabled: true               # optional
        max_articles_per_poll: 50   # optional
      - name: a-regulator
        kind: regulator             # outlet | regulator | standard-setter (optional; filters: --kind)
        sitemaps: ["https://regulator.example/news-sitemap.xml"]   # beside or instead of feeds
        sitemap_window: 172800      # seconds: older sitemap entries are ignored (default REGWIRE_SITEMAP_WINDOW)
        min_poll_interval: 600      # adaptive polling bounds (defaults REGWIRE_MIN/MAX_POLL_INTERVAL)
        max_poll_interval: 43200

``poll_interval`` fixes a source's interval; without it each feed's interval adapts to its entry frequency (see
:mod:`pipeline.sources.adaptive`). A bad file fails before any request, naming the file, the source and the field: YAML
is read by :func:`pipeline.yamlfile.load_yaml` (UTF-8, no duplicate keys, bounded nesting), and every feed and sitemap
URL is checked in full (:func:`check_feed_url`).
"""

from __future__ import annotations

import ipaddress
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from ..errors import SourcesFileError
from ..yamlfile import parse_yaml, read_text

SourceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
#: what a source is, so analysts can tell official sources from the press
SourceKind = Literal["outlet", "regulator", "standard-setter"]
Interval = Annotated[int, Field(ge=30, le=7 * 24 * 3600)]


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SourceName
    #: news sitemaps, plain sitemaps (lastmod) or sitemap indexes, polled beside (or instead of) the feeds
    sitemaps: list[str] = Field(default_factory=list)
    feeds: list[str] = Field(default_factory=list, validate_default=True)
    poll_interval: int | None = Field(default=None, ge=30, le=7 * 24 * 3600)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$")
    enabled: bool = True
    max_articles_per_poll: int = Field(default=50, ge=1, le=10_000)
    kind: SourceKind | None = None
    #: the catalog's mark for an address nobody could check (it is then also disabled by default)
    unverified: bool = False
    #: sitemap entries older than this many seconds are ignored (a first poll must not crawl the archive)
    sitemap_window: int | None = Field(default=None, ge=3600, le=366 * 24 * 3600)
    min_poll_interval: Interval | None = None
    max_poll_interval: Interval | None = None

    @field_validator("feeds")
    @classmethod
    def _feeds_or_sitemaps(cls, feeds: list[str], info: ValidationInfo) -> list[str]:
        if not feeds and not info.data.get("sitemaps"):
            raise ValueError("at least 1 feed is required (or list sitemaps)")
        return feeds

    @field_validator("feeds", "sitemaps")
    @classmethod
    def _web_urls(cls, urls: list[str], info: ValidationInfo) -> list[str]:
        for index, url in enumerate(urls):
            try:
                check_feed_url(url)
            except ValueError as exc:
                raise ValueError(f"{info.field_name}[{index}] {url!r}: {exc}") from None
        if len(set(urls)) != len(urls):
            raise ValueError(f"the same {(info.field_name or 'URL').rstrip('s')} URL is listed twice")
        return urls

    @field_validator("max_poll_interval")
    @classmethod
    def _bounds_in_order(cls, maximum: int | None, info: ValidationInfo) -> int | None:
        minimum = info.data.get("min_poll_interval")
        if maximum is not None and minimum is not None and maximum < minimum:
            raise ValueError(f"max_poll_interval {maximum} is below min_poll_interval {minimum}")
        return maximum

    @property
    def urls(self) -> list[str]:
        """Everything polled for this source: its feeds, then its sitemaps."""
        return [*self.feeds, *(s for s in self.sitemaps if s not in self.feeds)]


def check_feed_url(url: str) -> str:
    """Refuse anything but an absolute http(s) URL with a valid host and port (``ValueError`` says why); checked
    when the file is read, so a typo never reaches the fetcher."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ValueError("contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # 'Invalid IPv6 URL', 'Port out of range 0-65535', a non-numeric port
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("is not an http(s) URL")
    host = parts.hostname
    if not host:
        raise ValueError("has no host")
    if port == 0:
        raise ValueError("port 0 is not a port")
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ValueError(f"host [{host}] is not an IPv6 address") from None
        return url
    _check_host_name(host)
    return url


def _check_host_name(host: str) -> None:
    import idna  # imported on first use: the command line starts without it

    try:
        ipaddress.IPv4Address(host)
        return
    except ValueError:
        pass
    try:
        # underscores are not allowed in host names, but they occur (and HTTP clients fetch them): not refused
        encoded = idna.encode(host.rstrip(".").replace("_", "a"), uts46=True)
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(f"host {host!r} is not a valid domain name ({exc})") from None
    if len(encoded) > 253:
        raise ValueError(f"host {host!r} is longer than 253 characters")


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[Source]


def default_sources_path() -> Path:
    return Path(str(resources.files("pipeline") / "sources" / "catalog.yaml"))


def load_sources(path: str | Path | None = None, *, substitutions: dict[str, str] | None = None) -> list[Source]:
    """Read and validate a sources file (the packaged one when ``path`` is None).

    ``substitutions`` replaces ``{{key}}`` placeholders before parsing (the demo uses ``{{base_url}}``).
    """
    path = Path(path) if path is not None else default_sources_path()
    shown = str(path)

    def error(message: str) -> SourcesFileError:
        return SourcesFileError(shown, message)

    raw = read_text(path, error)
    for key, value in (substitutions or {}).items():
        raw = raw.replace("{{" + key + "}}", value)
    data = parse_yaml(raw, error)
    if not isinstance(data, dict) or "sources" not in data:
        raise SourcesFileError(shown, "expected a mapping with a top-level 'sources:' list")
    entries = data["sources"]
    if not isinstance(entries, list):
        raise SourcesFileError(shown, "'sources' must be a list", field="sources")
    if extra := sorted(set(data) - {"sources"}):
        raise SourcesFileError(shown, f"unknown top-level key(s): {', '.join(extra)}")

    sources: list[Source] = []
    for index, entry in enumerate(entries):
        label = entry.get("name") if isinstance(entry, dict) and isinstance(entry.get("name"), str) else f"#{index + 1}"
        if not isinstance(entry, dict):
            raise SourcesFileError(shown, "each source must be a mapping", source=label)
        try:
            sources.append(Source.model_validate(entry))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or None
            raise SourcesFileError(shown, err["msg"].removeprefix("Value error, "), source=label, field=field) from exc
    names = [s.name for s in sources]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise SourcesFileError(shown, "source names must be unique", source=dupes[0], field="name")
    return sources
