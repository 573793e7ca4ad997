"""The command line as a user runs it: real processes, real exit codes, stable JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.demo import LoopbackSite, Response

REGWIRE = [sys.executable, "-m", "pipeline.cli"]


def regwire(*args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 120):
    full_env = {**os.environ, "REGWIRE_HOME": str(home), "REGWIRE_ALLOW_NETWORKS": "127.0.0.0/8",
                "REGWIRE_HOST_DELAY": "0", "COLUMNS": "200", **(env or {})}
    return subprocess.run([*REGWIRE, *args], env=full_env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-home")
    result = regwire("demo", "--home", str(home), home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    return home, result.stdout


def test_demo_runs_offline_and_finds_the_seed_article(demo_home):
    _home, output = demo_home
    assert "sample news site at http://127.0.0.1:" in output
    assert "Kazakhstan ready to legalize crypto-to-cash conversion, says president" in output
    for source in ("ledger-news-rss", "ledger-news-atom", "ledger-news-json"):
        assert source in output
    # the saved "Kazakhstan" alert fired, and its webhook on loopback received the seed article
    assert "saved alert 'Kazakhstan crypto-to-cash'" in output
    assert "→ [Kazakhstan crypto-to-cash] Kazakhstan ready to legalize crypto-to-cash conversion" in output


def test_search_json_is_stable(demo_home):
    home, _ = demo_home
    result = regwire("search", "Kazakhstan", "--json", "--limit", "3", home=home)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"total", "hits", "facets", "query"}
    first = data["hits"][0]
    assert set(first) == {"id", "score", "title", "url", "source", "published", "language", "snippet", "topics",
                          "jurisdictions", "relevance", "story_id", "story_size"}
    assert first["story_size"] >= 1 and first["story_id"]
    assert first["title"].startswith("Kazakhstan ready to legalize")
    assert data["facets"]["source"]


def test_search_filters_and_human_output(demo_home):
    home, _ = demo_home
    since = regwire("search", "--since", "2024-01-01", "--sort", "date", "--json", home=home)
    dates = [h["published"] for h in json.loads(since.stdout)["hits"]]
    assert dates and all(d >= "2024-01-01" for d in dates) and dates == sorted(dates, reverse=True)
    human = regwire("search", '"crypto-to-cash"', home=home)
    assert human.returncode == 0 and "article(s) match" in human.stdout


def test_show_by_id_prefix(demo_home):
    home, _ = demo_home
    hit = json.loads(regwire("search", "Kazakhstan", "--json", home=home).stdout)["hits"][0]
    shown = regwire("show", hit["id"][:10], "--json", home=home)
    article = json.loads(shown.stdout)
    assert article["id"] == hit["id"] and article["version"] == 1 and "Tokayev" in article["text"]
    human = regwire("show", hit["id"][:10], home=home)
    assert "Helen Partz" in human.stdout


def test_exit_codes(demo_home, tmp_path):
    home, _ = demo_home
    assert regwire("show", "ffffffffffff", home=home).returncode == 1
    assert regwire("search", '"unbalanced', home=home).returncode == 2
    assert regwire("search", "--limit", "-4", home=home).returncode == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - name: desk\n    feeds: ['ftp://x/']\n")
    result = regwire("run", "--once", "--sources", str(bad), home=home)
    assert result.returncode == 2
    assert str(bad) in result.stderr and "'desk'" in result.stderr and "'feeds'" in result.stderr


def test_run_once_reports_failed_feeds_with_exit_1_and_sources_list_shows_them(tmp_path):
    home = tmp_path / "home"
    with LoopbackSite() as site:
        site.route("/broken.xml", Response(500, b"down"))
        sources = tmp_path / "sources.yaml"
        sources.write_text(f"sources:\n  - name: good\n    feeds: ['{site.url('/feeds/rss.xml')}']\n"
                           f"  - name: bad\n    feeds: ['{site.url('/broken.xml')}']\n")
        result = regwire("run", "--once", "--json", "--sources", str(sources), home=home)
        assert result.returncode == 1, result.stderr
        output = json.loads(result.stdout)
        assert output["alerts"]["ok"] and output["alerts"]["alerts"] == 0  # no alert saved in this home
        reports = {r["source"]: r for r in output["sources"]}
        assert reports["good"]["new"] == 7 and reports["good"]["failed"] == 0
        assert reports["bad"]["failed"] == 1 and "HTTP 500" in reports["bad"]["errors"][0]
        listed = json.loads(regwire("sources", "list", "--json", "--sources", str(sources), home=home).stdout)
        bad = next(r for r in listed if r["source"] == "bad")
        assert bad["consecutive_errors"] == 1 and bad["last_error"] == "HTTP 500 Internal Server Error"
        # the second run: the good feed answers 304, nothing new
        again = json.loads(regwire("run", "--once", "--force", "--json", "--sources", str(sources), home=home).stdout)
        assert {r["source"]: r["not_modified"] for r in again["sources"]}["good"] == 1


def test_sources_check_fetches_and_parses_each_feed(tmp_path):
    with LoopbackSite() as site:
        sources = tmp_path / "sources.yaml"
        sources.write_text(f"sources:\n  - name: demo\n    feeds: ['{site.url('/feeds/feed.json')}',"
                           f" '{site.url('/feeds/missing.xml')}']\n")
        result = regwire("sources", "check", "--json", "--sources", str(sources), home=tmp_path)
        assert result.returncode == 1
        feeds = json.loads(result.stdout)["feeds"]
        assert feeds[0]["ok"] and feeds[0]["items"] == 5
        assert not feeds[1]["ok"] and "404" in feeds[1]["error"]


def test_tag_filters_and_facets_find_the_seed_article(demo_home):
    home, _ = demo_home
    result = json.loads(regwire("search", "--jurisdiction", "kz", "--topic", "fiat-ramp", "--min-relevance", "0.5",
                                "--json", home=home).stdout)
    titles = [h["title"] for h in result["hits"]]
    assert "Kazakhstan ready to legalize crypto-to-cash conversion, says president" in titles
    seed = next(h for h in result["hits"] if h["title"].startswith("Kazakhstan ready"))
    # (the seed's exact subjects and topics are the tagger's tests: tests/test_tagging.py)
    assert "KZ" in seed["jurisdictions"] and {"fiat-ramp", "legalization"} <= set(seed["topics"])
    everything = json.loads(regwire("search", "--json", "--limit", "0", home=home).stdout)
    assert everything["total"] == 13 and everything["facets"]["jurisdiction"]["KZ"] >= 2
    negatives = json.loads(regwire("search", "--min-relevance", "0.5", "--json", "--limit", "50", home=home).stdout)
    assert not any("Bitcoin slides" in h["title"] for h in negatives["hits"])  # price news is not regulation
    shown = json.loads(regwire("show", seed["id"], "--json", home=home).stdout)
    assert shown["tags"]["primary_jurisdiction"] == "KZ"
    assert {"AIFC", "Halyk Bank", "Bank of Russia"} <= {e["name"] for e in shown["tags"]["entities"]}


def test_retag_updates_articles_tagged_by_another_taxonomy(demo_home):
    from pipeline.store import SQLiteStore

    home, _ = demo_home
    with SQLiteStore(home / "regwire.db") as store:
        article = next(store.iter_articles())
        store.set_tags(article.id, article.tags.model_copy(update={"taxonomy_version": "old", "topics": []}))
    result = regwire("retag", home=home)
    assert result.returncode == 0 and "re-tagged 1 article(s)" in result.stdout
    with SQLiteStore(home / "regwire.db") as store:
        assert store.get_article(article.id).tags.taxonomy_version != "old"
    assert "re-tagged 13 article(s)" in regwire("retag", "--all", home=home).stdout


def _feed_polled(db: Path) -> bool:
    """Whether a running ``regwire run`` has saved a feed's state (the end of its first pass over the feed)."""
    import sqlite3

    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM feed_state").fetchone()[0] > 0
    except sqlite3.Error:  # not created yet
        return False


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_run_keeps_polling_until_interrupted_and_stops_cleanly(tmp_path, sig):
    import signal
    import time

    with LoopbackSite() as site:
        sources = tmp_path / "sources.yaml"
        sources.write_text(f"sources:\n  - name: demo\n    feeds: ['{site.url('/feeds/rss.xml')}']\n")
        env = {**os.environ, "REGWIRE_HOME": str(tmp_path / "home"), "REGWIRE_ALLOW_NETWORKS": "127.0.0.0/8",
               "REGWIRE_HOST_DELAY": "0", "COLUMNS": "200"}
        proc = subprocess.Popen([*REGWIRE, "run", "--sources", str(sources)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not _feed_polled(tmp_path / "home" / "regwire.db") and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.5)  # past the first pass (its feed state is saved): now it waits for the feed's next poll
            assert proc.poll() is None, "without --once, run keeps going"
            proc.send_signal(getattr(signal, sig))
            # a pass under way finishes first (on a loaded machine the first one may still be running)
            out, err = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert "regwire run" in out and "demo" in out
        assert "stopped cleanly" in err and "Traceback" not in err
