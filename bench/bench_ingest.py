"""Ingest side by side on this machine: ``regwire run --once`` next to raw httpx + trafilatura + FTS5 scripts, over a
loopback fixture site in 20 feeds (by default the 181 real news pages of bench/corpus in turn, ~730 words each, full
markup; ``--site synth`` for light synthetic ~600-word pages); then peak memory by size, crash count over
consecutive runs, and start time.

    .venv/bin/python bench/bench_ingest.py [--pages 2000] [--rounds 2] [--rss-sizes 500,5000] [--crash-runs 5]
                                           [--crash-pages 500] [--workers 2] [--site corpus|synth]

Each variant runs as a fresh process (rounds alternate the variants, medians reported): "raw 1 process" (20 threads
fetching and extracting, bench/raw_ingest.py), "raw 2 processes" (the same threads, extraction in a 2-process pool),
and "regwire" (``regwire run --once`` over 20 sources of one feed each: politeness, robots.txt, feed parsing, dedup,
tagging, versions and the store included; ``REGWIRE_EXTRACT_WORKERS`` = ``--workers``). All pages are on one
loopback host, so regwire runs with ``REGWIRE_HOST_CONCURRENCY=4`` and no host delay (20 real sites would be 20
hosts). CPU and peak memory are those of the whole process tree (sampled from /proc every 50 ms; memory is the
PSS summed over the tree's processes, so pages the forked workers share count once). Targets (issue 16): regwire
>= 1.8x raw 1-process articles/s, CPU per article within 1.2x of raw 2-process, peak RSS < 250 MiB and flat
from 500 to 5,000 articles, no crash in consecutive runs, ``--help`` < 0.5 s.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import synth  # noqa: E402

from pipeline.demo import LoopbackSite, Response  # noqa: E402

PYTHON = str(Path(sys.executable))
REGWIRE = str(Path(sys.executable).with_name("regwire"))
FEEDS = 20
TICKS = os.sysconf("SC_CLK_TCK")


def corpus_pages() -> list[bytes]:
    """The 181 real news pages of bench/corpus (full markup: navigation, scripts, sidebars, comments)."""
    folder = ROOT / "bench" / "corpus" / "article-extraction-benchmark" / "html"
    return [gzip.decompress(path.read_bytes()) for path in sorted(folder.glob("*.html.gz"))]


def fixture_site(site: LoopbackSite, pages: int, kind: str = "corpus") -> list[str]:
    """Routes for ``pages`` articles in ``FEEDS`` RSS feeds; returns the feed URLs. ``corpus``: the real pages of
    bench/corpus in turn (each under its own URL); ``synth``: light synthetic pages of ~600 words (bench/synth.py)."""
    feeds: list[list[str]] = [[] for _ in range(FEEDS)]
    real = corpus_pages() if kind == "corpus" else []
    for n, a in enumerate(synth.articles(pages)):
        path = f"/{a['source']}/article-{n}.html"
        page = real[n % len(real)] if real else synth.page_html(a, site.url(path))
        site.route(path, Response(200, page, {"Content-Type": "text/html; charset=utf-8"}))
        date = a["published"].strftime("%a, %d %b %Y %H:%M:%S +0000")  # type: ignore[attr-defined]
        feeds[n % FEEDS].append(f"<item><title>{a['title']}</title><link>{site.url(path)}</link>"
                                f"<pubDate>{date}</pubDate></item>")
    urls = []
    for i, items in enumerate(feeds):
        body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {i}</title>'
                f"<link>{site.url('/')}</link>{''.join(items)}</channel></rss>").encode()
        site.route(f"/feed-{i}.xml", Response(200, body, {"Content-Type": "application/rss+xml"}))
        urls.append(site.url(f"/feed-{i}.xml"))
    return urls


def _tree(root: int) -> list[int]:
    """``root`` and its descendants (from each task's ``children`` list: cheap enough for 20 samples a second)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                todo += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return found


def _pss(pid: int) -> int:
    """Proportional set size in bytes: pages shared by forked workers counted once over the tree."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_measured(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``cmd``; wall seconds, CPU seconds and peak memory (MiB, PSS summed over its process tree)."""
    started = time.perf_counter()
    # output to files, not pipes: a pipe nobody reads while the process runs would stall its last write
    out_file, err_file = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cmd, env=env, stdout=out_file, stderr=err_file, text=True)
    cpu: dict[int, float] = {}
    peak = 0
    while proc.poll() is None:
        rss = 0
        for pid in _tree(proc.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            cpu[pid] = (int(fields[11]) + int(fields[12])) / TICKS
            rss += _pss(pid)
        peak = max(peak, rss)
        time.sleep(0.05)
    wall = time.perf_counter() - started
    out_file.seek(0)
    err_file.seek(0)
    out, err = out_file.read(), err_file.read()
    out_file.close()
    err_file.close()
    return {"wall_s": wall, "cpu_s": sum(cpu.values()), "peak_rss_mib": peak / 2**20, "returncode": proc.returncode,
            "stdout": out, "stderr": err[-2000:]}


def regwire_env(home: Path, workers: int) -> dict[str, str]:
    return {**os.environ, "REGWIRE_HOME": str(home), "REGWIRE_ALLOW_NETWORKS": "127.0.0.0/8",
            "REGWIRE_HOST_DELAY": "0", "REGWIRE_HOST_CONCURRENCY": "4", "REGWIRE_EXTRACT_WORKERS": str(workers),
            "REGWIRE_LOG_LEVEL": "ERROR"}


def run_regwire(feeds: list[str], pages: int, workers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        sources = Path(tmp) / "sources.yaml"
        per_feed = -(-pages // FEEDS)
        sources.write_text("sources:\n" + "".join(
            f"  - name: bench-{i}\n    feeds: ['{url}']\n    max_articles_per_poll: {per_feed}\n"
            for i, url in enumerate(feeds)))
        result = run_measured([REGWIRE, "run", "--once", "--json", "--sources", str(sources)],
                              regwire_env(Path(tmp) / "home", workers))
        try:
            report = json.loads(result["stdout"])
            result["articles"] = sum(s["new"] for s in report["sources"])
        except (json.JSONDecodeError, KeyError):
            result["articles"] = 0
    return result


def run_raw(feeds: list[str], processes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        result = run_measured([PYTHON, str(ROOT / "bench" / "raw_ingest.py"), *feeds, "--db", f"{tmp}/raw.db",
                               "--processes", str(processes)], dict(os.environ))
        result["articles"] = int(result["stdout"].strip() or 0) if result["returncode"] == 0 else 0
    return result


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    ok = [r for r in runs if r["returncode"] == 0 and r["articles"]]
    if not ok:
        return {"failed_runs": len(runs), "stderr": runs[-1]["stderr"]}  # type: ignore[dict-item]
    return {"articles": ok[0]["articles"],
            "articles_per_s": round(statistics.median(r["articles"] / r["wall_s"] for r in ok), 1),
            "cpu_ms_per_article": round(statistics.median(1000 * r["cpu_s"] / r["articles"] for r in ok), 1),
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in ok)), "failed_runs": len(runs) - len(ok)}


def bench_throughput(args: argparse.Namespace) -> dict[str, object]:
    variants = {"raw 1 process": lambda f: run_raw(f, 0), "raw 2 processes": lambda f: run_raw(f, 2),
                "regwire": lambda f: run_regwire(f, args.pages, args.workers)}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    with LoopbackSite(Path(tempfile.mkdtemp())) as site:
        feeds = fixture_site(site, args.pages, args.site)
        for _ in range(args.rounds):
            for name, run in variants.items():
                runs[name].append(run(feeds))
                print(name, {k: v for k, v in runs[name][-1].items() if k not in ("stdout", "stderr")},
                      file=sys.stderr, flush=True)
    result: dict[str, object] = {name: summary(r) for name, r in runs.items()}
    ours, one, two = (result[n] for n in ("regwire", "raw 1 process", "raw 2 processes"))
    if all("articles_per_s" in r for r in (ours, one, two)):  # type: ignore[operator]
        result["regwire_vs_raw_1_process"] = round(ours["articles_per_s"] / one["articles_per_s"], 2)  # type: ignore[index]
        result["regwire_cpu_vs_raw_2_processes"] = round(
            ours["cpu_ms_per_article"] / two["cpu_ms_per_article"], 2)  # type: ignore[index]
    return result


def bench_rss(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    for size in args.rss_sizes:
        with LoopbackSite(Path(tempfile.mkdtemp())) as site:
            result = run_regwire(fixture_site(site, size, args.site), size, args.workers)
        out[str(size)] = {"articles": result["articles"], "peak_rss_mib": round(result["peak_rss_mib"]),
                          "articles_per_s": round(result["articles"] / result["wall_s"], 1),
                          "returncode": result["returncode"]}
        print("rss", size, out[str(size)], file=sys.stderr, flush=True)
    return out


def bench_crashes(args: argparse.Namespace) -> dict[str, object]:
    codes: dict[str, list[int]] = {"regwire": [], "raw 1 process": []}
    with LoopbackSite(Path(tempfile.mkdtemp())) as site:
        feeds = fixture_site(site, args.crash_pages, args.site)
        for _ in range(args.crash_runs):
            codes["regwire"].append(int(run_regwire(feeds, args.crash_pages, args.workers)["returncode"]))
            codes["raw 1 process"].append(int(run_raw(feeds, 0)["returncode"]))
    return {"runs": args.crash_runs, "pages": args.crash_pages, "exit_codes": codes}


def bench_start() -> dict[str, float]:
    times = []
    for _ in range(7):
        t = time.perf_counter()
        subprocess.run([REGWIRE, "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return {"regwire_help_s": round(statistics.median(times), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rss-sizes", type=lambda s: [int(x) for x in s.split(",") if x], default=[500, 5000])
    parser.add_argument("--crash-runs", type=int, default=5)
    parser.add_argument("--crash-pages", type=int, default=500)
    parser.add_argument("--site", choices=["corpus", "synth"], default="corpus",
                        help="pages: the real corpus pages in turn, or light synthetic ones")
    parser.add_argument("--only", choices=["throughput", "rss", "crashes", "start"], action="append")
    args = parser.parse_args()
    parts = {"start": bench_start, "throughput": lambda: bench_throughput(args), "rss": lambda: bench_rss(args),
             "crashes": lambda: bench_crashes(args)}
    report: dict[str, object] = {"pages": args.pages, "site": args.site, "rounds": args.rounds, "workers": args.workers,
                                 "cores": os.cpu_count(), "load_average_before": os.getloadavg()[0]}
    for name, part in parts.items():
        if not args.only or name in args.only:
            report[name] = part()
    report["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
