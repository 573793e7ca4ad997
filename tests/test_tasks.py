"""The task layer (:mod:`pipeline.tasks`) the command line and the DAGs both run, without Airflow: poll, publish,
quality, alerts, maintenance and feed health over real HTTP on 127.0.0.1 and the embedded store; the shared per-host
politeness; the nested settings and the Airflow-connection mapping."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.demo import LoopbackSite, Response, demo_sources_path
from pipeline.errors import ConfigError, SourcePollError
from pipeline.fetch import FileSlotBook, HostLimiter
from pipeline.models import FeedState, FeedStatus
from pipeline.settings import Settings
from pipeline.store import EmbeddedBackend
from pipeline.tasks import (
    batch_ids,
    enabled_sources,
    evaluate_alerts,
    feed_health,
    load_source,
    maintenance,
    poll_source,
    publish_changes,
    quality_report,
    raise_if_failed,
    task_context,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def demo_sources(tmp_path: Path, site: LoopbackSite) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(demo_sources_path().read_text().replace("{{base_url}}", site.base_url))
    return path


def test_the_library_outside_the_adapter_never_imports_airflow() -> None:
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "pipeline").rglob("*.py")
                 if p.name not in ("airflow_helper.py", "airflow_trigger.py") and ("import airflow" in p.read_text()
                                                       or "from airflow" in p.read_text())]
    assert offenders == []
    code = "import sys, pipeline.tasks, pipeline.cli; print(any(m.split('.')[0] == 'airflow' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_poll_is_idempotent_and_each_source_publishes_its_own_batch(settings: Settings, demo_sources: Path) -> None:
    with task_context(settings, tagger=None) as ctx:
        names = enabled_sources(ctx, demo_sources)
        assert names == ["ledger-news-rss", "ledger-news-atom", "ledger-news-json"]
        first = {n: raise_if_failed(poll_source(ctx, load_source(ctx, n, demo_sources))) for n in names}
        assert all(r.new > 0 for r in first.values())
        json.dumps([r.as_json() for r in first.values()])  # XCom-safe
        batches = {n: publish_changes(ctx, 0, source=n) for n in names}
        for name, batch in batches.items():
            assert batch is not None and batch["source"] == name
            assert set(batch["ids"]) == set(first[name].changed_ids)  # exactly this source's articles
        again = [poll_source(ctx, load_source(ctx, n, demo_sources), force=True) for n in names]
        assert sum(r.new + r.updated for r in again) == 0
        assert all(publish_changes(ctx, batches[n]["watermark"], source=n) is None for n in names)


def test_a_failing_feed_raises_with_its_report_and_transient_mark(settings: Settings, site: LoopbackSite,
                                                                  tmp_path: Path) -> None:
    site.route("/feeds/down.xml", Response(500, b"nope"))
    site.route("/feeds/gone.xml", Response(404, b"no such feed"))
    path = tmp_path / "s.yaml"
    path.write_text(f'sources:\n  - name: down\n    feeds: ["{site.base_url}/feeds/down.xml"]\n'
                    f'  - name: missing\n    feeds: ["{site.base_url}/feeds/gone.xml"]\n')
    with task_context(settings, tagger=None) as ctx:
        with pytest.raises(SourcePollError) as down:
            raise_if_failed(poll_source(ctx, load_source(ctx, "down", path)))
        assert down.value.report["failed"] == 1 and "500" in down.value.report["errors"][0]
        assert down.value.transient and down.value.source == "down"
        with pytest.raises(SourcePollError) as missing:
            raise_if_failed(poll_source(ctx, load_source(ctx, "missing", path)))
        assert not missing.value.transient  # a 404 fails the same way on a retry
        states = {s.source: s for s in ctx.store.feed_states()}
        # the transient failure backs off on the exponential schedule, the permanent one waits the longest backoff
        assert states["missing"].next_poll > states["down"].next_poll
        with pytest.raises(ConfigError):
            load_source(ctx, "nowhere", path)
        # the next pass does not poll them (not due) but says they need attention
        report = poll_source(ctx, load_source(ctx, "down", path))
        assert report.ok and report.skipped == 1 and "backing off after 1 failure(s)" in report.backing_off[0]
        health = feed_health(ctx)
        assert health["feeds"] == 2 and len(health["unhealthy"]) == 2


def test_capped_batches_are_read_back_and_feed_quality_and_alerts(settings: Settings, demo_sources: Path) -> None:
    with task_context(settings, tagger=None) as ctx:
        poll_source(ctx, load_source(ctx, "ledger-news-rss", demo_sources))
        full = publish_changes(ctx, 0)
        capped = publish_changes(ctx, 0, max_ids=2)
        assert full is not None and capped is not None
        assert capped["ids_truncated"] and len(capped["ids"]) == 2
        assert batch_ids(ctx, capped) == full["ids"]
        report = quality_report(ctx, [*full["ids"], "nope"])
        assert report["totals"]["articles"] == len(full["ids"]) and report["missing"] == ["nope"]
        alerts = evaluate_alerts(ctx, full["ids"])
        assert alerts.alerts == 0 and alerts.sent == 0  # no alert saved


def test_feed_state_keeps_running_totals_for_metrics(settings: Settings, demo_sources: Path) -> None:
    with task_context(settings, tagger=None) as ctx:
        source = load_source(ctx, "ledger-news-rss", demo_sources)
        first = poll_source(ctx, source)
        poll_source(ctx, source, force=True)  # a 304 this time
        (state,) = ctx.store.feed_states()
    assert state.polls == 2 and state.not_modified_polls == 1 and state.failed_polls == 0
    assert state.new_articles == first.new > 0 and state.updated_articles == 0
    assert state.fetch_seconds_total > 0 and state.last_fetch_seconds is not None


def test_context_closes_only_what_it_opened(settings: Settings) -> None:
    backend = EmbeddedBackend(settings.db_path)
    with task_context(settings, backend=backend, tagger=None) as ctx:
        assert ctx.store.count_articles() == 0
    assert backend.articles.count_articles() == 0  # still open: the caller owns it
    backend.close()


def test_host_slots_are_shared_across_processes_through_the_file_book(tmp_path: Path) -> None:
    """Two limiters (as in two processes: two `regwire run`s, two Airflow workers) on one directory keep the
    per-host delay between them."""
    a = HostLimiter(delay=0.3, book=FileSlotBook(tmp_path))
    b = HostLimiter(delay=0.3, book=FileSlotBook(tmp_path))
    starts: list[float] = []

    def request(limiter: HostLimiter) -> None:
        with limiter.slot("news.example"):
            starts.append(time.time())

    threads = [threading.Thread(target=request, args=(lim,)) for lim in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert len(gaps) == 3 and min(gaps) >= 0.28, gaps
    with HostLimiter(delay=0, book=FileSlotBook(tmp_path)).slot("other.example"):
        pass
    assert not (tmp_path / "other.example.next").exists()


def test_maintenance_rechecks_suspended_feeds(settings: Settings, site: LoopbackSite) -> None:
    with task_context(settings, tagger=None) as ctx:
        ctx.store.save_feed_state(FeedState(feed_url=site.url("/feeds/rss.xml"), source="s",
                                            status=FeedStatus.SUSPENDED, consecutive_errors=10))
        ctx.store.save_feed_state(FeedState(feed_url=site.url("/feeds/gone.xml"), source="s",
                                            status=FeedStatus.SUSPENDED, consecutive_errors=10))
        result = maintenance(ctx, retention_days=30)
        states = {s.feed_url: s for s in ctx.store.feed_states()}
    recovered = {r["feed"]: r["recovered"] for r in result["suspended_feeds"]}
    assert recovered == {site.url("/feeds/rss.xml"): True, site.url("/feeds/gone.xml"): False}
    assert states[site.url("/feeds/rss.xml")].status is FeedStatus.ACTIVE
    assert states[site.url("/feeds/gone.xml")].status is FeedStatus.SUSPENDED
    assert "before" in result["prune"] and result["migrations"] == "not needed by the embedded store"
    json.dumps(result)


class _Admin:
    """The admin side of a search-engine backend, recording what maintenance asks of it."""

    def __init__(self, up_to_date: bool):
        self.up_to_date, self.migrated, self.retried = up_to_date, 0, 0

    def status(self) -> dict:
        return {"mapping_up_to_date": self.up_to_date, "missing_fields": [] if self.up_to_date else ["x"],
                "generation": 1}

    def migrate(self, **_kwargs):
        from dataclasses import dataclass

        @dataclass
        class Report:
            old_index: str = "regwire-articles-v1"
            new_index: str = "regwire-articles-v2"

        self.migrated += 1
        return Report()

    def retry_deadletters(self, ids=None):
        from types import SimpleNamespace

        self.retried += 1
        return SimpleNamespace(resolved=["a"], failed=[])

    def deadletters(self, state="pending", limit=100):
        return []


@pytest.mark.parametrize("up_to_date", [True, False])
def test_maintenance_migrates_only_when_due_and_retries_dead_letters(settings: Settings, up_to_date: bool) -> None:
    backend = EmbeddedBackend(settings.db_path)
    admin = _Admin(up_to_date)
    backend.admin = admin
    with task_context(settings, backend=backend, tagger=None) as ctx:
        result = maintenance(ctx)
    backend.close()
    assert admin.migrated == (0 if up_to_date else 1) and admin.retried == 1
    assert result["migrations"]["due"] is (not up_to_date)
    assert result["deadletters"] == {"resolved": 1, "failed": 0}
    if not up_to_date:
        assert result["migrations"]["report"]["new_index"] == "regwire-articles-v2"
    json.dumps(result)


def test_settings_are_grouped_and_read_flat_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGWIRE_HOME", str(tmp_path))
    monkeypatch.setenv("REGWIRE_HOST_DELAY", "2.5")
    monkeypatch.setenv("REGWIRE_ALERTS_MAX_ATTEMPTS", "7")
    settings = Settings(search_index_prefix="rw")
    assert settings.http.host_delay == 2.5 and settings.alerts.max_attempts == 7
    assert settings.search.index_prefix == "rw" and settings.home == tmp_path
    assert settings.replace(host_delay=0).http.host_delay == 0 and settings.replace(host_delay=0).search.index_prefix
    for name, value in (("REGWIRE_HOST_DELAY", "nan"), ("REGWIRE_MAX_FEED_BYTES", "0"),
                        ("REGWIRE_TOTAL_TIMEOUT", "0"), ("REGWIRE_CONNECT_TIMEOUT", "-1"),
                        ("REGWIRE_MAX_REDIRECTS", "-1"), ("REGWIRE_SUSPEND_AFTER", "0"),
                        ("REGWIRE_HOST_CONCURRENCY", "0"), ("REGWIRE_ALERTS_MAX_ATTEMPTS", "0")):
        with monkeypatch.context() as m:
            m.setenv(name, value)
            with pytest.raises(ConfigError, match=name):
                Settings()


def test_settings_from_airflow_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGWIRE_HOME", str(tmp_path))
    assert Settings.from_airflow_connection(None).search.url is None
    s = Settings.from_airflow_connection({
        "conn_type": "opensearch", "host": "127.0.0.1", "port": 9200, "schema": "https", "login": "u",
        "password": "p", "extra": '{"verify_certs": false, "index_prefix": "rw"}'}).search
    assert s.url == "https://127.0.0.1:9200" and s.engine == "opensearch"
    assert s.username == "u" and s.password is not None and s.password.get_secret_value() == "p"
    assert s.verify_certs is False and s.index_prefix == "rw"
    es = Settings.from_airflow_connection({"conn_type": "elasticsearch", "host": "http://es:9200"}).search
    assert es.url == "http://es:9200" and es.engine == "elasticsearch"
    os_ = Settings.from_airflow_connection({"conn_type": "elasticsearch", "host": "os", "port": 9200,
                                            "extra": {"engine": "opensearch"}}).search
    assert os_.url == "http://os:9200" and os_.engine == "opensearch"
    with pytest.raises(ConfigError, match="not valid JSON"):
        Settings.from_airflow_connection({"host": "es", "extra": "{"})
