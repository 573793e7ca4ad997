"""The one settings object: :class:`Settings`, read from ``REGWIRE_*`` environment variables (pydantic-settings), in
groups the stages use: ``http`` (fetching and politeness), ``schedule`` (polling and backoff), ``search`` (the
Elasticsearch/OpenSearch backend), ``alerts`` (delivery policy) and ``tagging``.

Environment variables keep their flat names (``REGWIRE_HOST_DELAY``, ``REGWIRE_SEARCH_URL``,
``REGWIRE_ALERTS_MAX_ATTEMPTS``); so do keyword arguments (``Settings(home=..., host_delay=0.0, search_url=...)``),
which are routed to their group. Every numeric setting has a range; a bad value is a :class:`ConfigError` naming
the variable. Secrets (search credentials, channel tokens) come from the environment or from an Airflow connection
(:meth:`Settings.from_airflow_connection`), never from committed files.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .errors import ConfigError

DEFAULT_USER_AGENT = "regwire/0.1 (+https://github.com/regwire/regwire; news ingestion for compliance research)"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: a finite number of seconds (no nan, no inf)
Seconds = Annotated[float, Field(allow_inf_nan=False)]


class _Group(BaseSettings):
    """A settings group: its own environment prefix, no unknown keys."""

    model_config = SettingsConfigDict(env_prefix="REGWIRE_", extra="ignore", frozen=True)
    #: the keyword-argument prefix that routes a flat name to this group (``search_url`` → search.url)
    flat_prefix: ClassVar[str] = ""


class HttpSettings(_Group):
    """How regwire fetches: the address guard, time and size limits, politeness."""

    user_agent: str = Field(DEFAULT_USER_AGENT, min_length=1, max_length=512)
    connect_timeout: Seconds = Field(10.0, gt=0, le=600)
    read_timeout: Seconds = Field(20.0, gt=0, le=3600)
    #: one wall-clock deadline per request (connect, headers and body), so a trickling server cannot hold a worker
    total_timeout: Seconds = Field(60.0, gt=0, le=3600)
    max_feed_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=1024**3)
    max_page_bytes: int = Field(5 * 1024 * 1024, ge=1024, le=1024**3)
    max_redirects: int = Field(5, ge=0, le=30)
    #: politeness, shared by feed polls and article fetches of one host
    host_delay: Seconds = Field(1.0, ge=0, le=3600)
    host_concurrency: int = Field(1, ge=1, le=64)
    #: where the per-host delay is booked: unset = files under REGWIRE_HOME/hosts (one machine); a ``redis://`` URL
    #: = one Redis every worker reaches (Celery workers on several machines; see docs/scale-out.md)
    host_book: str | None = Field(None, pattern=r"^(redis|rediss|unix)://\S+$", max_length=1024)
    obey_robots: bool = True
    robots_ttl: Seconds = Field(24 * 3600.0, ge=0, le=30 * 24 * 3600)
    #: CIDRs exempted from the address guard (comma-separated in the environment); empty by default
    allow_networks: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)

    @field_validator("host_book", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("allow_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class ScheduleSettings(_Group):
    """When feeds are polled and how failures back off."""

    #: a feed's first interval, before anything is known about it (and its interval when ``adaptive`` is off)
    default_poll_interval: int = Field(900, ge=30, le=7 * 24 * 3600)
    #: each feed's interval follows its entry frequency, within these bounds (a source's own bounds win)
    adaptive: bool = True
    min_poll_interval: int = Field(300, ge=30, le=7 * 24 * 3600)
    max_poll_interval: int = Field(24 * 3600, ge=30, le=7 * 24 * 3600)
    #: sitemap entries older than this many seconds are ignored, so a first poll does not crawl a site's archive
    sitemap_window: int = Field(2 * 24 * 3600, ge=3600, le=366 * 24 * 3600)
    #: child sitemaps read per poll of a sitemap index (newest first)
    sitemap_max_children: int = Field(10, ge=1, le=1000)
    backoff_base: Seconds = Field(60.0, gt=0, le=24 * 3600)
    backoff_max: Seconds = Field(6 * 3600.0, gt=0, le=30 * 24 * 3600)
    suspend_after: int = Field(10, ge=1, le=1000)
    #: sources polled at once by ``regwire run`` (each source's feeds run one after another)
    workers: int = Field(4, ge=1, le=64)
    #: processes that extract and tag fetched pages (``REGWIRE_EXTRACT_WORKERS``; the core count by default);
    #: 0 extracts in the polling process itself, one page at a time
    extract_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=0, le=64)
    #: WebSub: the public base URL of the app serving ``/websub/`` (``regwire serve``, or the api-server's
    #: ``/regwire-websub``); hubs call it. Unset: no subscriptions, feeds are polled (or watched) only
    websub_callback: str | None = Field(None, pattern=r"^https?://", max_length=2000)

    @field_validator("max_poll_interval")
    @classmethod
    def _bounds_in_order(cls, maximum: int, info: ValidationInfo) -> int:
        minimum = info.data.get("min_poll_interval")
        if minimum is not None and maximum < minimum:
            raise ValueError(f"below REGWIRE_MIN_POLL_INTERVAL ({minimum})")
        return maximum


class SearchSettings(_Group):
    """The Elasticsearch/OpenSearch backend; unset ``url`` means the embedded SQLite store."""

    model_config = SettingsConfigDict(env_prefix="REGWIRE_SEARCH_", extra="ignore", frozen=True)
    flat_prefix: ClassVar[str] = "search_"

    url: str | None = None
    engine: Literal["elasticsearch", "opensearch"] = "elasticsearch"
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    ca_certs: Path | None = None
    verify_certs: bool = True
    #: index names: <prefix>-articles (write alias over <prefix>-articles-v<N>), <prefix>-feeds, ...
    index_prefix: str = Field("regwire", pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class AlertSettings(_Group):
    """Alert delivery policy."""

    model_config = SettingsConfigDict(env_prefix="REGWIRE_ALERTS_", extra="ignore", frozen=True)
    flat_prefix: ClassVar[str] = "alerts_"

    max_attempts: int = Field(5, ge=1, le=100, description="sends before a delivery is given up")
    backoff_base: Seconds = Field(60.0, gt=0, le=24 * 3600, description="seconds before the first retry")
    backoff_max: Seconds = Field(3600.0, gt=0, le=7 * 24 * 3600)
    #: seconds apprise waits for a receiver (to connect, and for each read of its answer); a receiver that has the
    #: request but answers later than this leaves the delivery "unknown" (maybe delivered), which is not resent
    send_timeout: Seconds = Field(10.0, gt=0, le=600)
    #: a claimed delivery not marked within this many seconds is claimed again (a sender that died mid-send)
    lease_seconds: Seconds = Field(600.0, gt=0, le=24 * 3600)
    #: on Elasticsearch/OpenSearch, use the percolator from this many enabled alerts on (bench/bench_alerts.py)
    percolate_min_alerts: int = Field(50, ge=0, le=1_000_000)


class TaggingSettings(_Group):
    """The tagger: a taxonomy file that extends the packaged one."""

    taxonomy: Path | None = None

    @field_validator("taxonomy")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None


_GROUPS: dict[str, type[_Group]] = {
    "http": HttpSettings, "schedule": ScheduleSettings, "search": SearchSettings, "alerts": AlertSettings,
    "tagging": TaggingSettings,
}


def _route(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Flat keyword arguments (``host_delay``, ``search_url``, ``alerts_max_attempts``) sorted into their groups."""
    routed: dict[str, dict[str, Any]] = {name: {} for name in _GROUPS}
    for key, value in flat.items():
        for name, group in _GROUPS.items():
            field = key.removeprefix(group.flat_prefix) if group.flat_prefix else key
            if (key.startswith(group.flat_prefix) or not group.flat_prefix) and field in group.model_fields:
                routed[name][field] = value
                break
        else:
            raise ConfigError(f"unknown setting {key!r}")
    return routed


def _problems(exc: ValidationError, prefix: str) -> list[str]:
    out = []
    for err in exc.errors():
        name = prefix + "_".join(str(p) for p in err["loc"]).upper()
        shown = err.get("input")
        value = f" (got {shown!r})" if isinstance(shown, str | int | float) and not isinstance(shown, bool) else ""
        out.append(f"{name}: {err['msg']}{value}")
    return out


class Settings(BaseSettings):
    """Everything regwire reads from its environment, in groups (see the module docstring)."""

    model_config = SettingsConfigDict(env_prefix="REGWIRE_", extra="ignore", frozen=True)

    home: Path = Field(default=Path("~/.regwire"), description="data directory: embedded store and feed state")
    sources: Path | None = Field(default=None, description="sources YAML file; the packaged default when unset")
    #: log lines as JSON objects (one per line) instead of text
    log_json: bool = False
    #: the level of the command line's log lines on stderr (Airflow tasks log at Airflow's level)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"

    http: HttpSettings
    schedule: ScheduleSettings
    search: SearchSettings
    alerts: AlertSettings
    tagging: TaggingSettings

    def __init__(self, **values: Any):
        own = {k: values.pop(k) for k in list(values) if k in ("home", "sources", "log_json", "log_level", *_GROUPS)}
        problems: list[str] = []
        for name, flat in _route(values).items():
            if isinstance(own.get(name), _Group):
                continue
            group = _GROUPS[name]
            try:
                own[name] = group(**{**dict(own.get(name) or {}), **flat})
            except ValidationError as exc:
                problems += _problems(exc, str(group.model_config.get("env_prefix", "REGWIRE_")))
        if problems:
            raise ConfigError("invalid settings: " + "; ".join(problems))
        try:
            super().__init__(**own)
        except ValidationError as exc:
            raise ConfigError("invalid settings: " + "; ".join(_problems(exc, "REGWIRE_"))) from exc

    @field_validator("home", "sources")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @property
    def db_path(self) -> Path:
        return self.home / "regwire.db"

    def prepare_home(self) -> Path:
        """Create ``home`` when missing and make sure it is a directory regwire can write (the embedded store, feed
        state and host slots live there); a :class:`ConfigError` naming ``REGWIRE_HOME`` otherwise."""
        home = self.home
        if home.exists() and not home.is_dir():
            raise ConfigError(f"REGWIRE_HOME: {home} is not a directory")
        try:
            home.mkdir(parents=True, exist_ok=True)
            # os.access says yes to root on a read-only file system: only a write tells
            with tempfile.TemporaryFile(dir=home):
                pass
        except OSError as exc:
            action = "cannot write to" if home.is_dir() else "cannot create"
            raise ConfigError(f"REGWIRE_HOME: {action} {home}: {exc.strerror or exc}") from exc
        return home

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (flat names, as for the constructor); groups keep their other values."""
        current: dict[str, Any] = {"home": self.home, "sources": self.sources, "log_json": self.log_json,
                                   "log_level": self.log_level}
        routed = _route({k: v for k, v in changes.items() if k not in current})
        for name in _GROUPS:
            current[name] = getattr(self, name).model_dump() | routed[name]
        current.update({k: v for k, v in changes.items() if k in ("home", "sources", "log_json", "log_level")})
        return Settings(**current)

    @classmethod
    def from_airflow_connection(cls, conn: Mapping[str, Any] | None, **overrides: Any) -> Settings:
        """Settings from the environment, with the search engine taken from a connection when one is given.

        ``conn`` is a plain mapping (``conn_type``, ``host``, ``port``, ``schema``, ``login``, ``password``,
        ``extra``) so this stays free of Airflow; :mod:`pipeline.airflow_helper` reads the ``regwire_search``
        connection into one. ``conn_type`` ``opensearch`` (or the extra ``engine: opensearch``) selects OpenSearch,
        anything else Elasticsearch. Extras: ``api_key``, ``ca_certs``, ``verify_certs``, ``index_prefix``,
        ``scheme``, ``engine``. No connection (or no host): the environment decides (the embedded store by default).
        """
        values = _search_from_connection(conn) if conn and conn.get("host") else {}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _search_from_connection(conn: Mapping[str, Any]) -> dict[str, Any]:
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra) if extra.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"connection extra is not valid JSON: {exc}") from exc
    host = str(conn["host"])
    if "://" not in host:
        scheme = extra.get("scheme") or conn.get("schema") or "http"
        host = f"{scheme if scheme in ('http', 'https') else 'http'}://{host}"
    port = conn.get("port")
    values: dict[str, Any] = {"search_url": f"{host}:{port}" if port and host.count(":") < 2 else host}
    engine = str(extra.get("engine") or conn.get("conn_type") or "").lower()
    values["search_engine"] = "opensearch" if "opensearch" in engine else "elasticsearch"
    if conn.get("login"):
        values["search_username"] = conn["login"]
    if conn.get("password"):
        values["search_password"] = conn["password"]
    for key in ("api_key", "ca_certs", "verify_certs", "index_prefix"):
        if extra.get(key) not in (None, ""):
            values[f"search_{key}"] = extra[key]
    return values


def environment_variables() -> list[str]:
    """Every ``REGWIRE_*`` variable the settings read (for docs, compose files and their tests)."""
    names = [f"REGWIRE_{name.upper()}" for name in ("home", "sources", "log_json", "log_level")]
    for group in _GROUPS.values():
        prefix = str(group.model_config.get("env_prefix", "REGWIRE_"))
        names += [prefix + field.upper() for field in group.model_fields]
    return sorted(names)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit overrides (flat names); a bad value is a :class:`ConfigError`."""
    return Settings(**overrides)
