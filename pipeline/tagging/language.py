"""Language identification with py3langid (a maintained fork of langid.py, which trafilatura also supports).

The taxonomy is English, so the tagger needs to know *whether* an article is English and, if not,
to record what it is. py3langid's model takes about 0.7 s to load, so it is loaded once, on
first use. It reads UTF-8 bytes one at a time in Python, so its cost grows with the sample: the
tagger gives it the first ~240 characters of title and text (about 40 words), which is plenty
for a language guess and costs about 70 us.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

#: fewer letters than this and the language is 'und' (undetermined)
MIN_LETTERS = 20


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

    return LanguageIdentifier.from_model_file(MODEL_FILE)


def detect_language(text: str, sample: int = 240) -> str:
    """ISO 639-1 code of the most likely language of ``text``, or 'und' when there is too little to tell."""
    text = text[:sample]
    if sum(map(str.isalpha, text)) < MIN_LETTERS:
        return "und"
    return str(_identifier().classify(text)[0])
