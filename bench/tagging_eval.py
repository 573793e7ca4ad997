"""Tagging quality on labelled articles: the tagger as shipped, its rule layer alone, and the previous release.

    .venv/bin/python bench/tagging_eval.py                        # every English labelled article
    .venv/bin/python bench/tagging_eval.py --split heldout        # another split of the same (or --data) file
    .venv/bin/python bench/tagging_eval.py --round round-15 --writer wire-a --errors
    .venv/bin/python bench/tagging_eval.py --previous 4d580c0     # which commit is "previous" (default 4d580c0)

Taggers, side by side:
- "learned": the tagger as shipped (rule layer + classifiers). Its classifiers were trained on
  the whole dev split, so its dev figures are IN-SAMPLE; the fair dev figures are the grouped
  cross-validation of ``bench/train_tagger.py --cv``. On a held-out split they are fair.
- "rules": the same rule layer deciding with its own thresholds (``Tagger(rules_only=True)``).
- "previous": the tagger of the previous release, checked out from git into a temporary
  directory and run in a subprocess; it has no mentioned jurisdictions, so its "jurisdictions"
  are scored as subjects.

Reported: per-topic and micro P/R/F1, subject jurisdictions (per code, by support), mentioned
jurisdictions, subjects called mentions and the reverse, primary and relevance accuracy.
English articles only go into the figures (the taxonomy is English).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.tagging import TOPICS, Tagger, Tags  # noqa: E402
from pipeline.tagging.evaluation import (  # noqa: E402
    Counts,
    LabeledArticle,
    Report,
    evaluate,
    evaluate_tags,
    load_labeled,
)

LABELLED = ROOT / "tests" / "tagging" / "labelled.jsonl"
PREVIOUS = "4d580c0"
_RUN_PREVIOUS = """
import json, sys
from pipeline.tagging import tag_article
for line in sys.stdin:
    a = json.loads(line)
    print(tag_article(a["title"], a["text"]).model_dump_json())
"""


def previous_release_tags(articles: list[LabeledArticle], ref: str) -> list[Tags]:
    """Tag ``articles`` with the tagger of commit ``ref`` (its ``pipeline`` package, run in a subprocess)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref, "pipeline"],
                             capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        lines = "".join(json.dumps({"title": a.title, "text": a.text}) + "\n" for a in articles)
        result = subprocess.run([sys.executable, "-c", _RUN_PREVIOUS], input=lines, capture_output=True, text=True,
                                cwd=tmp, env={"PYTHONPATH": tmp, "PATH": "/usr/bin:/bin"}, check=True)
    old = [json.loads(line) for line in result.stdout.splitlines()]
    return [Tags.model_validate({k: v for k, v in t.items() if k in Tags.model_fields}) for t in old]


def _prf(c: Counts) -> str:
    return f"{c.precision:7.2f}{c.recall:6.2f}{c.f1:6.2f}"


def table(title: str, results: dict[str, Report], top_jurisdictions: int) -> str:
    names = list(results)
    first = results[names[0]]
    lines = [f"== {title}: {first.n} English articles ==",
             f"{'':24}" + "".join(f"{n:>19}" for n in names),
             f"{'':24}" + "".join(f"{'P':>7}{'R':>6}{'F1':>6}" for _ in names) + f"{'support':>9}"]

    def row(label: str, get) -> str:
        return f"{label:24}" + "".join(_prf(get(results[n])) for n in names)

    for topic in TOPICS:
        lines.append(row(topic, lambda r, t=topic: r.per_topic[t]) + f"{first.per_topic[topic].support:9}")
    lines.append(row("topics micro", lambda r: r.topics) + f"{first.topics.support:9}")
    lines.append(row("subject jurisdictions", lambda r: r.jurisdictions) + f"{first.jurisdictions.support:9}")
    lines.append(row("mentioned jurisdictions", lambda r: r.mentioned) + f"{first.mentioned.support:9}")
    lines.append(f"{'subjects called mentions':24}" + "".join(f"{results[n].subject_as_mentioned:19}" for n in names))
    lines.append(f"{'mentions called subjects':24}" + "".join(f"{results[n].mentioned_as_subject:19}" for n in names))
    lines.append(f"{'primary accuracy':24}" + "".join(f"{results[n].primary_accuracy:19.3f}" for n in names))
    lines.append(f"{'relevance accuracy':24}" + "".join(f"{results[n].relevance_accuracy:19.3f}" for n in names))
    codes = sorted(first.per_jurisdiction, key=lambda c: (-first.per_jurisdiction[c].support, c))[:top_jurisdictions]
    lines.append(f"-- subject jurisdictions, the {len(codes)} most labelled --")
    for code in codes:
        lines.append(row(f"  {code}", lambda r, c=code: r.per_jurisdiction.get(c, Counts()))
                     + f"{first.per_jurisdiction[code].support:9}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=LABELLED)
    parser.add_argument("--split", default=None, help="dev or heldout (default: every split in the file)")
    parser.add_argument("--round", default=None, help="only this round (round-14, round-15, earlier)")
    parser.add_argument("--writer", default=None, help="only this writer")
    parser.add_argument("--previous", default=PREVIOUS, help="git commit of the previous release ('' to skip)")
    parser.add_argument("--jurisdictions", type=int, default=15, help="per-code rows to print")
    parser.add_argument("--errors", action="store_true", help="list the learned tagger's mistakes per article")
    args = parser.parse_args()

    articles = load_labeled(args.data, split=args.split, round=args.round, writer=args.writer)
    english = [a for a in articles if a.language == "en"]
    if not english:
        sys.exit("no English articles match")
    learned, rules = Tagger(), Tagger(rules_only=True)
    results = {"learned": evaluate(english, learned.tag), "rules": evaluate(english, rules.tag)}
    if args.previous:
        results["previous"] = evaluate_tags(zip(english, previous_release_tags(english, args.previous), strict=True))
    trained = learned.model.trained_on if learned.model is not None else {}
    splits = sorted({a.split for a in english})
    print(f"tagger {learned.version} (taxonomy {rules.version}); previous = {args.previous or 'skipped'}")
    if "dev" in splits and trained.get("split") == "dev":
        print("NOTE: the classifiers were trained on the dev split: 'learned' dev figures are in-sample "
              "(bench/train_tagger.py --cv gives cross-validated ones)")
    scope = ", ".join(f"{k} {v}" for k, v in (("split", args.split), ("round", args.round), ("writer", args.writer))
                      if v) or "all articles"
    print()
    print(table(f"{args.data.name}, {scope}", results, args.jurisdictions))
    if args.errors:
        print("learned tagger's mistakes:")
        for line in results["learned"].errors:
            print("  " + line)
    others = [a for a in articles if a.language != "en"]
    if others:
        print("\nnon-English articles (not in the figures above):")
        for a in others:
            tags = learned.tag(a.title, a.text)
            print(f"  {a.id}: language {a.language}, detected {tags.language}; subjects {tags.jurisdictions}, "
                  f"mentioned {tags.mentioned_jurisdictions}, relevance {tags.relevance:.2f}")


if __name__ == "__main__":
    main()
