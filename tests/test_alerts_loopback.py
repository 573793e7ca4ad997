"""Loopback receivers for alert tests (a webhook endpoint and an SMTP server on 127.0.0.1), and the apprise sender
tested against them: Slack-compatible JSON, generic JSON and email, all over real sockets.

Other alert test modules import ``WebhookReceiver`` and ``SMTPSink`` from here.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pipeline.alerts import AppriseSender, DeliveryError, Message

LOOPBACK_HOSTS = {"127.0.0.1"}


@dataclass
class Received:
    path: str
    content_type: str
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """Records every POST; answers ``fail_next`` requests with HTTP 500 first (a flaky endpoint)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.failures: list[Received] = []
        self.fail_next = 0
        self.fail_always = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                item = Received(self.path, self.headers.get("content-type", ""), self.rfile.read(length))
                if receiver.fail_always or receiver.fail_next > 0:
                    receiver.fail_next = max(0, receiver.fail_next - 1)
                    receiver.failures.append(item)
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"receiver down")
                    return
                receiver.received.append(item)
                self.send_response(200)
                self.send_header("content-type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class SMTPSink:
    """aiosmtpd on a free loopback port; ``messages`` holds what arrived (parsed)."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    port: int = 0

    def __enter__(self) -> SMTPSink:
        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                sink.messages.append(message_from_bytes(envelope.original_content or envelope.content))
                return "250 OK"

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def text_of(mail: EmailMessage) -> str:
    parts = [p for p in mail.walk() if p.get_content_type() == "text/plain"]
    return parts[0].get_payload(decode=True).decode() if parts else ""


def mail_url(sink: SMTPSink, to: str = "analyst@example.org") -> str:
    return (f"mailto://127.0.0.1:{sink.port}?smtp=127.0.0.1&mode=insecure&from=alerts@regwire.test&to={to}")


@pytest.fixture
def webhook():
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def smtp():
    with SMTPSink() as s:
        yield s


MESSAGE = Message(title="[desk] Kazakhstan ready to legalize crypto-to-cash",
                  body="**Kazakhstan ready**\nSource: demo\n\n> snippet\n\nhttp://127.0.0.1/x")


def test_generic_json_webhook(webhook):
    sender = AppriseSender(env={}, allowed_hosts=LOOPBACK_HOSTS)
    sender.send(f"json://127.0.0.1:{webhook.port}/hook", MESSAGE)
    (got,) = webhook.on("/hook")
    assert got.content_type.startswith("application/json")
    assert got.json["title"] == MESSAGE.title and "Kazakhstan ready" in got.json["message"]


def test_slack_compatible_webhook_with_token_from_the_environment(webhook):
    # apprise's slack:// plugin always posts to hooks.slack.com; Mattermost's incoming webhooks take Slack's payload
    # ({"text", "username", ...}) and apprise's mmost:// plugin can point at any host, so it stands in on loopback.
    sender = AppriseSender(env={"HOOK_TOKEN": "s3cr3t-token"}, allowed_hosts=LOOPBACK_HOSTS)
    sender.send(f"mmost://regwire@127.0.0.1:{webhook.port}/${{HOOK_TOKEN}}?image=no", MESSAGE)
    (got,) = webhook.on("/hooks/s3cr3t-token")
    payload = got.json
    assert set(payload) <= {"text", "username", "channel", "icon_url"} and payload["username"] == "regwire"
    assert payload["text"].startswith(MESSAGE.title) and "Kazakhstan ready" in payload["text"]


def test_email_to_loopback_smtp(smtp):
    AppriseSender(env={}, allowed_hosts=LOOPBACK_HOSTS).send(mail_url(smtp), MESSAGE)
    (mail,) = smtp.messages
    assert mail["Subject"] == MESSAGE.title and mail["To"] == "analyst@example.org"
    assert "Kazakhstan ready" in text_of(mail)


def test_failures_are_reported_with_a_reason_and_secrets_stay_out(webhook):
    webhook.fail_always = True
    sender = AppriseSender(env={"HOOK_TOKEN": "s3cr3t-token"}, allowed_hosts=LOOPBACK_HOSTS)
    with pytest.raises(DeliveryError) as err:
        sender.send(f"mmost://127.0.0.1:{webhook.port}/${{HOOK_TOKEN}}", MESSAGE)
    assert err.value.transient and "500" in err.value.reason and "s3cr3t" not in str(err.value)
    with pytest.raises(DeliveryError) as missing:
        AppriseSender(env={}).send("mmost://127.0.0.1:9/${NOT_SET}", MESSAGE)
    assert not missing.value.transient and "NOT_SET" in missing.value.reason


def test_allowed_hosts_refuses_before_apprise_sees_the_url():
    sender = AppriseSender(env={"T": "x"}, allowed_hosts=LOOPBACK_HOSTS)
    for url in ("json://example.org/hook", "mailto://127.0.0.1?smtp=smtp.example.org&to=a@b.c&mode=insecure"):
        with pytest.raises(DeliveryError) as err:
            sender.send(url, MESSAGE)
        assert not err.value.transient and "not allowed" in err.value.reason
    assert sender.stats["refused"] == 2
