"""Alert delivery against slow and hostile receivers, over real loopback sockets: a webhook that answers after the
send timeout gets exactly one copy per (alert, article, version) and the delivery log says "outcome unknown"; every
send carries the same idempotency key; a refused connection is a retryable failure, not an unknown outcome."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_alerts_loopback import LOOPBACK_HOSTS

from pipeline.alerts import AppriseSender, DeliveryError, Message
from pipeline.alerts.deliver import delivery_key
from pipeline.demo import LoopbackSite, demo_sources_path
from pipeline.errors import DeliveryOutcomeUnknownError

REGWIRE = [sys.executable, "-m", "pipeline.cli"]


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class SlowWebhook:
    """Records each POST on arrival, then answers after ``delay`` seconds (``fail_next`` answers 500 first)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.fail_next = delay, 0
        self.hits: list[Hit] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                hook.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()},
                                     self.rfile.read(length)))
                time.sleep(hook.delay)
                status = 500 if hook.fail_next > 0 else 200
                hook.fail_next = max(0, hook.fail_next - 1)
                try:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the sender gave up waiting and closed the connection
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def __enter__(self) -> SlowWebhook:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def regwire(*args: str, home: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "REGWIRE_HOME": str(home), "REGWIRE_ALLOW_NETWORKS": "127.0.0.0/8",
                "REGWIRE_HOST_DELAY": "0", "REGWIRE_SEARCH_URL": "", "COLUMNS": "200", **(env or {})}
    result = subprocess.run([*REGWIRE, *args], env=full_env, capture_output=True, text=True, timeout=180)
    assert "Traceback" not in result.stderr, result.stderr
    return result


MESSAGE = Message(title="t", body="b", key="regwire-0123456789abcdef0123456789abcdef")


def test_slow_webhook_gets_one_copy_and_the_log_says_outcome_unknown(tmp_path):
    home = tmp_path / "home"
    env = {"REGWIRE_ALERTS_SEND_TIMEOUT": "1", "REGWIRE_ALERTS_BACKOFF_BASE": "0.001"}
    with SlowWebhook(delay=3.0) as hook, LoopbackSite() as site:
        sources = tmp_path / "sources.yaml"
        sources.write_text(demo_sources_path().read_text().replace("{{base_url}}", site.base_url))
        added = regwire("alerts", "add", "kz", "--owner", "desk", "-q", "Kazakhstan", "--topic", "fiat-ramp",
                        "--channel", f"json://127.0.0.1:{hook.port}/slow", home=home, env=env)
        assert added.returncode == 0, added.stderr
        started = time.monotonic()
        first = regwire("run", "--once", "--json", "--sources", str(sources), home=home, env=env)
        alerts = json.loads(first.stdout)["alerts"]
        assert alerts["unknown"] == 1 and alerts["sent"] == 0 and alerts["failed"] == alerts["given_up"] == 0
        assert first.returncode == 1 and "outcome unknown" in first.stderr
        # nothing resends it: the scheduled delivery, nor a forced second run
        again = regwire("alerts", "deliver", "--json", home=home, env=env)
        assert json.loads(again.stdout)["sent"] == 0 and again.returncode == 0
        regwire("run", "--once", "--force", "--json", "--sources", str(sources), home=home, env=env)
        time.sleep(max(0.0, 3.5 - (time.monotonic() - started)))  # let the receiver answer its one request
        (hit,) = hook.hits
        log = json.loads(regwire("alerts", "log", "--json", home=home, env=env).stdout)
        human = regwire("alerts", "log", home=home, env=env).stdout
        assert [(r["state"], r["attempts"]) for r in log] == [("unknown", 1)]
        assert "sent, outcome unknown (no answer within 1 s)" in log[0]["last_error"]
        assert "unknown" in human and "outcome unknown" in human
        key = delivery_key("kz", [(log[0]["article_id"], "any")])
        assert hit.headers["idempotency-key"] == key and hit.json["idempotency_key"] == key
        assert f"delivery key: {key}" in hit.json["message"]
        # the owner checked the receiver and asks for it again: the same key goes out, and this time it is answered
        hook.delay = 0
        assert regwire("alerts", "resend", "999", home=home, env=env).returncode == 1
        assert regwire("alerts", "resend", log[0]["id"], home=home, env=env).returncode == 0
        resent = regwire("alerts", "deliver", "--json", home=home, env=env)
        assert json.loads(resent.stdout)["sent"] == 1 and resent.returncode == 0
        assert [h.headers["idempotency-key"] for h in hook.hits] == [key, key]
        assert json.loads(regwire("alerts", "log", "--json", home=home, env=env).stdout)[0]["state"] == "sent"


def test_every_send_of_a_message_carries_the_same_key():
    with SlowWebhook() as hook:
        hook.fail_next = 1
        sender = AppriseSender(env={}, allowed_hosts=LOOPBACK_HOSTS, timeout=2)
        with pytest.raises(DeliveryError) as failed:  # a text that reads like a timeout is still just a text
            sender.send(f"json://127.0.0.1:{hook.port}/h", Message("t", "Read timed out. Connection aborted.",
                                                                   key=MESSAGE.key))
        assert failed.value.transient and not isinstance(failed.value, DeliveryOutcomeUnknownError)
        sender.send(f"json://127.0.0.1:{hook.port}/h", MESSAGE)
        sender.send(f"xml://127.0.0.1:{hook.port}/x", MESSAGE)
    assert [h.headers["idempotency-key"] for h in hook.hits] == [MESSAGE.key] * 3
    assert b"regwire-0123456789abcdef" in hook.hits[2].body  # the XML payload has it too


def test_a_refused_connection_is_retried_and_the_url_timeout_wins():
    with SlowWebhook(delay=1.5) as hook:
        port = hook.port
        sender = AppriseSender(env={}, allowed_hosts=LOOPBACK_HOSTS, timeout=0.5)
        # rto= in the URL overrides the setting: this receiver answers within it
        sender.send(f"json://127.0.0.1:{port}/h?rto=5", MESSAGE)
        with pytest.raises(DeliveryOutcomeUnknownError) as unknown:
            sender.send(f"json://127.0.0.1:{port}/h", MESSAGE)
        assert not unknown.value.transient and "outcome unknown" in unknown.value.reason
    assert len(hook.hits) == 2
    with pytest.raises(DeliveryError) as refused:  # nothing listens any more: nothing was sent, retry later
        sender.send(f"json://127.0.0.1:{port}/h", MESSAGE)
    assert refused.value.transient and not isinstance(refused.value, DeliveryOutcomeUnknownError)
    assert sender.stats == {"sent": 1, "failed": 1, "unknown": 1, "refused": 0}


def test_delivery_key_depends_on_alert_article_and_version_only():
    assert delivery_key("a", [("x", "1")]) == delivery_key("a", [("x", "1")])
    assert len({delivery_key("a", [("x", "1")]), delivery_key("a", [("x", "2")]), delivery_key("b", [("x", "1")]),
                delivery_key("a", [("y", "1")]), delivery_key("a", [("x", "1"), ("y", "1")])}) == 5
    assert delivery_key("a", [("x", "1"), ("y", "1")]) == delivery_key("a", [("y", "1"), ("x", "1")])
