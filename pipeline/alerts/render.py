"""Messages: one article per immediate message, one message per alert and channel for a digest.

Bodies are Markdown (apprise turns it into HTML for email and passes it to chat services that speak it).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from ..models import StoredArticle
from ..query import parse_query, positive_words
from .models import Alert, Evidence, MatchedArticle

SNIPPET_CHARS = 240
EVIDENCE_PHRASES = 3
_MARK = re.compile(r"</?mark>")


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str  #: Markdown
    #: idempotency key: the same for every send of the same (alert, article, version) — see ``delivery_key``
    key: str = ""


def plain_snippet(snippet_html: str) -> str:
    """A search hit's HTML-safe snippet (escaped, with <mark>) as plain text."""
    return " ".join(html.unescape(_MARK.sub("", snippet_html)).split())


def text_snippet(text: str, q: str, width: int = SNIPPET_CHARS) -> str:
    """Plain-text window around the first query word found (the start of the text when none is)."""
    folded = text.lower()
    at = -1
    for words in positive_words(parse_query(q)):
        found = folded.find(words.words[0])
        if found >= 0 and (at < 0 or found < at):
            at = found
    start = max(0, at - width // 3) if at >= 0 else 0
    window = " ".join(text[start:start + width].split())
    return ("…" if start else "") + window + ("…" if start + width < len(text) else "")


def evidence_for(article: StoredArticle, alert: Alert) -> list[Evidence]:
    """The tagger's evidence for the topics and jurisdictions the alert asks about (all of them when it asks none)."""
    tags = article.tags
    if tags is None:
        return []
    wanted = [f"topic:{t}" for t in (alert.topics or tags.topics)]
    wanted += [f"jurisdiction:{j}" for j in (alert.jurisdictions or tags.jurisdictions[:3])]
    out = []
    for label in wanted:
        phrases = list(dict.fromkeys(m.phrase for m in tags.matches if m.label == label and m.weight > 0))
        if phrases:
            out.append(Evidence(label=label, phrases=phrases[:EVIDENCE_PHRASES]))
    return out


def snapshot(article: StoredArticle, alert: Alert, snippet: str | None = None) -> MatchedArticle:
    tags = article.tags
    return MatchedArticle(
        id=article.id, version=article.version, title=article.title, url=article.canonical_url,
        source=article.source, published=article.published,
        snippet=snippet if snippet else text_snippet(article.text, alert.q),
        topics=tags.topics if tags else [], jurisdictions=tags.jurisdictions if tags else [],
        relevance=tags.relevance if tags else None, evidence=evidence_for(article, alert),
    )


def _published(article: MatchedArticle) -> str:
    if article.published is None:
        return "undated"
    published = article.published.astimezone(UTC) if article.published.tzinfo else article.published
    return published.strftime("%Y-%m-%d %H:%M UTC" if article.published.tzinfo else "%Y-%m-%d %H:%M")


def _md(text: str) -> str:
    """Neutralise Markdown syntax in article text."""
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)


def _evidence_line(article: MatchedArticle) -> str:
    if not article.evidence:
        return ""
    parts = [f"{e.label} ({', '.join(repr(p) for p in e.phrases)})" for e in article.evidence]
    return "Matched: " + _md("; ".join(parts))


def article_message(alert: Alert, article: MatchedArticle, *, updated: bool = False) -> Message:
    lines = [
        f"**{_md(article.title)}**" + (" (updated)" if updated else ""),
        f"Source: {_md(article.source)} · Published: {_published(article)}",
        "Tags: " + _md(", ".join([*article.jurisdictions, *article.topics]) or "none")
        + (f" · relevance {article.relevance:.2f}" if article.relevance is not None else ""),
    ]
    evidence = _evidence_line(article)
    if evidence:
        lines.append(evidence)
    lines += ["", f"> {_md(article.snippet)}", "", article.url, "", f"— regwire alert “{_md(alert.name)}”"]
    return Message(title=f"[{alert.name}] {article.title}", body="\n".join(lines))


def _by_date(article: MatchedArticle) -> tuple[bool, float, str]:
    """Newest first, undated last."""
    stamp = article.published.timestamp() if article.published and article.published.tzinfo else 0.0
    return article.published is None, -stamp, article.id


def digest_message(alert: Alert, articles: Sequence[MatchedArticle]) -> Message:
    lines = [f"**{len(articles)} new article(s) for “{_md(alert.name)}”**", ""]
    for article in sorted(articles, key=_by_date):
        lines.append(f"- **{_md(article.title)}** — {_md(article.source)}, {_published(article)}")
        lines.append(f"  Tags: {_md(', '.join([*article.jurisdictions, *article.topics]) or 'none')}")
        evidence = _evidence_line(article)
        if evidence:
            lines.append(f"  {evidence}")
        lines.append(f"  {_md(article.snippet)}")
        lines.append(f"  {article.url}")
    lines += ["", f"— regwire {alert.mode.value} digest"]
    return Message(title=f"[{alert.name}] digest: {len(articles)} article(s)", body="\n".join(lines))
