"""Print tagging quality on the labelled dev set: regwire's tagger next to a naive keyword baseline.

    .venv/bin/python bench/tagging_eval.py            # tables for the dev and held-out splits
    .venv/bin/python bench/tagging_eval.py --errors   # also list every article the tagger gets wrong

English articles only go into the figures (the taxonomy is English); other languages are
counted separately with their detected language. "regwire" is the tagger as shipped (rules and
the learned topic model); "rules" switches the model off. The model was trained on the dev
split, so its dev figures are in-sample: bench/train_topic_model.py --cv gives fair ones.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.tagging import TOPICS, Tagger, Tags, load_taxonomy  # noqa: E402
from pipeline.tagging.evaluation import Report, evaluate, load_labeled  # noqa: E402

DEV_SET = Path(__file__).resolve().parents[1] / "tests" / "tagging" / "dev_set.jsonl"

# What someone would write in an afternoon: one or two obvious words per topic, any country name.
_BASELINE_TOPIC_WORDS = {
    "licensing": ["licence", "license", "licensing", "registration"],
    "ban": ["ban", "banned", "prohibit"],
    "legalization": ["legalize", "legalise", "legal tender"],
    "aml-kyc": ["money laundering", "aml", "kyc", "travel rule"],
    "taxation": ["tax"],
    "consumer-protection": ["consumer protection", "investor protection", "retail investors"],
    "securities": ["securities", "etf"],
    "enforcement": ["lawsuit", "fined", "arrested", "court"],
    "stablecoins": ["stablecoin"],
    "cbdc": ["cbdc", "digital euro", "central bank digital currency"],
    "mining": ["mining"],
    "sanctions": ["sanctions"],
    "fiat-ramp": ["fiat", "cash", "bank account"],
    "payments": ["payments", "payment"],
}


class KeywordBaseline:
    """Naive tagger: keyword present -> label; every country name present -> jurisdiction."""

    def __init__(self) -> None:
        taxonomy = load_taxonomy()
        self._topics = {t: re.compile(r"\b(?:" + "|".join(map(re.escape, w)) + r")\b", re.I)
                        for t, w in _BASELINE_TOPIC_WORDS.items()}
        self._names = [(code, re.compile(r"\b" + re.escape(name) + r"\b"))
                       for code, j in taxonomy.jurisdictions.items() for name in j.names]
        self._crypto = re.compile(r"\b(?:crypto\w*|bitcoin|stablecoin\w*|digital assets?|virtual assets?)\b", re.I)
        self._regulation = re.compile(r"\b(?:regulat\w*|law|ban|tax|licen[cs]e|sec|court)\b", re.I)

    def __call__(self, title: str, text: str) -> Tags:
        body = f"{title}\n{text}"
        counts: dict[str, int] = {}
        for code, pattern in self._names:
            n = len(pattern.findall(body))
            if n:
                counts[code] = counts.get(code, 0) + n
        relevant = bool(self._crypto.search(body) and self._regulation.search(body))
        jurisdictions = sorted(counts, key=lambda c: -counts[c])
        return Tags(
            topics=[t for t, p in self._topics.items() if p.search(body)] if relevant else [],
            jurisdictions=jurisdictions, primary_jurisdiction=jurisdictions[0] if jurisdictions else None,
            relevance=1.0 if relevant else 0.0, language="en", taxonomy_version="baseline",
        )


def _table(split: str, results: dict[str, Report]) -> str:
    names = list(results)
    head = f"{'':22}" + "".join(f"{n + ' P':>10}{'R':>7}{'F1':>7}" for n in names)
    lines = [f"== {split}: {results[names[0]].n} English articles ==", head]
    for topic in TOPICS:
        row = f"{topic:22}"
        for n in names:
            c = results[n].per_topic[topic]
            support = c.tp + c.fn
            row += f"{c.precision:10.2f}{c.recall:7.2f}{c.f1:7.2f}" if support or c.fp else f"{'-':>10}{'-':>7}{'-':>7}"
        lines.append(row)
    for label, get in (("topics micro", lambda r: r.topics), ("jurisdictions", lambda r: r.jurisdictions)):
        lines.append(f"{label:22}" + "".join(
            f"{get(results[n]).precision:10.2f}{get(results[n]).recall:7.2f}{get(results[n]).f1:7.2f}" for n in names))
    lines.append(f"{'primary accuracy':22}" + "".join(f"{results[n].primary_accuracy:24.2f}" for n in names))
    lines.append(f"{'relevance accuracy':22}" + "".join(f"{results[n].relevance_accuracy:24.2f}" for n in names))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEV_SET)
    parser.add_argument("--errors", action="store_true", help="list the tagger's mistakes per article")
    args = parser.parse_args()

    articles = load_labeled(args.data)
    tagger, baseline = Tagger(), KeywordBaseline()
    taxonomy = load_taxonomy()
    taxonomy.scoring.topic_model = False
    rules = Tagger(taxonomy)
    print(f"tagger version {tagger.version} (taxonomy {rules.version}, topic model {tagger.topic_model.version})")
    for split in sorted({a.split for a in articles}):
        english = [a for a in articles if a.split == split and a.language == "en"]
        results = {"regwire": evaluate(english, tagger.tag), "rules": evaluate(english, rules.tag),
                   "baseline": evaluate(english, baseline)}
        print()
        print(_table(split, results))
        if args.errors and results["regwire"].errors:
            print("regwire mistakes:")
            for line in results["regwire"].errors:
                print("  " + line)
    others = [a for a in articles if a.language != "en"]
    if others:
        print()
        print("non-English articles (not in the figures above):")
        for a in others:
            tags = tagger.tag(a.title, a.text)
            print(f"  {a.id}: language {a.language}, detected {tags.language}; jurisdictions {tags.jurisdictions}, "
                  f"entities {[e.name for e in tags.entities]}, relevance {tags.relevance:.2f}")


if __name__ == "__main__":
    main()
