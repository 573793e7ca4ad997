"""Turn an article into a tag set: rules find the evidence, learned models decide, every label keeps its evidence.

1. One automaton pass per field finds every taxonomy phrase (matcher.py, context.py).
2. The rule layer weighs topic phrases by position and context (rules.py) and collects every
   jurisdiction candidate with flags describing each mention (mentions.py).
3. The learned models (learned.py) read features of that evidence and of the article's words
   (features.py): relevance, one decision per topic, and subject-or-mentioned per jurisdiction.
   ``Tagger(rules_only=True)`` decides with the rules' own thresholds instead.

docs/tagging.md walks through it all.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .context import ScannedField, scan
from .features import TITLE_MARK, dense_features, jurisdiction_features, topic_features, words
from .language import SAMPLE as LANGUAGE_SAMPLE
from .language import detect_language
from .learned import ARTICLE_MODELS, TaggerModel, sigmoid
from .matcher import Matcher
from .mentions import SUPRANATIONAL, Candidate, JurisdictionEvidence, MentionScanner
from .models import TOPICS, Tags
from .rules import Evidence, RelevanceCues, RuleLayer, TopicStats
from .taxonomy import Taxonomy, load_taxonomy

_RELEVANCE = len(TOPICS)  # index of the relevance model among ARTICLE_MODELS
_RULES_MAX_CHARS = 1500  # characters of the text whose words the article models read
_MENTIONED_EVIDENCE = 3  # mentions listed as the evidence of a mentioned jurisdiction


@dataclass
class Analysis:
    """What the rule layer found in one article: the input of every decision (and of training)."""

    fields: list[ScannedField]
    topics: dict[str, TopicStats]
    jurisdictions: JurisdictionEvidence
    cues: RelevanceCues
    language: str
    words: set[str]


@dataclass
class Decision:
    relevance: float
    topics: list[str]
    subjects: list[str]  # strongest first
    mentioned: list[str]
    confidence: dict[str, float]
    topic_words: dict[str, list[tuple[str, float]]]  # words that raised each kept topic


class Tagger:
    """Compiles a taxonomy once; :meth:`tag` is then one automaton pass per field plus scoring."""

    def __init__(self, taxonomy: Taxonomy | None = None, model: TaggerModel | None = None, *,
                 rules_only: bool = False):
        """``model`` defaults to the packaged one, unless ``rules_only`` or the taxonomy's
        ``scoring.topic_model`` is false (then the rules' own thresholds decide)."""
        self.taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
        self._s = self.taxonomy.scoring
        if model is None and self._s.topic_model and not rules_only:
            model = packaged_model()
        self.model = None if rules_only else model
        self.version = self.taxonomy.version
        if self.model is not None:
            # tags change when either changes, and `regwire retag` goes by this version
            both = f"{self.taxonomy.version}:{self.model.version}".encode()
            self.version = hashlib.sha256(both).hexdigest()[:12]
        self._matcher = Matcher(self.taxonomy)
        self._entities = self.taxonomy.entities
        self._mentions = MentionScanner(self.taxonomy)
        self._rules = RuleLayer(self.taxonomy, self._mentions.authorities)
        self.max_chars = self.model.max_chars if self.model is not None else _RULES_MAX_CHARS
        # each model's decision threshold as a log-odds shift, computed once instead of per label
        self._shift: dict[str, float] = {}
        if self.model is not None:
            self._shift = {name: _logit(m.threshold) for name, m in self.model.article.items()}
            self._shift["jurisdiction"] = _logit(self.model.jurisdiction.threshold)

    # ------------------------------------------------------------------ evidence
    def analyse(self, title: str, text: str) -> Analysis:
        """Run the rule layer: what every decision (and training) reads."""
        title, text = title or "", text or ""
        fields = [scan(self._matcher, "title", title), scan(self._matcher, "text", text)]
        rules = self._rules
        for f in fields:
            rules.mark_regulatory_sentences(f)
        stats = rules.topics(fields)
        jurisdictions = self._mentions.scan(fields)
        language = detect_language(f"{title}\n{text[:LANGUAGE_SAMPLE]}")
        cues = rules.relevance(fields, stats, jurisdictions.entities, jurisdictions.authority_named,
                               language == "en")
        found = words(fields[0].folded, fields[1].folded, self.max_chars)
        return Analysis(fields, stats, jurisdictions, cues, language, found)

    # ------------------------------------------------------------------ decisions
    def decide(self, a: Analysis) -> Decision:
        if self.model is None:
            return self._decide_by_rules(a)
        model = self.model
        present = model.vocabulary.intersection(a.words)
        logits = model.article_logits(present, dense_features(a.topics, a.cues))
        shift = self._shift
        relevance = sigmoid(logits[_RELEVANCE] - shift[ARTICLE_MODELS[_RELEVANCE]])
        confidence: dict[str, float] = {}
        topics: list[str] = []
        topic_words: dict[str, list[tuple[str, float]]] = {}
        if relevance >= 0.5:
            total = sum(st.score for st in a.topics.values())
            rules = a.fields[1].regulatory_sentences
            for i, topic in enumerate(TOPICS):
                st = a.topics.get(topic)
                own = topic_features(st, total, self._s.topic_threshold, rules) if st is not None else {}
                p = sigmoid(model.topic_logit(topic, logits[i], own) - shift[topic])
                if p >= 0.5:
                    topics.append(topic)
                    confidence[f"topic:{topic}"] = round(p, 4)
                    topic_words[topic] = model.strongest_words(topic, present)
            topics.sort(key=lambda t: -confidence[f"topic:{t}"])
        subjects, mentioned = self._roles(a, relevance >= 0.5, confidence)
        return Decision(relevance, topics, subjects, mentioned, confidence, topic_words)

    def _roles(self, a: Analysis, relevant: bool, confidence: dict[str, float]) -> tuple[list[str], list[str]]:
        assert self.model is not None
        model = self.model.jurisdiction
        candidates = a.jurisdictions.candidates
        features = jurisdiction_features(candidates, len(a.fields[1].text), self._s.jurisdiction_threshold)
        shift = self._shift["jurisdiction"]
        probability = {code: sigmoid(model.logit(f) - shift) for code, f in features.items()}
        subjects = sorted((c for c in candidates if relevant and probability[c] >= 0.5),
                          key=lambda c: -probability[c])
        mentioned = sorted((c for c in candidates if c not in subjects), key=lambda c: -probability[c])
        for code in subjects:
            confidence[f"jurisdiction:{code}"] = round(probability[code], 4)
        for code in mentioned:
            confidence[f"mentioned:{code}"] = round(probability[code], 4)
        return subjects, mentioned

    def _decide_by_rules(self, a: Analysis) -> Decision:
        relevance = a.cues.rule
        relevant = relevance >= 0.5
        topics = self._rules.rule_topics(a.topics) if relevant else []
        candidates = a.jurisdictions.candidates
        threshold = self._s.jurisdiction_threshold
        subjects = sorted((c for c, cand in candidates.items() if relevant and cand.score >= threshold),
                          key=lambda c: -candidates[c].score)
        mentioned = sorted((c for c in candidates if c not in subjects), key=lambda c: -candidates[c].score)
        return Decision(relevance, topics, subjects, mentioned, {}, {})

    # ------------------------------------------------------------------ output
    def tag(self, title: str, text: str) -> Tags:
        a = self.analyse(title, text)
        d = self.decide(a)
        candidates = a.jurisdictions.candidates
        matches: list[dict] = []
        for topic in d.topics:
            st = a.topics.get(topic)
            if st is not None:
                matches += [_match(f"topic:{topic}", f, hit, w, "phrase") for f, hit, w in st.evidence]
            matches += _word_matches(topic, d.topic_words.get(topic, []), a.fields)
        for code in d.subjects:
            matches += _mention_matches(f"jurisdiction:{code}", candidates[code])
        for code in d.mentioned:  # a few mentions show what the place is doing in the story
            matches += _mention_matches(f"mentioned:{code}", candidates[code], _MENTIONED_EVIDENCE)
        entities = []
        for name, evidence in a.jurisdictions.entities.items():
            spec = self._entities[name]
            entities.append({"name": name, "type": spec.type, "jurisdiction": spec.jurisdiction})
            matches += [_match(f"entity:{name}", f, hit, w, "") for f, hit, w in evidence]
        if self.model is not None:
            d.confidence["relevance"] = round(d.relevance, 4)
        # One validation call for the whole record: cheaper than building each Match on its own.
        return Tags.model_validate({
            "topics": d.topics,
            "jurisdictions": d.subjects,
            "mentioned_jurisdictions": d.mentioned,
            "primary_jurisdiction": self._primary(d, candidates),
            "entities": entities,
            "relevance": round(d.relevance, 4),
            "matches": matches,
            "confidence": d.confidence,
            "language": a.language,
            "taxonomy_version": self.version,
        })

    def _primary(self, d: Decision, candidates: dict[str, Candidate]) -> str | None:
        """The headline's first subject, else the strongest one.

        A headline names what the story is about first ("Basel Committee agrees to review crypto
        rules after US, UK balk"), while the body may say more about someone else. Without one
        in the headline, a well-supported country beats the EU/INT body acting on it.
        """
        if not d.subjects:
            return None
        first_in_title: dict[str, int] = {}
        for code in d.subjects:
            starts = [hit.start for f, hit, weight, _ in candidates[code].mentions if f.name == "title" and weight > 0]
            if starts:
                first_in_title[code] = min(starts)
        if first_in_title:
            return min(first_in_title, key=first_in_title.__getitem__)
        top = d.subjects[0]
        if top in SUPRANATIONAL:
            floor = self._s.supranational_share * candidates[top].score
            for code in d.subjects[1:]:
                if code not in SUPRANATIONAL and candidates[code].score >= floor:
                    return code
        return top


def _logit(threshold: float) -> float:
    """The log-odds of a decision threshold: a model's logit minus this, through the sigmoid, is the probability
    shifted so that the threshold sits at 0.5 (what ``relevance`` and ``confidence`` report)."""
    return math.log(threshold / (1.0 - threshold))


def _match(label: str, f: ScannedField, hit, weight: float, feature: str) -> dict:
    return {"label": label, "phrase": f.text[hit.start:hit.end], "offset": hit.start, "weight": round(weight, 3),
            "field": f.name, "feature": feature}


def _mention_matches(label: str, candidate: Candidate, limit: int | None = None) -> list[dict]:
    return [_match(label, f, hit, weight, ",".join(flags)) for f, hit, weight, flags in candidate.mentions[:limit]]


def _word_matches(topic: str, found: list[tuple[str, float]], fields: list[ScannedField]) -> list[dict]:
    """The words that raised a topic, at their first occurrence, with what they added to its log-odds."""
    matches = []
    for word, weight in found:
        bare = word.removeprefix(TITLE_MARK)
        for f in fields if bare == word else fields[:1]:  # a marked word is a headline word
            at = _word_at(f.folded, bare)
            if at >= 0:
                matches.append({"label": f"topic:{topic}", "phrase": f.text[at:at + len(bare)], "offset": at,
                                "weight": round(weight, 3), "field": f.name, "feature": "w:" + word})
                break
    return matches


def _word_at(folded: str, word: str) -> int:
    """Offset of the first whole-word ``word`` in a folded text (words are separated by spaces), or -1."""
    at = folded.find(word)
    while at >= 0:
        end = at + len(word)
        if (at == 0 or folded[at - 1] == " ") and (end == len(folded) or folded[end] == " "):
            return at
        at = folded.find(word, at + 1)
    return -1


__all__ = ["Analysis", "Decision", "Evidence", "Tagger", "default_tagger", "packaged_model", "tag_article"]


@lru_cache(maxsize=1)
def packaged_model() -> TaggerModel:
    return TaggerModel.load()


@lru_cache(maxsize=8)
def _tagger_for(path: str | None) -> Tagger:
    return Tagger(load_taxonomy(path))


def default_tagger(path: str | Path | None = None) -> Tagger:
    """The shared Tagger for the taxonomy file ``path`` (the packaged taxonomy when None).

    Cached by path, so every caller with the same setting reuses one compiled automaton. The pipeline passes
    ``settings.tagging.taxonomy`` (``REGWIRE_TAXONOMY``); the tagger itself reads no environment.
    """
    return _tagger_for(str(Path(path).resolve()) if path is not None else None)


def tag_article(title: str, text: str, *, taxonomy: str | Path | None = None) -> Tags:
    """Tag one article with the shared tagger for ``taxonomy`` (see :func:`default_tagger`)."""
    return default_tagger(taxonomy).tag(title, text)
