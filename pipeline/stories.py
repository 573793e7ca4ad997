"""Stories: near-duplicate articles across sources clustered into one story.

The same regulatory event arrives from several outlets with different wording. Each article gets a MinHash
signature over word shingles of its title and text (datasketch); articles whose estimated Jaccard similarity reaches
the threshold are one story, and the story's id is the id of its first article.

Candidates are found by LSH banding. :class:`MemoryStoryIndex` uses datasketch's :class:`MinHashLSH` directly (the
bench and one-off clustering); the stores persist the very same bands (``b`` bands of ``r`` rows, chosen by
``MinHashLSH`` for the threshold and ``num_perm``) as keys beside each article, so that every process writing to a
store sees one index and a new article's candidates are one lookup (:func:`band_keys`). Candidates are then verified
on the full signature, so banding only decides who is compared, never who matches.

The parameters (:data:`DEFAULT_PARAMS`) were chosen on the dev half of the labelled set in tests/data/stories and
measured on the other half: see docs/stories.md and bench/story_clustering.py.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from datasketch import MinHash, MinHashLSH

#: words too common in news prose to say anything about which event an article reports
STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers him
his how i if in into is it its itself just me more most my no nor not now of off on once only or other our ours out
over own said same says she should so some such than that the their theirs them then there these they this those
through to too under until up very was we were what when where which while who whom why will with would you your
new news report reports reported according year week month today yesterday monday tuesday wednesday thursday friday
saturday sunday per cent percent mr ms told statement
""".split())

#: datasketch's hashing scheme, named so that stored signatures stay comparable across datasketch releases
SCHEME = "affine32"
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class StoryParams:
    """How articles are compared: signature size, shingle length in words, Jaccard threshold, word stem length."""

    num_perm: int = 128
    shingle: int = 1
    threshold: float = 0.35
    #: words are cut to this many characters (a crude stemmer: "regulator", "regulators", "regulatory" agree)
    stem: int = 5
    #: signatures seeded alike everywhere, so a stored signature stays comparable
    seed: int = 1


DEFAULT_PARAMS = StoryParams()


def words(title: str, text: str, params: StoryParams = DEFAULT_PARAMS) -> list[str]:
    """The content words of an article, accent- and case-folded, stop words dropped, cut to ``params.stem``."""
    folded = unicodedata.normalize("NFKD", f"{title}\n{text}").encode("ascii", "ignore").decode().lower()
    # single digits ("1", "3") are list numbering more often than facts; longer numbers (amounts, years) stay
    return [w[:params.stem] for w in _WORD.findall(folded)
            if w not in STOP_WORDS and not (w.isdigit() and len(w) < 2)]


def shingles(title: str, text: str, params: StoryParams = DEFAULT_PARAMS) -> set[bytes]:
    """The article's word ``params.shingle``-grams, as bytes (what MinHash hashes)."""
    tokens = words(title, text, params)
    k = params.shingle
    if len(tokens) < k:
        return {" ".join(tokens).encode()} if tokens else set()
    return {" ".join(tokens[i:i + k]).encode() for i in range(len(tokens) - k + 1)}


#: an article with fewer distinct shingles than this is its own story: too little text to tell events apart (and
#: every empty text would otherwise have the same signature)
MIN_SHINGLES = 5


@lru_cache(maxsize=8)
def _permutations(params: StoryParams) -> Any:
    """The permutations of a signature (datasketch draws them from the seed for every new MinHash otherwise)."""
    return MinHash(num_perm=params.num_perm, seed=params.seed, scheme=SCHEME).permutations


def _minhash(params: StoryParams, hashvalues: Any = None) -> MinHash:
    return MinHash(num_perm=params.num_perm, seed=params.seed, scheme=SCHEME, hashvalues=hashvalues,
                   permutations=_permutations(params))


def signature(title: str, text: str, params: StoryParams = DEFAULT_PARAMS) -> MinHash:
    minhash = _minhash(params)
    minhash.update_batch(sorted(shingles(title, text, params)))
    return minhash


def sign(title: str, text: str, params: StoryParams = DEFAULT_PARAMS) -> MinHash | None:
    """The signature of an article with enough text to be compared with others, else None (see
    :data:`MIN_SHINGLES`): such an article is its own story."""
    grams = shingles(title, text, params)
    if len(grams) < MIN_SHINGLES:
        return None
    minhash = _minhash(params)
    minhash.update_batch(sorted(grams))
    return minhash


def clusterable(title: str, text: str, params: StoryParams = DEFAULT_PARAMS) -> bool:
    """Whether the article has enough text to be compared with others (see :data:`MIN_SHINGLES`)."""
    return len(shingles(title, text, params)) >= MIN_SHINGLES


def encode(minhash: MinHash) -> bytes:
    """The signature as stored: its hash values, little-endian uint32 (every value is below 2**32)."""
    return np.asarray(minhash.hashvalues, dtype="<u4").tobytes()


def decode(raw: bytes, params: StoryParams = DEFAULT_PARAMS) -> MinHash:
    values = np.frombuffer(raw, dtype="<u4").astype(np.uint32)
    if len(values) != params.num_perm:
        raise ValueError(f"stored story signature has {len(values)} values, expected {params.num_perm}")
    return _minhash(params, values)


@lru_cache(maxsize=8)
def bands(params: StoryParams) -> tuple[tuple[int, int], ...]:
    """The (start, end) rows of each LSH band, as datasketch's MinHashLSH picks them for the threshold."""
    lsh = MinHashLSH(threshold=params.threshold, num_perm=params.num_perm)
    return tuple(lsh.hashranges)


def band_keys(minhash: MinHash, params: StoryParams = DEFAULT_PARAMS) -> list[str]:
    """One key per band: two signatures share a key when they agree on every row of that band."""
    values = np.asarray(minhash.hashvalues, dtype="<u4")
    return [f"{i}:{hashlib.blake2b(values[start:end].tobytes(), digest_size=8).hexdigest()}"
            for i, (start, end) in enumerate(bands(params))]


@dataclass(frozen=True, slots=True)
class Candidate:
    """An article already clustered: its id, its story and its signature."""

    article_id: str
    story_id: str
    minhash: MinHash


def choose_story(article_id: str, minhash: MinHash, candidates: Iterable[Candidate],
                 params: StoryParams = DEFAULT_PARAMS) -> str:
    """The story of the most similar candidate at or above the threshold; else a new story (the article's id)."""
    best: tuple[float, str] | None = None
    for cand in candidates:
        if cand.article_id == article_id:
            continue
        similarity = minhash.jaccard(cand.minhash)
        if similarity >= params.threshold and (best is None or similarity > best[0]):
            best = (similarity, cand.story_id)
    return best[1] if best is not None else article_id


class MemoryStoryIndex:
    """Clustering in memory over datasketch's MinHashLSH (the bench, tests, and one-off runs)."""

    def __init__(self, params: StoryParams = DEFAULT_PARAMS):
        self.params = params
        self.lsh = MinHashLSH(threshold=params.threshold, num_perm=params.num_perm)
        self.clustered: dict[str, Candidate] = {}

    def add(self, article_id: str, title: str, text: str) -> str:
        """Cluster one article (in arrival order) and return its story id."""
        if article_id in self.clustered:
            return self.clustered[article_id].story_id
        if not clusterable(title, text, self.params):
            return article_id
        minhash = signature(title, text, self.params)
        found = [self.clustered[key] for key in self.lsh.query(minhash)]
        story = choose_story(article_id, minhash, found, self.params)
        self.lsh.insert(article_id, minhash)
        self.clustered[article_id] = Candidate(article_id, story, minhash)
        return story

    def story_of(self, article_id: str) -> str:
        return self.clustered[article_id].story_id


def cluster(articles: Sequence[tuple[str, str, str]], params: StoryParams = DEFAULT_PARAMS) -> dict[str, str]:
    """article id → story id for (id, title, text) triples taken in order."""
    index = MemoryStoryIndex(params)
    return {article_id: index.add(article_id, title, text) for article_id, title, text in articles}
