"""The raw baseline of bench/bench_ingest.py: feeds → pages with httpx in threads → ``trafilatura.bare_extraction``
(in the fetching threads, or in ``--processes`` worker processes) → one FTS5 insert per page. No politeness, no
tagging, no versions: the floor any pipeline doing the same work sits on.

    .venv/bin/python bench/raw_ingest.py FEED_URL... --db out.db [--threads 20] [--processes 0]
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import httpx
import trafilatura


def extract(html: bytes, url: str) -> tuple[str, str]:
    doc = trafilatura.bare_extraction(html.decode("utf-8", "replace"), url=url, with_metadata=True,
                                      include_comments=False)
    return (doc.title or "", doc.text or "") if doc else ("", "")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("feeds", nargs="+")
    parser.add_argument("--db", required=True)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--processes", type=int, default=0)
    args = parser.parse_args()
    db = sqlite3.connect(args.db, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS docs USING fts5(title, text,"
               " tokenize='porter unicode61 remove_diacritics 2')")
    lock = threading.Lock()
    client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=args.threads))
    pool = ProcessPoolExecutor(args.processes) if args.processes else None

    def one_feed(feed: str) -> int:
        links = re.findall(r"<link>([^<]+)</link>", client.get(feed).text)[1:]  # the first is the channel's
        for url in links:
            html = client.get(url).content
            title, text = pool.submit(extract, html, url).result() if pool else extract(html, url)
            with lock:
                db.execute("INSERT INTO docs (title, text) VALUES (?, ?)", (title, text))
        return len(links)

    with ThreadPoolExecutor(args.threads) as threads:
        done = sum(threads.map(one_feed, args.feeds))
    if pool:
        pool.shutdown()
    print(done)


if __name__ == "__main__":
    main()
