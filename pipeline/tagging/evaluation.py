"""Scoring a tagger against labelled articles (the dev set in ``tests/tagging/dev_set.jsonl``).

Shared by ``bench/tagging_eval.py`` and the tests, so the floors the tests assert are the same
numbers the benchmark prints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from .models import TOPICS, Tags


class Labels(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topics: list[str]
    jurisdictions: list[str]
    primary: str | None
    relevant: bool


class LabeledArticle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    split: str
    language: str
    title: str
    text: str
    labels: Labels


def load_labeled(path: str | Path) -> list[LabeledArticle]:
    with open(path, encoding="utf-8") as fh:
        return [LabeledArticle.model_validate_json(line) for line in fh if line.strip()]


def dev_split_digest(path: str | Path) -> str:
    """SHA-256 of the dev split's lines, in file order: what a learned model was trained on."""
    digest = hashlib.sha256()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip() and LabeledArticle.model_validate_json(line).split == "dev":
                digest.update(line.strip().encode())
                digest.update(b"\n")
    return digest.hexdigest()


@dataclass
class _Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: set[str], gold: set[str]) -> None:
        self.tp += len(predicted & gold)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    n: int = 0
    per_topic: dict[str, _Counts] = field(default_factory=lambda: {t: _Counts() for t in TOPICS})
    topics: _Counts = field(default_factory=_Counts)
    jurisdictions: _Counts = field(default_factory=_Counts)
    primary_correct: int = 0
    relevance_correct: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def primary_accuracy(self) -> float:
        return self.primary_correct / self.n if self.n else 0.0

    @property
    def relevance_accuracy(self) -> float:
        return self.relevance_correct / self.n if self.n else 0.0


def evaluate(articles: Iterable[LabeledArticle], tag: Callable[[str, str], Tags]) -> Report:
    """Compare ``tag(title, text)`` with each article's labels; ``errors`` lists every disagreement."""
    report = Report()
    for article in articles:
        gold = article.labels
        tags = tag(article.title, article.text)
        report.n += 1
        predicted_topics, gold_topics = set(tags.topics), set(gold.topics)
        report.topics.add(predicted_topics, gold_topics)
        for topic in TOPICS:
            report.per_topic[topic].add(predicted_topics & {topic}, gold_topics & {topic})
        report.jurisdictions.add(set(tags.jurisdictions), set(gold.jurisdictions))
        report.primary_correct += tags.primary_jurisdiction == gold.primary
        relevant = tags.relevance >= 0.5
        report.relevance_correct += relevant == gold.relevant
        problems = []
        if predicted_topics != gold_topics:
            extra_topics, missed_topics = sorted(predicted_topics - gold_topics), sorted(gold_topics - predicted_topics)
            problems.append(f"topics +{extra_topics} -{missed_topics}")
        if set(tags.jurisdictions) != set(gold.jurisdictions):
            extra = sorted(set(tags.jurisdictions) - set(gold.jurisdictions))
            missing = sorted(set(gold.jurisdictions) - set(tags.jurisdictions))
            problems.append(f"jurisdictions +{extra} -{missing}")
        if tags.primary_jurisdiction != gold.primary:
            problems.append(f"primary {tags.primary_jurisdiction} != {gold.primary}")
        if relevant != gold.relevant:
            problems.append(f"relevance {tags.relevance:.2f} (gold {'relevant' if gold.relevant else 'not relevant'})")
        if problems:
            report.errors.append(f"{article.id}: " + "; ".join(problems))
    return report
