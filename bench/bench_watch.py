"""Benchmark: watch, then work, on loopback: N feeds watched by regwire's event trigger, K of them change.

    .venv/bin/python bench/bench_watch.py                       # 500 feeds, 5 change, one watch every 10 s
    .venv/bin/python bench/bench_watch.py --feeds 500 --changed 5 --interval 10 --json

What runs: ``--feeds`` real :class:`pipeline.airflow_trigger.FeedChangeTrigger` instances (one source with one feed
each), all in one asyncio loop as the Airflow triggerer runs them, against a loopback site serving the feeds (with
ETag/304) and the article pages. Every feed was polled before (its validators are in the store), so a round is N
conditional GETs answered 304. After the quiet rounds, K feeds get one new item each; each event the triggers yield is
handed to :func:`pipeline.tasks.poll_source` in a worker thread, the work the ``regwire_watch`` DAG's task does
(fetch, trafilatura extraction, tagging, SQLite FTS5), and the item's time to searchable is measured from the moment
its feed file changed until a search finds it.

Not measured here: Airflow's own scheduling delay between an asset event and the consumer DAG's task start (the
scheduler loop, the executor); see docs/airflow.md for what that adds. All feeds share one loopback host, so
REGWIRE_HOST_DELAY is 0 (500 feeds on 500 hosts each have their own politeness slot; one host with a 1 s delay
would serialise the round to 500 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: when the opening stories were published (fixed, so a changed feed repeats their dates exactly)
OPENED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
WORDS = ("The regulator published final rules for crypto asset service providers on licensing, custody of client "
         "assets, stablecoin reserves and the travel rule. Firms have six months to apply for authorisation and must "
         "appoint a compliance officer resident in the jurisdiction. ")


def page(title: str) -> str:
    body = "".join(f"<p>{WORDS} Paragraph {i} of {title}.</p>" for i in range(8))
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}</article>"
            f"</body></html>")


def feed(n: int, items: list[tuple[str, str, datetime]]) -> str:
    entries = "".join(f"<item><title>{title}</title><link>{{{{base_url}}}}{path}</link><guid>{path}</guid>"
                      f"<pubDate>{format_datetime(when)}</pubDate></item>" for title, path, when in items)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {n}</title>'
            f"<link>{{{{base_url}}}}/</link><description>bench</description>{entries}</channel></rss>")


def build_site(root: Path, feeds: int) -> None:
    now = OPENED
    (root / "feeds").mkdir(parents=True)
    (root / "news").mkdir()
    for n in range(feeds):
        (root / "news" / f"{n}-0.html").write_text(page(f"Feed {n} opening story"))
        (root / "feeds" / f"{n}.xml").write_text(feed(n, [(f"Feed {n} opening story", f"/news/{n}-0.html", now)]))


def add_item(root: Path, n: int, token: str) -> None:
    title = f"Consultation {token} on stablecoin reserves"
    (root / "news" / f"{n}-1.html").write_text(page(title))
    now = datetime.now(UTC)
    (root / "feeds" / f"{n}.xml").write_text(feed(n, [(title, f"/news/{n}-1.html", now),
                                                      (f"Feed {n} opening story", f"/news/{n}-0.html", OPENED)]))


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:  # noqa: C901 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--changed", type=int, default=5)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between watch rounds")
    parser.add_argument("--quiet-rounds", type=int, default=3, help="rounds measured before anything changes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="regwire-bench-watch-"))
    os.environ.update({"REGWIRE_HOME": str(work / "home"), "REGWIRE_ALLOW_NETWORKS": "127.0.0.0/8",
                       "REGWIRE_HOST_DELAY": "0", "AIRFLOW_HOME": str(work / "airflow")})
    import logging

    from pipeline.airflow_trigger import FeedChangeTrigger
    from pipeline.demo import LoopbackSite
    from pipeline.query import SearchQuery
    from pipeline.settings import load_settings
    from pipeline.sources import Source
    from pipeline.store import open_backend
    from pipeline.tasks import poll_source, task_context

    logging.disable(logging.INFO)  # 500 log lines per poll pass would be measured, not the watch
    build_site(work / "site", args.feeds)
    site = LoopbackSite(work / "site").start()
    settings = load_settings()
    sources = [Source(name=f"feed-{n}", feeds=[site.url(f"/feeds/{n}.xml")]) for n in range(args.feeds)]
    # every feed polled once before: validators and the opening story in the store
    started = time.monotonic()
    with task_context(settings, tagger=None) as ctx:
        for source in sources:
            poll_source(ctx, source, force=True)
        baseline_articles = ctx.store.count_articles()
    setup_seconds = time.monotonic() - started
    by_name = {s.name: s for s in sources}

    changed_at: dict[str, float] = {}
    searchable_after: dict[str, float] = {}
    events: list[dict] = []
    requests_before = len(site.requests)
    round_cpu: list[float] = []

    def ingest(source_name: str, token: str) -> None:
        with task_context(settings) as ctx:
            poll_source(ctx, by_name[source_name], force=True)
            if ctx.store.search(SearchQuery(q=token)).total:
                searchable_after[source_name] = time.monotonic() - changed_at[source_name]

    async def run() -> None:
        triggers = [FeedChangeTrigger(s.name, s.feeds, interval=args.interval) for s in sources]
        queue: asyncio.Queue = asyncio.Queue()

        async def drive(trigger: FeedChangeTrigger) -> None:
            async for event in trigger.run():
                await queue.put(event.payload)

        tasks = [asyncio.create_task(drive(t)) for t in triggers]
        # quiet rounds: everything answers 304; CPU per round (the triggers run in step)
        for _ in range(args.quiet_rounds):
            c0 = cpu()
            await asyncio.sleep(args.interval)
            round_cpu.append(cpu() - c0)
        tokens = {}
        for n in range(0, args.feeds, max(1, args.feeds // args.changed))[: args.changed]:
            name = f"feed-{n}"
            tokens[name] = f"zq{n}token"
            add_item(work / "site", n, tokens[name])
            changed_at[name] = time.monotonic()
        workers = []
        deadline = time.monotonic() + 3 * args.interval + 60
        while len(searchable_after) < len(tokens) and time.monotonic() < deadline:
            try:
                payload = await asyncio.wait_for(queue.get(), timeout=1)
            except TimeoutError:
                continue
            events.append(payload)
            thread = threading.Thread(target=ingest, args=(payload["source"], tokens.get(payload["source"], "")))
            thread.start()
            workers.append(thread)
            await asyncio.sleep(0)
            while any(w.is_alive() for w in workers) and len(searchable_after) < len(tokens):
                await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    site.stop()
    with open_backend(settings) as backend:
        articles = backend.articles.count_articles()
    figures = {
        "feeds": args.feeds, "changed": args.changed, "interval_s": args.interval,
        "setup_polls_s": round(setup_seconds, 1), "baseline_articles": baseline_articles,
        "quiet_round_cpu_s": [round(c, 3) for c in round_cpu],
        # the first round includes each trigger's start (settings, client, store connection): steady state after it
        "steady_round_cpu_per_feed_ms": round(1000 * min(round_cpu[1:] or round_cpu) / args.feeds, 3),
        "requests_during_watch": len(site.requests) - requests_before,
        "events": len(events), "event_sources": sorted({e["source"] for e in events}),
        "task_runs_started": len(events),
        "time_to_searchable_s": {k: round(v, 2) for k, v in sorted(searchable_after.items())},
        "articles_after": articles,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:32} {value}")
    return 0 if len(searchable_after) == args.changed and len(events) == args.changed else 1


if __name__ == "__main__":
    raise SystemExit(main())
