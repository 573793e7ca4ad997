"""The rule layer: taxonomy phrases weighted by position and context, per topic, and the relevance cues.

Every hit gets a weight = its taxonomy weight x position (title, lead, body) x context, where the
context rules are: a negated phrase ("denied plans to ban") adds nothing, a hedged one ("is said
to") adds less, a topic phrase in a sentence holding one of the topic's negative cues adds
nothing. The sums, counts and flags collected here are what the learned classifiers read
(features.py); ``rule_topics`` is the rules' own decision, kept for the rules-only mode.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import cast

from .context import ScannedField
from .matcher import Hit
from .taxonomy import Taxonomy

_RELEVANCE_KINDS = frozenset({"crypto", "off_topic", "regulatory"})

#: (field, hit, weight) - one occurrence and what it added to its label
Evidence = tuple[ScannedField, Hit, float]


@dataclass
class TopicStats:
    """What the rules saw of one topic: its score and how the evidence is spread."""

    score: float = 0.0
    hits: int = 0  # occurrences that added something
    negated: int = 0
    hedged: int = 0
    title: bool = False
    lead: bool = False
    anchored: bool = False  # a phrase of at least topic_anchor_weight added something
    strongest: float = 0.0  # heaviest taxonomy weight among them
    sentences: set[tuple[str, int]] = field(default_factory=set)
    phrases: set[str] = field(default_factory=set)  # taxonomy phrases that added to the score
    evidence: list[Evidence] = field(default_factory=list)

    def count(self, name: str, hit: Hit, lead: bool, anchor: float) -> None:
        """Record an occurrence that added to the score."""
        self.hits += 1
        self.sentences.add((name, hit.sentence))
        self.title |= name == "title"
        self.lead |= lead
        self.phrases.add(hit.term.written)
        weight = hit.term.weight
        if weight >= anchor:
            self.anchored = True
        if weight > self.strongest:
            self.strongest = weight


@dataclass
class RelevanceCues:
    crypto: float = 0.0
    off_topic: float = 0.0
    regulatory: float = 0.0
    vocabulary: bool = False  # any regulatory vocabulary
    share: float = 0.0  # position-weighted share of sentences about rules
    rule: float = 0.0  # the rules' relevance, 0 to 1
    sentences: int = 1  # sentences in title and text: the sums above grow with length, their densities do not


class RuleLayer:
    def __init__(self, taxonomy: Taxonomy, authorities: frozenset[str]):
        self._s = taxonomy.scoring
        self.authorities = authorities
        self.regulatory_topics = frozenset(t for t, spec in taxonomy.topics.items() if spec.regulatory)
        self.crypto_entities = frozenset(name for name, e in taxonomy.entities.items() if e.crypto)

    def mark_regulatory_sentences(self, f: ScannedField) -> None:
        """Sentences about rules: a regulatory word, an authority, or a firm phrase of a regulatory topic."""
        regulatory = f.regulatory_sentences
        for hit in f.context_hits:
            if hit.term.kind == "regulatory":
                regulatory.add(hit.sentence)
        strong, topics = self._s.strong_phrase, self.regulatory_topics
        for hit in f.topic_hits:
            term = hit.term
            if term.kind == "topic" and term.weight >= strong and term.ref in topics:
                regulatory.add(hit.sentence)
        authorities = self.authorities
        for hit in f.gazetteer_hits:
            if hit.term.kind == "entity" and not authorities.isdisjoint(hit.term.ref):
                regulatory.add(hit.sentence)

    # ------------------------------------------------------------------ topics
    def topics(self, fields: list[ScannedField]) -> dict[str, TopicStats]:
        stats: dict[str, TopicStats] = {}
        negated_in_title: set[str] = set()  # fields[0] is the title, scored first
        # a subject topic's phrases in one sentence are one mention ("dollar-pegged stablecoins"),
        # worth its strongest phrase: (topic, field, sentence) -> weight counted so far
        subject_sentences: dict[tuple[str, str, int], float] = {}
        for f in fields:
            if f.topic_hits:
                self._field_topics(f, stats, negated_in_title, subject_sentences)
        return stats

    def _field_topics(self, f: ScannedField, stats: dict[str, TopicStats], negated_in_title: set[str],
                      subject_sentences: dict[tuple[str, str, int], float]) -> None:
        s = self._s
        vetoed = {(h.sentence, h.term.ref) for h in f.topic_hits if h.term.kind == "topic_negative"}
        names = [(h.start, h.end) for h in f.gazetteer_hits if h.term.kind == "entity"]
        name_starts = [start for start, _ in names]
        title = f.name == "title"
        negations, hedges, governed = f.negations, f.hedges, f.governed
        regulatory_topics, anchor = self.regulatory_topics, s.topic_anchor_weight
        for hit in f.topic_hits:
            term = hit.term
            if term.kind != "topic" or term.weight <= 0:
                continue
            ref, start = cast(str, term.ref), hit.start  # a topic term's ref is its topic id
            # words inside a name ("Securities and Futures Commission") are not topic evidence
            if names:
                i = bisect_right(name_starts, start) - 1
                if i >= 0 and names[i][1] >= hit.end:
                    continue
            if vetoed and (hit.sentence, ref) in vetoed:
                continue
            st = stats.get(ref)
            if st is None:
                st = stats[ref] = TopicStats()
            if negations and governed(negations, hit):
                weight = 0.0
                st.negated += 1
                if title:
                    negated_in_title.add(ref)
            else:
                lead = not title and start < s.lead_chars
                weight = term.weight * (s.title_weight if title else s.lead_weight if lead else 1.0)
                # "could ban" is less than a ban; "is exploring a CBDC" is still about CBDCs
                if hedges and ref in regulatory_topics and governed(hedges, hit):
                    weight *= s.hedge_factor
                    st.hedged += 1
                if not title and ref in negated_in_title:
                    # the headline frames the story ("denies plans to ban"); the body reports on it
                    weight *= s.negated_title_factor
                if ref not in regulatory_topics:
                    key = (ref, f.name, hit.sentence)
                    counted = subject_sentences.get(key, 0.0)
                    if weight > counted:
                        subject_sentences[key] = weight
                    weight = weight - counted if weight > counted else 0.0
                if weight > 0:
                    st.count(f.name, hit, lead, anchor)
            st.score += weight
            st.evidence.append((f, hit, weight))

    def rule_topics(self, stats: dict[str, TopicStats]) -> list[str]:
        """The rules' own decision: score at the threshold and one anchor phrase, strongest first."""
        threshold = self._s.topic_threshold
        kept = [t for t, st in stats.items() if st.score >= threshold and st.anchored]
        return sorted(kept, key=lambda t: -stats[t].score)

    # ------------------------------------------------------------------ relevance
    def relevance(self, fields: list[ScannedField], stats: dict[str, TopicStats],
                  entities: dict[str, list[Evidence]], any_authority: bool, english: bool) -> RelevanceCues:
        """Regulatory evidence against price/hack/product evidence, gated by how much the article is about crypto."""
        s = self._s
        cues = RelevanceCues(sentences=1 + len(fields[-1].starts))
        for f in fields:
            self._field_cues(f, cues)
        cues.regulatory += sum(st.score for t, st in stats.items() if t in self.regulatory_topics)
        # a central bank digital currency is a digital currency: a CBDC story is a crypto story
        cbdc = stats.get("cbdc")
        cues.crypto += cbdc.score if cbdc is not None else 0.0
        # "Binance" says as much about crypto as "crypto" does
        cues.crypto += sum(w for name in self.crypto_entities.intersection(entities) for _, _, w in entities[name])
        authority = 0.5 * sum(w for name in self.authorities.intersection(entities) for _, _, w in entities[name])
        cues.regulatory += authority
        gate = min(1.0, cues.crypto / s.relevance_crypto_min)
        if not (cues.vocabulary or authority or any_authority):
            # crypto words next to "retail customers" or "promotions" in a product or marketing
            # story: without a rule-maker or a word about rules there is no regulatory news
            gate *= s.no_regulatory_action_factor
        # regulation must be prominent in the article, not one aside in a product or market story
        cues.share = self._regulatory_share(fields) if english else 1.0
        if cues.share < s.relevance_share_full:
            gate *= (cues.share / s.relevance_share_full) ** 2
        x = s.relevance_slope * (math.log1p(cues.regulatory) - math.log1p(cues.off_topic) - s.relevance_bias)
        cues.rule = gate / (1.0 + math.exp(-x))
        return cues

    def _field_cues(self, f: ScannedField, cues: RelevanceCues) -> None:
        s = self._s
        cap = s.relevance_crypto_sentence_cap
        title = f.name == "title"
        sentence, room = -1, cap  # the sentence being read, and how much crypto it may still add
        for hit in f.context_hits:
            term = hit.term
            kind = term.kind
            if kind not in _RELEVANCE_KINDS:
                continue
            weight = term.weight * (s.title_weight if title else s.lead_weight if hit.start < s.lead_chars else 1.0)
            if kind == "crypto":
                # per sentence, capped: one closing line ("Bitcoin and other cryptocurrencies were
                # not part of the talks") does not make a story about crypto
                if hit.sentence != sentence:
                    sentence, room = hit.sentence, cap
                if room > 0.0:
                    add = weight if weight < room else room
                    room -= add
                    cues.crypto += add
            elif kind == "off_topic":
                cues.off_topic += weight
            else:
                cues.regulatory += weight
                cues.vocabulary = True

    def _regulatory_share(self, fields: list[ScannedField]) -> float:
        """Position-weighted share of sentences about rules (see mark_regulatory_sentences)."""
        s = self._s
        total = about_rules = 0.0
        for f in fields:
            if f.name == "title":
                if f.text.strip():
                    total += s.title_weight
                    if f.regulatory_sentences or any(h.term.ref == "cbdc" for h in f.topic_hits):
                        about_rules += s.title_weight
                continue
            # a CBDC is issued by a central bank, so a sentence about one is about official policy
            regulatory = f.regulatory_sentences | {h.sentence for h in f.topic_hits if h.term.ref == "cbdc"
                                                   and h.term.kind == "topic" and h.term.weight >= s.strong_phrase}
            for i, start in enumerate(f.starts):
                weight = s.lead_weight if start < s.lead_chars else 1.0
                total += weight
                if i in regulatory:
                    about_rules += weight
        return about_rules / total if total else 0.0
