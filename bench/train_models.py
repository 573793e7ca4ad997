"""Fitting the tagger's classifiers with scikit-learn (used by bench/train_tagger.py; needs the `train` extra).

Every article goes through the rule layer once (``featurize``); the features are what the
tagger computes at tag time (pipeline/tagging/features.py). ``fit`` then chooses, for each
model, the regularisation by grouped cross-validation inside the training articles (log-loss),
and the decision threshold from the same out-of-fold probabilities (best F1 for topics and
jurisdictions, best accuracy for relevance), and fits it on all of them. Weights are rounded to
six significant digits and tiny ones dropped, so the JSON files are small and reproducible.
"""

from __future__ import annotations

import os

# single-threaded and deterministic: set before numpy is imported
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.feature_extraction import DictVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402

from pipeline.tagging import TOPICS, Tagger  # noqa: E402
from pipeline.tagging.evaluation import LabeledArticle  # noqa: E402
from pipeline.tagging.features import dense_features, jurisdiction_features, topic_features, word_features  # noqa: E402
from pipeline.tagging.learned import LinearModel, TaggerModel  # noqa: E402

C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)
INNER_FOLDS = 4
MIN_DF = 3
PRUNE = 1e-3  # weights smaller than this are dropped
#: word weights smaller than this are dropped: most of the 4,000 words weigh next to nothing, and
#: dropping them keeps the file small and the cross-validated figures the same
PRUNE_WORDS = 0.05
MAX_CHARS = 1500
#: articles written and labelled by the same hand weigh more: the held-out set is made that way
#: word features enter the fit at this value (1 at tag time, the weights rescaled on export); 0.25
#: and 0.5, a stronger penalty on words than on rule features, did no better in cross-validation
WORD_SCALE = 1.0
#: (weight 3 against 1: topics F1 on round 15 0.842 against 0.816 in cross-validation, all
#: articles 0.831 against 0.834; 6 did no better)
ROUND_WEIGHTS = {"round-15": 3.0}


@dataclass
class Featurized:
    article: LabeledArticle
    group: str
    weight: float
    shared: dict[str, float]
    own: dict[str, dict[str, float]]  # topic -> its own features (no prefix)
    candidates: dict[str, dict[str, float]]  # jurisdiction code -> features


def group_of(a: LabeledArticle) -> str:
    """Cross-validation group: who wrote it (the author's own rounds split in two, other writers apart)."""
    if a.writer != "earlier-rounds":
        return a.writer
    for suffix, group in (("-r14", "earlier-r14"), ("-r12", "earlier-r12-13"), ("-r13", "earlier-r12-13"),
                          ("-dve", "earlier-batch"), ("-dv", "earlier-batch")):
        if suffix in a.id:
            return group
    tail = a.id.rsplit("-", 1)[-1]
    return "earlier-author-r5-11" if tail[:1] == "r" and tail[1:].isdigit() else "earlier-author"


def featurize(articles: list[LabeledArticle], tagger: Tagger) -> list[Featurized]:
    threshold = tagger.taxonomy.scoring
    rows = []
    for a in articles:
        an = tagger.analyse(a.title, a.text)
        shared = word_features(an.words) | dense_features(an.topics, an.cues)
        total = sum(st.score for st in an.topics.values())
        rules = an.fields[1].regulatory_sentences
        own = {t: topic_features(st, total, threshold.topic_threshold, rules) for t, st in an.topics.items()}
        features = jurisdiction_features(an.jurisdictions.candidates, len(an.fields[1].text),
                                         threshold.jurisdiction_threshold)
        rows.append(Featurized(a, group_of(a), ROUND_WEIGHTS.get(a.round, 1.0), shared, own, features))
    return rows


# ---------------------------------------------------------------------------------------- datasets
def _vocabulary(rows: list[Featurized]) -> set[str]:
    df: dict[str, int] = {}
    for r in rows:
        for f in r.shared:
            if f.startswith("w:"):
                df[f] = df.get(f, 0) + 1
    return {f for f, n in df.items() if n >= MIN_DF}


def _shared(r: Featurized, vocabulary: set[str]) -> dict[str, float]:
    return {f: v for f, v in r.shared.items() if not f.startswith("w:") or f in vocabulary}


def topic_dataset(rows: list[Featurized], topic: str, vocabulary: set[str]):
    relevant = [r for r in rows if r.article.labels.relevant]
    X = [{**_shared(r, vocabulary), **{"own:" + k: v for k, v in r.own.get(topic, {}).items()}} for r in relevant]
    y = [topic in r.article.labels.topics for r in relevant]
    return X, np.array(y, dtype=int), [r.group for r in relevant], np.array([r.weight for r in relevant])


def relevance_dataset(rows: list[Featurized], vocabulary: set[str]):
    return ([_shared(r, vocabulary) for r in rows], np.array([r.article.labels.relevant for r in rows], dtype=int),
            [r.group for r in rows], np.array([r.weight for r in rows]))


def jurisdiction_dataset(rows: list[Featurized]):
    X, y, groups, weights = [], [], [], []
    for r in rows:
        if not r.article.labels.relevant:
            continue
        for code, features in r.candidates.items():
            X.append(features)
            y.append(code in r.article.labels.jurisdictions)
            groups.append(r.group)
            weights.append(1.0)  # (weighting the round-15 writers did not help here)
    return X, np.array(y, dtype=int), groups, np.array(weights)


# ---------------------------------------------------------------------------------------- fitting
def _classifier(C: float) -> LogisticRegression:
    return LogisticRegression(C=C, solver="liblinear", max_iter=1000, random_state=0)


def _fit(X, y, w, C: float, floor: np.ndarray) -> tuple[np.ndarray, float]:
    """Coefficients (with those under their pruning floor zeroed) and intercept."""
    clf = _classifier(C).fit(X, y, sample_weight=w)
    coef = clf.coef_[0].copy()
    coef[np.abs(coef) < floor] = 0.0
    return coef, float(clf.intercept_[0])


def _oof(X, y, groups, w, C: float, floor: np.ndarray) -> np.ndarray:
    """Out-of-fold probabilities of the pruned models over grouped folds of the training articles."""
    out = np.zeros(len(y))
    n_splits = min(INNER_FOLDS, len(set(groups)))
    for train, test in GroupKFold(n_splits=n_splits).split(X, y, groups):
        if y[train].min() == y[train].max():
            out[test] = y[train][0]
            continue
        coef, intercept = _fit(X[train], y[train], w[train], C, floor)
        out[test] = 1.0 / (1.0 + np.exp(-(X[test] @ coef + intercept)))
    return out


def _threshold(p: np.ndarray, y: np.ndarray, w: np.ndarray, objective: str) -> float:
    best, best_t = -1.0, 0.5
    for t in np.round(np.arange(0.1, 0.91, 0.025), 3):
        pred = p >= t
        if objective == "accuracy":
            score = float(((pred == y) * w).sum() / w.sum())
        else:
            tp = float(((pred & (y == 1)) * w).sum())
            fp, fn = float(((pred & (y == 0)) * w).sum()), float(((~pred & (y == 1)) * w).sum())
            score = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if score > best + 1e-9:
            best, best_t = score, float(t)
    return best_t


def fit_linear(X_dicts, y: np.ndarray, groups: list[str], w: np.ndarray, objective: str = "f1") -> LinearModel:
    """Regularisation and threshold chosen by grouped CV inside these rows; weights fitted on all of them."""
    vectorizer = DictVectorizer(sort=True)
    X = vectorizer.fit_transform(X_dicts).toarray()  # liblinear takes no 64-bit sparse indices
    names = vectorizer.get_feature_names_out()
    words = np.array([n.startswith("w:") for n in names])
    scale = np.where(words, WORD_SCALE, 1.0)
    X *= scale
    floor = np.where(words, PRUNE_WORDS, PRUNE) / scale  # pruning applies to the exported weights
    if y.min() == y.max():  # nothing to learn: a constant model
        return LinearModel(bias=30.0 if y[0] else -30.0, weights={}, threshold=0.5)
    losses = {}
    for C in C_GRID:
        p = _oof(X, y, groups, w, C, floor)
        losses[C] = log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1], sample_weight=w)
    C = min(C_GRID, key=lambda c: (losses[c], c))
    threshold = _threshold(_oof(X, y, groups, w, C, floor), y, w, objective)
    coef, intercept = _fit(X, y, w, C, floor)
    weights = {str(n): _round(float(v)) for n, v in zip(names, coef * scale, strict=True) if v}
    return LinearModel(bias=_round(intercept), weights=weights, threshold=threshold)


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def fit_model(rows: list[Featurized], trained_on: dict | None = None, log=None) -> TaggerModel:
    vocabulary = _vocabulary(rows)
    article = {}
    for topic in TOPICS:
        article[topic] = fit_linear(*topic_dataset(rows, topic, vocabulary))
        if log:
            log(f"    {topic}: threshold {article[topic].threshold}, {len(article[topic].weights)} weights")
    article["relevance"] = fit_linear(*relevance_dataset(rows, vocabulary), objective="accuracy")
    jurisdiction = fit_linear(*jurisdiction_dataset(rows))
    return TaggerModel(article=article, jurisdiction=jurisdiction, max_chars=MAX_CHARS, trained_on=trained_on or {})
