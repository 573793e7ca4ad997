"""One Aho-Corasick pass over an article finds every taxonomy phrase.

All phrases (topic patterns, gazetteer names, context cues) live in a single automaton. It runs
over a copy of the article that is lowercased and has punctuation turned into spaces, and every
key is stored with a space on each side (a ``*`` phrase only on the left), so the automaton only
reports whole-word hits: "ban" is never found inside "urban" or "bank", and no Python code has to
look at the thousands of in-word hits a plain search would report. Surviving hits pass their
capitalisation rule; then, within each layer, overlapping hits are resolved leftmost-longest, so
"Bank of Russia" wins over "Russia" and "no longer" over "no". Layers are resolved separately
because a phrase can be evidence of different kinds at once ("Russian citizens" is a gazetteer
adjective and a sanctions cue).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from operator import itemgetter
from typing import Any, NamedTuple

import ahocorasick

from .taxonomy import Taxonomy


def _fold_table() -> str:
    # Indexed by code point; str.translate leaves characters past its end unchanged. Everything
    # that is not part of a word (punctuation, curly quotes, dashes, whitespace) becomes a space:
    # publishers differ in quotes and dashes, and "crypto-to-cash" should match "crypto to cash".
    chars = []
    for i in range(0x2100):
        c = chr(i)
        word = c.isalnum() or c == "_"
        chars.append(c if word or unicodedata.category(c)[0] not in "PSZC" else " ")
    return "".join(chars)


_SPACES = _fold_table()


class Layer(IntEnum):
    TOPIC = 0
    GAZETTEER = 1
    CONTEXT = 2


class Case(IntEnum):
    ANY = 0
    CAPITALISED = 1  # first letter must be upper case in the text
    EXACT = 2


@dataclass(frozen=True, slots=True)
class Term:
    """What a phrase means. ``kind`` is one of:

    topic, topic_negative (ref = topic id); jurisdiction (ref = code, sub = name/adjective/...);
    entity (ref = candidate entity names, taxonomy order); region; negation, not_negation, hedge
    (weight = scope in words); regulatory, crypto, off_topic.
    """

    kind: str
    ref: str | tuple[str, ...]
    weight: float
    sub: str
    prefix: bool
    case: Case
    written: str
    layer: Layer


class Hit(NamedTuple):
    start: int
    end: int
    term: Term
    sentence: int  # index into the field's sentence starts


_LAYER_OF = {"topic": Layer.TOPIC, "topic_negative": Layer.TOPIC, "jurisdiction": Layer.GAZETTEER,
             "entity": Layer.GAZETTEER, "region": Layer.GAZETTEER}
_KIND_NAMES = {"names": "name", "adjectives": "adjective", "demonyms": "demonym", "capitals": "capital",
               "places": "place", "laws": "law"}
_BY_START_LONGEST_FIRST = itemgetter(0, 1)  # raw hits are (start, -end, term)
_new_hit = tuple.__new__  # builds a Hit without the generated __new__'s argument handling


def fold(text: str) -> str:
    """Lowercase, punctuation as spaces, same length as ``text`` so offsets carry over.

    (A few characters lowercase to two, like "\u0130"; in that rare case those are kept as they are.)
    """
    low = text.lower()
    if len(low) != len(text):
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return low.translate(_SPACES)


def _key(phrase: str, prefix: bool) -> str:
    """' licence ' for a whole word, ' licens' for a prefix: the form stored in the automaton."""
    return " " + fold(phrase) + ("" if prefix else " ")


def _case_rule(phrase: str, gazetteer: bool) -> Case:
    letters = [c for c in phrase if c.isalpha()]
    if letters and not any(c.islower() for c in letters):
        return Case.EXACT  # acronyms: "US" is not "us", "ETF" not "etf"
    if gazetteer and phrase[:1].isupper():
        return Case.CAPITALISED  # "Turkey", "Circle" as names, not as words
    return Case.ANY


class Matcher:
    """The taxonomy compiled into one automaton; :meth:`find` is the single pass over a field."""

    def __init__(self, taxonomy: Taxonomy):
        entries: dict[str, list[Term]] = {}
        for phrase, kind, ref, weight, sub, case in _taxonomy_phrases(taxonomy):
            prefix = phrase.endswith("*")
            written = phrase.rstrip("*").strip()
            if case is None:
                case = _case_rule(written, gazetteer=kind in ("jurisdiction", "entity", "region"))
            layer = _LAYER_OF.get(kind, Layer.CONTEXT)
            term = Term(kind, ref, weight, sub, prefix, case, written, layer)
            entries.setdefault(_key(written, prefix), []).append(term)

        self._automaton = ahocorasick.Automaton()
        for key, terms in entries.items():
            # Whether a phrase is a prefix is part of its key (no trailing space), so it holds for
            # every term of the key; the per-hit work then depends only on whether a term has a
            # case rule. Terms carry their layer as an int, ready to index the result lists.
            prefix = not key.endswith(" ")
            payload: tuple[bool, bool, tuple[tuple[Any, ...], ...]]
            if all(t.case is Case.ANY for t in terms):
                payload = (prefix, False, tuple((int(t.layer), t) for t in terms))
            else:
                payload = (prefix, True, tuple((int(t.layer), t, int(t.case), t.written) for t in terms))
            self._automaton.add_word(key, (len(key), payload))
        self._automaton.make_automaton()
        self.size = len(entries)

    def find(self, text: str, folded: str, sentence_starts: list[int]) -> tuple[list[Hit], list[Hit], list[Hit]]:
        """Hits in ``text`` (``folded`` is ``fold(text)``) as (topic, gazetteer, context) lists sorted by offset."""
        padded = " " + folded + " "
        layers: tuple[list, list, list] = ([], [], [])
        exact = int(Case.EXACT)
        for last, (length, (prefix, cased, items)) in self._automaton.iter(padded):
            # padded[i] is text[i - 1], and the key's leading space sits just before the phrase
            start = last - length + 1
            if prefix:  # the rest of the word: "licens" -> "licensing"
                end = padded.find(" ", last + 1) - 1
            else:
                end = last - 1  # the key's trailing space
            if not cased:
                for layer, term in items:
                    layers[layer].append((start, -end, term))
                continue
            for layer, term, case, written in items:
                if case:
                    if case == exact:
                        if not text.startswith(written, start):
                            continue
                    elif not text[start].isupper():
                        continue
                layers[layer].append((start, -end, term))
        return tuple(_longest(raw, sentence_starts) for raw in layers)  # type: ignore[return-value]


def _longest(raw: list[tuple[int, int, Term]], sentence_starts: list[int]) -> list[Hit]:
    """Leftmost-longest non-overlapping hits (every term of a winning span is kept), with their sentence."""
    if not raw:
        return []
    raw.sort(key=_BY_START_LONGEST_FIRST)
    kept: list[Hit] = []
    span_start = span_end = -1  # the span that won last
    sentence, last_sentence = 0, len(sentence_starts) - 1
    span_first = 0  # index in kept of the winning span's first hit
    for start, negative_end, term in raw:
        end = -negative_end
        if start != span_start or end != span_end:
            if start < span_end:
                continue  # inside a longer phrase
            span_start, span_end = start, end
            span_first = len(kept)
        else:
            # the same words matched by two phrases of one label ("retail investors" and
            # "retail investor*") are one piece of evidence, at the heavier weight
            duplicate = False
            for i in range(span_first, len(kept)):
                other = kept[i].term
                if other.ref == term.ref and other.kind == term.kind:
                    if term.weight > other.weight:
                        kept[i] = _new_hit(Hit, (start, end, term, kept[i].sentence))
                    duplicate = True
                    break
            if duplicate:
                continue
        while sentence < last_sentence and sentence_starts[sentence + 1] <= start:
            sentence += 1
        kept.append(_new_hit(Hit, (start, end, term, sentence)))
    return kept


# (phrase, kind, ref, weight, sub-kind, case rule or None for the default rule of its kind)
_Phrase = tuple[str, str, Any, float, str, Case | None]


def _taxonomy_phrases(taxonomy: Taxonomy) -> Iterator[_Phrase]:
    """Every phrase the automaton holds, with what a hit on it means."""
    for topic, spec in taxonomy.topics.items():
        for phrase, weight in spec.patterns.items():
            yield phrase, "topic", topic, weight, "", None
        for phrase in spec.negative:
            yield phrase, "topic_negative", topic, 0.0, "", None
    for code, jur in taxonomy.jurisdictions.items():
        for sub in ("names", "adjectives", "demonyms", "capitals", "places", "laws"):
            for phrase in getattr(jur, sub):
                yield phrase, "jurisdiction", code, 0.0, _KIND_NAMES[sub], None
    for (alias, case), names in _entity_aliases(taxonomy).items():
        yield alias, "entity", tuple(names), 0.0, "", case
    yield from _context_phrases(taxonomy)


def _entity_aliases(taxonomy: Taxonomy) -> dict[tuple[str, Case], list[str]]:
    """An alias several entities share ("SEC", "FSC") becomes one term listing all candidates."""
    aliases: dict[tuple[str, Case], list[str]] = {}
    for name, entity in taxonomy.entities.items():
        for alias in dict.fromkeys([name, *entity.aliases]):
            case = Case.EXACT if entity.case_sensitive else _case_rule(alias, gazetteer=True)
            candidates = aliases.setdefault((alias, case), [])
            if name not in candidates:
                candidates.append(name)
    return aliases


def _context_phrases(taxonomy: Taxonomy) -> Iterator[_Phrase]:
    ctx = taxonomy.context
    for phrase in ctx.regions:
        yield phrase, "region", "", 0.0, "", None
    for kind, cues in (("negation", ctx.negation), ("hedge", ctx.hedging)):
        for phrase, scope in cues.items():
            yield phrase, kind, "", float(scope), "", None
    for phrase in ctx.not_negation:
        yield phrase, "not_negation", "", 0.0, "", None
    for kind, vocabulary in (("regulatory", ctx.regulatory), ("crypto", ctx.crypto), ("off_topic", ctx.off_topic)):
        for phrase, weight in vocabulary.items():
            yield phrase, kind, "", weight, "", None
