"""Story clustering on the labelled set of tests/data/stories (floors, not exact figures: see bench/story_clustering.py
and docs/stories.md for the measured ones)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from datasketch import MinHashLSH

from pipeline.stories import (
    DEFAULT_PARAMS,
    Candidate,
    MemoryStoryIndex,
    band_keys,
    choose_story,
    decode,
    encode,
    signature,
)

DATA = Path(__file__).parent / "data" / "stories"
BENCH = Path(__file__).parents[1] / "bench" / "story_clustering.py"


def _bench():
    spec = importlib.util.spec_from_file_location("story_clustering", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def labelled() -> tuple[list[dict], list[dict]]:
    articles = json.loads((DATA / "articles.json").read_text())
    pairs = json.loads((DATA / "pairs.json").read_text())
    return articles, pairs


def test_labelled_set_is_large_enough_and_consistent(labelled):
    articles, pairs = labelled
    assert len(articles) >= 60 and len(pairs) >= 150
    by_id = {a["id"]: a for a in articles}
    assert len(by_id) == len(articles)
    for pair in pairs:
        assert pair["same_story"] == (by_id[pair["a"]]["story"] == by_id[pair["b"]]["story"])
    assert sum(p["hard"] for p in pairs) >= 60  # same-jurisdiction different-story pairs
    assert pairs == _bench().make_pairs(articles)  # pairs.json is what the bench would write


@pytest.mark.parametrize("half", ["dev", "test"])
def test_shipped_parameters_reach_the_targets_on_each_half(labelled, half):
    articles, pairs = labelled
    result = _bench().score(articles, pairs, DEFAULT_PARAMS, half)
    assert result["positive_pairs"] >= 30
    assert result["precision"] >= 0.95, result
    assert result["recall"] >= 0.90, result
    assert result["hard_negative_false_merges"] == 0, result


def test_story_id_is_the_first_article_of_the_cluster():
    index = MemoryStoryIndex()
    first = index.add("a1", "Kazakhstan lets licensed crypto exchanges open bank accounts",
                      "The National Bank of Kazakhstan said AIFC licensed crypto exchanges may open accounts at "
                      "Halyk, Freedom and Eurasian banks to buy digital assets for tenge.")
    second = index.add("b7", "AIFC exchanges get bank accounts in Kazakhstan",
                       "Halyk, Freedom and Eurasian banks will open accounts for AIFC licensed crypto exchanges, "
                       "the National Bank of Kazakhstan said, so clients buy digital assets for tenge.")
    other = index.add("c3", "SEC sues Norvex exchange", "The Securities and Exchange Commission sued Norvex.")
    assert first == "a1" and second == "a1" and other == "c3"
    assert index.add("b7", "anything", "else") == "a1"  # an article is clustered once


def test_stored_band_keys_find_what_minhashlsh_finds(labelled):
    """The stores persist band keys instead of a MinHashLSH object: they must select the same candidates."""
    articles, _ = labelled
    lsh = MinHashLSH(threshold=DEFAULT_PARAMS.threshold, num_perm=DEFAULT_PARAMS.num_perm)
    keys: dict[str, set[str]] = {}
    sigs = {}
    for a in articles:
        sigs[a["id"]] = signature(a["title"], a["text"])
        lsh.insert(a["id"], sigs[a["id"]])
        for key in band_keys(sigs[a["id"]]):
            keys.setdefault(key, set()).add(a["id"])
    for a in articles:
        by_keys = set().union(*(keys[k] for k in band_keys(sigs[a["id"]])))
        assert by_keys == set(lsh.query(sigs[a["id"]]))


def test_signature_round_trips_through_storage():
    minhash = signature("MiCA guidelines", "ESMA published guidelines on CASP authorisation under MiCA.")
    again = decode(encode(minhash))
    assert again.jaccard(minhash) == 1.0
    with pytest.raises(ValueError, match="expected 128"):
        decode(encode(minhash)[:40])


def test_below_threshold_candidates_start_a_new_story():
    near = signature("ECB digital euro contracts", "The ECB awarded digital euro contracts to five providers.")
    far = signature("VARA fines", "Dubai's VARA fined seven firms for unlicensed activity.")
    assert choose_story("new", near, [Candidate("old", "old", far)]) == "new"
    assert choose_story("new", near, [Candidate("old", "story-1", near)]) == "story-1"


def test_articles_with_too_little_text_are_each_their_own_story():
    index = MemoryStoryIndex()
    assert index.add("e1", "", "") == "e1"
    assert index.add("e2", "", "") == "e2"
    assert index.add("t1", "SEC update", "") == "t1" and index.add("t2", "SEC update", "") == "t2"
