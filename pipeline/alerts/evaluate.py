"""Evaluating alerts against one batch of new or updated articles, with search's own semantics.

:class:`SearchEvaluator` runs each alert as ``store.search(SearchQuery(..., ids=batch_ids))`` on any backend. Before
that it asks the store once for the batch's facets (topics, jurisdictions, sources, languages) and skips the alerts
whose filters cannot match any article of the batch: the answer is the same, with fewer searches.
:class:`~pipeline.alerts.percolator.PercolatorEvaluator` inverts the work on Elasticsearch/OpenSearch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import RegwireError
from ..query import SearchQuery
from ..store.base import Store
from .models import Alert


@dataclass(slots=True)
class Evaluation:
    method: str
    #: alert name → {article id: snippet (HTML-safe, with <mark>; empty when the evaluator has none)}
    matches: dict[str, dict[str, str]] = field(default_factory=dict)
    seconds: float = 0.0
    #: requests made to the store or engine
    requests: int = 0
    skipped_alerts: int = 0
    #: alert name → why it could not be evaluated (the other alerts were)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def match_count(self) -> int:
        return sum(len(found) for found in self.matches.values())


class Evaluator(Protocol):
    def evaluate(self, alerts: Sequence[Alert], article_ids: Sequence[str]) -> Evaluation: ...


def chunks(ids: Sequence[str], size: int) -> list[list[str]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i:i + size] for i in range(0, len(unique), size)]


def could_match(alert: Alert, facets: dict[str, dict[str, int]]) -> bool:
    """False when one of the alert's filters names none of the values present in the batch."""
    # the jurisdiction facet counts subjects: an alert that also takes mentions cannot be ruled out by it
    jurisdictions = [] if alert.include_mentions else alert.jurisdictions
    for values, facet in ((alert.topics, "topic"), (jurisdictions, "jurisdiction"),
                          (alert.sources, "source"), (alert.languages, "language")):
        if values and not set(values) & set(facets.get(facet) or {}):
            return False
    return True


class SearchEvaluator:
    """One search per alert, restricted to the batch ids (after a one-request facet prefilter)."""

    def __init__(self, store: Store, *, prefilter: bool = True, chunk_size: int = 1000):
        self.store, self.prefilter, self.chunk_size = store, prefilter, chunk_size

    def evaluate(self, alerts: Sequence[Alert], article_ids: Sequence[str]) -> Evaluation:
        started = time.perf_counter()
        out = Evaluation("search+prefilter" if self.prefilter else "search")
        for chunk in chunks(article_ids, self.chunk_size):
            facets = None
            if self.prefilter:
                facets = self.store.search(SearchQuery(ids=chunk, limit=0, facets=True)).facets
                out.requests += 1
            for alert in alerts:
                if facets is not None and not could_match(alert, facets):
                    out.skipped_alerts += 1
                    continue
                out.requests += 1
                try:
                    result = self.store.search(alert.search_query(ids=chunk, limit=len(chunk)))
                except RegwireError as exc:  # one alert's failure must not cost the others their delivery
                    out.errors[alert.name] = str(exc)
                    continue
                for hit in result.hits:
                    out.matches.setdefault(alert.name, {})[hit.id] = hit.snippet
        out.seconds = time.perf_counter() - started
        return out
