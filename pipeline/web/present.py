"""What the pages show, computed from store records: safe snippets and links, query-term highlighting, evidence."""

from __future__ import annotations

import html
import re
from typing import Any

from markupsafe import Markup, escape

from ..models import StoredArticle

#: characters of article text shown around each piece of tag evidence
EVIDENCE_CONTEXT = 80
#: a snippet at least this long that ends inside a word was cut by the store: the partial word is dropped
SNIPPET_CUT_AT = 120
_ELLIPSIS = "…"
#: words of the query language that are operators, not terms
_OPERATORS = {"AND", "OR", "NOT", "TO"}
_QUERY_TOKEN = re.compile(r'(?P<neg>[-!]|\bNOT\s+)?(?:(?P<field>\w+):)?(?:"(?P<phrase>[^"]*)"|(?P<word>[\w*]+))')


def safe_snippet(snippet: str) -> Markup:
    """A store snippet as markup: everything escaped (again) except the ``<mark>`` highlighting.

    Snippets are HTML-safe by the store contract; this does not trust that: the text is unescaped once and escaped
    again, so an unescaped ``<img>`` from a backend still renders as text. A snippet the store cut inside a word
    loses the partial word and ends with an ellipsis.
    """
    escaped = html.escape(html.unescape(trim_snippet(snippet)), quote=True)
    return Markup(escaped.replace("&lt;mark&gt;", "<mark>").replace("&lt;/mark&gt;", "</mark>"))


def trim_snippet(snippet: str) -> str:
    """Drop a trailing partial word (and a leading one) from a long snippet cut by character count."""
    text = snippet.strip()
    if len(text) < SNIPPET_CUT_AT or text.endswith((_ELLIPSIS, ".", "!", "?", "</mark>")):
        return text
    head, _, tail = text.rpartition(" ")
    if head and tail and "<mark>" not in tail:
        text = head.rstrip(" ,;:") + _ELLIPSIS
    return text


def safe_href(url: str | None) -> str | None:
    """Only http(s) links are rendered as links (no ``javascript:`` from a feed)."""
    if url and url.lower().startswith(("http://", "https://")):
        return url
    return None


def query_terms(q: str) -> list[str]:
    """The words and phrases of a query to highlight: operators, field names and excluded terms left out.

    A term matches as a word prefix (``regul*`` and stemming alike: "stablecoin" marks "stablecoins").
    """
    terms: list[str] = []
    for match in _QUERY_TOKEN.finditer(q):
        if match.group("neg"):
            continue
        text = match.group("phrase") if match.group("phrase") is not None else match.group("word")
        text = " ".join(re.findall(r"\w+", text or ""))
        if text and text not in _OPERATORS and text not in terms:
            terms.append(text)
    return terms


def highlight(text: str, terms: list[str]) -> Markup:
    """``text`` escaped, with every occurrence of the terms (word-prefix, case-insensitive) in ``<mark>``."""
    if not terms or not text:
        return Markup(escape(text))
    alternatives = sorted((r"\s+".join(re.escape(w) for w in t.split()) for t in terms), key=len, reverse=True)
    pattern = re.compile(r"\b(?:" + "|".join(alternatives) + r")\w*", re.IGNORECASE)
    out, last = [], 0
    for match in pattern.finditer(text):
        out.append(escape(text[last:match.start()]))
        out.append(Markup("<mark>") + escape(match.group(0)) + Markup("</mark>"))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def evidence(article: StoredArticle) -> list[dict[str, Any]]:
    """Each tag match with the words around it in the title or text, for the detail page."""
    rows = []
    for match in (article.tags.matches if article.tags else []):
        source = article.title if match.field == "title" else article.text
        start, end = match.offset, match.offset + len(match.phrase)
        if not (0 <= start <= len(source)):
            start, end = 0, 0
        rows.append({
            "label": match.label, "phrase": match.phrase, "field": match.field, "weight": match.weight,
            "before": source[max(0, start - EVIDENCE_CONTEXT):start], "found": source[start:end],
            "after": source[end:end + EVIDENCE_CONTEXT],
        })
    return rows
