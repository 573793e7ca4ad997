"""Reading an article's fields: sentences, negation and hedge scope, passing mentions.

A :class:`ScannedField` is one field (title or text) after the automaton pass, with what the
scoring needs to judge each hit in context.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Literal

from .matcher import Hit, Matcher, fold

# A sentence ends at . ! ? (plus closing quotes) or a line break, before a capitalised word.
# A full stop right after a known abbreviation or a single capital letter ("U.S. Treasury",
# "St. Petersburg", "Mr. Smith") ends nothing; fixed-width lookbehinds say so inside the regex,
# so the only Python work per sentence is appending its start.
_ABBREVIATIONS = frozenset({"Mr", "Ms", "Dr", "St", "No", "Inc", "Co", "Corp", "Ltd", "Jr", "vs"})
# (Starting the pattern with a character class lets the regex engine skip ahead to stops quickly.)
_NOT_AFTER = "".join(rf"(?<!\b{a}\.)" for a in sorted(_ABBREVIATIONS)) + r"(?<!\b[A-Z]\.)"
_SENTENCE_END = re.compile(
    rf"[.!?\n]{_NOT_AFTER}[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")


def _sentence_starts(text: str) -> list[int]:
    starts = [0]
    starts += [m.end() for m in _SENTENCE_END.finditer(text)]
    return starts


# A cue does not reach across these ("not only X, but they will ban Y"), nor across sentences.
_CLAUSE_PUNCTUATION = (",", ";", ":", "\u2014", "(", ")", ".", "!", "?", "\n")
# the same characters as one search: one call in C instead of ten substring tests
_CLAUSE_BREAK = re.compile("[" + re.escape("".join(_CLAUSE_PUNCTUATION)) + "]")

# A line that points to another story: "Related: ...", "Read more: ...", "See also: ...". What it
# says is not what this article says, so its phrases are not evidence (its places are mentions).
_RELATED_LINE = re.compile(
    r"^[ \t]*(?:related(?: (?:articles?|stories|news|coverage|reading))?|read more|read also|also read|see also"
    r"|further reading|recommended(?: reading)?|more on this(?: story)?|you may also like|don't miss)"
    r"[ \t]*[:\-\u2013\u2014|>][^\n]*", re.IGNORECASE | re.MULTILINE)

#: (end offset of the cue, scope in words, sentence index)
Cue = tuple[int, int, int]
_AFTER_ANY_SCOPE = 1 << 30  # sorts after every (end, scope, ...) cue with the same end


@dataclass(slots=True)
class ScannedField:
    name: Literal["title", "text"]
    text: str
    folded: str  # lowercase, punctuation as spaces, same offsets as text
    starts: list[int]  # sentence start offsets
    topic_hits: list[Hit]
    gazetteer_hits: list[Hit]
    context_hits: list[Hit]
    negations: list[Cue] = field(default_factory=list)
    hedges: list[Cue] = field(default_factory=list)
    regulatory_sentences: set[int] = field(default_factory=set)
    #: (start, end) of "Related:" lines, in text order
    related: list[tuple[int, int]] = field(default_factory=list)

    def in_related(self, pos: int) -> bool:
        return any(start <= pos < end for start, end in self.related)

    def close(self, a: int, b: int, words: int) -> bool:
        """At most ``words`` words between offsets a <= b, and no clause boundary."""
        if b - a > 16 * (words + 1):  # cheap bound before splitting: no word is that long
            return False
        gap = self.folded[a:b]
        if len(gap.split()) > words or " but " in gap:
            return False
        return _CLAUSE_BREAK.search(self.text, a, b) is None

    def governed(self, cues: list[Cue], hit: Hit) -> bool:
        """Does a cue shortly before ``hit``, in the same sentence and clause, govern it?"""
        if not cues:
            return False
        # cues are in text order and do not overlap, so their ends ascend: start from the last
        # cue that ends at or before the hit instead of walking back from the end of the text
        i = bisect_right(cues, (hit.start, _AFTER_ANY_SCOPE))
        for j in range(i - 1, -1, -1):
            end, scope, cue_sentence = cues[j]
            if cue_sentence != hit.sentence:
                return False
            if self.close(end, hit.start, scope):
                return True
        return False


def scan(matcher: Matcher, name: Literal["title", "text"], text: str) -> ScannedField:
    folded = fold(text)
    starts = _sentence_starts(text) if name == "text" else [0]  # a title is one sentence
    topic_hits, gazetteer_hits, context_hits = matcher.find(text, folded, starts)
    related = [m.span() for m in _RELATED_LINE.finditer(text)] if name == "text" else []
    if related:  # another story's headline says nothing about this one's topics
        topic_hits, context_hits = _outside(topic_hits, related), _outside(context_hits, related)
    f = ScannedField(name, text, folded, starts, topic_hits, gazetteer_hits, context_hits, related=related)
    for hit in context_hits:
        kind = hit.term.kind
        if kind == "negation":
            f.negations.append((hit.end, int(hit.term.weight), hit.sentence))
        elif kind == "hedge":
            f.hedges.append((hit.end, int(hit.term.weight), hit.sentence))
    return f


def _outside(hits: list[Hit], spans: list[tuple[int, int]]) -> list[Hit]:
    """The hits (sorted by start) that start outside every span (sorted, not overlapping)."""
    kept: list[Hit] = []
    i = 0
    for a, b in spans:
        j = bisect_left(hits, a, i, key=_start)
        kept += hits[i:j]
        i = bisect_left(hits, b, j, key=_start)
    kept += hits[i:]
    return kept


def _start(hit: Hit) -> int:
    return hit.start


class PassingTemplates:
    """"{}-born", "in {} trading": words around a place that make it a passing mention."""

    def __init__(self, templates: list[str]):
        before, after, both = [], [], []
        for template in templates:
            # folded like the text, so "{}-born" also covers "Canadian born"; spaces at the joins
            # are kept because the article has them too ("in Asian trading")
            prefix, suffix = (fold(part) for part in template.split("{}"))
            if prefix and suffix:
                both.append((prefix, suffix))
            elif prefix:
                before.append(prefix)
            else:
                after.append(suffix)
        self._before, self._after, self._both = tuple(before), tuple(after), both
        self._both_suffixes = tuple(q for _, q in both)

    def matches(self, folded: str, start: int, end: int) -> bool:
        if self._after and folded.startswith(self._after, end):
            return True
        if self._before and folded.endswith(self._before, 0, start):
            return True
        if not (self._both_suffixes and folded.startswith(self._both_suffixes, end)):
            return False
        return any(folded.endswith(p, 0, start) and folded.startswith(q, end) for p, q in self._both)
