"""Crypto-regulation tagging: topics, jurisdictions, entities and relevance, with the evidence for each.

``tag_article(title, text)`` uses a shared :class:`Tagger` built from the packaged taxonomy, or
from the file named by the ``REGWIRE_TAXONOMY`` environment variable (see :func:`default_tagger`).
"""

from .learned import TopicModel, train_topic_model
from .models import TOPICS, Entity, Match, Tags
from .tagger import Tagger, default_tagger, tag_article
from .taxonomy import Taxonomy, load_taxonomy

__all__ = [
    "TOPICS",
    "Entity",
    "Match",
    "Tagger",
    "Tags",
    "Taxonomy",
    "TopicModel",
    "default_tagger",
    "load_taxonomy",
    "tag_article",
    "train_topic_model",
]
