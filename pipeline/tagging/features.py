"""What the classifiers read: feature dicts built from the rule layer's evidence and the article's words.

The same functions build the features for training (bench/train_tagger.py) and for tagging, so
a model always sees at tag time what it was trained on. Names are short and readable, because
they are also the evidence a label lists ("own:title", "w:licence", "subject").

- Article features (shared by the topic and relevance models): ``w:<word>`` for each distinct
  word of the title and the start of the text (stopwords and numbers left out; at tag time the
  words are looked up in the model directly), ``s:<topic>`` (log of each topic's rule score) and
  ``r:*`` (the relevance cues).
- Topic features (one set per topic, prefixed ``own:``): the topic's rule score, how many
  occurrences and sentences carry it, title, lead, strongest phrase, negated and hedged
  occurrences, whether the rules alone would keep it.
- Jurisdiction features (one set per candidate): the count of each mention flag (mentions.py),
  the rule score, rank and share, position of the first mention, number of candidates.
"""

from __future__ import annotations

import math

from .mentions import SUPRANATIONAL, Candidate
from .rules import RelevanceCues, TopicStats

# Words that say nothing on their own.
STOPWORDS = frozenset(
    "the a an of to in and or for on at by with from as is are was were be been that this it its their his her "
    "they he she which who said says would will could has have had not but also than into over about after more "
    "most other such these those can may new one two s".split()
)
_log1p = math.log1p


#: marks a word of the headline: a headline word says what the story is about more than a body word does
TITLE_MARK = "^"


def words(folded_title: str, folded_text: str, max_chars: int) -> set[str]:
    """The distinct words of a folded title and the first ``max_chars`` characters of a folded text, and each title
    word again with :data:`TITLE_MARK` in front."""
    title = folded_title.split()
    found = set(title)
    found.update(folded_text[:max_chars].split())
    found.update([TITLE_MARK + w for w in title])
    return found


def word_features(found_words: set[str]) -> dict[str, float]:
    """``w:<word>`` for every word that is not a stopword or a number (training; tagging looks words up directly)."""
    return {"w:" + w: 1.0 for w in found_words
            if (bare := w.removeprefix(TITLE_MARK)) not in STOPWORDS and not bare.isdigit()}


def dense_features(stats: dict[str, TopicStats], cues: RelevanceCues) -> dict[str, float]:
    """The article features that are not words: each topic's rule score and the relevance cues."""
    features = {}
    for topic, st in stats.items():
        if st.score > 0:
            features["s:" + topic] = _log1p(st.score)
    # per sentence: a long article has more of every cue without being more about anything
    n = cues.sentences
    features["r:crypto"] = _log1p(cues.crypto / n)
    features["r:off_topic"] = _log1p(cues.off_topic / n)
    features["r:regulatory"] = _log1p(cues.regulatory / n)
    features["r:vocabulary"] = 1.0 if cues.vocabulary else 0.0
    features["r:share"] = cues.share
    features["r:rule"] = cues.rule
    return features


def topic_features(st: TopicStats, total: float, threshold: float, rules: set[int]) -> dict[str, float]:
    """One topic's own features (names without the ``own:`` prefix the model stores them under).

    ``rules`` holds the body sentences that are about rules; ``p:<phrase>`` marks each taxonomy
    phrase that added to the topic, so the model learns which phrases are statements and which
    are passing words ("licensed exchange").
    """
    features = {"p:" + phrase: 1.0 for phrase in st.phrases}
    unruled = sum(1 for name, i in st.sentences if name == "text" and i not in rules)
    features["unruled"] = _log1p(unruled)
    features["ruled"] = _log1p(len(st.sentences) - unruled)
    return features | {
        "score": _log1p(st.score),
        "share": st.score / total if total else 0.0,
        "rule": 1.0 if st.score >= threshold and st.anchored else 0.0,
        "anchored": 1.0 if st.anchored else 0.0,
        "hits": _log1p(st.hits),
        "sentences": _log1p(len(st.sentences)),
        "title": 1.0 if st.title else 0.0,
        "lead": 1.0 if st.lead else 0.0,
        "strongest": st.strongest,
        "negated": _log1p(st.negated),
        "hedged": _log1p(st.hedged),
    }


_MUTED = frozenset({"passing", "dateline", "related", "target"})


def jurisdiction_features(candidates: dict[str, Candidate], text_length: int,
                          threshold: float) -> dict[str, dict[str, float]]:
    """Each candidate's features: its flag counts, rule score, rank and where it first appears."""
    best = max((c.score for c in candidates.values()), default=0.0)
    total = sum(c.score for c in candidates.values())
    return {code: _candidate_features(c, len(candidates), best, total, text_length, threshold)
            for code, c in candidates.items()}


def _candidate_features(candidate: Candidate, others: int, best: float, total: float, text_length: int,
                        threshold: float) -> dict[str, float]:
    counts = candidate.counts
    features = {flag: _log1p(n) for flag, n in counts.items()}
    n = len(candidate.mentions)
    muted = sum(counts.get(flag, 0) for flag in _MUTED)
    score = candidate.score
    features["mentions"] = _log1p(n)
    features["sentences"] = _log1p(len({(f.name, hit.sentence) for f, hit, w, _ in candidate.mentions if w > 0}))
    features["live"] = _log1p(max(0, n - muted))
    features["only_muted"] = 1.0 if muted >= n else 0.0
    features["score"] = _log1p(score)
    features["rule"] = 1.0 if score >= threshold else 0.0
    features["top"] = 1.0 if score > 0 and score >= best else 0.0
    features["share"] = score / total if total else 0.0
    features["first"] = min(1.0, candidate.first / text_length) if text_length else 0.0
    features["candidates"] = _log1p(others)
    if candidate.code in SUPRANATIONAL:
        features["supranational"] = 1.0
    return features
