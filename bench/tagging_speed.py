"""Measure tagging throughput on one core for ~600-word articles.

    .venv/bin/python bench/tagging_speed.py [--seconds 5] [--words 600] [--rules-only]

Articles are built by joining labelled texts (tests/tagging/labelled.jsonl) until they reach the
word count (cut at the next sentence end), so vocabulary and evidence density are those of real articles. The rate is
reported against process CPU time, which is what "one core" means on a shared machine, and
against wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.tagging import Tagger, load_taxonomy  # noqa: E402
from pipeline.tagging.evaluation import load_labeled  # noqa: E402

LABELLED = Path(__file__).resolve().parents[1] / "tests" / "tagging" / "labelled.jsonl"


def build_articles(words: int) -> list[tuple[str, str]]:
    source = [a for a in load_labeled(LABELLED) if a.language == "en"]
    articles = []
    for i, first in enumerate(source):
        paragraphs: list[str] = []
        count, j = 0, i
        while count < words:
            for paragraph in source[j % len(source)].text.split("\n\n"):
                if count >= words:
                    break
                n = len(paragraph.split())
                if count + n > words:  # end this paragraph at the first sentence past the target
                    cut = paragraph.find(". ", len(" ".join(paragraph.split()[: words - count])))
                    paragraph = paragraph if cut < 0 else paragraph[: cut + 1]
                    n = len(paragraph.split())
                paragraphs.append(paragraph.strip())
                count += n
            j += 1
        articles.append((first.title, "\n\n".join(paragraphs)))
    return articles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="CPU seconds to run for")
    parser.add_argument("--words", type=int, default=600)
    parser.add_argument("--rules-only", action="store_true", help="the rule layer's own decisions, no classifiers")
    args = parser.parse_args()

    build_start = time.perf_counter()
    tagger = Tagger(load_taxonomy(), rules_only=args.rules_only)
    tagger.tag("Warm-up", "The language identifier loads its model on first use.")
    build_ms = (time.perf_counter() - build_start) * 1000
    articles = build_articles(args.words)
    mean_words = sum(len(text.split()) for _, text in articles) / len(articles)
    for title, text in articles:  # warm-up
        tagger.tag(title, text)

    done = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.process_time() - cpu0 < args.seconds:
        for title, text in articles:
            tagger.tag(title, text)
        done += len(articles)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0

    print(f"tagger {tagger.version}: taxonomy compiled, models and language identifier loaded, in {build_ms:.0f} ms")
    print(f"{len(articles)} distinct articles, {mean_words:.0f} words on average, {done} taggings")
    print(f"{done / cpu:,.0f} articles/s per CPU second ({cpu / done * 1e6:.0f} us each)")
    print(f"{done / wall:,.0f} articles/s wall clock, single process")


if __name__ == "__main__":
    main()
