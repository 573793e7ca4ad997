"""Search-engine backends beyond the shared contract: dead letters, retries, a node stopped mid-run, migration
under concurrent writes, settings and error mapping. Real OpenSearch node (tests/searchnode.py); the
"elasticsearch" cases run elasticsearch-py through the loopback CompatProxy against that OpenSearch node.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from searchnode import SearchNode, shared_compat_proxy, shared_search_node
from test_store_contract import drop_prefix, make_search_store
from typer.testing import CliRunner

from pipeline.errors import SearchEngineRequestError, SearchEngineUnavailableError, StoreError
from pipeline.models import Article, WriteOutcome
from pipeline.query import SearchQuery
from pipeline.settings import Settings
from pipeline.sources import load_sources
from pipeline.store import EmbeddedBackend, EngineBackend, SQLiteStore, Store, open_backend
from pipeline.store.base import ArticleWrite
from pipeline.store.engine.bulk import BulkItem, chunk_actions
from pipeline.store.engine.store import SearchEngineStore
from pipeline.tasks import poll_sources, task_context

pytestmark = pytest.mark.slow
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
DEMO_SOURCES = Path(__file__).resolve().parents[1] / "pipeline" / "demo" / "sources.yaml"


@pytest.fixture(scope="session")
def search_node():
    return shared_search_node()


@pytest.fixture(params=["opensearch", "elasticsearch"])
def engine_store(request, search_node):
    url = search_node.url if request.param == "opensearch" else shared_compat_proxy().url
    store = make_search_store(request.param, url, backoff_base=0.01)
    yield store
    drop_prefix(store)
    store.close()


@pytest.fixture
def os_store(search_node):
    store = make_search_store("opensearch", search_node.url, backoff_base=0.01)
    yield store
    drop_prefix(store)
    store.close()


#: a keyword term over Lucene's 32,766-byte limit: the engine refuses the document (record fields are capped on the
#: way in, pipeline/caps.py; the feed URL a store is handed is not, so it stands in for any immense term)
IMMENSE_FEED_URL = "https://news.example/feed?" + "x" * 40_000


def article_write(n: int, *, language: str = "en", text: str = "", feed_url: str | None = None) -> ArticleWrite:
    url = f"https://news.example/a/{n}"
    return ArticleWrite(
        article=Article(url=url, canonical_url=url, title=f"Regulator update number {n}",
                        text=text or f"Body of article {n} about licensing and stablecoins.",
                        published=T0 + timedelta(minutes=n), language=language),
        source=f"src{n % 3}", fetched_at=T0 + timedelta(minutes=n), feed_url=feed_url)


# -- dead letters ---------------------------------------------------------------------------------------------------


def test_poisoned_document_goes_to_dead_letter_and_the_rest_is_indexed(engine_store):
    store = engine_store
    poison = article_write(2, feed_url=IMMENSE_FEED_URL)  # an immense keyword term: Lucene refuses the document
    writes = [article_write(1), poison, article_write(3)]
    results = store.write_articles(writes)
    assert [r.id for r in results] == [writes[0].id, writes[2].id]
    assert [r.outcome for r in results] == [WriteOutcome.NEW, WriteOutcome.NEW]
    assert store.count_articles() == 2
    (dead,) = store.last_deadlettered
    assert dead.article_id == poison.id and dead.status == 400 and "immense term" in dead.reason
    assert [d.article_id for d in store.deadletters()] == [poison.id]
    # no version and no change was recorded for the rejected article
    pairs, _ = store.changes_since(0)
    assert sorted(pairs) == sorted([(writes[0].id, 1), (writes[2].id, 1)])
    # retry while the mapping still refuses it: still a dead letter, attempts counted
    report = store.retry_deadletters()
    assert report.resolved == [] and report.failed[0].attempts == 2
    # fix the mapping (ignore_above is updatable in place), retry: resolved and searchable
    (physical,) = store.physical_indices()
    store.client.request("PUT", f"/{physical}/_mapping",
                         body={"properties": {"feed_url": {"type": "keyword", "ignore_above": 2048}}})
    report = store.retry_deadletters()
    assert len(report.resolved) == 1 and report.failed == []
    assert store.count_articles() == 3 and store.deadletters() == []
    assert store.get_article(poison.id).version == 1
    assert [d.state for d in store.deadletters(state=None)] == ["resolved"]


# -- retries --------------------------------------------------------------------------------------------------------


class FlakyAdapter:
    """Wraps a real adapter: the first ``whole`` bulk requests fail with 429; afterwards the first response marks
    items for ``ids`` as 503 (they were written anyway: a retry must be idempotent)."""

    def __init__(self, inner, *, whole: int = 0, item_ids: set[str] = frozenset(), item_times: int = 1):
        self.inner, self.engine = inner, inner.engine
        self.whole, self.item_ids, self.item_times = whole, set(item_ids), item_times
        self.bulk_calls = 0

    def request(self, *args, **kwargs):
        return self.inner.request(*args, **kwargs)

    def bulk(self, ndjson, *, params=None):
        self.bulk_calls += 1
        if self.whole > 0:
            self.whole -= 1
            raise SearchEngineUnavailableError("HTTP 429 too many requests", status=429, reason="rejected")
        resp = self.inner.bulk(ndjson, params=params)
        if self.item_times > 0 and self.item_ids:
            self.item_times -= 1
            for item in resp["items"]:
                (outcome,) = item.values()
                if outcome["_id"] in self.item_ids:
                    outcome["status"] = 503
                    outcome["error"] = {"type": "unavailable_shards_exception", "reason": "simulated"}
        return resp

    def close(self):
        self.inner.close()


def test_429_and_5xx_items_are_retried_with_backoff(os_store):
    sleeps: list[float] = []
    writes = [article_write(n) for n in range(10)]
    flaky = FlakyAdapter(os_store.client, whole=2, item_ids={writes[3].id, writes[7].id})
    store = SearchEngineStore(flaky, prefix=os_store.names.prefix, sleep=sleeps.append, backoff_base=0.5,
                              max_attempts=5)
    results = store.write_articles(writes)
    assert [r.outcome for r in results] == [WriteOutcome.NEW] * 10
    assert sleeps == [0.5, 1.0, 2.0]  # two whole-request 429s, then one round for the two 503 items
    assert store.stats["retried"] == 10 + 10 + 2 and store.last_deadlettered == []
    assert store.count_articles() == 10
    assert sorted(store.changes_since(0)[0]) == sorted((w.id, 1) for w in writes)
    # written twice (the simulated 503 had gone through): still one document, one version
    assert store.search(SearchQuery(q="regulator", limit=50)).total == 10


def test_transient_failures_past_the_attempt_limit_raise_and_keep_nothing_back(os_store):
    flaky = FlakyAdapter(os_store.client, whole=99)
    store = SearchEngineStore(flaky, prefix=os_store.names.prefix, sleep=lambda s: None, max_attempts=3)
    with pytest.raises(SearchEngineUnavailableError, match="after 3 attempt"):
        store.write_articles([article_write(1)])
    assert flaky.bulk_calls == 3 and store.deadletters() == []


def test_chunking_by_count_and_bytes():
    items = [BulkItem("index", "i", str(n), {"text": "x" * 100}) for n in range(10)]
    assert [len(c.items) for c in chunk_actions(items, max_actions=4)] == [4, 4, 2]
    assert [len(c.items) for c in chunk_actions(items, max_bytes=300)] == [2] * 5
    assert chunk_actions(items[:1])[0].ndjson().count("\n") == 2
    blocked = BulkItem("index", "i", "1", {}, status=403,
                       error={"type": "cluster_block_exception", "reason": "index [i] blocked by: [FORBIDDEN/8/index write (api)];"})
    refused = BulkItem("index", "i", "2", {}, status=400, error={"type": "mapper_parsing_exception", "reason": "x"})
    assert blocked.transient and not refused.transient  # a retired index is retried (the alias moved on)


# -- the node stopped mid-run ---------------------------------------------------------------------------------------


def run_sources(settings, store, sources, *, force=False):
    """The task layer's poll over ``store`` (untagged: tagging is not what this file tests)."""
    with task_context(settings, backend=EmbeddedBackend(settings.db_path, articles=store), tagger=None) as ctx:
        return poll_sources(ctx, sources, force=force)


def test_node_stopped_mid_run_loses_nothing(tmp_path, settings, site):
    """Stop the node just before the pipeline's first write; every feed fails (recorded in the report) and no cache
    validator is saved; after a restart the next run fetches again and the counts match the embedded store's."""
    sources = load_sources(DEMO_SOURCES, substitutions={"base_url": site.base_url})
    reference = SQLiteStore(tmp_path / "ref.db")
    with reference:
        run_sources(settings, reference, sources)
        expected = reference.count_articles()
    assert expected > 5

    node = SearchNode(data_dir=tmp_path / "node")
    node.start()
    try:
        store = make_search_store("opensearch", node.url, max_attempts=2, backoff_base=0.05)
        original = store.write_articles

        def stop_then_write(writes):
            if node.running:
                node.stop()
            return original(writes)

        store.write_articles = stop_then_write
        failed = run_sources(settings, store, sources)  # every feed fails and says why; the run itself completes
        assert all(r.failed and r.new == 0 for r in failed)
        assert any("feed state not saved" in e or "cannot read feed state" in e for r in failed for e in r.errors)
        node.restart()
        store.write_articles = original
        assert store.count_articles() == 0
        assert all(not s.etag for s in store.feed_states())
        reports = run_sources(settings, store, sources)
        assert sum(r.new for r in reports) == expected and not any(r.failed for r in reports)
        assert store.count_articles() == expected
        assert len(store.changes_since(0)[0]) == expected
        assert {s.feed_url for s in store.feed_states() if s.etag} == {f for src in sources for f in src.feeds}
        # a second run is all 304s: nothing duplicated
        again = run_sources(settings, store, sources, force=True)
        assert sum(r.new for r in again) == 0 and store.count_articles() == expected
        store.close()
    finally:
        node.close()


# -- migration ------------------------------------------------------------------------------------------------------


class AliasSwapHook:
    """Adapter wrapper that runs callbacks just before and just after the alias swap of a migration."""

    def __init__(self, inner, before, after):
        self.inner, self.engine, self.before, self.after = inner, inner.engine, before, after

    def request(self, method, path, **kwargs):
        if (method, path) == ("POST", "/_aliases"):
            self.before()
            result = self.inner.request(method, path, **kwargs)
            self.after()
            return result
        return self.inner.request(method, path, **kwargs)

    def bulk(self, *args, **kwargs):
        return self.inner.bulk(*args, **kwargs)

    def close(self):
        pass


def test_migrate_with_concurrent_writes(os_store, search_node):
    store = os_store
    preload = [article_write(n) for n in range(3000)]
    for start in range(0, len(preload), 500):
        store.write_articles(preload[start:start + 500])
    writer = make_search_store("opensearch", search_node.url, prefix=store.names.prefix)  # another worker
    stop = threading.Event()
    written: list[str] = []
    errors: list[BaseException] = []

    def keep_writing():
        n = 100_000
        try:
            while not stop.is_set() or len(written) < 200:
                batch = [article_write(n + i) for i in range(10)]
                # new articles, and new versions of preloaded ones
                batch += [article_write(m % 3000, text=f"Revised body {m}") for m in range(n, n + 2)]
                written.extend(r.id for r in writer.write_articles(batch))
                n += 10
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    # deterministic writes on both sides of the swap: after the copy (old index) and after the swap (new index)
    before = [article_write(200_000), article_write(5, text="Revised before the swap")]
    after = [article_write(200_001), article_write(6, text="Revised after the swap")]
    hooked = SearchEngineStore(AliasSwapHook(store.client, lambda: writer.write_articles(before),
                                             lambda: writer.write_articles(after)),
                               prefix=store.names.prefix, ensure_schema=False)
    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        report = hooked.migrate()
    finally:
        stop.set()
        thread.join(60)
    assert not errors, errors
    assert report.old_index.endswith("-v1") and report.new_index.endswith("-v2")
    assert report.missing == 0 and report.new_count >= report.old_count
    assert report.caught_up >= 2  # at least the two writes that reached the old index after the copy
    assert store.physical_indices() == [report.new_index]
    unique = set(written) | {w.id for w in preload + before + after}
    assert store.count_articles() == len(unique)
    found = store.client.request("POST", f"/{store.names.articles}/_mget", body={"ids": sorted(unique)},
                                 params={"_source": "false"})["docs"]
    assert all(d["found"] for d in found)
    assert store.get_article(before[1].id).text == "Revised before the swap"
    assert store.get_article(after[1].id).text == "Revised after the swap"
    # versions went on counting through the swap: the last version in the history is the current one
    pairs, _ = store.changes_since(0)
    latest: dict[str, int] = {}
    for article_id, version in pairs:
        latest[article_id] = max(latest.get(article_id, 0), version)
    touched = [i for i, v in latest.items() if v > 1]
    assert touched and [i for i in touched if store.get_article(i).version != latest[i]] == []
    status = store.status()
    assert status["mapping_up_to_date"] and status["generation"] == 2
    writer.close()


# -- settings, errors, CLI ------------------------------------------------------------------------------------------


def test_open_backend_selects_the_backend(tmp_path, search_node):
    with open_backend(Settings(home=tmp_path)) as embedded:
        assert isinstance(embedded.articles, SQLiteStore) and embedded.admin is None
    backend = open_backend(Settings(home=tmp_path, search_url=search_node.url, search_engine="opensearch",
                                    search_index_prefix="t-open-store"))
    assert isinstance(backend, EngineBackend) and backend.admin is backend.articles
    store = backend.articles
    try:
        assert isinstance(store, SearchEngineStore) and store.engine == "opensearch"
        assert isinstance(store, Store)  # every method of the protocol is there
        assert store.count_articles() == 0
    finally:
        drop_prefix(store)
        store.close()
    proxy = shared_compat_proxy()
    store = open_backend(Settings(home=tmp_path, search_url=proxy.url, search_index_prefix="t-open-store-es")).articles
    try:
        assert store.engine == "elasticsearch" and store.count_articles() == 0
    finally:
        drop_prefix(store)
        store.close()


@pytest.mark.parametrize("engine", ["opensearch", "elasticsearch"])
def test_errors_map_to_store_errors(engine, search_node):
    from searchnode import free_port

    with pytest.raises(SearchEngineUnavailableError):
        make_search_store(engine, f"http://127.0.0.1:{free_port()}")
    url = search_node.url if engine == "opensearch" else shared_compat_proxy().url
    store = make_search_store(engine, url)
    try:
        with pytest.raises(SearchEngineRequestError) as info:
            store.client.request("POST", f"/{store.names.articles}/_search", body={"query": {"nope": {}}})
        assert info.value.status == 400 and isinstance(info.value, StoreError)
        with pytest.raises(SearchEngineRequestError) as info:
            store.client.request("GET", "/no-such-index-here/_doc/1")
        assert info.value.status == 404
    finally:
        drop_prefix(store)
        store.close()


def test_cli_index_and_deadletter_commands(search_node, monkeypatch):
    from pipeline.cli.index import deadletter_app, index_app

    prefix = "t-cli"
    monkeypatch.setenv("REGWIRE_SEARCH_URL", search_node.url)
    monkeypatch.setenv("REGWIRE_SEARCH_ENGINE", "opensearch")
    monkeypatch.setenv("REGWIRE_SEARCH_INDEX_PREFIX", prefix)
    store = make_search_store("opensearch", search_node.url, prefix=prefix)
    try:
        store.write_articles([article_write(1), article_write(2, feed_url=IMMENSE_FEED_URL)])
        runner = CliRunner()
        res = runner.invoke(index_app, ["status", "--json"])
        assert res.exit_code == 0, res.output
        status = json.loads(res.output)
        assert status["articles"] == 1 and status["deadletter_pending"] == 1 and status["generation"] == 1
        res = runner.invoke(deadletter_app, ["list", "--json"])
        assert res.exit_code == 0 and json.loads(res.output)[0]["status"] == 400
        res = runner.invoke(deadletter_app, ["retry"])
        assert res.exit_code == 1 and "still rejected" in res.output
        res = runner.invoke(index_app, ["migrate", "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["new_index"] == f"{prefix}-articles-v2"
    finally:
        drop_prefix(store)
        store.close()


def test_cli_needs_a_search_engine(monkeypatch, tmp_path):
    from pipeline.cli.index import deadletter_app, index_app

    monkeypatch.delenv("REGWIRE_SEARCH_URL", raising=False)
    monkeypatch.setenv("REGWIRE_HOME", str(tmp_path))
    for app, args in ((index_app, ["status"]), (deadletter_app, ["list"])):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2 and "REGWIRE_SEARCH_URL" in res.output
