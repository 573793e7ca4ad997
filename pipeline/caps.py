"""How long each field of a record may be, in one place. A feed or page may be hostile (an 8 MB title); what passes
these caps is cut, and the record says so with ``truncated: true``.

The numbers are generous for real news: the longest real titles are a few hundred characters, real articles rarely
pass 100,000 characters, and evidence past the first few dozen matches of a label adds nothing a reader can use.
"""

from __future__ import annotations

from typing import Any

#: characters per text field (FeedItem, Article and what derives from them)
TEXT_CAPS: dict[str, int] = {
    "title": 1_000,
    "summary": 10_000,
    "content": 500_000,  #: a feed item's own full text
    "text": 500_000,  #: an article's extracted text
    "sitename": 200,
    "language": 35,
    "guid": 2_000,
}
#: items per list field, and characters per item
LIST_CAPS: dict[str, tuple[int, int]] = {
    "authors": (50, 200),
    "categories": (200, 200),
    "site_tags": (200, 200),
}
#: links kept apart from an article's text (Article.related_links), and characters per title or URL
RELATED_LINKS: tuple[int, int] = (100, 2_000)
#: pieces of tag evidence kept per label (the rest still counted in the label's score)
EVIDENCE_PER_LABEL = 50


def cap_fields(values: dict[str, Any]) -> bool:
    """Cut the capped fields of ``values`` in place; True when anything was cut."""
    cut = False
    for name, limit in TEXT_CAPS.items():
        value = values.get(name)
        if isinstance(value, str) and len(value) > limit:
            values[name] = value[:limit]
            cut = True
    for name, (count, length) in LIST_CAPS.items():
        items = values.get(name)
        if not isinstance(items, list):
            continue
        capped = [v[:length] if isinstance(v, str) else v for v in items[:count]]
        if len(items) > count or any(isinstance(v, str) and len(v) > length for v in items[:count]):
            values[name] = capped
            cut = True
    return cut
