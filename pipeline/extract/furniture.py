"""Link furniture inside an article body: "Related: <headline>" lines, link lists and newsletter/promo boxes.

News sites put other stories' headlines and sign-up boxes inside the article body, and trafilatura keeps many of them
as ordinary paragraphs. They are not the story: a "Related: Kazakhstan to tie ..." line in an Indian tax story made
the tagger see Kazakhstan. The filter reads trafilatura's own XML body (extracted with ``include_links``), so it
works from structure that every site shares (a paragraph or list item whose words are a link, a lead-in naming
another story, a short box that asks for an e-mail address), not from one site's markup. What it drops is returned as
:class:`RelatedLink` records, so that the links are kept apart from the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml.etree import _Element

from ..models import RelatedLink

#: lead-ins of a line that points at another story ("Related: ...", "READ MORE - ...", "See also ...")
_LEAD_IN = re.compile(
    r"^\s*(?:related(?:\s+(?:articles?|stories|news|coverage|reading|content|posts?|links?))?"
    r"|(?:also\s+)?read(?:\s+(?:more|also|next|this))?|see\s+(?:also|more)|also\s+(?:read|see|on\s+\w+)"
    r"|more(?:\s+(?:on|from|reading|news|coverage|stories|articles)\b[^:\-–—|]{0,40})?|further\s+reading|recommended(?:\s+\w+)?"
    r"|you\s+(?:may|might)\s+(?:also\s+)?(?:like|enjoy|be\s+interested\s+in)|don['’]t\s+miss|trending|top\s+stories"
    r"|editor['’]?s\s+picks?|must\s+read|previously|watch|listen)"
    r"\s*(?::|-|–|—|\||>>|»)\s*",
    re.IGNORECASE,
)
#: a box that sells something to the reader rather than reporting: newsletters, subscriptions, apps, podcasts
_PROMO = re.compile(
    r"\b(?:sign\s+up\s+(?:for|to)|subscribe\s+(?:to|now|for|today)|in\s+your\s+inbox|our\s+newsletter"
    r"|newsletter\s+sign[\s-]?up|download\s+(?:our|the)\s+app|follow\s+us\s+on|join\s+our\s+(?:telegram|discord))\b",
    re.IGNORECASE,
)
#: a lead-in line carrying more words than a headline is prose that happens to start with "More:" or "Watch -"
_HEADLINE_WORDS = 30
#: a promo paragraph is short; a long paragraph that mentions a newsletter is an article about one
_PROMO_WORDS = 45
#: share of a block's letters inside links above which the block is a link, not prose
_LINK_SHARE = 0.8


@dataclass(frozen=True, slots=True)
class Markup:
    """The element names of one tree: trafilatura's XML body, or an HTML fragment (a feed's content)."""

    paragraphs: tuple[str, ...]
    lists: tuple[str, ...]
    item: str
    link: str
    target: str
    headings: tuple[str, ...]


TRAFILATURA = Markup(("p",), ("list",), "item", "ref", "target", ("head",))
HTML = Markup(("p",), ("ul", "ol"), "li", "a", "href", ("h1", "h2", "h3", "h4", "h5", "h6"))


def _text(element: _Element) -> str:
    return " ".join("".join(element.itertext()).split())


def _letters(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def _links(element: _Element, markup: Markup) -> list[RelatedLink]:
    return [RelatedLink(title=_text(ref), url=ref.get(markup.target) or None)
            for ref in element.iter(markup.link) if _text(ref)]


def _link_share(element: _Element, text: str, markup: Markup) -> float:
    total = _letters(text)
    if not total:
        return 0.0
    return sum(_letters(_text(ref)) for ref in element.iter(markup.link)) / total


def _furniture_paragraph(element: _Element, markup: Markup) -> list[RelatedLink] | None:
    """The links of a paragraph that is link furniture, None when it is prose."""
    text = _text(element)
    if not text:
        return None
    lead = _LEAD_IN.match(text)
    if lead is not None:
        rest = text[lead.end():]
        links = _links(element, markup)
        if links and _link_share(element, text, markup) >= 0.5:
            return links
        if rest and len(rest.split()) <= _HEADLINE_WORDS and not re.search(r"[.!?]\s+[A-Z]", rest):
            return [RelatedLink(title=rest)]  # a headline without its link (text-only extraction)
        return None
    if len(text.split()) <= _PROMO_WORDS and _PROMO.search(text):
        return _links(element, markup) or []
    return None


def _link_list(element: _Element, markup: Markup) -> list[RelatedLink] | None:
    """The links of a list whose every item is a link (a "more stories" box), None otherwise."""
    items = [item for item in element if item.tag == markup.item]
    if len(items) < 2:
        return None
    for item in items:
        text = _text(item)
        if item.find(f".//{markup.link}") is None or _link_share(item, text, markup) < _LINK_SHARE:
            return None
    return _links(element, markup)


def _heading_of(element: _Element, markup: Markup) -> bool:
    """A heading that introduces the furniture right after it ("Related articles", "Read more")."""
    return element.tag in markup.headings and bool(_LEAD_IN.match(_text(element) + ":"))


def strip_link_furniture(body: _Element, markup: Markup = TRAFILATURA) -> list[RelatedLink]:
    """Remove link furniture from ``body`` in place (trafilatura's XML body, or an HTML fragment with
    ``markup=HTML``); return the links it held, in order."""
    related: list[RelatedLink] = []
    doomed: list[_Element] = []
    for element in body.iter(*markup.paragraphs, *markup.lists, *markup.headings):
        if any(element in d.iterancestors() or element is d for d in doomed[-3:]):
            continue
        found = _link_list(element, markup) if element.tag in markup.lists else _furniture_paragraph(element, markup)
        if found is None:
            continue
        previous = element.getprevious()
        if previous is not None and _heading_of(previous, markup) and previous not in doomed:
            doomed.append(previous)
        doomed.append(element)
        related.extend(found)
    for element in doomed:
        _drop(element)
    return related


def _drop(element: _Element) -> None:
    """Remove an element but keep its tail text (words that follow it in the parent)."""
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    if tail and tail.strip():
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)
