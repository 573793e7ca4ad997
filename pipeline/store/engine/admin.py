"""Index administration: the schema (template, side indices, first index and alias), status, and migration to a
new physical index behind the alias while writers keep going."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import IndexMigrationError, SearchEngineRequestError
from .clients import EngineSession
from .mappings import ARTICLE_MAPPINGS, index_template, side_indices

#: ids checked per ``_mget`` when verifying a migration
VERIFY_BATCH = 5000


@dataclass(slots=True)
class MigrationReport:
    old_index: str
    new_index: str
    copied: int = 0
    caught_up: int = 0
    old_count: int = 0
    new_count: int = 0
    missing: int = 0
    seconds: float = 0.0
    deleted_old: bool = False


def reindex_body(source: str, dest: str, *, catch_up: bool = False) -> dict[str, Any]:
    """Copy ``source`` into ``dest`` keeping each document's ``_version`` (external versioning).

    The catch-up pass (after the alias swap) copies what was written to the old index meanwhile; a document that was
    written to the new index after the swap has a higher version and is left alone (``conflicts: proceed``).
    """
    body: dict[str, Any] = {"source": {"index": source}, "dest": {"index": dest, "version_type": "external"}}
    if catch_up:
        body["conflicts"] = "proceed"
    return body


def swap_alias_actions(alias: str, old: Sequence[str], new: str) -> dict[str, Any]:
    actions: list[dict[str, Any]] = [{"remove": {"index": index, "alias": alias}} for index in old]
    actions.append({"add": {"index": new, "alias": alias, "is_write_index": True}})
    return {"actions": actions}


def _copied(response: dict[str, Any]) -> int:
    return int(response.get("created", 0)) + int(response.get("updated", 0))


class IndexAdmin:
    def __init__(self, session: EngineSession, sleep: Callable[[float], None]):
        self.session, self.sleep = session, sleep

    def ensure_schema(self) -> None:
        """Index template, side indices and the first article index with its alias (idempotent, race-safe)."""
        req, names = self.session.req, self.session.names
        req("PUT", f"/_index_template/{names.template}", index_template(names))
        for index, body in side_indices(names).items():
            if not req("HEAD", f"/{index}"):
                self._create_index(index, body)
            else:  # side indices are not migrated: fields added since they were created are added in place
                req("PUT", f"/{index}/_mapping", {"properties": body["mappings"]["properties"]})
        if not req("HEAD", f"/_alias/{names.articles}"):
            self._create_index(names.articles_physical(1), {"aliases": {names.articles: {"is_write_index": True}}})
        else:
            self._add_article_fields()

    def _add_article_fields(self) -> None:
        """Fields added to the article mapping since the live indices were created (``mentioned_jurisdictions``,
        ``related_links``) are added in place, so that documents carrying them are not rejected before an
        ``index migrate``; a field whose definition changed is left to ``index migrate`` (``status`` lists it)."""
        req, names = self.session.req, self.session.names
        live = req("GET", f"/{names.articles}/_mapping")
        have = set().union(*((body.get("mappings") or {}).get("properties", {}) for body in live.values()))
        missing = {name: spec for name, spec in ARTICLE_MAPPINGS["properties"].items() if name not in have}
        if missing:
            req("PUT", f"/{names.articles}/_mapping", {"properties": missing})

    def _create_index(self, index: str, body: dict[str, Any]) -> None:
        try:
            self.session.req("PUT", f"/{index}", body)
        except SearchEngineRequestError as exc:
            if exc.error_type != "resource_already_exists_exception":
                raise

    def refresh_all(self) -> None:
        names = self.session.names
        self.session.req("POST", f"/{names.articles},{names.versions},{names.deadletter},{names.feeds}/_refresh")

    def physical_indices(self) -> list[str]:
        try:
            return sorted(self.session.req("GET", f"/_alias/{self.session.names.articles}").keys())
        except SearchEngineRequestError as exc:
            if exc.status == 404:
                return []
            raise

    def status(self) -> dict[str, Any]:
        """Alias, physical indices, counts, pending dead letters, whether the live mapping is up to date."""
        req, names, count = self.session.req, self.session.names, self.session.count
        physical = self.physical_indices()
        live = req("GET", f"/{physical[0]}/_mapping")[physical[0]]["mappings"] if physical else {}
        wanted = set(ARTICLE_MAPPINGS["properties"])
        have = set(live.get("properties", {}))
        pending = req("POST", f"/{names.deadletter}/_count", {"query": {"term": {"state": "pending"}}})
        try:
            seq = int(req("GET", f"/{names.meta}/_doc/seq")["_source"]["value"])
        except SearchEngineRequestError:
            seq = 0
        return {
            "engine": self.session.client.engine, "alias": names.articles, "indices": physical,
            "generation": names.generation_of(physical[0]) if physical else None,
            "articles": count(names.articles) if physical else 0, "versions": count(names.versions),
            "feeds": count(names.feeds), "deadletter_pending": int(pending["count"]), "seq": seq,
            "mapping_up_to_date": wanted <= have, "missing_fields": sorted(wanted - have),
        }

    def _reindex(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run ``_reindex`` as a task and poll it (no HTTP request has to outlive a large copy)."""
        req = self.session.req
        task = req("POST", "/_reindex", body, refresh="true", wait_for_completion="false")["task"]
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            state = req("GET", f"/_tasks/{task}")
            if state.get("completed"):
                if state.get("error"):
                    raise IndexMigrationError(f"reindex task {task} failed: {state['error']}")
                return state.get("response", {})
            if time.monotonic() > deadline:
                raise IndexMigrationError(f"reindex task {task} still running after {timeout:.0f}s")
            self.sleep(delay)
            delay = min(1.0, delay * 2)

    def migrate(self, *, delete_old: bool = False, timeout: float = 3600.0) -> MigrationReport:
        """Create the next physical index from the current template, copy, swap the alias, catch up, verify.

        Writers keep going throughout: before the swap they write to the old index, afterwards to the new one; the
        catch-up pass copies what reached the old index in between (external versions, conflicts skipped).
        """
        req, names = self.session.req, self.session.names
        t0 = time.monotonic()
        physical = self.physical_indices()
        if len(physical) != 1:
            raise IndexMigrationError(f"alias {names.articles} points at {physical or 'nothing'}; expected one index")
        old = physical[0]
        new = names.articles_physical(names.generation_of(old) + 1)
        report = MigrationReport(old, new)
        req("PUT", f"/_index_template/{names.template}", index_template(names))
        if req("HEAD", f"/{new}"):
            raise IndexMigrationError(f"{new} exists already (a failed migration?); delete it and run again")
        req("PUT", f"/{new}", {})
        first = self._reindex(reindex_body(old, new), timeout)
        if first.get("failures"):
            raise IndexMigrationError(f"reindex {old} → {new} failed: {first['failures'][:3]}")
        report.copied = _copied(first)
        req("POST", "/_aliases", swap_alias_actions(names.articles, [old], new))
        # retire the old index: a write that resolved the alias before the swap but reaches the shard afterwards is
        # refused (writers retry a write block, and the retry lands in the new index); what got in before is
        # made visible to the catch-up copy by the refresh
        req("PUT", f"/{old}/_block/write")
        req("POST", f"/{old}/_refresh")
        second = self._reindex(reindex_body(old, new, catch_up=True), timeout)
        bad = [f for f in second.get("failures", []) if f.get("status") != 409]
        if bad:
            raise IndexMigrationError(f"catch-up reindex {old} → {new} failed: {bad[:3]}")
        report.caught_up = _copied(second)
        self._verify(report)
        if delete_old:
            req("DELETE", f"/{old}")
            report.deleted_old = True
        report.seconds = round(time.monotonic() - t0, 3)
        return report

    def _verify(self, report: MigrationReport) -> None:
        """Counts and ids of the old index all present in the new one; raises (alias left on the new) if not."""
        old, new = report.old_index, report.new_index
        self.session.req("POST", f"/{old},{new}/_refresh")
        report.old_count, report.new_count = self.session.count(old), self.session.count(new)
        report.missing = self._missing_ids(old, new)
        if report.missing or report.new_count < report.old_count:
            raise IndexMigrationError(
                f"verification failed: {old} has {report.old_count}, {new} has {report.new_count},"
                f" {report.missing} id(s) missing; the alias points at {new}, {old} is kept")

    def _missing_ids(self, old: str, new: str) -> int:
        missing = 0
        batch: list[str] = []

        def check(ids: list[str]) -> int:
            docs = self.session.req("POST", f"/{new}/_mget", {"ids": ids}, _source="false")["docs"]
            return sum(1 for d in docs if not d.get("found"))

        for hit in self.session.scan(old, {"match_all": {}}, [{"created_seq": "asc"}, {"id": "asc"}], False,
                                     VERIFY_BATCH):
            batch.append(hit["_id"])
            if len(batch) >= VERIFY_BATCH:
                missing += check(batch)
                batch = []
        if batch:
            missing += check(batch)
        return missing
