"""Turn taxonomy hits into a tag set: topics, jurisdictions, entities, relevance and evidence.

Every hit gets a weight = its taxonomy weight x position (title, lead, body) x context, where the
context rules are: a negated phrase ("denied plans to ban") adds nothing, a hedged one ("is said
to") adds less, a topic phrase in a sentence holding one of the topic's negative cues adds
nothing, and a place in a passing template ("Canadian-born", "in Asian trading") adds nothing.
Labels whose summed weight reaches a threshold are kept; docs/tagging.md walks through it.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_right
from functools import lru_cache
from pathlib import Path

from .context import PassingTemplates, ScannedField, scan
from .language import detect_folded
from .matcher import Hit, Matcher
from .models import Tags
from .taxonomy import Taxonomy, load_taxonomy

_SUPRANATIONAL = frozenset({"EU", "INT"})
_RELEVANCE_KINDS = frozenset({"crypto", "off_topic", "regulatory"})
_LANGUAGE_SAMPLE = 800  # characters of title and text the language guess reads

#: (field, hit, weight) - one occurrence and what it added to its label
Evidence = tuple[ScannedField, Hit, float]


class Tagger:
    """Compiles a taxonomy once; :meth:`tag` is then one automaton pass per field plus scoring."""

    def __init__(self, taxonomy: Taxonomy | None = None):
        self.taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
        self.version = self.taxonomy.version
        self._matcher = Matcher(self.taxonomy)
        self._s = self.taxonomy.scoring
        self._entities = self.taxonomy.entities
        self._authorities = frozenset(
            name for name, e in self._entities.items() if self._s.entity_weights.get(e.type, 0.0) >= 1.0
        )
        self._crypto_entities = frozenset(name for name, e in self._entities.items() if e.crypto)
        self._regulatory_topics = frozenset(t for t, spec in self.taxonomy.topics.items() if spec.regulatory)
        self._passing = PassingTemplates(self.taxonomy.context.passing)

    def tag(self, title: str, text: str) -> Tags:
        title, text = title or "", text or ""
        fields = [scan(self._matcher, "title", title), scan(self._matcher, "text", text)]
        for f in fields:
            self._mark_regulatory_sentences(f)

        topic_scores, topic_evidence = self._score_topics(fields)
        jur_scores, jur_evidence, entity_evidence = self._score_jurisdictions(fields)
        relevance = self._relevance(fields, topic_scores, entity_evidence)

        topics: list[str] = []
        if relevance >= 0.5:  # topics describe crypto-regulation content; an article without it has none
            anchor = self._s.topic_anchor_weight
            topics = sorted((t for t, v in topic_scores.items() if v >= self._s.topic_threshold
                             and any(w > 0 and hit.term.weight >= anchor for _, hit, w in topic_evidence[t])),
                            key=lambda t: -topic_scores[t])
        jurisdictions = sorted((j for j, v in jur_scores.items() if v >= self._s.jurisdiction_threshold),
                               key=lambda j: -jur_scores[j])

        matches: list[dict] = []
        for topic in topics:
            matches += _matches(f"topic:{topic}", topic_evidence[topic])
        for code in jurisdictions:
            matches += _matches(f"jurisdiction:{code}", jur_evidence[code])
        entities = []
        for name, evidence in entity_evidence.items():
            spec = self._entities[name]
            entities.append({"name": name, "type": spec.type, "jurisdiction": spec.jurisdiction})
            matches += _matches(f"entity:{name}", evidence)

        # One validation call for the whole record: cheaper than building each Match on its own.
        return Tags.model_validate({
            "topics": topics,
            "jurisdictions": jurisdictions,
            "primary_jurisdiction": self._primary(jurisdictions, jur_scores),
            "entities": entities,
            "relevance": round(relevance, 4),
            "matches": matches,
            # fold() works character by character, so this is fold(f"{title}\n{text}"[:800])
            "language": detect_folded(f"{fields[0].folded} {fields[1].folded}"[:_LANGUAGE_SAMPLE]),
            "taxonomy_version": self.version,
        })

    # ------------------------------------------------------------------ shared
    def _position(self, f: ScannedField, pos: int) -> float:
        if f.name == "title":
            return self._s.title_weight
        return self._s.lead_weight if pos < self._s.lead_chars else 1.0

    def _mark_regulatory_sentences(self, f: ScannedField) -> None:
        """Sentences about rules: a regulatory word, an authority, or a firm phrase of a regulatory topic."""
        for hit in f.context_hits:
            if hit.term.kind == "regulatory":
                f.regulatory_sentences.add(hit.sentence)
        for hit in f.topic_hits:
            term = hit.term
            if term.kind == "topic" and term.weight >= self._s.strong_phrase and term.ref in self._regulatory_topics:
                f.regulatory_sentences.add(hit.sentence)
        for hit in f.gazetteer_hits:
            if hit.term.kind == "entity" and not self._authorities.isdisjoint(hit.term.ref):
                f.regulatory_sentences.add(hit.sentence)

    # ------------------------------------------------------------------ topics
    def _score_topics(self, fields: list[ScannedField]) -> tuple[dict[str, float], dict[str, list[Evidence]]]:
        s = self._s
        scores: dict[str, float] = {}
        evidence: dict[str, list[Evidence]] = {}
        negated_in_title: set[str] = set()  # fields[0] is the title, scored first
        regulatory_topics = self._regulatory_topics
        for f in fields:
            if not f.topic_hits:
                continue
            vetoed = {(h.sentence, h.term.ref) for h in f.topic_hits if h.term.kind == "topic_negative"}
            names = [(h.start, h.end) for h in f.gazetteer_hits if h.term.kind == "entity"]
            name_starts = [start for start, _ in names]
            title = f.name == "title"
            negations, hedges, governed = f.negations, f.hedges, f.governed
            for hit in f.topic_hits:
                term = hit.term
                if term.kind != "topic" or term.weight <= 0:
                    continue
                ref, start = term.ref, hit.start
                # words inside a name ("Securities and Futures Commission") are not topic evidence
                if names:
                    i = bisect_right(name_starts, start) - 1
                    if i >= 0 and names[i][1] >= hit.end:
                        continue
                if vetoed and (hit.sentence, ref) in vetoed:
                    continue
                if negations and governed(negations, hit):
                    weight = 0.0
                    if title:
                        negated_in_title.add(ref)
                else:
                    # self._position, inlined: this loop sees every topic phrase
                    weight = term.weight * (s.title_weight if title else
                                            s.lead_weight if start < s.lead_chars else 1.0)
                    # "could ban" is less than a ban; "is exploring a CBDC" is still about CBDCs,
                    # so hedging weakens only the regulatory topics, not the subject ones
                    if hedges and ref in regulatory_topics and governed(hedges, hit):
                        weight *= s.hedge_factor
                    if not title and ref in negated_in_title:
                        # the headline frames the story ("denies plans to ban"); the body reports on it
                        weight *= s.negated_title_factor
                scores[ref] = scores.get(ref, 0.0) + weight
                evidence.setdefault(ref, []).append((f, hit, weight))
        return scores, evidence

    # ------------------------------------------------------------------ relevance
    def _relevance(self, fields: list[ScannedField], topic_scores: dict[str, float],
                   entity_evidence: dict[str, list[Evidence]]) -> float:
        """Regulatory evidence against price/hack/product evidence, gated by how much the article is about crypto."""
        crypto = off_topic = regulatory = 0.0
        s = self._s
        for f in fields:
            title = f.name == "title"
            for hit in f.context_hits:
                term = hit.term
                kind = term.kind
                if kind not in _RELEVANCE_KINDS:
                    continue
                # self._position, inlined: this loop sees every context cue
                weight = term.weight * (s.title_weight if title else
                                        s.lead_weight if hit.start < s.lead_chars else 1.0)
                if kind == "crypto":
                    crypto += weight
                elif kind == "off_topic":
                    off_topic += weight
                else:
                    regulatory += weight
        regulatory += sum(v for t, v in topic_scores.items() if t in self._regulatory_topics)
        # "Binance" says as much about crypto as "crypto" does
        crypto += sum(self._position(f, hit.start) for name, evidence in entity_evidence.items()
                      if name in self._crypto_entities for f, hit, _ in evidence)
        regulatory += 0.5 * sum(self._position(f, hit.start) for name, evidence in entity_evidence.items()
                                if name in self._authorities for f, hit, _ in evidence)
        gate = min(1.0, crypto / self._s.relevance_crypto_min)
        x = self._s.relevance_slope * (math.log1p(regulatory) - math.log1p(off_topic) - self._s.relevance_bias)
        return gate / (1.0 + math.exp(-x))

    # ------------------------------------------------------------------ jurisdictions and entities
    def _score_jurisdictions(self, fields: list[ScannedField]) -> tuple[
        dict[str, float], dict[str, list[Evidence]], dict[str, list[Evidence]]
    ]:
        """Scores and evidence per jurisdiction, and the evidence for each named entity."""
        s = self._s
        passing = self._passing.matches
        mentions: list[Evidence] = []  # with position and context applied, before the kind weight
        for f in fields:
            if not f.gazetteer_hits:
                continue
            actions = [h for h in f.topic_hits if h.term.kind == "topic" and h.term.weight >= 1.0]
            action_starts = [h.start for h in actions]
            title, folded, regulatory = f.name == "title", f.folded, f.regulatory_sentences
            for hit in f.gazetteer_hits:
                start = hit.start
                if hit.term.kind == "region" or passing(folded, start, hit.end):
                    continue
                # self._position, inlined
                weight = s.title_weight if title else s.lead_weight if start < s.lead_chars else 1.0
                if hit.sentence not in regulatory:
                    weight *= s.non_regulatory_sentence
                elif actions and self._near_action(f, hit, actions, action_starts):
                    weight *= s.proximity_bonus
                mentions.append((f, hit, weight))

        scores: dict[str, float] = {}
        evidence: dict[str, list[Evidence]] = {}
        entity_evidence: dict[str, list[Evidence]] = {}

        def credit(code: str | None, f: ScannedField, hit: Hit, weight: float) -> None:
            if code is not None and weight > 0:
                scores[code] = scores.get(code, 0.0) + weight
                evidence.setdefault(code, []).append((f, hit, weight))

        credited: dict[str, float] = {}  # best weight so far of each bank, exchange or company

        def credit_entity(name: str, f: ScannedField, hit: Hit, weight: float) -> None:
            spec = self._entities[name]
            kind_weight = s.entity_weights.get(spec.type, 0.0)
            weight *= kind_weight
            if kind_weight < s.repeat_entity_below:
                # named again and again, a company still says only once where it is from
                best = credited.get(name, 0.0)
                credited[name] = max(best, weight)
                weight -= best
            credit(spec.jurisdiction, f, hit, weight)
            entity_evidence.setdefault(name, []).append((f, hit, self._position(f, hit.start)))

        ambiguous = []
        for f, hit, weight in mentions:
            term = hit.term
            if term.kind == "jurisdiction":
                credit(term.ref, f, hit, weight * s.kind_weights.get(term.sub, 1.0))
            elif len(term.ref) == 1:
                credit_entity(term.ref[0], f, hit, weight)
            else:
                ambiguous.append((f, hit, weight))
        # "SEC" or "FSC" is the candidate whose jurisdiction the unambiguous evidence points to
        settled = dict(scores)
        for f, hit, weight in ambiguous:
            names = hit.term.ref
            best = max(names, key=lambda n: (settled.get(self._entities[n].jurisdiction, 0.0), -names.index(n)))
            credit_entity(best, f, hit, weight)
        return scores, evidence, entity_evidence

    def _near_action(self, f: ScannedField, hit: Hit, actions: list[Hit], starts: list[int]) -> bool:
        """Is a topic phrase a few words before or after this place, in the same clause ("US sanctions")?"""
        i = bisect_right(starts, hit.start)
        limit = self._s.proximity_words
        if i > 0 and actions[i - 1].end <= hit.start and f.close(actions[i - 1].end, hit.start, limit):
            return True
        return i < len(actions) and f.close(hit.end, actions[i].start, limit)

    def _primary(self, jurisdictions: list[str], scores: dict[str, float]) -> str | None:
        """The top-scoring jurisdiction, except that a well-supported country beats EU/INT bodies acting on it."""
        if not jurisdictions:
            return None
        top = jurisdictions[0]
        if top in _SUPRANATIONAL:
            floor = self._s.supranational_share * scores[top]
            for code in jurisdictions[1:]:
                if code not in _SUPRANATIONAL and scores[code] >= floor:
                    return code
        return top


def _matches(label: str, evidence: list[Evidence]) -> list[dict]:
    """Evidence as :class:`Match` fields."""
    return [
        {"label": label, "phrase": f.text[hit.start:hit.end], "offset": hit.start, "weight": round(weight, 3),
         "field": f.name}
        for f, hit, weight in evidence
    ]


@lru_cache(maxsize=8)
def _tagger_for(path: str | None) -> Tagger:
    return Tagger(load_taxonomy(path))


def default_tagger(path: str | Path | None = None) -> Tagger:
    """The shared Tagger for ``path``, else the ``REGWIRE_TAXONOMY`` file, else the packaged taxonomy.

    Cached by path, so every caller with the same setting reuses one compiled automaton.
    """
    if path is None:
        path = os.environ.get("REGWIRE_TAXONOMY") or None
    return _tagger_for(str(Path(path).resolve()) if path is not None else None)


def tag_article(title: str, text: str) -> Tags:
    """Tag one article with the default tagger (see :func:`default_tagger`)."""
    return default_tagger().tag(title, text)
