"""Alerts as percolator queries on Elasticsearch/OpenSearch: the batch's documents are matched against every
alert in one request per chunk of documents, instead of one search per alert.

Index ``<prefix>-alerts``: the article mappings and analysis (so queries analyse text exactly as search does), plus
``query`` (type ``percolator``), ``alert_name`` and ``fingerprint``. The stored queries are built by the same
functions that build ``_search`` bodies (:mod:`pipeline.store.engine.queries`), minus the ids filter: the candidates
are the batch's own documents, fetched with ``_mget`` and passed to the ``percolate`` query.

Works with any client object with ``request(method, path, params=, body=)`` and ``bulk(ndjson, params=)`` — the
store's adapters (``SearchEngineStore.client``) for opensearch-py and elasticsearch-py.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from typing import Any

from ..errors import AlertStoreError, SearchEngineRequestError
from ..store.engine.clients import EngineClient
from ..store.engine.mappings import ANALYSIS, ARTICLE_MAPPINGS
from ..store.engine.queries import engine_query, filters
from .evaluate import Evaluation, chunks
from .models import Alert

#: the percolate query returns at most this many alerts per request (index.max_result_window)
MAX_ALERTS = 10_000


def percolator_query(alert: Alert) -> dict[str, Any]:
    """The alert's search query (text and filters) as a stored percolator query."""
    query = alert.search_query()
    clause = engine_query(query.parsed())
    body: dict[str, Any] = {"filter": filters(query)}
    if clause is not None:
        body["must"] = [clause]
    return {"bool": body}


def percolator_index_body() -> dict[str, Any]:
    mappings = copy.deepcopy(ARTICLE_MAPPINGS)
    # article fields added after this index was created are ignored, not refused, when documents are percolated
    mappings["dynamic"] = False
    mappings["properties"].update({
        "query": {"type": "percolator"},
        "alert_name": {"type": "keyword"},
        "fingerprint": {"type": "keyword"},
    })
    return {"settings": {"number_of_shards": 1, "auto_expand_replicas": "0-1", "analysis": ANALYSIS},
            "mappings": mappings}


class PercolatorEvaluator:
    """Keeps ``<prefix>-alerts`` in step with the alert definitions and percolates batches against it."""

    def __init__(self, client: EngineClient, *, prefix: str = "regwire", docs_per_request: int = 100):
        self.client, self.prefix, self.docs_per_request = client, prefix, docs_per_request
        self.index = f"{prefix}-alerts"
        self.articles = f"{prefix}-articles"
        self._ready = False

    def ensure_index(self) -> None:
        if self._ready:
            return
        if not self.client.request("HEAD", f"/{self.index}"):
            try:
                self.client.request("PUT", f"/{self.index}", body=percolator_index_body())
            except SearchEngineRequestError as exc:
                if "already_exists" not in (exc.error_type or ""):
                    raise
        self._ready = True

    def sync(self, alerts: Sequence[Alert]) -> int:
        """Index new or changed alerts, delete the ones that are gone. Returns how many actions were sent."""
        if len(alerts) > MAX_ALERTS:
            raise AlertStoreError(f"the percolator evaluates at most {MAX_ALERTS} alerts (got {len(alerts)})")
        self.ensure_index()
        resp = self.client.request("POST", f"/{self.index}/_search", body={
            "size": MAX_ALERTS, "_source": ["fingerprint"], "query": {"match_all": {}}})
        stored = {h["_id"]: (h.get("_source") or {}).get("fingerprint") for h in resp["hits"]["hits"]}
        wanted = {a.name: a for a in alerts}
        lines: list[str] = []
        for name, alert in wanted.items():
            if stored.get(name) != alert.fingerprint:
                lines.append(json.dumps({"index": {"_index": self.index, "_id": name}}))
                lines.append(json.dumps({"query": percolator_query(alert), "alert_name": name,
                                         "fingerprint": alert.fingerprint}, ensure_ascii=False))
        for name in stored.keys() - wanted.keys():
            lines.append(json.dumps({"delete": {"_index": self.index, "_id": name}}))
        if not lines:
            return 0
        result = self.client.bulk("\n".join(lines) + "\n", params={"refresh": "wait_for"})
        if result.get("errors"):
            failed = [next(iter(i.values())) for i in result.get("items", [])
                      if next(iter(i.values())).get("status", 500) >= 300
                      and next(iter(i.values())).get("status") != 404]
            if failed:
                raise AlertStoreError(f"{self.index}: {len(failed)} alert(s) could not be stored as percolator"
                                      f" queries; first: {failed[0].get('_id')}: {failed[0].get('error')}")
        return sum(1 for line in lines if line.startswith('{"index"') or line.startswith('{"delete"'))

    def _documents(self, ids: list[str]) -> list[dict[str, Any]]:
        resp = self.client.request("POST", f"/{self.articles}/_mget", body={"ids": ids})
        return [d["_source"] for d in resp.get("docs", []) if d.get("found")]

    def evaluate(self, alerts: Sequence[Alert], article_ids: Sequence[str], *, sync: bool = True) -> Evaluation:
        started = time.perf_counter()
        out = Evaluation("percolator")
        if sync:
            self.sync(alerts)
        names = {a.name for a in alerts}
        for chunk in chunks(article_ids, self.docs_per_request):
            docs = self._documents(chunk)
            out.requests += 1
            if not docs:
                continue
            resp = self.client.request("POST", f"/{self.index}/_search", body={
                "size": min(MAX_ALERTS, max(1, len(names))), "_source": False,
                "query": {"percolate": {"field": "query", "documents": docs}}})
            out.requests += 1
            for hit in resp["hits"]["hits"]:
                name = hit["_id"]
                if name not in names:
                    continue
                for slot in (hit.get("fields") or {}).get("_percolator_document_slot", [0]):
                    out.matches.setdefault(name, {})[docs[int(slot)]["id"]] = ""
        out.seconds = time.perf_counter() - started
        return out
