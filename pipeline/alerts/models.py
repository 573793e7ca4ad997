"""Alert definitions (saved searches with channels) and the records of their deliveries."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ..errors import QuerySyntaxError
from ..query import SearchQuery, parse_query
from ..tagging.models import TOPICS
from .channel_secrets import ENV_REF, check_channel_secrets, mask_channel

__all__ = ["ENV_REF", "Alert", "Delivery", "DeliveryState", "Evidence", "MatchedArticle", "Mode", "check_channel"]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:@-]{0,99}$")
JURISDICTION = re.compile(r"^[A-Z]{2,3}$")


class Mode(StrEnum):
    IMMEDIATE = "immediate"
    HOURLY = "hourly"  #: one digest per alert and channel at the end of each UTC hour
    DAILY = "daily"  #: one digest per alert and channel at the end of each UTC day

    @property
    def is_digest(self) -> bool:
        return self is not Mode.IMMEDIATE


@lru_cache(maxsize=1)
def _apprise_schemes() -> frozenset[str] | None:
    try:
        from apprise.manager_plugins import NotificationManager
    except ImportError:  # pragma: no cover - the 'alerts' extra is not installed: checked again at send time
        return None
    return frozenset(s.lower() for s in NotificationManager().schemas())


#: validation context key: the definition comes from a store (see ``Alert._channels``)
STORED = "stored"


def check_channel(url: str, *, secrets: bool = True) -> str:
    """Refuse a channel URL apprise cannot serve, or (``secrets``) one that carries a secret in plain text."""
    url = url.strip()
    placeholder = ENV_REF.sub("x", url)
    if "://" not in placeholder:
        raise ValueError(f"{mask_channel(url)!r} is not an apprise URL (scheme://...)")
    scheme = placeholder.split("://", 1)[0].lower()
    schemes = _apprise_schemes()
    if schemes is not None and scheme not in schemes:
        raise ValueError(f"{mask_channel(url)!r}: apprise has no '{scheme}://' service")
    if secrets:
        check_channel_secrets(url, scheme)
    return url


def env_refs(url: str) -> list[str]:
    return ENV_REF.findall(url)


class Alert(BaseModel):
    """A saved search (query string and filters, with search's semantics) plus who hears about it, where and when."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(description="unique; letters, digits, spaces and _ . : @ -")
    owner: str = Field(min_length=1, description="who to ask about this alert (a person or a team)")
    q: str = ""
    topics: list[str] = Field(default_factory=list)
    #: subject jurisdictions: the alert fires on stories about them, not on stories that only name them
    jurisdictions: list[str] = Field(default_factory=list)
    #: also fire on articles that only mention one of ``jurisdictions`` (comparisons, background, other stories)
    include_mentions: bool = False
    sources: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    min_relevance: float | None = Field(default=None, ge=0, le=1)
    channels: list[str] = Field(min_length=1, description="apprise URLs; secrets as ${ENV_VAR} references")
    mode: Mode = Mode.IMMEDIATE
    #: send again when an article that was sent changes (a new version that still matches)
    updates: bool = False
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not NAME.match(value):
            raise ValueError("1-100 letters, digits, spaces or _ . : @ - (starting with a letter or digit)")
        return value

    @field_validator("q")
    @classmethod
    def _query(cls, value: str) -> str:
        try:
            parse_query(value)
        except QuerySyntaxError as exc:
            raise ValueError(str(exc)) from exc
        return value.strip()

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in TOPICS]
        if unknown:
            raise ValueError(f"unknown topic(s) {unknown}; known: {', '.join(TOPICS)}")
        return list(dict.fromkeys(value))

    @field_validator("jurisdictions")
    @classmethod
    def _jurisdictions(cls, value: list[str]) -> list[str]:
        upper = [j.strip().upper() for j in value]
        bad = [j for j in upper if not JURISDICTION.match(j)]
        if bad:
            raise ValueError(f"not an ISO 3166 code (or EU/INT): {bad}")
        return list(dict.fromkeys(upper))

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str], info: ValidationInfo) -> list[str]:
        # a definition read back from a store was accepted when it was saved: one saved before the secret rules
        # were strict must still load (and be delivered, and shown masked), not break every other alert
        stored = bool(info.context and info.context.get(STORED))
        return list(dict.fromkeys(check_channel(url, secrets=not stored) for url in value))

    @model_validator(mode="after")
    def _something_to_match(self) -> Alert:
        if not (self.q or self.topics or self.jurisdictions or self.sources or self.languages
                or self.min_relevance is not None):
            raise ValueError("an alert needs a query or at least one filter (it would match every article)")
        return self

    def search_query(self, ids: list[str] | None = None, *, since: datetime | None = None,
                     limit: int = 10_000) -> SearchQuery:
        """The alert as a search: the same object, so the same semantics on every backend."""
        return SearchQuery(q=self.q, topics=self.topics, jurisdictions=self.jurisdictions,
                           include_mentions=self.include_mentions, sources=self.sources, languages=self.languages,
                           min_relevance=self.min_relevance, ids=ids, since=since,
                           limit=limit, facets=False)

    def shown(self) -> dict[str, Any]:
        """The definition as JSON for showing: channels with any credential written in clear masked (a definition
        stored before the rules were strict may have one)."""
        return {**self.model_dump(mode="json"), "channels": [mask_channel(c) for c in self.channels]}

    @property
    def fingerprint(self) -> str:
        """Changes when what the alert matches changes (query and filters, not channels)."""
        part = self.model_dump(include={"q", "topics", "jurisdictions", "sources", "languages", "min_relevance"})
        if self.include_mentions:  # (absent when false, so the alerts saved before the field keep their fingerprint)
            part["include_mentions"] = True
        return hashlib.sha1(json.dumps(part, sort_keys=True).encode()).hexdigest()[:16]


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  #: will be retried at ``next_try``
    GIVEN_UP = "given_up"  #: final; ``last_error`` says why
    #: final: the request went out but no answer came (timeout, connection dropped): maybe delivered, not resent
    UNKNOWN = "unknown"


class Evidence(BaseModel):
    label: str  #: 'topic:fiat-ramp', 'jurisdiction:KZ'
    phrases: list[str]


class MatchedArticle(BaseModel):
    """What a message says about one article: a snapshot taken when the alert matched it."""

    id: str
    version: int
    title: str
    url: str
    source: str
    published: datetime | None = None
    snippet: str = ""  #: plain text
    topics: list[str] = Field(default_factory=list)
    jurisdictions: list[str] = Field(default_factory=list)
    relevance: float | None = None
    evidence: list[Evidence] = Field(default_factory=list)


class Delivery(BaseModel):
    """One row of the delivery log: (alert, article, version or 'any', channel) and its state."""

    id: str  #: the row id (SQLite) or document id (search engine)
    alert: str
    article_id: str
    version_key: str
    channel: str  #: the URL as defined (environment references unexpanded)
    mode: Mode
    state: DeliveryState
    attempts: int = 0
    created_at: datetime
    next_try: datetime
    sent_at: datetime | None = None
    last_error: str | None = None
    article: MatchedArticle

    def as_json(self) -> dict[str, Any]:
        """For showing: the channel with any credential written in clear masked (see ``mask_channel``)."""
        return {**self.model_dump(mode="json"), "channel": mask_channel(self.channel)}
