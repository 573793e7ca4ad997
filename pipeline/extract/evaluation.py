"""The article-extraction-benchmark's metric (scrapinghub/article-extraction-benchmark), for the regression gate in
the tests and for ``bench/bench_extraction.py``.

Tokens are ``\\w+`` runs; each text becomes a multiset of 4-token shingles; per page, tp = shared shingles, fp =
extra predicted, fn = missed, divided by their sum so long pages weigh no more than short ones; precision and recall
are averaged over pages (a page with no predicted shingles is left out of the precision mean, one with no true
shingles out of the recall mean); F1 from the two averages.
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExtractionError
from .article import extract_article

_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class BenchmarkPage:
    key: str
    url: str
    html: bytes
    truth: str  #: the human-checked article body


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i:i + n]) for i in range(max(0, len(tokens) - n + 1)))


def benchmark_scores(predictions: Mapping[str, str], truth: Mapping[str, str]) -> dict[str, float]:
    """precision, recall and F1 of ``predictions`` (key → extracted text) against ``truth`` (key → article body)."""
    precisions, recalls = [], []
    for key, expected in truth.items():
        true, pred = shingles(expected), shingles(predictions.get(key, ""))
        tp = sum((true & pred).values())
        fp, fn = sum(pred.values()) - tp, sum(true.values()) - tp
        total = tp + fp + fn
        if total == 0:
            continue
        tp_share, fp_share, fn_share = tp / total, fp / total, fn / total
        if tp_share + fp_share > 0:
            precisions.append(tp_share / (tp_share + fp_share))
        if tp_share + fn_share > 0:
            recalls.append(tp_share / (tp_share + fn_share))
    precision, recall = statistics.fmean(precisions), statistics.fmean(recalls)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall)}


def load_benchmark(corpus: Path) -> list[BenchmarkPage]:
    """The pages of a copy of the benchmark: ``ground-truth.json`` and ``html/<key>.html.gz``."""
    truth = json.loads((corpus / "ground-truth.json").read_text(encoding="utf-8"))
    return [BenchmarkPage(key, entry["url"], gzip.decompress((corpus / "html" / f"{key}.html.gz").read_bytes()),
                          entry["articleBody"]) for key, entry in sorted(truth.items())]


def regwire_text(html: bytes, url: str) -> str:
    """What regwire stores as an article's text ("" when it finds no article)."""
    try:
        return extract_article(html, url).text
    except ExtractionError:
        return ""


def evaluate_extractor(pages: list[BenchmarkPage],
                       extract: Callable[[bytes, str], str] = regwire_text) -> dict[str, float]:
    """The benchmark's scores of ``extract`` (html, url → text) on ``pages``."""
    return benchmark_scores({p.key: extract(p.html, p.url) for p in pages}, {p.key: p.truth for p in pages})
