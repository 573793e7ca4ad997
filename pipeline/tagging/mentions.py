"""Jurisdiction candidates: every place, law and authority the gazetteer finds, with what surrounds it.

The rules of earlier releases summed weighted mentions into a score per jurisdiction and kept
those above a threshold. Here every mention becomes a candidate's evidence, described by flags
(where it is, what kind of name it is, what surrounds it), and the rule score is kept as one
more feature: the jurisdiction classifier (learned.py) reads them all and decides whether the
place is a subject of the story or only mentioned (docs/labeling-guide.md).

Flags of a mention (each becomes a count feature of its jurisdiction):
``title``, ``lead``; the kind (``k:name``, ``k:adjective``, ``k:demonym``, ``k:capital``,
``k:place``, ``k:law``, ``k:authority`` for regulators, central banks, courts and the like,
``k:centre``, ``k:firm`` for banks, exchanges and companies); ``passing`` (a passing template:
"Canadian-born", "in Asian trading"), ``dateline``, ``related`` (inside a "Related:" line),
``target`` (an adjective or demonym in a sentence about sanctions), ``authority`` (an authority
template: "a Dutch court"), ``possessive`` ("Kazakhstan's"), ``rules`` (in a sentence about
rules), ``action`` (a few words from a topic phrase), ``subject`` (the subject of a sentence
about rules), ``list`` (in a list of places), ``compare`` and ``after`` (a comparison or
precedent cue shortly before it: "similar to", "following"). (An ``actor`` flag, a verb after the
place, and a ``substance`` flag combining it with the others were tried: cross-validated subject
F1 0.953 with them, 0.956 without, so they went.)
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import cast

from .context import PassingTemplates, ScannedField
from .matcher import Hit
from .taxonomy import EntitySpec, ScoringSpec, Taxonomy

SUPRANATIONAL = frozenset({"EU", "INT"})
# "a Dutch court", "regulators in Japan"; not "regulators in Europe", which is not the EU
_AUTHORITY_KINDS = frozenset({"name", "adjective"})
# adjectives and demonyms describe ("Russian banks"); names and capitals can act ("Russia banned")
_DESCRIBING_KINDS = frozenset({"adjective", "demonym"})
# a wire dateline: "PARIS - ", "SAO PAULO, May 3 (Reuters) - ", at the start of the text
_DATELINE = re.compile(r"[A-Z][A-Z .'\-]*[A-Z](?=\s*(?:,|\(|-|\u2013|\u2014))")
_DATELINE_CHARS = 2
_RELATIVE = (" which ", " where ")
_RELATIVE_COMMA = (", which ", ", where ")
_PREPOSITIONS = frozenset({"in", "from", "for", "to", "of", "at", "with", "by", "across", "outside",
                           "including", "into", "than", "like", "as"})
_POSSESSIVE = ("'s", "\u2019s")
# words shortly before a place that make it a comparison or a precedent, not the story's actor
_COMPARE = frozenset({"like", "unlike", "similar", "than", "compared", "modelled", "modeled", "inspired",
                      "mirrors", "mirroring", "elsewhere", "joins", "joining", "followed", "follows"})
_AFTER = frozenset({"following", "after", "since", "comes", "came", "amid", "weeks", "months", "before"})
_CUE_WORDS = 5
_ENTITY_KINDS = {"regulator": "k:authority", "central_bank": "k:authority", "ministry": "k:authority",
                 "agency": "k:authority", "court": "k:authority", "legislature": "k:authority",
                 "government": "k:authority", "standard_setter": "k:authority", "financial_centre": "k:centre",
                 "international_org": "k:intl", "bank": "k:firm", "exchange": "k:firm", "company": "k:firm",
                 "payment_system": "k:firm"}


@dataclass(slots=True)
class _FieldState:
    """What the scan of one field carries from mention to mention."""

    actions: list[Hit]  # topic phrases of weight 1 or more
    action_starts: list[int] = field(default_factory=list)
    previous: Hit | None = None
    run: list[Mention] = field(default_factory=list)  # the places of the current list
    run_subject: bool = False  # ... and whether one of them is a sentence's subject
    authority_named: bool = False

    def __post_init__(self) -> None:
        self.action_starts = [h.start for h in self.actions]


@dataclass(slots=True)
class Mention:
    field: ScannedField
    hit: Hit
    weight: float  # what it adds to the rule score (0 for passing mentions)
    flags: list[str]
    redirect: str | None = None  # "Zambia's Securities and Exchange Commission" counts for ZM


@dataclass
class Candidate:
    """One jurisdiction the article names: its rule score, its mentions and their flag counts."""

    code: str
    score: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    mentions: list[tuple[ScannedField, Hit, float, list[str]]] = field(default_factory=list)
    first: int = 1 << 30  # earliest body offset (title mentions count as 0)

    def add(self, f: ScannedField, hit: Hit, weight: float, flags: list[str]) -> None:
        self.score += weight
        counts = self.counts
        for flag in flags:
            counts[flag] = counts.get(flag, 0) + 1
        self.mentions.append((f, hit, weight, flags))
        at = 0 if f.name == "title" else hit.start
        if at < self.first:
            self.first = at


@dataclass
class JurisdictionEvidence:
    candidates: dict[str, Candidate]
    #: entity name -> (field, hit, position weight) for every named entity outside "Related:" lines
    entities: dict[str, list[tuple[ScannedField, Hit, float]]]
    authority_named: bool


class MentionScanner:
    """Finds jurisdiction candidates in scanned fields (see the module docstring)."""

    def __init__(self, taxonomy: Taxonomy):
        self._s = taxonomy.scoring
        self._entities = taxonomy.entities
        self._passing = PassingTemplates(taxonomy.context.passing)
        self._authority_templates = PassingTemplates(taxonomy.context.authority)
        self.authorities = frozenset(
            name for name, e in self._entities.items() if self._s.entity_weights.get(e.type, 0.0) >= 1.0)

    def scan(self, fields: list[ScannedField]) -> JurisdictionEvidence:
        mentions: list[Mention] = []
        authority_named = False
        for f in fields:
            if f.gazetteer_hits:
                authority_named |= self._field_mentions(f, mentions)
        return self._credit(mentions, authority_named)

    # ------------------------------------------------------------------ one field
    def _field_mentions(self, f: ScannedField, mentions: list[Mention]) -> bool:
        s = self._s
        title = f.name == "title"
        actions = [h for h in f.topic_hits if h.term.kind == "topic" and h.term.weight >= 1.0]
        sanctions = {h.sentence for h in actions if h.term.ref == "sanctions"}
        state = _FieldState(actions)
        for hit in f.gazetteer_hits:
            term = hit.term
            if term.kind == "region":
                continue
            flags = ["title"] if title else ["lead"] if hit.start < s.lead_chars else []
            flags.append(self._kind_flag(hit))
            if f.related and f.in_related(hit.start):
                flags.append("related")  # another story's headline: a mention at most
                mentions.append(Mention(f, hit, 0.0, flags))
                continue
            place = term.kind == "jurisdiction"
            passing = self._passing_flag(f, hit, title, place, sanctions)
            if passing:
                flags.append(passing)
                mentions.append(Mention(f, hit, 0.0, flags))
                continue
            weight = s.title_weight if title else s.lead_weight if hit.start < s.lead_chars else 1.0
            mention = Mention(f, hit, weight, flags)
            if place:
                self._place(f, mention, state)
            elif not self.authorities.isdisjoint(term.ref):
                state.authority_named = True
                mention.redirect = self._redirect(f, state.previous, hit)
            state.previous = hit
            if f.folded.startswith(" s ", hit.end) and f.text.startswith(_POSSESSIVE, hit.end):
                flags.append("possessive")
            if hit.sentence in f.regulatory_sentences:
                self._in_rules_sentence(f, mention, state, place and not title)
            else:
                mention.weight *= s.non_regulatory_sentence
            if place:
                state.run.append(mention)
            mentions.append(mention)
        return state.authority_named

    def _place(self, f: ScannedField, mention: Mention, state: _FieldState) -> None:
        """Authority templates ("a Dutch court") and lists of places ("France, Italy and Austria")."""
        hit, flags = mention.hit, mention.flags
        sub = hit.term.sub
        if sub in _AUTHORITY_KINDS and self._authority_templates.matches(f.folded, hit.start, hit.end):
            # "a Dutch court", "regulators in Singapore": the place's authority acts
            mention.weight *= self._s.authority_template_weight / self._s.kind_weights.get(sub, 1.0)
            f.regulatory_sentences.add(hit.sentence)
            state.authority_named = True
            flags.append("authority")
        previous, run = state.previous, state.run
        if (run and previous is not None and previous.term.kind == "jurisdiction"
                and previous.sentence == hit.sentence and _listed(f.folded[previous.end:hit.start])):
            flags.append("list")
            if len(run) == 1:
                run[0].flags.append("list")
        else:
            state.run, state.run_subject = [], False

    def _in_rules_sentence(self, f: ScannedField, mention: Mention, state: _FieldState, body_place: bool) -> None:
        """Flags of a mention in a sentence about rules: next to an action, the sentence's subject, an actor."""
        s, hit, flags = self._s, mention.hit, mention.flags
        flags.append("rules")
        if state.actions and _near_action(f, hit, state.actions, state.action_starts, s.proximity_words):
            mention.weight *= s.proximity_bonus
            flags.append("action")
        elif body_place:
            if not state.run_subject and self._maybe_subject(f, hit, state.actions):
                state.run_subject = True
                for m in state.run:  # the places listed before it share the subject
                    if m.hit.sentence in f.regulatory_sentences:
                        m.weight *= s.proximity_bonus
                        m.flags.append("subject")
            if state.run_subject:
                mention.weight *= s.proximity_bonus
                flags.append("subject")
        if f.name == "title":
            return
        flags += _cues(f, hit)

    def _kind_flag(self, hit: Hit) -> str:
        term = hit.term
        if term.kind == "jurisdiction":
            return "k:" + term.sub
        return _ENTITY_KINDS.get(self._entities[term.ref[0]].type, "k:firm")

    def _passing_flag(self, f: ScannedField, hit: Hit, title: bool, place: bool, sanctions: set[int]) -> str:
        """"passing", "dateline" or "target" when the mention is one of those, else ""."""
        if self._passing.matches(f.folded, hit.start, hit.end):
            return "passing"
        if hit.start < _DATELINE_CHARS and not title and _DATELINE.match(f.text, hit.start):
            return "dateline"  # "PARIS - The FATF said ...": where the story was filed
        if place and hit.term.sub in _DESCRIBING_KINDS and hit.sentence in sanctions:
            # "Russian banks" where sanctions are the subject: the sanctions' target, described
            if not self._authority_templates.matches(f.folded, hit.start, hit.end):
                return "target"
        return ""

    def _redirect(self, f: ScannedField, previous: Hit | None, hit: Hit) -> str | None:
        """"Zambia's Securities and Exchange Commission" is Zambia's, not the US SEC."""
        if (previous is not None and previous.term.kind == "jurisdiction"
                and f.folded[previous.end:hit.start].split() in ([], ["s"])
                and all(self._entities[n].jurisdiction != previous.term.ref for n in hit.term.ref)):
            return cast(str, previous.term.ref)  # a jurisdiction term's ref is its code
        return None

    def _maybe_subject(self, f: ScannedField, hit: Hit, actions: list[Hit]) -> bool:
        reach = 16 * (self._s.subject_words + 2)  # characters: no word is longer than 16
        if not (hit.start - f.starts[hit.sentence] <= reach or f.folded.startswith(_RELATIVE, hit.end)
                or f.text.startswith(_RELATIVE_COMMA, hit.end)):
            return False
        return _is_subject(f, hit, actions, self._s.subject_words, self._s.proximity_words)

    # ------------------------------------------------------------------ per jurisdiction
    def _credit(self, mentions: list[Mention], authority_named: bool) -> JurisdictionEvidence:
        ledger = _Ledger(self._s, self._entities)
        ambiguous = []
        for m in mentions:
            term = m.hit.term
            if term.kind == "jurisdiction":
                ledger.credit(cast(str, term.ref), m, m.weight * self._s.kind_weights.get(term.sub, 1.0))
            elif m.redirect is not None:
                ledger.credit(m.redirect, m, m.weight * ledger.authority_weight(m))
            elif len(term.ref) == 1:
                ledger.credit_entity(term.ref[0], m, m.weight)
            else:
                ambiguous.append(m)
        ledger.resolve(ambiguous)
        return JurisdictionEvidence(ledger.candidates, ledger.entities, authority_named)


class _Ledger:
    """Candidates and entity evidence being credited from mentions."""

    def __init__(self, s: ScoringSpec, entities: dict[str, EntitySpec]):
        self._s, self._entities = s, entities
        self.candidates: dict[str, Candidate] = {}
        self.entities: dict[str, list[tuple[ScannedField, Hit, float]]] = {}
        self._best_firm: dict[str, float] = {}  # best weight so far of each bank, exchange or company

    def credit(self, code: str | None, m: Mention, weight: float) -> None:
        if code is not None:
            candidate = self.candidates.get(code)
            if candidate is None:
                candidate = self.candidates[code] = Candidate(code)
            candidate.add(m.field, m.hit, weight, m.flags)

    def credit_entity(self, name: str, m: Mention, weight: float) -> None:
        s, spec = self._s, self._entities[name]
        kind_weight = s.entity_weights.get(spec.type, 0.0)
        weight *= kind_weight
        if kind_weight < s.repeat_entity_below:
            # named again and again, a company still says only once where it is from
            best = self._best_firm.get(name, 0.0)
            self._best_firm[name] = max(best, weight)
            weight = max(0.0, weight - best)
        self.credit(spec.jurisdiction, m, weight)
        if "related" not in m.flags:
            self.entities.setdefault(name, []).append((m.field, m.hit, _position(s, m.field, m.hit.start)))

    def authority_weight(self, m: Mention) -> float:
        return max(self._s.entity_weights.get(self._entities[n].type, 0.0) for n in m.hit.term.ref)

    def resolve(self, ambiguous: list[Mention]) -> None:
        """"SEC" or "FSC" is the candidate whose jurisdiction the unambiguous evidence points to;
        when none of them has any, it is the article's own country's."""
        settled = {code: c.score for code, c in self.candidates.items()}
        home = max((c for c in settled if c not in SUPRANATIONAL), key=settled.__getitem__, default=None)
        if home is not None and settled[home] < self._s.jurisdiction_threshold:
            home = None
        for m in ambiguous:
            names = m.hit.term.ref
            best = max(names, key=lambda n: (settled.get(self._entities[n].jurisdiction or "", 0.0), -names.index(n)))
            if home is not None and settled.get(self._entities[best].jurisdiction or "", 0.0) == 0.0:
                self.credit(home, m, m.weight * self.authority_weight(m))
            else:
                self.credit_entity(best, m, m.weight)


def _position(s: ScoringSpec, f: ScannedField, pos: int) -> float:
    if f.name == "title":
        return s.title_weight
    return s.lead_weight if pos < s.lead_chars else 1.0


def _listed(gap: str) -> bool:
    """Do only commas, "and", "or" or "the" stand between two places ("France, Italy and Austria")?"""
    words = gap.split()
    return len(words) <= 2 and all(w in ("and", "or", "the") for w in words)


def _cues(f: ScannedField, hit: Hit) -> list[str]:
    """"compare" / "after" when such a cue stands a few words before the place, in its sentence."""
    begin = max(f.starts[hit.sentence], hit.start - 16 * _CUE_WORDS)
    words = f.folded[begin:hit.start].split()[-_CUE_WORDS:]
    if not words:
        return []
    flags = []
    if not _COMPARE.isdisjoint(words):
        flags.append("compare")
    if not _AFTER.isdisjoint(words):
        flags.append("after")
    return flags


def _near_action(f: ScannedField, hit: Hit, actions: list[Hit], starts: list[int], limit: int) -> bool:
    """Is a topic phrase a few words before or after this place, in the same clause ("US sanctions")?"""
    i = bisect_right(starts, hit.start)
    if i > 0 and actions[i - 1].end <= hit.start and f.close(actions[i - 1].end, hit.start, limit):
        return True
    return i < len(actions) and f.close(hit.end, actions[i].start, limit)


def _is_subject(f: ScannedField, hit: Hit, actions: list[Hit], limit: int, proximity: int) -> bool:
    """Is this place, in a sentence about rules, the subject of what the sentence says?

    It is when at most ``limit`` words, none of them a preposition, and no clause punctuation
    stand between the start of the sentence and it ("Kenya cut its tax on ..."), or it opens the
    sentence as "In X," ("In the Netherlands, a court sentenced ..."); or when ", which" or
    ", where" and, within ``proximity`` + 3 words, an action follow it ("the United States,
    which adopted stablecoin rules").
    """
    sentence, begin, folded = hit.sentence, f.starts[hit.sentence], f.folded
    if hit.start - begin <= 16 * (limit + 2):  # no word is longer than 16 characters
        words = folded[begin:hit.start].split()
        if words and words[-1] == "the":
            words.pop()
        if len(words) <= limit and not (words and words[-1] in _PREPOSITIONS) and f.close(begin, hit.start, limit):
            return True
        if words == ["in"] and f.text.startswith(",", hit.end):
            return True  # "In the Netherlands, a court sentenced ..."
    if f.text.startswith(_RELATIVE_COMMA, hit.end):
        after = hit.end + 8
    elif folded.startswith(_RELATIVE, hit.end):
        after = hit.end + 7
    else:
        return False
    within = proximity + 3
    if any(h.sentence == sentence and h.start >= after and f.close(after, h.start, within) for h in actions):
        return True
    return any(h.term.kind == "regulatory" and h.term.weight >= 0.5 and h.sentence == sentence
               and h.start >= after and f.close(after, h.start, within) for h in f.context_hits)
