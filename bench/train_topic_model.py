"""Train the learned topic check (pipeline/tagging/learned.py) on the dev split and write it into the package.

    .venv/bin/python bench/train_topic_model.py            # train on every dev article, write topic_model.json
    .venv/bin/python bench/train_topic_model.py --cv 4     # first print K-fold figures: rules alone, rules + model

Only the `dev` split is read, never `heldout`. The model file records how many articles it was
trained on and a SHA-256 of their lines, and a test fails when the dev split has changed since.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.tagging import Tagger, load_taxonomy  # noqa: E402
from pipeline.tagging.evaluation import dev_split_digest, evaluate, load_labeled  # noqa: E402
from pipeline.tagging.learned import TopicModel, train_topic_model  # noqa: E402

DEV_SET = ROOT / "tests" / "tagging" / "dev_set.jsonl"
MODEL = ROOT / "pipeline" / "tagging" / "topic_model.json"


def cross_validate(articles, k: int) -> None:
    english = [a for a in articles if a.language == "en"]
    shuffled = english[:]
    random.Random(0).shuffle(shuffled)
    folds = [shuffled[i::k] for i in range(k)]
    taxonomy = load_taxonomy()
    taxonomy.scoring.topic_model = False
    rules = Tagger(taxonomy)
    predicted = {}
    for i, fold in enumerate(folds):
        held = {a.id for a in fold}
        model = train_topic_model([a for a in articles if a.id not in held])
        combined = Tagger(taxonomy, topic_model=model)
        predicted.update({a.id: combined.tag(a.title, a.text) for a in fold})
        print(f"  fold {i + 1}/{k} trained", file=sys.stderr)
    ids = {(a.title, a.text): a.id for a in english}
    alone = evaluate(english, rules.tag)
    both = evaluate(english, lambda title, text: predicted[ids[title, text]])
    for name, report in (("rules alone", alone), ("rules + model", both)):
        t = report.topics
        print(f"{k}-fold CV over {len(english)} dev articles, {name:14} topics P {t.precision:.3f} R {t.recall:.3f} "
              f"F1 {t.f1:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEV_SET)
    parser.add_argument("--out", type=Path, default=MODEL)
    parser.add_argument("--cv", type=int, default=0, metavar="K", help="print K-fold cross-validation figures first")
    args = parser.parse_args()

    dev = [a for a in load_labeled(args.data) if a.split == "dev"]
    if args.cv:
        cross_validate(dev, args.cv)
    started = time.perf_counter()
    model = train_topic_model(dev, trained_on={
        "file": args.data.name, "split": "dev", "articles": len(dev), "sha256": dev_split_digest(args.data)})
    model.dump(args.out)
    saved = TopicModel.load(args.out)  # weights are rounded on the way out; its version is what tags carry
    size = sum(len(w) for w in saved.weights.values())
    words = len(set().union(*saved.weights.values()))
    print(f"trained on {len(dev)} dev articles in {time.perf_counter() - started:.1f} s: {size} weights on "
          f"{words} words, model {saved.version}, wrote {args.out}")


if __name__ == "__main__":
    main()
