"""Deterministic synthetic articles from the in-repo corpus (bench/corpus/article-extraction-benchmark): each text
is sentences drawn from the corpus's 181 real articles, so word and phrase statistics are those of real news, and
article ``n`` of a seed is always the same. No network."""

from __future__ import annotations

import html
import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "bench" / "corpus" / "article-extraction-benchmark" / "ground-truth.json"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SOURCES = [f"source-{n:02d}" for n in range(20)]
TOPICS = ["licensing", "enforcement", "taxation", "stablecoins", "aml", "custody", "fiat-ramp", "sanctions"]
JURISDICTIONS = ["US", "EU", "UK", "SG", "HK", "AE", "KZ", "IN", "JP", "KR", "CH", "BR"]


@cache
def sentences() -> tuple[str, ...]:
    bodies = [v["articleBody"] for v in json.loads(CORPUS.read_text(encoding="utf-8")).values()]
    found = []
    for body in bodies:
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(body.split())):
            if 6 <= len(sentence.split()) <= 60:
                found.append(sentence)
    return tuple(found)


def article(n: int, seed: int = 16, words: int = 600) -> dict[str, object]:
    """Article ``n``: title, paragraphs (~``words`` words), source, date, topics, jurisdictions, language."""
    rng = random.Random(f"{seed}-{n}")
    pool = sentences()
    paragraphs, count = [], 0
    while count < words:
        paragraph = " ".join(rng.choice(pool) for _ in range(rng.randint(3, 6)))
        paragraphs.append(paragraph)
        count += len(paragraph.split())
    title = " ".join(rng.choice(pool).split()[:rng.randint(6, 12)]).rstrip(",;:")
    return {
        "n": n, "title": title, "paragraphs": paragraphs, "source": SOURCES[n % len(SOURCES)],
        "published": T0 + timedelta(minutes=37 * n), "language": "en" if n % 10 else "de",
        "topics": rng.sample(TOPICS, k=rng.randint(0, 3)),
        "jurisdictions": rng.sample(JURISDICTIONS, k=rng.randint(0, 2)),
        "relevance": round(rng.random(), 3),
    }


def articles(count: int, seed: int = 16, words: int = 600) -> Iterator[dict[str, object]]:
    for n in range(count):
        yield article(n, seed, words)


def page_html(a: dict[str, object], url: str) -> bytes:
    """The article as a news page: navigation, ads and footer around it, metadata in the head."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in a["paragraphs"])  # type: ignore[attr-defined]
    title = html.escape(str(a["title"]))
    published = a["published"].isoformat()  # type: ignore[attr-defined]
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<link rel="canonical" href="{url}"><meta name="author" content="Desk {a["n"] % 7}">'
            f'<meta property="article:published_time" content="{published}"></head><body>'
            '<nav><a href="/">Home</a> <a href="/markets">Markets</a> <a href="/policy">Policy</a></nav>'
            '<div class="ad">Advertisement: trade now with 100x leverage</div>'
            f"<article><h1>{title}</h1>{body}</article>"
            "<footer>Copyright Bench News. All rights reserved. Terms. Privacy.</footer></body></html>").encode()
