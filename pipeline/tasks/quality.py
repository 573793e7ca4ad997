"""The quality task: per-batch extraction and tagging numbers, so a site whose markup changed shows up at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ArticleNotFoundError
from ..models import StoredArticle
from .context import TaskContext

#: an article shorter than this (characters) is flagged
SHORT_TEXT = 500
PROBLEMS = ("feed_text_fallback", "short_text", "no_published", "no_language", "untagged", "no_jurisdiction")


def _problems(article: StoredArticle) -> dict[str, bool]:
    tags = article.tags
    return {
        "feed_text_fallback": article.text_origin == "feed",
        "short_text": len(article.text) < SHORT_TEXT,
        "no_published": article.published is None,
        "no_language": not article.language,
        "untagged": tags is None or not (tags.topics or tags.jurisdictions),
        "no_jurisdiction": tags is None or not tags.jurisdictions,
    }


def quality_report(ctx: TaskContext, ids: Sequence[str]) -> dict[str, Any]:
    """Fallbacks to feed text, short texts, missing dates/languages and untagged articles, per source and in all."""
    totals = dict.fromkeys(("articles", *PROBLEMS), 0)
    per_source: dict[str, dict[str, int]] = {}
    flagged: list[dict[str, Any]] = []
    missing: list[str] = []
    for article_id in dict.fromkeys(ids):
        try:
            article = ctx.store.get_article(article_id)
        except ArticleNotFoundError:
            missing.append(article_id)
            continue
        problems = _problems(article)
        for counts in (totals, per_source.setdefault(article.source, dict.fromkeys(totals, 0))):
            counts["articles"] += 1
            for key, hit in problems.items():
                counts[key] += int(hit)
        if any(problems[k] for k in ("short_text", "no_published", "untagged")):
            flagged.append({"id": article.id, "source": article.source, "title": article.title,
                            "problems": sorted(k for k, v in problems.items() if v)})
    return {"batch": len(ids), "missing": missing, "totals": totals, "sources": per_source, "flagged": flagged[:100]}
