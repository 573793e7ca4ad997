"""A small, dependency-free language guess: script first, then function-word counts.

The taxonomy is English, so the tagger only needs to know *whether* an article is English and,
if not, to record what it probably is. Function words are the most frequent tokens of any text,
so a few hundred characters are enough to tell the Latin-script languages apart.
"""

from __future__ import annotations

import re
from collections import Counter

from .matcher import fold

_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the and of to in is that for on with as by was are from it at has have be this will said".split()),
    "de": frozenset("der die das und ist nicht mit den von für auf dem des sich ein eine auch werden wird zu im bei".split()),
    "fr": frozenset("le la les et des est une un pour dans que qui sur par pas du au aux avec ce sont".split()),
    "es": frozenset("el la los las y de que en un una por con para es del al se lo como su más".split()),
    "pt": frozenset("o a os as e de que em um uma para com não do da dos das no na por mais".split()),
    "it": frozenset("il lo la gli le e di che in un una per con non del della sono è al dei".split()),
    "nl": frozenset("de het een en van in is dat op te voor met zijn niet aan ook door wordt".split()),
    "tr": frozenset("ve bir bu da de için ile olarak çok daha gibi olan kadar ancak".split()),
}

# word -> languages it is a function word of, so one pass over the words scores every language
_INDEX: dict[str, tuple[str, ...]] = {}
for _lang, _vocab in _FUNCTION_WORDS.items():
    for _word in _vocab:
        _INDEX[_word] = _INDEX.get(_word, ()) + (_lang,)

# Scripts that settle the question without counting words (first match wins).
_SCRIPTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\u3040-\u30ff]"), "ja"),  # kana before CJK: Japanese text mixes both
    (re.compile(r"[\uac00-\ud7af]"), "ko"),
    (re.compile(r"[\u4e00-\u9fff]"), "zh"),
    (re.compile(r"[\u0400-\u04ff]"), "ru"),
    (re.compile(r"[\u0600-\u06ff]"), "ar"),
    (re.compile(r"[\u0e00-\u0e7f]"), "th"),
)


def detect_language(text: str, sample: int = 800) -> str:
    """ISO 639-1 code of the most likely language of ``text``, or 'und' when there is too little to tell."""
    return detect_folded(fold(text[:sample]))  # lowercase, punctuation (curly quotes too) as spaces


def detect_folded(folded: str) -> str:
    """:func:`detect_language` for text that is already folded (the tagger has folded every field)."""
    words = folded.split()
    letters = sum(map(len, words))
    if letters < 20:
        return "und"
    if not folded.isascii():
        for pattern, code in _SCRIPTS:
            if len(pattern.findall(folded)) > letters * 0.3:
                return code
    scores = dict.fromkeys(_FUNCTION_WORDS, 0)
    counts = Counter(words)  # counted in C; then one step per distinct function word
    for word in _INDEX.keys() & counts.keys():
        n = counts[word]
        for lang in _INDEX[word]:
            scores[lang] += n
    best = max(scores, key=scores.__getitem__)
    if scores[best] < 3:
        return "und"
    return best
