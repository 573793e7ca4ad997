"""The learned decisions: logistic regressions over the rule layer's evidence, scored in pure Python.

Three kinds of model, all fitted with scikit-learn by ``bench/train_tagger.py`` on the labelled
articles and shipped as JSON (``topic_model.json``: topics and relevance;
``jurisdiction_model.json``: subject or mentioned). Applying them is a sum of weights per model,
so tagging needs neither scikit-learn nor numpy:

- relevance: one model over the article features (features.py);
- topics: one model per topic over the article features and the topic's own rule features;
- jurisdictions: one model over a candidate's mention features.

Each model has a decision threshold on its probability, chosen by cross-validation when it was
trained. Word weights are stored once per word for every topic and relevance, so the article's
words are looked up once and all fifteen sums are made together.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from itertools import repeat
from operator import mul
from pathlib import Path
from typing import Any

from ..errors import TaxonomyError
from .models import TOPICS

FORMAT = 2
TOPIC_FILE = "topic_model.json"
JURISDICTION_FILE = "jurisdiction_model.json"
#: the article models, in the order of a word's weight row: one per topic, then relevance
ARTICLE_MODELS: tuple[str, ...] = (*TOPICS, "relevance")


def sigmoid(z: float) -> float:
    if z < -30.0:
        return 0.0
    if z > 30.0:
        return 1.0
    return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True)
class LinearModel:
    """A logistic regression: bias, weights by feature name, and the probability it decides at."""

    bias: float
    weights: dict[str, float]
    threshold: float

    def logit(self, features: Mapping[str, float]) -> float:
        weights = self.weights
        return self.bias + sum(weights[f] * v for f, v in features.items() if f in weights)

    def contributions(self, features: Mapping[str, float]) -> list[tuple[str, float]]:
        """(feature, weight x value) for each feature the model uses, largest effect first."""
        weights = self.weights
        found = [(f, weights[f] * v) for f, v in features.items() if f in weights and v]
        return sorted(found, key=lambda item: -abs(item[1]))

    def to_json(self) -> dict[str, Any]:
        return {"bias": self.bias, "threshold": self.threshold, "weights": dict(sorted(self.weights.items()))}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> LinearModel:
        return cls(float(body["bias"]), {str(f): float(w) for f, w in body["weights"].items()},
                   float(body["threshold"]))


@dataclass(frozen=True)
class TaggerModel:
    """Every learned decision of the tagger: article models (topics, relevance) and the jurisdiction model.

    ``article`` maps a topic id or ``relevance`` to its model; a topic model's weights hold the
    shared article features and its own features under ``own:``.
    """

    article: dict[str, LinearModel]
    jurisdiction: LinearModel
    max_chars: int
    trained_on: dict[str, Any] = field(default_factory=dict)
    #: every word any article model weighs (derived from the weights)
    vocabulary: frozenset[str] = field(init=False, repr=False, compare=False)
    _rows: dict[str, tuple[float, ...]] = field(init=False, repr=False, compare=False)
    _dense_rows: dict[str, tuple[float, ...]] = field(init=False, repr=False, compare=False)
    _own: dict[str, dict[str, float]] = field(init=False, repr=False, compare=False)
    _columns: dict[str, dict[str, float]] = field(init=False, repr=False, compare=False)  # positive word weights
    _biases: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        vocabulary = sorted({f[2:] for m in self.article.values() for f in m.weights if f.startswith("w:")})
        rows = {w: tuple(self.article[name].weights.get("w:" + w, 0.0) for name in ARTICLE_MODELS)
                for w in vocabulary}
        dense = sorted({f for m in self.article.values() for f in m.weights if f[:2] in ("s:", "r:")})
        dense_rows = {f: tuple(self.article[name].weights.get(f, 0.0) for name in ARTICLE_MODELS) for f in dense}
        own = {t: {f[4:]: w for f, w in self.article[t].weights.items() if f.startswith("own:")} for t in TOPICS}
        object.__setattr__(self, "vocabulary", frozenset(vocabulary))
        object.__setattr__(self, "_rows", rows)
        object.__setattr__(self, "_dense_rows", dense_rows)
        object.__setattr__(self, "_own", own)
        object.__setattr__(self, "_columns", {t: {w: row[i] for w, row in rows.items() if row[i] > 0}
                                              for i, t in enumerate(TOPICS)})
        object.__setattr__(self, "_biases", tuple(self.article[name].bias for name in ARTICLE_MODELS))

    @property
    def version(self) -> str:
        """First 12 hex digits of a SHA-256 of every weight and threshold."""
        body = json.dumps([{k: m.to_json() for k, m in self.article.items()}, self.jurisdiction.to_json(),
                           self.max_chars], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:12]

    def article_logits(self, words: Iterable[str], dense: Mapping[str, float]) -> list[float]:
        """Log-odds of every article model (ARTICLE_MODELS order) from the article's words (the
        model's vocabulary only) and dense features; :meth:`topic_logit` adds a topic's own features."""
        rows = [self._rows[w] for w in words]
        dense_rows = self._dense_rows
        for f, v in dense.items():
            row = dense_rows.get(f)
            if row is not None and v:
                rows.append(tuple(map(mul, row, repeat(v))))
        sums = map(sum, zip(*rows, strict=True)) if rows else (0.0 for _ in ARTICLE_MODELS)
        return [b + z for b, z in zip(self._biases, sums, strict=True)]

    def topic_logit(self, topic: str, base: float, own: Mapping[str, float]) -> float:
        weights = self._own[topic]
        return base + sum(weights[f] * v for f, v in own.items() if f in weights)

    def strongest_words(self, topic: str, words: Iterable[str], n: int = 3) -> list[tuple[str, float]]:
        """The ``n`` words (of the model's vocabulary) that raise ``topic`` most: its word evidence."""
        column = self._columns[topic]
        # (weight, word) pairs compare natively: no key function called per word
        found = heapq.nlargest(n, [(column[w], w) for w in words if w in column])
        return [(w, weight) for weight, w in found]

    # ------------------------------------------------------------------ files
    def dump(self, directory: str | Path) -> None:
        """Write topic_model.json and jurisdiction_model.json into ``directory``."""
        directory = Path(directory)
        topics = {"format": FORMAT, "trained_on": self.trained_on, "max_chars": self.max_chars,
                  "models": {name: self.article[name].to_json() for name in ARTICLE_MODELS}}
        jurisdictions = {"format": FORMAT, "trained_on": self.trained_on, "model": self.jurisdiction.to_json()}
        for name, body in ((TOPIC_FILE, topics), (JURISDICTION_FILE, jurisdictions)):
            text = json.dumps(body, ensure_ascii=False, indent=0, sort_keys=False) + "\n"
            (directory / name).write_text(text, encoding="utf-8")

    @classmethod
    def from_json(cls, topics: str, jurisdictions: str, label: str) -> TaggerModel:
        try:
            t_body, j_body = json.loads(topics), json.loads(jurisdictions)
            for body in (t_body, j_body):
                if body.get("format") != FORMAT:
                    raise ValueError(f"format {body.get('format')!r}, expected {FORMAT}")
            models = t_body["models"]
            unknown = sorted(set(models) - set(ARTICLE_MODELS))
            if unknown:
                raise ValueError(f"unknown model {unknown[0]!r}")
            missing = sorted(set(ARTICLE_MODELS) - set(models))
            if missing:
                raise ValueError(f"no model for {missing[0]!r}")
            return cls(article={name: LinearModel.from_json(models[name]) for name in ARTICLE_MODELS},
                       jurisdiction=LinearModel.from_json(j_body["model"]), max_chars=int(t_body["max_chars"]),
                       trained_on=dict(t_body.get("trained_on", {})))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TaxonomyError(f"{label}: not a tagger model: {exc}") from exc

    @classmethod
    def load(cls, directory: str | Path | None = None) -> TaggerModel:
        """The model files in ``directory``, or the packaged ones."""
        if directory is None:
            root = resources.files(__package__)
            return cls.from_json(root.joinpath(TOPIC_FILE).read_text(encoding="utf-8"),
                                 root.joinpath(JURISDICTION_FILE).read_text(encoding="utf-8"),
                                 "<packaged tagger model>")
        directory = Path(directory)
        try:
            texts = [(directory / name).read_text(encoding="utf-8") for name in (TOPIC_FILE, JURISDICTION_FILE)]
        except OSError as exc:
            raise TaxonomyError(f"{directory}: cannot read the tagger model: {exc.strerror or exc}") from exc
        return cls.from_json(texts[0], texts[1], str(directory))
