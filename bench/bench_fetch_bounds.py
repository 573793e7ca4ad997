"""Benchmark: the fetcher's memory and time bounds against a hostile loopback server (tests/hostile.py).

    .venv/bin/python bench/bench_fetch_bounds.py            # default caps (feeds 10 MiB)
    .venv/bin/python bench/bench_fetch_bounds.py --json

Each case runs in a fresh process that imports the fetcher and fetches one URL; its peak RSS (``ru_maxrss`` of that
process) is compared with a process that imports the fetcher and fetches nothing. Cases: an honest gzip page just
under the cap, a single-layer gzip bomb (1 GiB of zeros, ~1 MB on the wire), a stacked ``gzip, gzip`` bomb, and a
server trickling its headers one byte a second (the figure is the time until the fetcher gives up, against
``REGWIRE_TOTAL_TIMEOUT``). Also the decoding throughput of an honest gzip body, in process.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from hostile import HostileServer, Reply, gzip_bomb, trickle_headers  # noqa: E402

MB = 1024 * 1024
CHILD = """
import sys, time
from pipeline.fetch import Fetcher
from pipeline.settings import Settings
settings = Settings(home=sys.argv[1], allow_networks=["127.0.0.0/8"], host_delay=0, total_timeout=float(sys.argv[3]))
started = time.monotonic()
outcome = "nothing fetched"
if sys.argv[2] != "-":
    try:
        outcome = f"{len(Fetcher(settings).get(sys.argv[2], max_bytes=settings.http.max_feed_bytes).content)} bytes"
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {exc}"
print(f"{time.monotonic() - started:.3f}\\t{outcome}")
"""


def measure(url: str, home: Path, total_timeout: float) -> dict[str, object]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(home), url, str(total_timeout)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    _pid, _status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read() if proc.stdout else ""
    seconds, _, outcome = out.strip().partition("\t")
    return {"peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "seconds": float(seconds or "nan"),
            "outcome": outcome[:160]}


def throughput(server: HostileServer, home: Path, rounds: int) -> float:
    from pipeline.fetch import Fetcher
    from pipeline.settings import Settings

    text = (b"<p>Regulators published a consultation on licensing crypto asset service providers.</p>\n" * 100_000)[
        : 9 * MB]
    server.route("/honest-big.html", Reply(200, gzip.compress(text, 6), {"Content-Encoding": "gzip"}))
    fetcher = Fetcher(Settings(home=home, allow_networks=["127.0.0.0/8"], host_delay=0))
    started = time.perf_counter()
    for _ in range(rounds):
        assert len(fetcher.get(server.url("/honest-big.html"), max_bytes=10 * MB).content) == len(text)
    return rounds * len(text) / MB / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--total-timeout", type=float, default=5.0)
    args = parser.parse_args()
    bomb = gzip_bomb(1024 * MB)
    honest = gzip.compress(os.urandom(9 * MB // 2).hex().encode(), 6)
    with tempfile.TemporaryDirectory() as tmp, HostileServer() as server:
        home = Path(tmp)
        server.route("/honest.xml", Reply(200, honest, {"Content-Encoding": "gzip"}))
        server.route("/single.xml", Reply(200, bomb, {"Content-Encoding": "gzip"}))
        server.route("/stacked.xml", Reply(200, gzip.compress(bomb, 9), {"Content-Encoding": "gzip, gzip"}))
        server.route("/trickle.xml", trickle_headers(interval=1.0))
        results = {"baseline (import only)": measure("-", home, args.total_timeout)}
        for name, path in [("honest 9 MiB gzip", "/honest.xml"), ("single gzip bomb 1 GiB", "/single.xml"),
                           ("stacked gzip bomb", "/stacked.xml"), ("trickled headers", "/trickle.xml")]:
            results[name] = measure(server.url(path), home, args.total_timeout)
        rate = throughput(server, home, rounds=5)
    if args.json:
        print(json.dumps({"cases": results, "decode_mb_per_s": round(rate, 1)}, indent=2))
        return
    print(f"{'case':<26} {'peak RSS':>9} {'seconds':>8}  outcome")
    for name, row in results.items():
        print(f"{name:<26} {row['peak_rss_mb']:>6} MB {row['seconds']:>8.2f}  {row['outcome']}")
    print(f"honest gzip body, fetched and decoded: {rate:.0f} MiB/s")


if __name__ == "__main__":
    main()
