"""Crypto-regulation tagging: topics, jurisdictions (subjects and mentions), entities and relevance, with evidence.

``tag_article(title, text)`` uses a shared :class:`Tagger` built from the packaged taxonomy and
model, or from a taxonomy file given by path (the pipeline passes ``settings.tagging.taxonomy``; see
:func:`default_tagger`).
"""

from .learned import LinearModel, TaggerModel
from .models import TOPICS, Entity, Match, Tags
from .tagger import Tagger, default_tagger, tag_article
from .taxonomy import Taxonomy, load_taxonomy

__all__ = [
    "TOPICS",
    "Entity",
    "LinearModel",
    "Match",
    "Tagger",
    "TaggerModel",
    "Tags",
    "Taxonomy",
    "default_tagger",
    "load_taxonomy",
    "tag_article",
]
