"""The sources file: which sites to poll and how often.

    sources:
      - name: cointelegraph
        feeds: ["https://cointelegraph.com/rss"]
        poll_interval: 600          # seconds, optional
        language: en                # optional
        enabled: true               # optional
        max_articles_per_poll: 50   # optional

A bad file fails before any request, naming the file, the source and the field.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from ..errors import SourcesFileError

SourceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SourceName
    feeds: list[str] = Field(min_length=1)
    poll_interval: int | None = Field(default=None, ge=30, le=7 * 24 * 3600)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$")
    enabled: bool = True
    max_articles_per_poll: int = Field(default=50, ge=1, le=10_000)

    @field_validator("feeds")
    @classmethod
    def _feeds_are_web_urls(cls, feeds: list[str]) -> list[str]:
        for index, url in enumerate(feeds):
            if not url.lower().startswith(("http://", "https://")):
                raise ValueError(f"feeds[{index}] {url!r} is not an http(s) URL")
        if len(set(feeds)) != len(feeds):
            raise ValueError("the same feed URL is listed twice")
        return feeds


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
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourcesFileError(shown, f"cannot read: {exc.strerror or exc}") from exc
    for key, value in (substitutions or {}).items():
        raw = raw.replace("{{" + key + "}}", value)
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise SourcesFileError(shown, f"not valid YAML: {exc}") from exc
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
            raise SourcesFileError(shown, err["msg"], source=label, field=field) from exc
    names = [s.name for s in sources]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise SourcesFileError(shown, "source names must be unique", source=dupes[0], field="name")
    return sources
