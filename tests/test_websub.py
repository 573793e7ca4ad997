"""WebSub over loopback: a hub fixture written here (it answers subscription requests, verifies intents by calling the
callback with a challenge, and pushes signed notifications), the web app's callback routes served by uvicorn, and the
subscriber side of regwire: subscribe, verify, push (ingest), bad or missing signature ignored, lease renewal."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from pipeline.demo import LoopbackSite
from pipeline.demo.server import site_root
from pipeline.query import SearchQuery
from pipeline.settings import Settings
from pipeline.sources import Source
from pipeline.sources.websub import find_hub, signature_valid
from pipeline.store import open_backend
from pipeline.store.websub import SubscriptionStore
from pipeline.tasks import task_context
from pipeline.tasks.websub import renew_websub_leases, subscribe_source
from pipeline.web import create_app
from pipeline.web.websub import websub_router


class LoopbackHub:
    """A WebSub hub on 127.0.0.1: records subscription requests, answers 202, then verifies the intent by a GET to
    the callback (as a real hub does, after answering) and keeps the verified subscriptions to push to."""

    def __init__(self, lease_seconds: int = 3600):
        self.lease_seconds = lease_seconds
        self.requests: list[dict[str, str]] = []
        self.verifications: list[tuple[str, int, bool]] = []  # (mode, status, challenge echoed)
        self.subscribers: dict[str, dict[str, str]] = {}  # callback → form
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                hub.requests.append(form)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                threading.Thread(target=hub._verify, args=(form,), daemon=True).start()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _verify(self, form: dict[str, str], topic: str | None = None) -> None:
        challenge = f"challenge-{len(self.verifications)}"
        params = {"hub.mode": form["hub.mode"], "hub.topic": topic or form["hub.topic"], "hub.challenge": challenge,
                  "hub.lease_seconds": str(self.lease_seconds)}
        answer = httpx.get(form["hub.callback"], params=params, timeout=5)
        echoed = answer.status_code == 200 and answer.text == challenge
        self.verifications.append((form["hub.mode"], answer.status_code, echoed))
        if echoed and form["hub.mode"] == "subscribe":
            self.subscribers[form["hub.callback"]] = form

    def verify_wrong_topic(self, form: dict[str, str]) -> tuple[str, int, bool]:
        self._verify(form, topic="http://127.0.0.1:9/not-the-topic.xml")
        return self.verifications[-1]

    def publish(self, topic: str, body: bytes, *, secret: str | None = None, algorithm: str = "sha256",
                signed: bool = True) -> list[int]:
        """Push ``body`` to every verified subscriber of ``topic``; ``secret`` overrides the subscription's."""
        statuses = []
        for callback, form in self.subscribers.items():
            if form["hub.topic"] != topic:
                continue
            headers = {"Content-Type": "application/rss+xml", "Link": f'<{self.url}>; rel="hub"'}
            if signed:
                key = (secret or form["hub.secret"]).encode()
                digest = hmac.new(key, body, getattr(hashlib, algorithm)).hexdigest()
                headers["X-Hub-Signature"] = f"{algorithm}={digest}"
            statuses.append(httpx.post(callback, content=body, headers=headers, timeout=5).status_code)
        return statuses

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wait(condition: Callable[[], object], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


@pytest.fixture
def hub() -> Iterator[LoopbackHub]:
    h = LoopbackHub()
    yield h
    h.close()


@pytest.fixture
def hub_site(tmp_path: Path, hub: LoopbackHub) -> Iterator[LoopbackSite]:
    """The demo site whose RSS feed advertises the loopback hub."""
    root = tmp_path / "site"
    shutil.copytree(site_root(), root)
    rss = root / "feeds" / "rss.xml"
    rss.write_text(rss.read_text().replace("<language>", f'<atom:link rel="hub" href="{hub.url}"/>\n    <language>', 1))
    with LoopbackSite(root) as site:
        yield site


def _serve(app: FastAPI) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait(lambda: server.started, 10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def notified() -> list[str]:
    return []


@pytest.fixture
def callback_app(settings: Settings, notified: list[str]) -> Iterator[str]:
    """The callback routes, recording which source a notification would ingest (the ingest itself: see below)."""
    app = FastAPI()
    app.include_router(websub_router(lambda: settings, lambda source, _topic: notified.append(source)))
    yield from _serve(app)


def _source(site: LoopbackSite) -> Source:
    return Source(name="ledger-news-rss", feeds=[site.url("/feeds/rss.xml")])


def _subscribe(settings: Settings, site: LoopbackSite, hub: LoopbackHub, callback_base: str):
    with task_context(settings, tagger=None) as ctx:
        [subscription] = subscribe_source(ctx, _source(site), callback_base)
    _wait(lambda: hub.verifications)
    return subscription


def test_find_hub_in_rss_atom_and_json_feed() -> None:
    rss = (b'<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>t</title>'
           b'<atom:link rel="hub" href="https://hub.example/"/><atom:link rel="self" href="https://x.example/f.xml"/>'
           b"</channel></rss>")
    link = find_hub(rss, "https://x.example/feed")
    assert link is not None and (link.hub, link.topic) == ("https://hub.example/", "https://x.example/f.xml")
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><link rel="hub" href="https://h.example/"/>'
            b"</feed>")
    assert find_hub(atom, "https://x.example/atom").topic == "https://x.example/atom"  # type: ignore[union-attr]
    json_feed = b'{"version": "https://jsonfeed.org/version/1.1", "hubs": [{"type": "WebSub", "url": "https://h/"}]}'
    assert find_hub(json_feed, "https://x.example/f.json").hub == "https://h/"  # type: ignore[union-attr]
    assert find_hub(b"<rss><channel><title>no hub</title></channel></rss>", "https://x.example/") is None
    assert find_hub(b"{not json", "https://x.example/") is None


def test_signature_algorithms_and_tampering() -> None:
    body = b"<rss/>"
    for name in ("sha1", "sha256", "sha512"):
        digest = hmac.new(b"s3cret", body, getattr(hashlib, name)).hexdigest()
        assert signature_valid("s3cret", f"{name}={digest}", body)
        assert not signature_valid("other", f"{name}={digest}", body)
        assert not signature_valid("s3cret", f"{name}={digest}", body + b" ")
    assert not signature_valid("s3cret", None, body)
    assert not signature_valid("s3cret", "md5=abc", body)
    assert not signature_valid("s3cret", "garbage", body)


def test_subscribe_verify_push_and_bad_signatures_ignored(settings: Settings, hub: LoopbackHub,
                                                          hub_site: LoopbackSite, callback_app: str,
                                                          notified: list[str]) -> None:
    subscription = _subscribe(settings, hub_site, hub, callback_app)
    [form] = hub.requests
    assert form["hub.mode"] == "subscribe" and form["hub.topic"] == hub_site.url("/feeds/rss.xml")
    assert form["hub.callback"] == f"{callback_app}/websub/{subscription.id}"
    assert len(form["hub.secret"]) == 64
    assert hub.verifications == [("subscribe", 200, True)]
    store = SubscriptionStore.in_home(settings.home)
    active = store.by_id(subscription.id)
    assert active is not None and active.state == "active" and active.lease_seconds == 3600
    assert active.expires_at is not None and active.expires_at > datetime.now(UTC) + timedelta(minutes=59)
    assert form["hub.secret"] not in repr(active)
    # an intent for a topic we never asked for is refused (404), the subscription stays as it was
    assert hub.verify_wrong_topic(form)[1:] == (404, False)
    topic = form["hub.topic"]
    body = (hub_site.root / "feeds" / "rss.xml").read_bytes()
    assert hub.publish(topic, body) == [202]
    _wait(lambda: notified)
    assert notified == ["ledger-news-rss"]
    # forged (wrong secret), tampered algorithm, unsigned: acknowledged (2xx, as WebSub requires) and ignored
    assert hub.publish(topic, body, secret="not-the-secret") == [202]
    assert hub.publish(topic, body, algorithm="sha1", secret="nope") == [202]
    assert hub.publish(topic, body, signed=False) == [202]
    # sha1, the algorithm older hubs use, with the right secret is accepted
    assert hub.publish(topic, body, algorithm="sha1") == [202]
    _wait(lambda: len(notified) == 2)
    time.sleep(0.3)
    assert notified == ["ledger-news-rss", "ledger-news-rss"]
    counted = store.by_id(subscription.id)
    assert counted is not None and (counted.notifications, counted.rejected) == (2, 3)
    # an unknown subscription id: 404 on verification, 202-and-ignored on push
    assert httpx.get(f"{callback_app}/websub/nope", params={"hub.mode": "subscribe", "hub.topic": topic,
                                                              "hub.challenge": "x"}).status_code == 404
    assert httpx.post(f"{callback_app}/websub/nope", content=body).status_code == 202
    assert len(notified) == 2
    store.close()


def test_push_ingests_the_source_directly(settings: Settings, hub: LoopbackHub, hub_site: LoopbackSite,
                                          tmp_path: Path) -> None:
    """The ``regwire serve`` path: the search app itself serves the callback, a notification ingests the source."""
    sources = tmp_path / "sources.yaml"
    sources.write_text(f'sources:\n  - name: ledger-news-rss\n    feeds: ["{hub_site.url("/feeds/rss.xml")}"]\n')
    settings = settings.model_copy(update={"sources": sources})
    app = create_app(lambda: open_backend(settings))
    app.router.routes = [r for r in app.router.routes if not getattr(r, "path", "").startswith("/websub")]
    app.include_router(websub_router(lambda: settings))  # the default: a direct ingest of the notified source
    for base in _serve(app):
        subscription = _subscribe(settings, hub_site, hub, base)
        assert subscription.state == "pending"
        with open_backend(settings) as backend:
            assert backend.articles.count_articles() == 0
        assert hub.publish(hub.requests[0]["hub.topic"], b"<rss/>", secret="forged") == [202]
        time.sleep(0.5)
        with open_backend(settings) as backend:
            assert backend.articles.count_articles() == 0, "a forged push stores nothing"
        assert hub.publish(hub.requests[0]["hub.topic"], (hub_site.root / "feeds" / "rss.xml").read_bytes()) == [202]

        def searchable() -> int:
            with open_backend(settings) as backend:
                return backend.articles.search(SearchQuery(q="stablecoin")).total

        _wait(searchable, 30)


def test_the_search_app_serves_the_callback_routes(settings: Settings) -> None:
    app = create_app(lambda: open_backend(settings))
    assert {"/websub/{subscription_id}"} <= {getattr(r, "path", "") for r in app.router.routes}


def test_leases_are_renewed_before_they_end(settings: Settings, hub_site: LoopbackSite, callback_app: str) -> None:
    short = LoopbackHub(lease_seconds=120)  # a hub granting two minutes
    try:
        # the feed advertises the fixture's hub: point it at this one
        rss = hub_site.root / "feeds" / "rss.xml"
        rss.write_text(rss.read_text().replace('rel="hub" href="', f'rel="hub" href="{short.url}" data-x="', 1))
        first = _subscribe(settings, hub_site, short, callback_app)
        store = SubscriptionStore.in_home(settings.home)
        before = store.by_id(first.id)
        assert before is not None and before.state == "active" and before.lease_seconds == 120
        with task_context(settings, tagger=None) as ctx:
            # a lease ending in two minutes is renewed by the maintenance step (margin: a day) ...
            [renewed] = renew_websub_leases(ctx, callback_app)
            _wait(lambda: len(short.verifications) == 2)
            # ... with the same callback and secret (pushes in flight still verify) ...
            assert renewed.id == first.id
            assert short.requests[1]["hub.callback"] == short.requests[0]["hub.callback"]
            assert short.requests[1]["hub.secret"] == short.requests[0]["hub.secret"]
            after = store.by_id(first.id)
            assert after is not None and after.state == "active"
            assert after.verified_at is not None and before.verified_at is not None
            assert after.verified_at > before.verified_at
            # ... and a lease that does not end within the margin is left alone
            assert renew_websub_leases(ctx, callback_app, margin=timedelta(seconds=30)) == []
        assert len(short.requests) == 2
        store.close()
    finally:
        short.close()


def test_cli_subscribes_and_lists_and_maintenance_renews(settings: Settings, hub: LoopbackHub,
                                                         hub_site: LoopbackSite, callback_app: str,
                                                         tmp_path: Path) -> None:
    """``regwire sources websub`` (the command-line path) subscribes the feed that advertises a hub and lists it; the
    maintenance task renews its lease when REGWIRE_WEBSUB_CALLBACK is set."""
    import json

    from test_cli import regwire

    from pipeline.sources import load_sources
    from pipeline.tasks import maintenance

    hub.lease_seconds = 30 * 24 * 3600
    sources = tmp_path / "sources.yaml"
    sources.write_text(f'sources:\n  - name: ledger-news-rss\n    feeds: ["{hub_site.url("/feeds/rss.xml")}"]\n'
                       f'  - name: no-hub\n    feeds: ["{hub_site.url("/feeds/atom.xml")}"]\n')
    missing = regwire("sources", "websub", "--sources", str(sources), home=settings.home)
    assert missing.returncode != 0 and "no callback URL" in missing.stderr and "Traceback" not in missing.stderr
    done = regwire("sources", "websub", "--sources", str(sources), "--callback", callback_app, "--json",
                   home=settings.home)
    assert done.returncode == 0, done.stderr
    _wait(lambda: hub.verifications)
    [row] = json.loads(done.stdout)["subscriptions"]
    assert row["source"] == "ledger-news-rss" and row["hub"] == hub.url
    listed = regwire("sources", "websub", "--sources", str(sources), "--callback", callback_app, home=settings.home)
    assert "ledger-news-rss" in listed.stdout and "active" in listed.stdout
    assert len(hub.requests) == 1, "an active lease is not requested again"
    hub_settings = settings.model_copy(update={"schedule": settings.schedule.model_copy(
        update={"websub_callback": callback_app})})
    far_future = datetime.now(UTC) + timedelta(days=30)  # the maintenance run happens near the end of the lease
    with task_context(hub_settings, tagger=None, clock=lambda: far_future) as ctx:
        result = maintenance(ctx, sources=load_sources(sources))
    assert result["websub"]["enabled"] and result["websub"]["renewed"] == [hub_site.url("/feeds/rss.xml")]
    assert len(hub.requests) == 2, "renewed once (not subscribed again in the same run)"
    assert hub.requests[1]["hub.callback"] == hub.requests[0]["hub.callback"]
