"""Typed records that the tagger returns.

They are plain pydantic v2 models so the store and the API can serialise them as they are
(``Tags.model_dump()``); the tagger builds them once per article, so they stay small.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..caps import EVIDENCE_PER_LABEL

#: The topic ids a tag set may carry, in the order reports list them.
TOPICS: tuple[str, ...] = (
    "licensing",
    "ban",
    "legalization",
    "aml-kyc",
    "taxation",
    "consumer-protection",
    "securities",
    "enforcement",
    "stablecoins",
    "cbdc",
    "mining",
    "sanctions",
    "fiat-ramp",
    "payments",
)

#: Kinds of named entity the gazetteer knows; authorities weigh more as jurisdiction evidence.
EntityType = Literal[
    "regulator",
    "central_bank",
    "ministry",
    "agency",
    "court",
    "legislature",
    "government",
    "standard_setter",
    "financial_centre",
    "international_org",
    "bank",
    "exchange",
    "company",
    "payment_system",
]


class Match(BaseModel):
    """One piece of evidence: the phrase that was found, where, and what it added to a label."""

    model_config = ConfigDict(frozen=True)

    label: str = Field(description="'topic:mining', 'jurisdiction:KZ' (a subject), 'mentioned:UA' or 'entity:AIFC'")
    phrase: str = Field(description="the text as it appears in the article")
    offset: int = Field(ge=0, description="character offset of the phrase within `field`")
    weight: float = Field(description="what this occurrence added to the label's score (0 if negated)")
    field: Literal["title", "text"]
    #: what the classifier read here: "phrase" (a taxonomy phrase), "w:<word>" (a word the topic
    #: model weighs), or a jurisdiction mention's flags ("title,k:name,rules,subject"; see
    #: pipeline/tagging/mentions.py)
    feature: str = ""


class Entity(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    type: EntityType
    jurisdiction: str | None = None


class Tags(BaseModel):
    """Everything the tagger says about one article."""

    topics: list[str] = Field(default_factory=list)
    #: subject jurisdictions: whose laws, authorities or policy the story reports on
    jurisdictions: list[str] = Field(default_factory=list)
    #: jurisdictions the article only names (comparisons, background, other stories, lists)
    mentioned_jurisdictions: list[str] = Field(default_factory=list)
    #: a subject, or None
    primary_jurisdiction: str | None = None
    entities: list[Entity] = Field(default_factory=list)
    relevance: float = Field(ge=0.0, le=1.0)
    matches: list[Match] = Field(default_factory=list)
    #: the classifiers' probability for each label they decided ("topic:licensing",
    #: "jurisdiction:KZ", "mentioned:UA", "relevance"), rescaled so that 0.5 is the decision threshold
    confidence: dict[str, float] = Field(default_factory=dict)
    language: str = Field(description="ISO 639-1 code of the article's language, or 'und'")
    taxonomy_version: str
    #: True when evidence past EVIDENCE_PER_LABEL matches of a label was left out (pipeline/caps.py)
    truncated: bool = False

    @model_validator(mode="after")
    def _cap_evidence(self) -> Tags:
        per_label: dict[str, int] = {}
        kept: list[Match] = []
        for match in self.matches:
            per_label[match.label] = per_label.get(match.label, 0) + 1
            if per_label[match.label] <= EVIDENCE_PER_LABEL:
                kept.append(match)
        if len(kept) < len(self.matches):
            self.matches, self.truncated = kept, True
        return self

    @property
    def is_relevant(self) -> bool:
        """The issue's cut-off: an article is about crypto regulation when relevance >= 0.5."""
        return self.relevance >= 0.5
