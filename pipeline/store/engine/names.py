"""Index and alias names for one ``prefix`` (``settings.search.index_prefix``).

    <prefix>-articles              alias (read + write, ``is_write_index``) over one physical index
    <prefix>-articles-v<N>         physical article index, created from the ``<prefix>-articles`` index template
    <prefix>-article-versions      superseded versions, id ``<article_id>:<version>``, each with its ``seq``
    <prefix>-feeds                 feed state (ETag, error counters, next poll), id = hash of the feed URL
    <prefix>-deadletter            documents the engine rejected (mapping/parse errors), with the reason
    <prefix>-meta                  the ``seq`` counter (one doc, bumped by a painless script per batch)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IndexNames:
    prefix: str

    @property
    def articles(self) -> str:
        """The alias every read and write goes through."""
        return f"{self.prefix}-articles"

    def articles_physical(self, generation: int) -> str:
        return f"{self.prefix}-articles-v{generation}"

    @property
    def articles_pattern(self) -> str:
        return f"{self.prefix}-articles-v*"

    @property
    def versions(self) -> str:
        return f"{self.prefix}-article-versions"

    @property
    def feeds(self) -> str:
        return f"{self.prefix}-feeds"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}-deadletter"

    @property
    def meta(self) -> str:
        return f"{self.prefix}-meta"

    @property
    def template(self) -> str:
        return f"{self.prefix}-articles"

    def generation_of(self, index: str) -> int:
        return int(index.rsplit("-v", 1)[1])
