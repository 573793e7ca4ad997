"""Runtime settings, read from the environment (``REGWIRE_*``) by pydantic-settings.

Secrets (search-engine credentials, API keys) come from the environment or from an Airflow connection, never from
committed files.
"""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .errors import ConfigError

DEFAULT_USER_AGENT = "regwire/0.1 (+https://github.com/regwire/regwire; news ingestion for compliance research)"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGWIRE_", extra="ignore")

    home: Path = Field(default=Path("~/.regwire"), description="data directory: embedded store and feed state")
    sources: Path | None = Field(default=None, description="sources YAML file; the packaged default when unset")
    taxonomy: Path | None = Field(default=None, description="a taxonomy YAML that extends the packaged one")
    allow_networks: Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode] = Field(
        default_factory=list,
        description="CIDRs exempted from the SSRF guard (comma-separated); empty by default",
    )

    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    #: wall-clock cap on one response, so a server trickling bytes cannot hold a worker forever
    total_timeout: float = 60.0
    max_feed_bytes: int = 10 * 1024 * 1024
    max_page_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5

    #: politeness, shared by feed polls and article fetches of one host
    host_delay: float = 1.0
    host_concurrency: int = 1
    obey_robots: bool = True
    robots_ttl: float = 24 * 3600

    #: feed scheduling
    default_poll_interval: int = 900
    backoff_base: float = 60.0
    backoff_max: float = 6 * 3600.0
    suspend_after: int = 10

    #: search backend: unset means the embedded SQLite store in ``home``
    search_url: str | None = None
    search_engine: Literal["elasticsearch", "opensearch"] = "elasticsearch"
    search_username: str | None = None
    search_password: SecretStr | None = None
    search_api_key: SecretStr | None = None
    search_ca_certs: Path | None = None
    search_verify_certs: bool = True
    #: index names: <prefix>-articles (write alias over <prefix>-articles-v<N>), <prefix>-feeds, ...
    search_index_prefix: str = "regwire"

    #: workers across sources (each source runs sequentially; hosts stay polite across workers)
    workers: int = 4

    @field_validator("allow_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("home", "sources", "taxonomy")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @cached_property
    def db_path(self) -> Path:
        return self.home / "regwire.db"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides; a bad value is a :class:`ConfigError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"REGWIRE_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
