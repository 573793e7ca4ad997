"""Extraction and tagging in worker processes: the same results as in the polling process, a crashing or hanging
page costs that page only (the worker is replaced), and the pipeline records the reason and goes on."""

from __future__ import annotations

import functools
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from pipeline.demo import LoopbackSite
from pipeline.errors import ExtractionError, ExtractionWorkerError, FeedParseError
from pipeline.fetch import Fetcher
from pipeline.models import FeedItem
from pipeline.sources import load_sources
from pipeline.store import EmbeddedBackend, SQLiteStore
from pipeline.tasks import TaskContext, poll_source
from pipeline.tasks.ingest import article_and_tags
from pipeline.tasks.workers import ExtractionPool, TaggerSpec, WorkerState, parse_feed_in_worker
from tests.test_pipeline import Clock, article_page, rss


def crash_or_hang(fn: Any, state: WorkerState, item: FeedItem, *args: Any) -> Any:
    """The real job, except that a page under /crash/ kills its worker with SIGSEGV and one under /hang/ sleeps."""
    if "/crash/" in item.url:
        os.kill(os.getpid(), signal.SIGSEGV)
    if "/hang/" in item.url:
        time.sleep(60)
    return fn(state, item, *args)


class CrashingPool(ExtractionPool):
    """A real pool whose article jobs crash or hang on chosen URLs (what trafilatura#840 does at random)."""

    def call(self, fn: Any, *args: Any, what: str = "page") -> Any:
        if fn is article_and_tags:
            return super().call(functools.partial(crash_or_hang, fn), *args, what=what)
        return super().call(fn, *args, what=what)


def item_for(site: LoopbackSite, path: str) -> FeedItem:
    return FeedItem(url=site.url(path), canonical_url=site.url(path), title=path, feed_url=site.url("/feed.xml"))


def extract_all(pool: ExtractionPool, site: LoopbackSite, paths: list[str]) -> list[Any]:
    def one(path: str) -> Any:
        try:
            page = article_page(f"Story {path}", site.url(path), paragraphs=6)
            return pool.call(article_and_tags, item_for(site, path), page, site.url(path), "text/html", "en",
                             what=path)
        except ExtractionError as exc:
            return exc

    with ThreadPoolExecutor(4) as threads:  # several polling threads share the pool
        return list(threads.map(one, paths))


def test_results_in_workers_equal_results_in_process(empty_site):
    paths = [f"/news/{n}.html" for n in range(6)]
    with ExtractionPool(2, tagger=TaggerSpec()) as pool, ExtractionPool(0, tagger=TaggerSpec()) as inline:
        in_workers = extract_all(pool, empty_site, paths)
        in_process = extract_all(inline, empty_site, paths)
    assert in_workers == in_process
    article, tags = in_workers[0]
    assert article.title == "Story /news/0.html" and "consultation on licensing" in article.text
    assert tags is not None and tags.topics  # tagged in the worker with the default taxonomy


def test_errors_raised_in_a_worker_keep_their_type_and_fields():
    with ExtractionPool(1) as pool:
        with pytest.raises(FeedParseError) as caught:
            pool.call(parse_feed_in_worker, b"\x00\x01 not a feed", "http://127.0.0.1:9/feed.xml", None)
    assert caught.value.url == "http://127.0.0.1:9/feed.xml" and caught.value.reason


def test_a_crash_or_a_hang_costs_one_page_and_the_worker_is_replaced(empty_site):
    paths = ["/news/a.html", "/crash/b.html", "/news/c.html", "/hang/d.html", "/news/e.html", "/crash/f.html",
             "/news/g.html"]
    with CrashingPool(2, timeout=3) as pool:
        results = dict(zip(paths, extract_all(pool, empty_site, paths), strict=True))
        after = extract_all(pool, empty_site, ["/news/h.html"])  # both workers were replaced and still work
    for path in ("/news/a.html", "/news/c.html", "/news/e.html", "/news/g.html"):
        assert results[path][0].title == f"Story {path}"
    for path in ("/crash/b.html", "/crash/f.html"):
        assert isinstance(results[path], ExtractionWorkerError) and "SIGSEGV" in str(results[path])
        assert results[path].transient
    assert isinstance(results["/hang/d.html"], ExtractionWorkerError)
    assert "timed out after 3 s" in str(results["/hang/d.html"])
    assert after[0][0].title == "Story /news/h.html"


def test_poll_records_a_crashed_page_and_stores_the_rest(settings, transport, empty_site, tmp_path):
    site = empty_site
    paths = ["/news/1.html", "/crash/2.html", "/news/3.html"]
    for path in paths:
        site.route(path, functools.partial(_page_response, path, site))
    site.route("/feed.xml", _feed_response(site, paths))
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - name: fixture\n    feeds: ['{site.url('/feed.xml')}']\n")
    source = load_sources(sources)[0]
    with SQLiteStore(settings.db_path) as store, CrashingPool(2) as pool:
        ctx = TaskContext(settings, backend=EmbeddedBackend(settings.db_path, articles=store),
                          fetcher=Fetcher(settings, transport=transport), tagger=None, clock=Clock(), extraction=pool)
        report = poll_source(ctx, source)
        assert report.new == 2 == store.count_articles()
        assert report.item_errors == 1 and report.failed == 0
        assert "/crash/2.html" in report.errors[0] and "extraction worker died (signal SIGSEGV)" in report.errors[0]


def _page_response(path: str, site: LoopbackSite, _request: Any) -> Any:
    from pipeline.demo import Response

    return Response(200, article_page(f"Story {path}", site.url(path), paragraphs=6),
                    {"Content-Type": "text/html; charset=utf-8"})


def _feed_response(site: LoopbackSite, paths: list[str]) -> Any:
    from pipeline.demo import Response

    return Response(200, rss(site, [(p, f"Story {p}", None) for p in paths]), {"Content-Type": "application/rss+xml"})


def worker_pid(state: WorkerState) -> int:
    return os.getpid()


def test_workers_are_replaced_after_their_job_quota():
    with ExtractionPool(1, max_jobs_per_worker=2) as pool:
        pids = [pool.call(worker_pid) for _ in range(6)]
    assert len(set(pids)) == 3 and pids[0] == pids[1] != pids[2] and os.getpid() not in pids


def test_workers_start_under_a_main_script_that_cannot_be_imported_again(tmp_path):
    """Airflow's task runner is such a script: multiprocessing would import it again in each worker, and it exits."""
    import subprocess
    import sys

    script = tmp_path / "runner.py"
    script.write_text(
        "import sys\n"
        "if __name__ != '__main__':\n"
        "    sys.exit(1)  # imported again in a child\n"
        "from pipeline.tasks.workers import ExtractionPool, parse_feed_in_worker\n"
        "with ExtractionPool(1) as pool:\n"
        "    feed = b\"<rss version='2.0'><channel><title>t</title><item><title>a</title>"
        "<link>http://127.0.0.1/a</link></item></channel></rss>\"\n"
        "    print(len(pool.call(parse_feed_in_worker, feed, 'http://127.0.0.1/feed.xml', None).items))\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
