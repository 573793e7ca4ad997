"""Train the tagger's classifiers on the labelled articles and write them into the package.

    pip install -e '.[train]'                           # scikit-learn and numpy, for training only
    .venv/bin/python bench/train_tagger.py              # fit on every labelled article, write the two model files
    .venv/bin/python bench/train_tagger.py --cv         # first: grouped cross-validation figures
    .venv/bin/python bench/train_tagger.py --check      # refit and compare with the shipped files, byte for byte

The model files (pipeline/tagging/topic_model.json, jurisdiction_model.json) record the labelled
file's SHA-256; a test fails when the labelled file changed since. Training is deterministic
(single-threaded liblinear with a fixed seed, weights rounded to six significant digits), so this
command reproduces the shipped files exactly.

Cross-validation holds out one group of writers at a time (bench/train_models.py:group_of): each
of the four round-15 writers, the round-14 writers, rounds 12-13, the `-dve` batch, and the rules'
author's articles in two parts. Every choice inside a fold (regularisation, thresholds, the word
vocabulary) is made on the other groups only, and the held-out articles are tagged by the same
code the package runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from train_models import featurize, fit_model  # noqa: E402

from pipeline.tagging import Tagger, load_taxonomy  # noqa: E402
from pipeline.tagging.evaluation import Report, evaluate_tags, file_digest, load_labeled  # noqa: E402

LABELLED = ROOT / "tests" / "tagging" / "labelled.jsonl"
PACKAGE = ROOT / "pipeline" / "tagging"
FILES = ("topic_model.json", "jurisdiction_model.json")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cross_validate(rows, taxonomy) -> dict[str, object]:
    """Tags for every article from a model that never saw its group; returns {id: Tags}."""
    predicted = {}
    for group in sorted({r.group for r in rows}):
        train = [r for r in rows if r.group != group]
        test = [r.article for r in rows if r.group == group]
        started = time.perf_counter()
        tagger = Tagger(taxonomy, fit_model(train))
        predicted.update({a.id: tagger.tag(a.title, a.text) for a in test})
        log(f"  held out {group} ({len(test)} articles), fold trained in {time.perf_counter() - started:.0f} s")
    return predicted


def summary(name: str, report: Report) -> str:
    t, j = report.topics, report.jurisdictions
    return (f"{name:34} n={report.n:4}  topics P {t.precision:.3f} R {t.recall:.3f} F1 {t.f1:.3f}  "
            f"subjects P {j.precision:.3f} R {j.recall:.3f} F1 {j.f1:.3f}  primary {report.primary_accuracy:.3f}  "
            f"relevance {report.relevance_accuracy:.3f}")


def print_cv(rows, predicted, rules: Tagger) -> None:
    group = {r.article.id: r.group for r in rows}
    pairs = [(r.article, predicted[r.article.id]) for r in rows]
    print("grouped cross-validation (each group held out in turn; every figure below is out-of-fold):")
    print(summary("all", evaluate_tags(pairs)))
    others = [(a, t) for a, t in pairs if "author" not in group[a.id]]
    print(summary("other writers than the rules' author", evaluate_tags(others)))
    print(summary("round 15 (four new writers)", evaluate_tags([(a, t) for a, t in pairs if a.round == "round-15"])))
    for name in sorted(set(group.values())):
        print(summary(f"  {name}", evaluate_tags([(a, t) for a, t in pairs if group[a.id] == name])))
    alone = evaluate_tags([(r.article, rules.tag(r.article.title, r.article.text)) for r in rows])
    print(summary("rules only (no classifiers), all", alone))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=LABELLED)
    parser.add_argument("--out", type=Path, default=PACKAGE, help="directory to write the model files into")
    parser.add_argument("--cv", action="store_true", help="print grouped cross-validation figures first")
    parser.add_argument("--check", action="store_true", help="refit and compare with the files in --out")
    args = parser.parse_args()

    articles = [a for a in load_labeled(args.data, split="dev") if a.language == "en"]
    taxonomy = load_taxonomy()
    rules = Tagger(taxonomy, rules_only=True)
    started = time.perf_counter()
    rows = featurize(articles, rules)
    log(f"{len(rows)} articles through the rule layer in {time.perf_counter() - started:.1f} s")
    if args.cv:
        print_cv(rows, cross_validate(rows, taxonomy), rules)
    trained_on = {"file": args.data.name, "split": "dev", "language": "en", "articles": len(rows),
                  "sha256": file_digest(args.data)}
    started = time.perf_counter()
    model = fit_model(rows, trained_on, log=log)
    log(f"fitted on {len(rows)} articles in {time.perf_counter() - started:.0f} s, model {model.version}")
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            model.dump(tmp)
            differ = [n for n in FILES if (Path(tmp) / n).read_bytes() != (args.out / n).read_bytes()]
        print("identical to the shipped files" if not differ else f"DIFFERENT: {', '.join(differ)}")
        sys.exit(1 if differ else 0)
    model.dump(args.out)
    print(f"wrote {', '.join(str(args.out / n) for n in FILES)} (model {model.version})")


if __name__ == "__main__":
    main()
