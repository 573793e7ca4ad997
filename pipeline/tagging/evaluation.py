"""Scoring a tagger against labelled articles (``tests/tagging/labelled.jsonl``).

Shared by ``bench/tagging_eval.py``, ``bench/train_tagger.py`` and the tests, so the floors the
tests assert are the same numbers the benchmark prints. Each labelled article records who wrote
it (``writer``), in which ``round`` and who labelled it, so a report can be split by any of them.
Jurisdictions are scored by role: ``jurisdictions`` are the subjects (docs/labeling-guide.md),
``mentioned`` the places only named.
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
    #: subject jurisdictions only (docs/labeling-guide.md)
    jurisdictions: list[str]
    #: jurisdictions the article names without being about them
    mentioned: list[str] = []
    primary: str | None
    relevant: bool


class LabeledArticle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    split: str
    round: str = ""
    writer: str = ""
    labelled_by: str = ""
    language: str
    title: str
    text: str
    labels: Labels


def load_labeled(path: str | Path, *, split: str | None = None, round: str | None = None,
                 writer: str | None = None) -> list[LabeledArticle]:
    """The articles in a JSON-lines file, optionally only one split, round or writer."""
    with open(path, encoding="utf-8") as fh:
        articles = [LabeledArticle.model_validate_json(line) for line in fh if line.strip()]
    return [a for a in articles if (split is None or a.split == split) and (round is None or a.round == round)
            and (writer is None or a.writer == writer)]


def file_digest(path: str | Path) -> str:
    """SHA-256 of a labelled file's non-empty lines, in file order: what a model was trained on."""
    digest = hashlib.sha256()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                digest.update(line.strip().encode())
                digest.update(b"\n")
    return digest.hexdigest()


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: set[str], gold: set[str]) -> None:
        self.tp += len(predicted & gold)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)

    @property
    def support(self) -> int:
        return self.tp + self.fn

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
    per_topic: dict[str, Counts] = field(default_factory=lambda: {t: Counts() for t in TOPICS})
    per_jurisdiction: dict[str, Counts] = field(default_factory=dict)
    topics: Counts = field(default_factory=Counts)
    #: subject jurisdictions (Tags.jurisdictions against labels.jurisdictions)
    jurisdictions: Counts = field(default_factory=Counts)
    #: mentioned jurisdictions (Tags.mentioned_jurisdictions against labels.mentioned)
    mentioned: Counts = field(default_factory=Counts)
    #: gold subjects the tagger found but called mentioned, and gold mentions it called subjects
    subject_as_mentioned: int = 0
    mentioned_as_subject: int = 0
    primary_correct: int = 0
    relevance_correct: int = 0
    relevance: Counts = field(default_factory=Counts)  # "relevant" as the positive class
    errors: list[str] = field(default_factory=list)

    @property
    def primary_accuracy(self) -> float:
        return self.primary_correct / self.n if self.n else 0.0

    @property
    def relevance_accuracy(self) -> float:
        return self.relevance_correct / self.n if self.n else 0.0

    def add(self, article: LabeledArticle, tags: Tags) -> None:
        """Count one article's tags against its labels."""
        gold = article.labels
        self.n += 1
        predicted_topics, gold_topics = set(tags.topics), set(gold.topics)
        self.topics.add(predicted_topics, gold_topics)
        for topic in TOPICS:
            self.per_topic[topic].add(predicted_topics & {topic}, gold_topics & {topic})
        subjects, gold_subjects = set(tags.jurisdictions), set(gold.jurisdictions)
        mentioned = set(getattr(tags, "mentioned_jurisdictions", []) or [])
        self.jurisdictions.add(subjects, gold_subjects)
        self.mentioned.add(mentioned, set(gold.mentioned))
        self.subject_as_mentioned += len(gold_subjects & mentioned)
        self.mentioned_as_subject += len(set(gold.mentioned) & subjects)
        for code in subjects | gold_subjects:
            self.per_jurisdiction.setdefault(code, Counts()).add(subjects & {code}, gold_subjects & {code})
        self.primary_correct += tags.primary_jurisdiction == gold.primary
        relevant = tags.relevance >= 0.5
        self.relevance_correct += relevant == gold.relevant
        self.relevance.add({"r"} if relevant else set(), {"r"} if gold.relevant else set())
        problems = _problems(tags, gold, predicted_topics, subjects)
        if problems:
            self.errors.append(f"{article.id} [{article.writer}]: " + "; ".join(problems))


def _problems(tags: Tags, gold: Labels, topics: set[str], subjects: set[str]) -> list[str]:
    problems = []
    gold_topics, gold_subjects = set(gold.topics), set(gold.jurisdictions)
    if topics != gold_topics:
        problems.append(f"topics +{sorted(topics - gold_topics)} -{sorted(gold_topics - topics)}")
    if subjects != gold_subjects:
        problems.append(f"jurisdictions +{sorted(subjects - gold_subjects)} -{sorted(gold_subjects - subjects)}")
    if tags.primary_jurisdiction != gold.primary:
        problems.append(f"primary {tags.primary_jurisdiction} != {gold.primary}")
    if (tags.relevance >= 0.5) != gold.relevant:
        problems.append(f"relevance {tags.relevance:.2f} (gold {'relevant' if gold.relevant else 'not relevant'})")
    return problems


def evaluate(articles: Iterable[LabeledArticle], tag: Callable[[str, str], Tags]) -> Report:
    """Compare ``tag(title, text)`` with each article's labels; ``errors`` lists every disagreement."""
    report = Report()
    for article in articles:
        report.add(article, tag(article.title, article.text))
    return report


def evaluate_tags(pairs: Iterable[tuple[LabeledArticle, Tags]]) -> Report:
    """:func:`evaluate` for tags computed elsewhere (cross-validation predicts each article once)."""
    report = Report()
    for article, tags in pairs:
        report.add(article, tags)
    return report
