"""Benchmark: reading a large sitemap, as one poll does (parse, date every entry, keep the window's entries).

    .venv/bin/python bench/bench_sitemaps.py                 # a 50,000-entry news sitemap (the protocol's maximum)
    .venv/bin/python bench/bench_sitemaps.py --entries 5000 --json

The sitemap is generated (fixed seed; one entry per 10 minutes going back in time, so a 2-day window keeps 288);
the figures are the wall time of ``recent_items(parse_sitemap(...))`` (best of ``--repeat``) and the peak RSS of a
child process that does only that, against its RSS with the document read, so the interpreter's own size is not counted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.sources.sitemaps import SitemapRead, parse_sitemap, recent_items  # noqa: E402

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def news_sitemap(entries: int) -> bytes:
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
            ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">')
    rows = []
    for i in range(entries):
        when = (NOW - timedelta(minutes=10 * i)).isoformat()
        rows.append(f"<url><loc>https://news.example/{2026 - i // 50000}/story-{i}.html</loc><lastmod>{when}</lastmod>"
                    f"<news:news><news:publication><news:name>Example</news:name><news:language>en</news:language>"
                    f"</news:publication><news:publication_date>{when}</news:publication_date>"
                    f"<news:title>Regulator publishes consultation number {i} on crypto asset licensing</news:title>"
                    f"</news:news></url>")
    return (head + "".join(rows) + "</urlset>").encode()


def read_once(content: bytes) -> SitemapRead:
    read = SitemapRead()
    recent_items(parse_sitemap(content, "https://news.example/sitemap.xml"), "https://news.example/sitemap.xml",
                 NOW - timedelta(days=2), read)
    return read


# VmHWM (this process's peak RSS, KiB), not ru_maxrss: after fork and exec, ru_maxrss keeps the parent's peak
_CHILD = """
import re, sys
sys.path.insert(0, {repo!r}); sys.path.insert(0, {bench!r})
from bench_sitemaps import read_once
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
content = open({path!r}, "rb").read()
before = peak()
read = read_once(content)
print(peak() - before, len(read.items))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    content = news_sitemap(args.entries)
    best = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        read = read_once(content)
        best = min(best, time.perf_counter() - started)
    with tempfile.NamedTemporaryFile(suffix=".xml") as saved:
        saved.write(content)
        saved.flush()
        code = _CHILD.format(repo=str(REPO), bench=str(REPO / "bench"), path=saved.name)
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    extra_kib, kept = (int(x) for x in child.stdout.split())
    figures = {"entries": args.entries, "bytes": len(content), "kept_in_window": len(read.items), "seconds": best,
               "entries_per_second": args.entries / best, "extra_peak_rss_mib": extra_kib / 1024}
    assert kept == len(read.items)
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{args.entries:,} entries ({len(content) / 1e6:.1f} MB): {best * 1000:.0f} ms "
              f"({figures['entries_per_second']:,.0f} entries/s), {len(read.items)} in the 2-day window, "
              f"peak RSS +{figures['extra_peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
