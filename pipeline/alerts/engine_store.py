"""Alert definitions and the delivery log on Elasticsearch/OpenSearch (the same contract as the SQLite store).

    <prefix>-alert-definitions    one document per alert, id = name
    <prefix>-alert-deliveries     one document per (alert, article, version or 'any', channel), id = hash of those
    <prefix>-alert-stories        once per story: the article an alert delivers for a story (id = hash of alert and
                                  story, created once), and the articles folded into it (id = hash with the article)

Exactly-once recording uses ``create`` (HTTP 409 when the document exists). Claims use optimistic concurrency:
due rows are read with ``seq_no_primary_term`` and leased with ``if_seq_no``/``if_primary_term``, so when two workers
race for a row one gets a 409 and skips it. Marks are painless updates (``attempts += 1``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from ..errors import AlertNotFoundError, AlertStoreError, SearchEngineRequestError
from ..store.engine.clients import EngineClient
from .models import STORED, Alert, Delivery, DeliveryState, MatchedArticle, Mode
from .store import OPEN_STATES, PendingDelivery

_KW = {"type": "keyword"}
_DATE = {"type": "date"}
_STORED = {"type": "object", "enabled": False}
_SETTINGS = {"number_of_shards": 1, "auto_expand_replicas": "0-1"}
MAX_ROWS = 10_000
#: one painless script for every mark: set the given fields, add ``bump`` to attempts
_MARK = ("for (e in params.set.entrySet()) { ctx._source[e.getKey()] = e.getValue(); }"
         " ctx._source.attempts += params.bump;")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def delivery_id(alert: str, article_id: str, version_key: str, channel: str) -> str:
    return hashlib.sha1("\x1f".join((alert, article_id, version_key, channel)).encode()).hexdigest()


class EngineAlertStore:
    """:class:`~pipeline.alerts.store.AlertStore` over a search-engine client (``SearchEngineStore.client``)."""

    def __init__(self, client: EngineClient, *, prefix: str = "regwire", owns_client: bool = False):
        self.client, self.prefix, self.owns_client = client, prefix, owns_client
        self.definitions = f"{prefix}-alert-definitions"
        self.log = f"{prefix}-alert-deliveries"
        self.stories = f"{prefix}-alert-stories"
        self._ensure()

    def close(self) -> None:
        if self.owns_client:
            self.client.close()

    def __enter__(self) -> EngineAlertStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure(self) -> None:
        bodies = {
            self.definitions: {"name": _KW, "doc": _STORED, "created_at": _DATE, "updated_at": _DATE},
            self.log: {"alert": _KW, "article_id": _KW, "version_key": _KW, "channel": _KW, "mode": _KW,
                       "state": _KW, "attempts": {"type": "integer"}, "seq": {"type": "long"},
                       "created_at": _DATE, "next_try": _DATE, "lease_until": _DATE, "sent_at": _DATE,
                       "last_error": {"type": "keyword", "index": False, "doc_values": False}, "article": _STORED},
            self.stories: {"alert": _KW, "story_id": _KW, "article_id": _KW, "role": _KW, "recorded_at": _DATE},
        }
        for index, properties in bodies.items():
            if self.client.request("HEAD", f"/{index}"):
                continue
            try:
                self.client.request("PUT", f"/{index}", body={
                    "settings": _SETTINGS, "mappings": {"dynamic": "strict", "properties": properties}})
            except SearchEngineRequestError as exc:
                if "already_exists" not in (exc.error_type or ""):
                    raise

    def _bulk(self, lines: list[str]) -> list[dict[str, Any]]:
        if not lines:
            return []
        result = self.client.bulk("\n".join(lines) + "\n", params={"refresh": "wait_for"})
        return [next(iter(item.values())) for item in result.get("items", [])]

    # -- definitions ----------------------------------------------------------------------------------------------

    def _doc_path(self, name: str) -> str:
        return f"/{self.definitions}/_doc/{quote(name, safe='')}"

    def save_alert(self, alert: Alert, now: datetime) -> bool:
        try:
            created = self.client.request("GET", self._doc_path(alert.name))["_source"]["created_at"]
        except SearchEngineRequestError as exc:
            if exc.status != 404:
                raise
            created = None
        self.client.request("PUT", self._doc_path(alert.name), params={"refresh": "wait_for"}, body={
            "name": alert.name, "doc": alert.model_dump(mode="json"), "created_at": created or _iso(now),
            "updated_at": _iso(now)})
        return created is None

    def get_alert(self, name: str) -> Alert:
        try:
            return self._alert(self.client.request("GET", self._doc_path(name))["_source"]["doc"])
        except SearchEngineRequestError as exc:
            if exc.status == 404:
                raise AlertNotFoundError(f"no alert named {name!r}") from exc
            raise

    def list_alerts(self, *, enabled_only: bool = False) -> list[Alert]:
        resp = self.client.request("POST", f"/{self.definitions}/_search", body={
            "size": MAX_ROWS, "sort": [{"name": "asc"}], "query": {"match_all": {}}})
        alerts = [self._alert(h["_source"]["doc"]) for h in resp["hits"]["hits"]]
        return [a for a in alerts if a.enabled or not enabled_only]

    def remove_alert(self, name: str) -> None:
        try:
            self.client.request("DELETE", self._doc_path(name), params={"refresh": "wait_for"})
        except SearchEngineRequestError as exc:
            if exc.status == 404:
                raise AlertNotFoundError(f"no alert named {name!r}") from exc
            raise

    def _alert(self, doc: dict[str, Any]) -> Alert:
        try:
            return Alert.model_validate(doc, context={STORED: True})
        except ValidationError as exc:  # the messages only: pydantic's text quotes the input (a channel's secret)
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
            raise AlertStoreError(f"{self.definitions}: stored alert cannot be read: {problems}") from exc

    # -- deliveries -----------------------------------------------------------------------------------------------

    def claim_story(self, alert: str, story_id: str, article_id: str, now: datetime) -> bool:
        """See :meth:`AlertStore.claim_story`: the first ``create`` of the (alert, story) document wins."""
        key = hashlib.sha1(f"{alert}\x1f{story_id}".encode()).hexdigest()
        doc = {"alert": alert, "story_id": story_id, "article_id": article_id, "role": "delivered",
               "recorded_at": _iso(now)}
        try:
            self.client.request("PUT", f"/{self.stories}/_create/{key}", params={"refresh": "wait_for"}, body=doc)
            return True
        except SearchEngineRequestError as exc:
            if exc.status != 409:
                raise
        holder = self.client.request("GET", f"/{self.stories}/_doc/{key}")["_source"]["article_id"]
        if holder == article_id:
            return True
        fold = hashlib.sha1(f"{alert}\x1f{story_id}\x1f{article_id}".encode()).hexdigest()
        self.client.request("PUT", f"/{self.stories}/_doc/{fold}", params={"refresh": "wait_for"},
                            body={**doc, "role": "folded"})
        return False

    def folded(self, alert: str) -> dict[str, list[str]]:
        body = {"size": MAX_ROWS, "query": {"bool": {"filter": [{"term": {"alert": alert}},
                                                                 {"term": {"role": "folded"}}]}},
                "sort": [{"story_id": "asc"}, {"recorded_at": "asc"}, {"article_id": "asc"}]}
        out: dict[str, list[str]] = {}
        for hit in self.client.request("POST", f"/{self.stories}/_search", body=body)["hits"]["hits"]:
            out.setdefault(hit["_source"]["story_id"], []).append(hit["_source"]["article_id"])
        return out

    def record(self, pending: Iterable[PendingDelivery], now: datetime) -> int:
        base = int(now.timestamp() * 1_000_000) * 1000
        lines: list[str] = []
        for i, p in enumerate(pending):
            doc_id = delivery_id(p.alert, p.article.id, p.version_key, p.channel)
            lines.append(json.dumps({"create": {"_index": self.log, "_id": doc_id}}))
            lines.append(json.dumps({
                "alert": p.alert, "article_id": p.article.id, "version_key": p.version_key, "channel": p.channel,
                "mode": p.mode.value, "state": DeliveryState.PENDING.value, "attempts": 0, "seq": base + i,
                "created_at": _iso(now), "next_try": _iso(p.due), "lease_until": None, "sent_at": None,
                "last_error": None, "article": p.article.model_dump(mode="json")}, ensure_ascii=False))
        results = self._bulk(lines)
        failed = [r for r in results if r.get("status") not in (200, 201, 409)]
        if failed:
            raise AlertStoreError(f"{self.log}: {len(failed)} delivery row(s) not recorded: {failed[0].get('error')}")
        return sum(1 for r in results if r.get("status") == 201)

    def claim_due(self, now: datetime, lease_seconds: float, limit: int = MAX_ROWS) -> list[Delivery]:
        resp = self.client.request("POST", f"/{self.log}/_search", body={
            "size": min(limit, MAX_ROWS), "seq_no_primary_term": True, "sort": [{"seq": "asc"}],
            "query": {"bool": {"filter": [
                {"terms": {"state": list(OPEN_STATES)}},
                {"range": {"next_try": {"lte": _iso(now)}}},
                {"bool": {"should": [{"bool": {"must_not": {"exists": {"field": "lease_until"}}}},
                                     {"range": {"lease_until": {"lte": _iso(now)}}}],
                          "minimum_should_match": 1}},
            ]}}})
        hits = resp["hits"]["hits"]
        until = _iso(now + timedelta(seconds=lease_seconds))
        lines: list[str] = []
        for h in hits:
            lines.append(json.dumps({"update": {"_index": self.log, "_id": h["_id"], "if_seq_no": h["_seq_no"],
                                                "if_primary_term": h["_primary_term"]}}))
            lines.append(json.dumps({"doc": {"lease_until": until}}))
        results = self._bulk(lines)
        claimed = []
        for hit, result in zip(hits, results, strict=True):
            if result.get("status") == 200:
                claimed.append(self._delivery(hit["_id"], hit["_source"]))
            elif result.get("status") != 409:  # 409: another worker leased it first
                raise AlertStoreError(f"{self.log}: cannot lease {hit['_id']}: {result.get('error')}")
        return claimed

    def _mark(self, ids: Sequence[str], fields: dict[str, Any], bump: int) -> None:
        lines: list[str] = []
        for doc_id in ids:
            lines.append(json.dumps({"update": {"_index": self.log, "_id": doc_id, "retry_on_conflict": 3}}))
            lines.append(json.dumps({"script": {"source": _MARK, "lang": "painless",
                                                "params": {"set": fields, "bump": bump}}}, ensure_ascii=False))
        failed = [r for r in self._bulk(lines) if r.get("status") != 200]
        if failed:
            raise AlertStoreError(f"{self.log}: {len(failed)} delivery row(s) not updated: {failed[0].get('error')}")

    def mark_sent(self, ids: Sequence[str], now: datetime) -> None:
        self._mark(ids, {"state": DeliveryState.SENT.value, "sent_at": _iso(now), "lease_until": None,
                         "last_error": None}, 1)

    def mark_failed(self, ids: Sequence[str], error: str, next_try: datetime) -> None:
        self._mark(ids, {"state": DeliveryState.FAILED.value, "next_try": _iso(next_try), "lease_until": None,
                         "last_error": error}, 1)

    def mark_given_up(self, ids: Sequence[str], reason: str, *, attempted: bool = True) -> None:
        self._mark(ids, {"state": DeliveryState.GIVEN_UP.value, "lease_until": None, "last_error": reason},
                   1 if attempted else 0)

    def mark_unknown(self, ids: Sequence[str], reason: str) -> None:
        self._mark(ids, {"state": DeliveryState.UNKNOWN.value, "lease_until": None, "last_error": reason}, 1)

    def deliveries(self, *, alert: str | None = None, state: DeliveryState | None = None,
                   article_id: str | None = None, limit: int = 100) -> list[Delivery]:
        filters = [{"term": {field: value}} for field, value in (
            ("alert", alert), ("state", state.value if state else None), ("article_id", article_id))
            if value is not None]
        resp = self.client.request("POST", f"/{self.log}/_search", body={
            "size": min(limit, MAX_ROWS), "sort": [{"seq": "desc"}], "query": {"bool": {"filter": filters}}})
        return [self._delivery(h["_id"], h["_source"]) for h in resp["hits"]["hits"]]

    def counts(self) -> dict[str, int]:
        resp = self.client.request("POST", f"/{self.log}/_search", body={
            "size": 0, "aggs": {"state": {"terms": {"field": "state", "size": 10}}}})
        return {b["key"]: b["doc_count"] for b in resp["aggregations"]["state"]["buckets"]}

    @staticmethod
    def _delivery(doc_id: str, src: dict[str, Any]) -> Delivery:
        return Delivery(
            id=doc_id, alert=src["alert"], article_id=src["article_id"], version_key=src["version_key"],
            channel=src["channel"], mode=Mode(src["mode"]), state=DeliveryState(src["state"]),
            attempts=int(src.get("attempts", 0)), created_at=datetime.fromisoformat(src["created_at"]),
            next_try=datetime.fromisoformat(src["next_try"]),
            sent_at=datetime.fromisoformat(src["sent_at"]) if src.get("sent_at") else None,
            last_error=src.get("last_error"), article=MatchedArticle.model_validate(src["article"]),
        )
