"""`regwire run --once` as a user runs it, next to a good feed, against a hostile loopback server: compression bombs
(peak RSS of the process measured), trickled headers, bad items, Retry-After under --force, and two processes sharing
one REGWIRE_HOME's per-host politeness. No traceback may reach the terminal."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile import HostileServer, Reply, gzip_bomb, trickle_headers

from pipeline.demo import LoopbackSite

REGWIRE = [sys.executable, "-m", "pipeline.cli"]
MB = 1024 * 1024


def run_measured(args: list[str], home: Path, env: dict[str, str] | None = None,
                 timeout: float = 180) -> tuple[int, str, str, float, float]:
    """Run regwire; returns (exit code, stdout, stderr, peak RSS in MB of that process, seconds)."""
    full_env = {**os.environ, "REGWIRE_HOME": str(home), "REGWIRE_ALLOW_NETWORKS": "127.0.0.0/8",
                "REGWIRE_HOST_DELAY": "0", "COLUMNS": "200", **(env or {})}
    out, err = home.parent / f"{home.name}.out", home.parent / f"{home.name}.err"
    started = time.monotonic()
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([*REGWIRE, *args], env=full_env, stdout=stdout, stderr=stderr)
        deadline = started + timeout
        while True:  # os.wait4 gives this child's own rusage (ru_maxrss: its peak RSS, in KiB on Linux)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"regwire {' '.join(args)} still running after {timeout}s")
            time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out.read_text(), err.read_text(), usage.ru_maxrss / 1024, time.monotonic() - started


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(512 * MB)  # ~500 KB on the wire


def sources_file(path: Path, feeds: dict[str, str]) -> Path:
    path.write_text("sources:\n" + "".join(f"  - name: {name}\n    feeds: ['{url}']\n" for name, url in feeds.items()))
    return path


def test_bombs_trickles_and_bad_items_next_to_a_good_feed(tmp_path, bomb):
    with LoopbackSite() as site, HostileServer() as hostile:
        hostile.route("/robots.txt", Reply(200, b"User-agent: *\nAllow: /\n"))
        hostile.route("/single.xml", Reply(200, bomb, {"Content-Encoding": "gzip"}))
        hostile.route("/stacked.xml", Reply(200, gzip.compress(bomb, mtime=0), {"Content-Encoding": "gzip, gzip"}))
        hostile.route("/trickle.xml", trickle_headers(interval=1.0))
        hostile.route("/page-bomb.html", Reply(200, bomb, {"Content-Encoding": "gzip", "Content-Type": "text/html"}))
        items = "".join(f"<item><title>{t}</title><link>{link}</link></item>" for t, link in [
            ("bomb page", hostile.url("/page-bomb.html")), ("bad host", "http://xn--ls8h/x.html")])
        hostile.route("/items.xml", Reply(200, f'<rss version="2.0"><channel><title>x</title>{items}'
                                                f"</channel></rss>".encode(), {"Content-Type": "application/rss+xml"}))
        sources = sources_file(tmp_path / "sources.yaml", {
            "good": site.url("/feeds/rss.xml"), "single": hostile.url("/single.xml"),
            "stacked": hostile.url("/stacked.xml"), "trickle": hostile.url("/trickle.xml"),
            "items": hostile.url("/items.xml")})
        env = {"REGWIRE_TOTAL_TIMEOUT": "5", "REGWIRE_WORKERS": "5"}
        # the same run with the good feed alone: what the bombs add is measured against it, on the same machine load
        *_, base_mb, _s = run_measured(["run", "--once", "--json", "--sources", str(sources_file(
            tmp_path / "good.yaml", {"good": site.url("/feeds/rss.xml")}))], tmp_path / "base-home", env=env)
        code, out, err, peak_mb, seconds = run_measured(
            ["run", "--once", "--json", "--sources", str(sources)], tmp_path / "home", env=env)
    assert "Traceback" not in out + err, err
    # four capped bodies (10 MiB each) decoded at once, plus a step each: far below what an unbounded decode takes
    # (a 512 MiB bomb). On a quiet machine: 127 MB alone, 135 MB with the bombs.
    assert peak_mb - base_mb < 100, f"peak RSS {peak_mb:.0f} MB, {base_mb:.0f} MB with the good feed alone"
    reports = {r["source"]: r for r in json.loads(out)["sources"]}
    assert code == 1 and reports["good"]["new"] == 7 and reports["good"]["failed"] == 0
    assert "decoded body exceeds the 10485760-byte cap" in reports["single"]["errors"][0]
    assert "stacked Content-Encoding" in reports["stacked"]["errors"][0]
    assert "within 5s" in reports["trickle"]["errors"][0]
    assert reports["items"]["failed"] == 0 and reports["items"]["article_errors"] == 2
    errors = " ".join(reports["items"]["errors"])
    assert "decoded body exceeds the 5242880-byte cap" in errors and "field 'link'" in errors
    assert seconds < 60


def test_retry_after_holds_under_force_and_shows_until_when(tmp_path):
    with HostileServer() as hostile:
        hostile.route("/feed.xml", Reply(429, b"", {"Retry-After": "120"}))
        sources = sources_file(tmp_path / "sources.yaml", {"busy": hostile.url("/feed.xml")})
        home = tmp_path / "home"
        first = run_measured(["run", "--once", "--sources", str(sources)], home)
        code, out, err, _peak, _s = run_measured(["run", "--once", "--force", "--sources", str(sources)], home)
        assert hostile.requests == ["/feed.xml"]  # the forced run sent nothing
    assert "429" in first[2] and "Traceback" not in first[1] + first[2] + out + err
    assert "not polled" in err and "rate-limited until" in err and " UTC" in err, err


def test_two_processes_on_one_home_share_per_host_politeness(tmp_path):
    """Two `regwire run --once` at once on one REGWIRE_HOME: the host delay holds between their requests too
    (FileSlotBook under REGWIRE_HOME/hosts), not only within each process."""
    starts: list[float] = []
    with LoopbackSite() as site:
        original = site._server.RequestHandlerClass.do_GET  # noqa: SLF001 - record when each request arrived

        def timed(handler):
            starts.append(time.monotonic())
            original(handler)

        site._server.RequestHandlerClass.do_GET = timed  # noqa: SLF001
        sources = sources_file(tmp_path / "sources.yaml", {"demo": site.url("/feeds/rss.xml")})
        env = {**os.environ, "REGWIRE_HOME": str(tmp_path / "home"), "REGWIRE_ALLOW_NETWORKS": "127.0.0.0/8",
               "REGWIRE_HOST_DELAY": "0.4"}
        procs = [subprocess.Popen([*REGWIRE, "run", "--once", "--sources", str(sources)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [p.communicate(timeout=120) for p in procs]
    assert all("Traceback" not in o + e for o, e in outputs), outputs
    starts.sort()
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(starts) >= 10 and min(gaps) >= 0.35, gaps  # both processes' requests, 0.4 s apart


def test_sources_check_names_bad_items_without_a_traceback(tmp_path):
    items = ('<item><title>ok</title><link>https://news.example/a</link></item>'
             '<item><title>bad</title><link>http://xn--ls8h/x.html</link></item>')
    with HostileServer() as hostile:
        hostile.route("/feed.xml", Reply(200, f'<rss version="2.0"><channel><title>x</title>{items}</channel></rss>'
                                         .encode(), {"Content-Type": "application/rss+xml"}))
        sources = sources_file(tmp_path / "sources.yaml", {"mixed": hostile.url("/feed.xml")})
        code, out, err, _peak, _s = run_measured(["sources", "check", "--json", "--sources", str(sources)],
                                                 tmp_path / "home")
    assert code == 0 and "Traceback" not in out + err, err
    [feed] = json.loads(out)["feeds"]
    assert feed["ok"] and feed["items"] == 1 and "field 'link'" in feed["skipped"][0]
