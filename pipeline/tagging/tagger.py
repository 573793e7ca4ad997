"""Turn taxonomy hits into a tag set: topics, jurisdictions, entities, relevance and evidence.

Every hit gets a weight = its taxonomy weight x position (title, lead, body) x context, where the
context rules are: a negated phrase ("denied plans to ban") adds nothing, a hedged one ("is said
to") adds less, a topic phrase in a sentence holding one of the topic's negative cues adds
nothing, and a place in a passing template ("Canadian-born", "in Asian trading") adds nothing.
Labels whose summed weight reaches a threshold are kept. Then the learned topic check
(learned.py) drops rule topics it is nearly sure are wrong and adds topics it is nearly sure of;
docs/tagging.md walks through it all.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from bisect import bisect_right
from functools import lru_cache
from pathlib import Path
from typing import cast

from .context import PassingTemplates, ScannedField, scan
from .language import detect_folded
from .learned import TopicModel
from .matcher import Hit, Matcher
from .models import TOPICS, Tags
from .taxonomy import Taxonomy, load_taxonomy

_SUPRANATIONAL = frozenset({"EU", "INT"})
_RELEVANCE_KINDS = frozenset({"crypto", "off_topic", "regulatory"})
# "a Dutch court", "regulators in Japan"; not "regulators in Europe", which is not the EU
_AUTHORITY_KINDS = frozenset({"name", "adjective"})
# a place after one of these is where something is, not who acts: "funds in the United States"
# adjectives and demonyms describe ("Russian banks"); names and capitals can act ("Russia banned")
_DESCRIBING_KINDS = frozenset({"adjective", "demonym"})
# a wire dateline: "PARIS - ", "SAO PAULO, May 3 (Reuters) - ", at the start of the text
_DATELINE = re.compile(r"[A-Z][A-Z .'\-]*[A-Z](?=\s*(?:,|\(|-|\u2013|\u2014))")
_DATELINE_CHARS = 2
_RELATIVE = (" which ", " where ")
_RELATIVE_COMMA = (", which ", ", where ")
_PREPOSITIONS = frozenset({"in", "from", "for", "to", "of", "at", "with", "by", "across", "outside",
                           "including", "into", "than", "like", "as"})
_LANGUAGE_SAMPLE = 800  # characters of title and text the language guess reads

#: (field, hit, weight) - one occurrence and what it added to its label
Evidence = tuple[ScannedField, Hit, float]


class Tagger:
    """Compiles a taxonomy once; :meth:`tag` is then one automaton pass per field plus scoring."""

    def __init__(self, taxonomy: Taxonomy | None = None, topic_model: TopicModel | None = None):
        """``topic_model`` defaults to the packaged one, unless the taxonomy's ``scoring.topic_model`` is false."""
        self.taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
        if topic_model is None and self.taxonomy.scoring.topic_model:
            topic_model = packaged_topic_model()
        self.topic_model = topic_model
        self.version = self.taxonomy.version
        if topic_model is not None:
            # tags change when either changes, and `regwire retag` goes by this version
            both = f"{self.taxonomy.version}:{topic_model.version}".encode()
            self.version = hashlib.sha256(both).hexdigest()[:12]
        self._matcher = Matcher(self.taxonomy)
        self._s = self.taxonomy.scoring
        self._entities = self.taxonomy.entities
        self._authorities = frozenset(
            name for name, e in self._entities.items() if self._s.entity_weights.get(e.type, 0.0) >= 1.0
        )
        self._crypto_entities = frozenset(name for name, e in self._entities.items() if e.crypto)
        self._regulatory_topics = frozenset(t for t, spec in self.taxonomy.topics.items() if spec.regulatory)
        self._passing = PassingTemplates(self.taxonomy.context.passing)
        self._authority_templates = PassingTemplates(self.taxonomy.context.authority)

    def tag(self, title: str, text: str) -> Tags:
        title, text = title or "", text or ""
        fields = [scan(self._matcher, "title", title), scan(self._matcher, "text", text)]
        for f in fields:
            self._mark_regulatory_sentences(f)

        topic_scores, topic_evidence = self._score_topics(fields)
        jur_scores, jur_evidence, entity_evidence, authority_named = self._score_jurisdictions(fields)
        # fold() works character by character, so this is fold(f"{title}\n{text}"[:800])
        language = detect_folded(f"{fields[0].folded} {fields[1].folded}"[:_LANGUAGE_SAMPLE])
        relevance = self._relevance(fields, topic_scores, entity_evidence, authority_named, language == "en")

        topics: list[str] = []
        learned: list[dict] = []
        if relevance >= 0.5:  # topics describe crypto-regulation content; an article without it has none
            anchor = self._s.topic_anchor_weight
            topics = sorted((t for t, v in topic_scores.items() if v >= self._s.topic_threshold
                             and any(w > 0 and hit.term.weight >= anchor for _, hit, w in topic_evidence[t])),
                            key=lambda t: -topic_scores[t])
            if self.topic_model is not None:
                topics, learned = self._check_topics(topics, fields)
        jurisdictions = sorted((j for j, v in jur_scores.items() if v >= self._s.jurisdiction_threshold),
                               key=lambda j: -jur_scores[j])

        matches: list[dict] = []
        for topic in topics:
            matches += _matches(f"topic:{topic}", topic_evidence.get(topic, []))
        matches += learned
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
            "primary_jurisdiction": self._primary(jurisdictions, jur_scores, jur_evidence),
            "entities": entities,
            "relevance": round(relevance, 4),
            "matches": matches,
            "language": language,
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
        # a subject topic's phrases in one sentence are one mention ("dollar-pegged stablecoins"),
        # worth its strongest phrase: (topic, field, sentence) -> weight counted so far
        subject_sentences: dict[tuple[str, str, int], float] = {}
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
                ref, start = cast(str, term.ref), hit.start  # a topic term's ref is its topic id
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
                    if ref not in regulatory_topics:
                        key = (ref, f.name, hit.sentence)
                        counted = subject_sentences.get(key, 0.0)
                        if weight > counted:
                            subject_sentences[key] = weight
                        weight = weight - counted if weight > counted else 0.0
                scores[ref] = scores.get(ref, 0.0) + weight
                evidence.setdefault(ref, []).append((f, hit, weight))
        return scores, evidence

    def _check_topics(self, topics: list[str], fields: list[ScannedField]) -> tuple[list[str], list[dict]]:
        """Rule topics the model vetoes are dropped; topics it is sure of are added, with evidence.

        The evidence of an added topic is its strongest words in the article, at their first
        occurrence, each weighted by what it adds to the topic's log-odds.
        """
        model = self.topic_model
        assert model is not None  # only called when the tagger has a topic model
        title, text = fields
        features = model.features(title.folded, text.folded)
        p = model.probabilities(features)
        kept = [t for t in topics if p[t] >= model.veto]
        added = sorted((t for t in TOPICS if t not in topics and p[t] >= model.add), key=lambda t: -p[t])
        evidence = []
        for topic in added:
            for word, weight in model.strongest(topic, features):
                for f in fields:
                    at = _word_at(f.folded, word)
                    if at >= 0:
                        evidence.append({"label": f"topic:{topic}", "phrase": f.text[at:at + len(word)],
                                         "offset": at, "weight": round(weight, 3), "field": f.name})
                        break
        return kept + added, evidence

    # ------------------------------------------------------------------ relevance
    def _relevance(self, fields: list[ScannedField], topic_scores: dict[str, float],
                   entity_evidence: dict[str, list[Evidence]], any_authority: bool = False,
                   english: bool = True) -> float:
        """Regulatory evidence against price/hack/product evidence, gated by how much the article is about crypto."""
        crypto = off_topic = regulatory = 0.0
        action = False  # any regulatory vocabulary or any authority named
        s = self._s
        cap = s.relevance_crypto_sentence_cap
        for f in fields:
            title = f.name == "title"
            sentence, room = -1, cap  # the sentence being read, and how much crypto it may still add
            for hit in f.context_hits:
                term = hit.term
                kind = term.kind
                if kind not in _RELEVANCE_KINDS:
                    continue
                # self._position, inlined: this loop sees every context cue
                weight = term.weight * (s.title_weight if title else
                                        s.lead_weight if hit.start < s.lead_chars else 1.0)
                if kind == "crypto":
                    # per sentence, capped: one closing line ("Bitcoin and other cryptocurrencies
                    # were not part of the talks") does not make a story about crypto. Cues come
                    # in text order, so one running total per sentence is enough.
                    if hit.sentence != sentence:
                        sentence, room = hit.sentence, cap
                    if room > 0.0:
                        add = weight if weight < room else room
                        room -= add
                        crypto += add
                elif kind == "off_topic":
                    off_topic += weight
                else:
                    regulatory += weight
                    action = True
        regulatory += sum(v for t, v in topic_scores.items() if t in self._regulatory_topics)
        # a central bank digital currency is a digital currency: a CBDC story is a crypto story
        crypto += topic_scores.get("cbdc", 0.0)
        # "Binance" says as much about crypto as "crypto" does
        crypto += sum(self._position(f, hit.start) for name, evidence in entity_evidence.items()
                      if name in self._crypto_entities for f, hit, _ in evidence)
        authority = 0.5 * sum(self._position(f, hit.start) for name, evidence in entity_evidence.items()
                              if name in self._authorities for f, hit, _ in evidence)
        regulatory += authority
        gate = min(1.0, crypto / self._s.relevance_crypto_min)
        if not (action or authority or any_authority):
            # crypto words next to "retail customers" or "promotions" in a product or marketing
            # story: without a rule-maker or a word about rules there is no regulatory news
            gate *= self._s.no_regulatory_action_factor
        # regulation must be prominent in the article, not one aside in a product or market story:
        # the share of its sentences that are about rules, the headline and lead counting more
        # (measured with the English vocabulary, so only for articles detected as English)
        share = self._regulatory_share(fields) if english else 1.0
        if share < s.relevance_share_full:
            gate *= (share / s.relevance_share_full) ** 2
        x = self._s.relevance_slope * (math.log1p(regulatory) - math.log1p(off_topic) - self._s.relevance_bias)
        return gate / (1.0 + math.exp(-x))

    def _regulatory_share(self, fields: list[ScannedField]) -> float:
        """Position-weighted share of sentences about rules (see _mark_regulatory_sentences)."""
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

    # ------------------------------------------------------------------ jurisdictions and entities
    def _score_jurisdictions(self, fields: list[ScannedField]) -> tuple[
        dict[str, float], dict[str, list[Evidence]], dict[str, list[Evidence]], bool
    ]:
        """Scores and evidence per jurisdiction, the evidence for each named entity, and whether an
        authority was named (also as "Dutch court" or "Zambia's Securities and Exchange Commission")."""
        s = self._s
        passing = self._passing.matches
        authority_template = self._authority_templates.matches
        authorities = self._authorities
        kind_weights = s.kind_weights
        # (field, hit, weight with position and context applied before the kind weight, the
        # jurisdiction an authority entity is redirected to: "Zambia's Securities and Exchange Commission")
        mentions: list[tuple[ScannedField, Hit, float, str | None]] = []
        authority_named = False
        subject_reach = 16 * (s.subject_words + 2)  # characters: no word is longer than 16
        for f in fields:
            if not f.gazetteer_hits:
                continue
            actions = [h for h in f.topic_hits if h.term.kind == "topic" and h.term.weight >= 1.0]
            action_starts = [h.start for h in actions]
            title, folded, regulatory, starts = f.name == "title", f.folded, f.regulatory_sentences, f.starts
            sanctions_sentences = {h.sentence for h in f.topic_hits if h.term.ref == "sanctions"
                                   and h.term.kind == "topic" and h.term.weight >= 1.0}
            run: list[int] = []  # mentions of the places in the current list ("France, Italy and Austria")
            run_subject = False
            previous: Hit | None = None
            for hit in f.gazetteer_hits:
                start = hit.start
                term = hit.term
                if term.kind == "region" or passing(folded, start, hit.end):
                    continue
                if start < _DATELINE_CHARS and not title and _DATELINE.match(f.text, start):
                    continue  # "PARIS - The FATF said ...": where the story was filed
                # self._position, inlined
                weight = s.title_weight if title else s.lead_weight if start < s.lead_chars else 1.0
                redirect = None
                place = term.kind == "jurisdiction"
                if place:
                    if term.sub in _AUTHORITY_KINDS and authority_template(folded, start, hit.end):
                        # "a Dutch court", "regulators in Singapore": the place's authority acts
                        weight *= s.authority_template_weight / kind_weights.get(term.sub, 1.0)
                        f.regulatory_sentences.add(hit.sentence)
                        authority_named = True
                    elif term.sub in _DESCRIBING_KINDS and hit.sentence in sanctions_sentences:
                        # "Russian banks", "Iranian users" where sanctions are the subject: the
                        # sanctions' target, described, not a jurisdiction acting
                        continue
                    # a list of places shares its subject: "France, Italy and Austria have called for"
                    if not (run and previous is not None and previous.term.kind == "jurisdiction"
                            and previous.sentence == hit.sentence and _listed(folded[previous.end:start])):
                        run, run_subject = [], False
                elif not authorities.isdisjoint(term.ref):
                    authority_named = True
                    if (previous is not None and previous.term.kind == "jurisdiction"
                            and folded[previous.end:start].split() in ([], ["s"])
                            and all(self._entities[n].jurisdiction != previous.term.ref for n in term.ref)):
                        # "Zambia's Securities and Exchange Commission" is Zambia's, not the US SEC
                        redirect = cast(str, previous.term.ref)  # a jurisdiction term's ref is its code
                previous = hit
                if hit.sentence not in regulatory:
                    weight *= s.non_regulatory_sentence
                elif actions and self._near_action(f, hit, actions, action_starts):
                    weight *= s.proximity_bonus
                elif place and not title:
                    # (the cheap part of _is_subject first: near the sentence start, or before "which")
                    if not run_subject and (start - starts[hit.sentence] <= subject_reach
                                            or folded.startswith(_RELATIVE, hit.end)
                                            or f.text.startswith(_RELATIVE_COMMA, hit.end)):
                        if self._is_subject(f, hit, actions):
                            run_subject = True
                            for j in run:  # the places listed before it share the subject
                                g, h, w, r = mentions[j]
                                if h.sentence in regulatory:
                                    mentions[j] = (g, h, w * s.proximity_bonus, r)
                    if run_subject:
                        weight *= s.proximity_bonus
                if place:
                    run.append(len(mentions))
                mentions.append((f, hit, weight, redirect))

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

        def credit_unlisted(code: str, f: ScannedField, hit: Hit, weight: float) -> None:
            # an authority of a place whose own one is not in the gazetteer: credit the place
            names = hit.term.ref
            credit(code, f, hit, weight * max(s.entity_weights.get(self._entities[n].type, 0.0) for n in names))

        ambiguous = []
        for f, hit, weight, redirect in mentions:
            term = hit.term
            if term.kind == "jurisdiction":
                credit(cast(str, term.ref), f, hit, weight * kind_weights.get(term.sub, 1.0))
            elif redirect is not None:
                credit_unlisted(redirect, f, hit, weight)
            elif len(term.ref) == 1:
                credit_entity(term.ref[0], f, hit, weight)
            else:
                ambiguous.append((f, hit, weight))
        # "SEC" or "FSC" is the candidate whose jurisdiction the unambiguous evidence points to;
        # when none of them has any, it is the article's own country's ("the Securities and
        # Exchange Commission" in a story about Ghana)
        settled = dict(scores)
        home = max((c for c in settled if c not in _SUPRANATIONAL), key=lambda c: settled[c], default=None)
        if home is not None and settled[home] < s.jurisdiction_threshold:
            home = None
        for f, hit, weight in ambiguous:
            names = hit.term.ref
            best = max(names, key=lambda n: (settled.get(self._entities[n].jurisdiction or "", 0.0),
                                             -names.index(n)))
            if home is not None and settled.get(self._entities[best].jurisdiction or "", 0.0) == 0.0:
                credit_unlisted(home, f, hit, weight)
            else:
                credit_entity(best, f, hit, weight)
        return scores, evidence, entity_evidence, authority_named

    def _is_subject(self, f: ScannedField, hit: Hit, actions: list[Hit]) -> bool:
        """Is this place, in a sentence about rules, the subject of what the sentence says?

        It is when at most ``subject_words`` words, none of them a preposition, and no clause
        punctuation stand between the start of the sentence and it ("Kenya cut its tax on
        ..."), or it opens the
        sentence as "In X," ("In the Netherlands, a court sentenced ..."); or when ", which" or
        ", where" and, within ``proximity_words`` + 3 words, an action follow it ("the United
        States, which adopted stablecoin rules"; "Singapore, where licensing regimes are in
        place"). An action is a topic phrase of weight 1 or more, or a word of the regulatory
        vocabulary of weight 0.5 or more ("restricted", "rules"; "officials" is not one). Places
        listed with it share it (see the caller).
        """
        sentence = hit.sentence
        limit = self._s.subject_words
        begin = f.starts[sentence]
        folded = f.folded
        if hit.start - begin <= 16 * (limit + 2):  # no word is longer than 16 characters
            words = folded[begin:hit.start].split()
            if words and words[-1] == "the":
                words.pop()
            if (len(words) <= limit and not (words and words[-1] in _PREPOSITIONS)
                    and f.close(begin, hit.start, limit)):
                return True
            if words == ["in"] and f.text.startswith(",", hit.end):
                return True  # "In the Netherlands, a court sentenced ..."
        text = f.text
        if text.startswith(", which ", hit.end) or text.startswith(", where ", hit.end):
            after = hit.end + 8
        elif folded.startswith(" which ", hit.end) or folded.startswith(" where ", hit.end):
            after = hit.end + 7
        else:
            return False
        within = self._s.proximity_words + 3
        if any(h.sentence == sentence and h.start >= after and f.close(after, h.start, within) for h in actions):
            return True
        return any(h.term.kind == "regulatory" and h.term.weight >= 0.5 and h.sentence == sentence
                   and h.start >= after and f.close(after, h.start, within) for h in f.context_hits)

    def _near_action(self, f: ScannedField, hit: Hit, actions: list[Hit], starts: list[int]) -> bool:
        """Is a topic phrase a few words before or after this place, in the same clause ("US sanctions")?"""
        i = bisect_right(starts, hit.start)
        limit = self._s.proximity_words
        if i > 0 and actions[i - 1].end <= hit.start and f.close(actions[i - 1].end, hit.start, limit):
            return True
        return i < len(actions) and f.close(hit.end, actions[i].start, limit)

    def _primary(self, jurisdictions: list[str], scores: dict[str, float],
                 evidence: dict[str, list[Evidence]]) -> str | None:
        """The headline's first jurisdiction, else the top-scoring one.

        A headline names what the story is about first ("Basel Committee agrees to review crypto
        rules after US, UK balk"), while the body may say more about someone else. Without one
        in the headline, a well-supported country beats the EU/INT body acting on it.
        """
        if not jurisdictions:
            return None
        first_in_title: dict[str, int] = {}
        for code in jurisdictions:
            starts = [hit.start for f, hit, weight in evidence[code] if f.name == "title" and weight > 0]
            if starts:
                first_in_title[code] = min(starts)
        if first_in_title:
            return min(first_in_title, key=first_in_title.__getitem__)
        top = jurisdictions[0]
        if top in _SUPRANATIONAL:
            floor = self._s.supranational_share * scores[top]
            for code in jurisdictions[1:]:
                if code not in _SUPRANATIONAL and scores[code] >= floor:
                    return code
        return top


def _listed(gap: str) -> bool:
    """Do only commas, "and", "or" or "the" stand between two places ("France, Italy and Austria")?"""
    words = gap.split()
    return len(words) <= 2 and all(w in ("and", "or", "the") for w in words)


def _word_at(folded: str, word: str) -> int:
    """Offset of the first whole-word ``word`` in a folded text (words are separated by spaces), or -1."""
    at = folded.find(word)
    while at >= 0:
        end = at + len(word)
        if (at == 0 or folded[at - 1] == " ") and (end == len(folded) or folded[end] == " "):
            return at
        at = folded.find(word, at + 1)
    return -1


def _matches(label: str, evidence: list[Evidence]) -> list[dict]:
    """Evidence as :class:`Match` fields."""
    return [
        {"label": label, "phrase": f.text[hit.start:hit.end], "offset": hit.start, "weight": round(weight, 3),
         "field": f.name}
        for f, hit, weight in evidence
    ]


@lru_cache(maxsize=1)
def packaged_topic_model() -> TopicModel:
    return TopicModel.load()


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
