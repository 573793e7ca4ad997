"""Load, merge and validate the tagging taxonomy (topic patterns, gazetteer, context cues, scoring).

The packaged ``taxonomy.yaml`` is always the base. A user file extends it: mappings merge key by
key, lists are appended, scalars replace; a user file whose top level says ``extends: false`` is
used on its own instead. Every problem becomes a :class:`~pipeline.errors.TaxonomyError` whose
message names the file and the entry, because a taxonomy is edited by hand and a bare pydantic
trace would not say which of several hundred entries is wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import TaxonomyError
from ..yamlfile import parse_yaml, read_text
from .models import TOPICS, EntityType

PACKAGED_NAME = "taxonomy.yaml"

# ISO 3166-1 alpha-2, plus the two pseudo-jurisdictions the issue defines.
_JURISDICTION_CODE = re.compile(r"^(?:[A-Z]{2}|EU|INT)$")


class _Strict(BaseModel):
    # A misspelt field ("pattern:" for "patterns:") must fail loudly, not be ignored; .nan and .inf are no numbers.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _check_phrases(phrases: list[str]) -> list[str]:
    for phrase in phrases:
        if not phrase.strip(" *"):
            raise ValueError("empty phrase")
    return phrases


class TopicSpec(_Strict):
    description: str = ""
    #: false for subject topics (stablecoins, cbdc, mining, payments): news about the subject alone
    #: is not news about regulation, so their phrases do not raise relevance
    regulatory: bool = True
    #: phrase -> weight; a trailing ``*`` matches any word ending ("licens*": licence, licensing)
    patterns: dict[str, float] = Field(min_length=1)
    #: cues that, in the same sentence, mean this topic's phrases are about something else
    negative: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _weights(cls, patterns: dict[str, float]) -> dict[str, float]:
        _check_phrases(list(patterns))
        for phrase, weight in patterns.items():
            if not 0 <= weight <= 5:
                raise ValueError(f"weight of {phrase!r} must be between 0 and 5, not {weight}")
        return patterns

    @field_validator("negative")
    @classmethod
    def _negative_phrases(cls, negative: list[str]) -> list[str]:
        return _check_phrases(negative)


class JurisdictionSpec(_Strict):
    name: str
    names: list[str] = Field(default_factory=list)
    adjectives: list[str] = Field(default_factory=list)
    demonyms: list[str] = Field(default_factory=list)
    #: capitals used as metonyms ("Beijing said")
    capitals: list[str] = Field(default_factory=list)
    #: financial centres and other places that stand for the jurisdiction
    places: list[str] = Field(default_factory=list)
    #: named laws and regimes ("MiCA", "GENIUS Act")
    laws: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _phrases(self) -> JurisdictionSpec:
        for kind in ("names", "adjectives", "demonyms", "capitals", "places", "laws"):
            _check_phrases(getattr(self, kind))
        return self


class EntitySpec(_Strict):
    type: EntityType
    jurisdiction: str | None = None
    aliases: list[str] = Field(default_factory=list)
    #: match every alias with its exact capitalisation ("Circle", "Rain" are also plain words)
    case_sensitive: bool = False
    #: a crypto business: its name is evidence that the article is about crypto at all
    crypto: bool = False

    @field_validator("aliases")
    @classmethod
    def _alias_phrases(cls, aliases: list[str]) -> list[str]:
        return _check_phrases(aliases)


class ContextSpec(_Strict):
    #: cue -> how many words may stand between it and the phrase it negates
    negation: dict[str, int] = Field(default_factory=dict)
    #: region names that contain a country name but are not jurisdictions ("Latin America")
    regions: list[str] = Field(default_factory=list)
    #: phrases that contain a negation cue but do not negate ("no longer")
    not_negation: list[str] = Field(default_factory=list)
    #: cue -> scope in words, as for negation; hedged evidence counts less
    hedging: dict[str, int] = Field(default_factory=dict)
    #: templates around a place name that make it a passing mention: "{}-born", "in {} trading"
    passing: list[str] = Field(default_factory=list)
    #: templates around a place name that make it an authority of that place: "{} court",
    #: "regulators in {}", "{}'s government"; the mention then counts as an authority does
    authority: list[str] = Field(default_factory=list)
    #: phrase -> weight; generic regulatory vocabulary (relevance and "substantive sentence")
    regulatory: dict[str, float] = Field(default_factory=dict)
    #: phrase -> weight; says the article is about crypto at all
    crypto: dict[str, float] = Field(default_factory=dict)
    #: phrase -> weight; price news, hacks and product launches
    off_topic: dict[str, float] = Field(default_factory=dict)

    @field_validator("passing", "authority")
    @classmethod
    def _templates(cls, templates: list[str], info) -> list[str]:
        for template in templates:
            if template.count("{}") != 1 or not template.replace("{}", "").strip():
                raise ValueError(f"{info.field_name} template {template!r} needs exactly one '{{}}' and some text")
        return templates


class ScoringSpec(_Strict):
    """Numbers the tagger combines evidence with; docs/tagging.md explains each."""

    title_weight: float = 2.0
    lead_weight: float = 1.4
    lead_chars: int = 300
    hedge_factor: float = 0.6
    topic_threshold: float = 1.6
    #: a topic is kept only if at least one of its phrases weighs this much in the taxonomy:
    #: "banks" (0.25) six times is not a statement about fiat ramps
    topic_anchor_weight: float = 0.8
    #: body evidence for a topic the headline negates ("denies plans to ban") is worth this much
    negated_title_factor: float = 0.3
    #: a phrase of a regulatory topic this heavy makes its sentence "about rules"
    strong_phrase: float = 1.0
    jurisdiction_threshold: float = 1.4
    #: evidence in a sentence with no regulatory vocabulary is worth this much
    non_regulatory_sentence: float = 0.6
    #: a place within ``proximity_words`` of a topic phrase ("US sanctions") is worth this much more
    proximity_bonus: float = 1.5
    proximity_words: int = 3
    #: a place this many words or fewer from the start of a regulatory sentence, or followed by
    #: ", which", is the sentence's subject ("Kenya cut its tax on ...") and gets proximity_bonus
    subject_words: int = 3
    #: a place in an authority template ("Dutch court") weighs this much, as an authority does
    authority_template_weight: float = 1.5
    #: relevance is multiplied by this when the article has no regulatory vocabulary and names no
    #: authority: crypto words and product or marketing words do not make regulatory news
    no_regulatory_action_factor: float = 0.5
    #: EU or INT is primary only if no country has at least this share of its score
    supranational_share: float = 0.6
    kind_weights: dict[str, float] = Field(default_factory=dict)
    entity_weights: dict[str, float] = Field(default_factory=dict)
    #: entity types below this weight (banks, exchanges, companies) count once per article for
    #: their jurisdiction, however often they are named: a company's home is not its subject
    repeat_entity_below: float = 1.0
    relevance_slope: float = 2.5
    relevance_bias: float = 0.8
    relevance_crypto_min: float = 3.0
    #: crypto evidence counted from one sentence at most (position weight included)
    relevance_crypto_sentence_cap: float = 1.5
    #: an article whose position-weighted share of sentences about rules is below this has its
    #: relevance multiplied by (share / this) squared: regulation in one aside is not the story
    relevance_share_full: float = 0.35
    #: decide with the packaged classifiers (learned.py); false: the rules decide alone (the name is kept for old files)
    topic_model: bool = True


class Taxonomy(_Strict):
    extends: bool = True
    topics: dict[str, TopicSpec]
    jurisdictions: dict[str, JurisdictionSpec]
    entities: dict[str, EntitySpec] = Field(default_factory=dict)
    context: ContextSpec = Field(default_factory=ContextSpec)
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)

    @field_validator("topics")
    @classmethod
    def _known_topics(cls, topics: dict[str, TopicSpec]) -> dict[str, TopicSpec]:
        unknown = [t for t in topics if t not in TOPICS]
        if unknown:
            raise ValueError(f"unknown topic id {unknown[0]!r}; expected one of {', '.join(TOPICS)}")
        return topics

    @field_validator("jurisdictions")
    @classmethod
    def _codes(cls, jurisdictions: dict[str, JurisdictionSpec]) -> dict[str, JurisdictionSpec]:
        for code in jurisdictions:
            if not _JURISDICTION_CODE.match(code):
                raise ValueError(f"jurisdiction code {code!r} is not ISO 3166-1 alpha-2, 'EU' or 'INT'")
        return jurisdictions

    @model_validator(mode="after")
    def _entity_jurisdictions(self) -> Taxonomy:
        for name, entity in self.entities.items():
            if entity.jurisdiction is not None and entity.jurisdiction not in self.jurisdictions:
                raise ValueError(
                    f"entity {name!r}: jurisdiction {entity.jurisdiction!r} is not defined under 'jurisdictions'"
                )
        return self

    @property
    def version(self) -> str:
        """Short content hash: the store compares it to know which articles need retagging."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """The packaged taxonomy, extended (or replaced, with ``extends: false``) by the file at ``path``."""
    packaged = resources.files(__package__).joinpath(PACKAGED_NAME)
    data = _read_yaml(packaged.read_text(encoding="utf-8"), f"<packaged {PACKAGED_NAME}>")
    label = f"<packaged {PACKAGED_NAME}>"
    if path is not None:
        path = Path(path)
        label = str(path)
        user = _read_yaml(read_text(path, lambda message: TaxonomyError(f"{label}: taxonomy file: {message}")), label)
        extends = user.get("extends", True)
        if not isinstance(extends, bool):
            raise TaxonomyError(f"{path}: extends: must be true or false")
        data = merge(data, user) if extends else user
    try:
        return Taxonomy.model_validate(data)
    except ValidationError as exc:
        raise TaxonomyError(_describe(label, exc)) from exc


def _read_yaml(text: str, label: str) -> dict[str, Any]:
    data = parse_yaml(text, lambda message: TaxonomyError(f"{label}: {message}"))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TaxonomyError(f"{label}: top level must be a mapping, not {type(data).__name__}")
    return data


def merge(base: dict[str, Any], extension: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``extension`` over ``base``: mappings recurse, lists append (no duplicates), scalars replace."""
    merged = dict(base)
    for key, value in extension.items():
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            merged[key] = merge(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            merged[key] = old + [v for v in value if v not in old]
        else:
            merged[key] = value
    return merged


def _describe(label: str, exc: ValidationError) -> str:
    """'file: topics.licensing.patterns: message' for each error (at most five)."""
    lines = []
    for error in exc.errors()[:5]:
        entry = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error.get("input") is False and "jurisdiction" in entry:
            message += ' (YAML reads an unquoted NO as false: write "NO" for Norway)'
        lines.append(f"{label}: {entry}: {message}")
    more = len(exc.errors()) - 5
    if more > 0:
        lines.append(f"{label}: ... and {more} more error(s)")
    return "\n".join(lines)
