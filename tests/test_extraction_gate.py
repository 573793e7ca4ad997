"""Extraction regression gate (like trafilatura's ``tests/eval_gate.py``): regwire's article text on the pinned copy of
the article-extraction-benchmark (181 real pages, MIT, in ``bench/corpus/``) must stay within a small margin of the
F1 measured when the gate was set. ``bench/bench_extraction.py`` prints the same figures with throughput."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.extract.evaluation import evaluate_extractor, load_benchmark

CORPUS = Path(__file__).resolve().parents[1] / "bench" / "corpus" / "article-extraction-benchmark"
#: F1 of extract_article on the corpus when the gate was set (`python bench/bench_extraction.py`: P 0.942, R 0.978)
BASELINE_F1 = 0.960
#: how far F1 may fall before the gate fails: below the noise of one changed page, above a real regression
MARGIN = 0.005


@pytest.fixture(scope="module")
def scores() -> dict[str, float]:
    pages = load_benchmark(CORPUS)
    assert len(pages) == 181, "the pinned corpus changed: re-measure BASELINE_F1 with bench/bench_extraction.py"
    return evaluate_extractor(pages)


def test_extraction_f1_does_not_regress(scores: dict[str, float]) -> None:
    assert scores["f1"] >= BASELINE_F1 - MARGIN, scores


def test_precision_and_recall_each_hold(scores: dict[str, float]) -> None:
    # a gain in one must not hide a collapse in the other (e.g. dropping whole paragraphs to raise precision)
    assert scores["precision"] >= 0.93 and scores["recall"] >= 0.97, scores
