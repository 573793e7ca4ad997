"""A learned check on the topic rules: one logistic regression per topic over the article's words.

The rules (the taxonomy's weighted phrases) find where a topic is stated, but a phrase alone
cannot always tell a statement from a passing mention ("banks" in a story about a digital euro),
and an unusual paraphrase has no phrase at all. This model reads every word of the article (word
pairs were tried and did no better on articles by other writers, at twice the cost) and gives
each topic a probability. The tagger keeps a topic the rules found unless the model is nearly
sure it is wrong (below ``veto``), and adds a topic the rules missed when the model is nearly
sure of it (at least ``add``). The model reads the title and the first ``max_chars`` characters
of the text: what a story is about is said early, the training articles are about that long,
and it keeps the cost at about 70 us an article. Thresholds and length are stored with the
weights.

:func:`train_topic_model` fits it on labelled articles (``bench/train_topic_model.py`` trains
the packaged ``topic_model.json`` on the dev split). Pure Python and deterministic: articles,
features and epochs are visited in a fixed order.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from ..errors import TaxonomyError
from .matcher import fold as _fold
from .models import TOPICS

FORMAT = 1
# Words that say nothing on their own.
STOPWORDS = frozenset(
    "the a an of to in and or for on at by with from as is are was were be been that this it its their his her "
    "they he she which who said says would will could has have had not but also than into over about after more "
    "most other such these those can may new one two".split()
)


class LabeledText(Protocol):
    """What training reads from a labelled article (``evaluation.LabeledArticle`` has it)."""

    title: str
    text: str

    @property
    def labels(self) -> Any: ...  # .topics: list[str], .relevant: bool


def training_features(folded: str) -> list[str]:
    """The words of a folded text, without stopwords and numbers, sorted."""
    return sorted({t for t in folded.split() if t not in STOPWORDS and not t.isdigit()})


@dataclass(frozen=True)
class TopicModel:
    """Weights per topic and word, a bias per topic, and the thresholds the tagger applies."""

    biases: dict[str, float]
    weights: dict[str, dict[str, float]]  # topic -> feature -> weight
    add: float
    veto: float
    max_chars: int
    trained_on: dict[str, Any]

    def __post_init__(self) -> None:
        # feature -> its weight for every topic (0.0 where pruned), in TOPICS order
        vocabulary = frozenset(f for weights in self.weights.values() for f in weights)
        rows = {f: tuple(self.weights.get(t, {}).get(f, 0.0) for t in TOPICS) for f in vocabulary}
        object.__setattr__(self, "_rows", rows)
        object.__setattr__(self, "_vocabulary", vocabulary)
        object.__setattr__(self, "_bias_row", tuple(self.biases.get(t, 0.0) for t in TOPICS))

    @property
    def version(self) -> str:
        """First 12 hex digits of a SHA-256 of the weights and thresholds."""
        body = json.dumps([self.biases, self.weights, self.add, self.veto, self.max_chars], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:12]

    def features(self, folded_title: str, folded_text: str) -> frozenset[str]:
        """The model's words present in a folded title and the start of a folded text."""
        words = folded_title.split()
        words += folded_text[:self.max_chars].split()
        return self._vocabulary.intersection(words)  # type: ignore[attr-defined]

    def probabilities(self, features: Iterable[str]) -> dict[str, float]:
        rows = [self._rows[f] for f in features]  # type: ignore[attr-defined]
        # one column per topic, summed in C: faster than adding weight by weight
        sums = map(sum, zip(*rows, strict=True)) if rows else (0.0 for _ in TOPICS)
        return {topic: _sigmoid(self._bias_row[i] + z)  # type: ignore[attr-defined]
                for i, (topic, z) in enumerate(zip(TOPICS, sums, strict=True))}

    def strongest(self, topic: str, features: Iterable[str], n: int = 3) -> list[tuple[str, float]]:
        """The ``n`` present words that raise ``topic`` most, heaviest first: its evidence."""
        weights = self.weights.get(topic, {})
        ranked = sorted(((weights[f], f) for f in features if weights.get(f, 0.0) > 0), reverse=True)
        return [(f, w) for w, f in ranked[:n]]

    # ------------------------------------------------------------------ files
    def dump(self, path: str | Path) -> None:
        body = {
            "format": FORMAT,
            "trained_on": self.trained_on,
            "add": self.add,
            "veto": self.veto,
            "max_chars": self.max_chars,
            "topics": {t: {"bias": round(self.biases[t], 6),
                           "weights": {f: round(w, 4) for f, w in sorted(self.weights[t].items())}}
                       for t in TOPICS},
        }
        Path(path).write_text(json.dumps(body, ensure_ascii=False, indent=0, sort_keys=False) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, text: str, label: str) -> TopicModel:
        try:
            body = json.loads(text)
            if body.get("format") != FORMAT:
                raise ValueError(f"format {body.get('format')!r}, expected {FORMAT}")
            topics = body["topics"]
            unknown = sorted(set(topics) - set(TOPICS))
            if unknown:
                raise ValueError(f"unknown topic id {unknown[0]!r}")
            return cls(
                biases={t: float(spec["bias"]) for t, spec in topics.items()},
                weights={t: {str(f): float(w) for f, w in spec["weights"].items()} for t, spec in topics.items()},
                add=float(body["add"]), veto=float(body["veto"]), max_chars=int(body["max_chars"]),
                trained_on=dict(body.get("trained_on", {})),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TaxonomyError(f"{label}: not a topic model file: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path | None = None) -> TopicModel:
        """The model in ``path``, or the packaged one."""
        if path is None:
            text = resources.files(__package__).joinpath("topic_model.json").read_text(encoding="utf-8")
            return cls.from_json(text, "<packaged topic_model.json>")
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise TaxonomyError(f"{path}: cannot read the topic model: {exc.strerror or exc}") from exc
        return cls.from_json(text, str(path))


def train_topic_model(articles: Sequence[LabeledText], *, fold=None, min_df: int = 3, epochs: int = 15,
                      learning_rate: float = 0.3, l2: float = 1e-3, prune: float = 0.1,
                      keep_word: float = 0.3, add: float = 0.8,
                      veto: float = 0.02, max_chars: int = 2500, seed: int = 1,
                      trained_on: dict[str, Any] | None = None) -> TopicModel:
    """Fit one logistic regression per topic by stochastic gradient descent.

    Only articles labelled relevant are used: topics are only output for them. Words seen in
    fewer than ``min_df`` articles are not features. After training, a word is kept only if some
    topic weighs it at least ``keep_word``, and its weights smaller than ``prune`` are dropped:
    about 800 words stay, which makes the model cheaper to apply and did as well in
    cross-validation as all 3,000. ``fold`` turns title and text into the folded form the tagger
    sees (``matcher.fold`` by default).
    """
    fold = fold or _fold
    relevant = [a for a in articles if a.labels.relevant]
    rows = [training_features(f"{fold(a.title)} {fold(a.text[:max_chars])}") for a in relevant]
    frequency: dict[str, int] = {}
    for row in rows:
        for feature in row:
            frequency[feature] = frequency.get(feature, 0) + 1
    kept = [[f for f in row if frequency[f] >= min_df] for row in rows]
    biases: dict[str, float] = {}
    weights: dict[str, dict[str, float]] = {}
    for topic in TOPICS:
        examples = [(row, 1.0 if topic in a.labels.topics else 0.0) for row, a in zip(kept, relevant, strict=True)]
        w: dict[str, float] = {}
        b = 0.0
        rng = random.Random(seed)
        for _ in range(epochs):
            rng.shuffle(examples)
            for row, y in examples:
                z = b + sum(w.get(f, 0.0) for f in row)
                r = (_sigmoid(z) - y) * learning_rate
                b -= r
                # every feature of a long article moves less: the step is shared out over them
                step = 3.0 * r / math.sqrt(len(row)) if row else 0.0
                decay = 1.0 - learning_rate * l2
                for f in row:
                    w[f] = w.get(f, 0.0) * decay - step
        biases[topic] = b
        weights[topic] = w
    kept_words = {f for w in weights.values() for f, v in w.items() if abs(v) >= keep_word}
    weights = {t: {f: v for f, v in w.items() if f in kept_words and abs(v) >= prune} for t, w in weights.items()}
    return TopicModel(biases, weights, add, veto, max_chars, trained_on or {})


def _sigmoid(z: float) -> float:
    if z < -30.0:
        return 0.0
    if z > 30.0:
        return 1.0
    return 1.0 / (1.0 + math.exp(-z))
