"""Crypto-regulation tagging: topics, jurisdictions (subjects and mentions), entities and relevance, with evidence.

``tag_article(title, text)`` uses a shared :class:`Tagger` built from the packaged taxonomy and
model, or from a taxonomy file given by path (the pipeline passes ``settings.tagging.taxonomy``; see
:func:`default_tagger`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["LinearModel", "TaggerModel"], ".learned"),
    **dict.fromkeys(["Entity", "Match", "TOPICS", "Tags"], ".models"),
    **dict.fromkeys(["Tagger", "default_tagger", "tag_article"], ".tagger"),
    **dict.fromkeys(["Taxonomy", "load_taxonomy"], ".taxonomy"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "Entity",
    "LinearModel",
    "Match",
    "TOPICS",
    "Tagger",
    "TaggerModel",
    "Tags",
    "Taxonomy",
    "default_tagger",
    "load_taxonomy",
    "tag_article",
]

if TYPE_CHECKING:
    from .learned import LinearModel, TaggerModel
    from .models import TOPICS, Entity, Match, Tags
    from .tagger import Tagger, default_tagger, tag_article
    from .taxonomy import Taxonomy, load_taxonomy
