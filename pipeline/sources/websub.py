"""WebSub (W3C Recommendation, formerly PubSubHubbub): subscribing to a feed's hub, verifying intents, checking
notification signatures and renewing leases. Push instead of poll: the hub calls the web app's callback
(:mod:`pipeline.web.websub`) when the feed changes, and the source is ingested at once.

    find_hub(content, feed_url)          the hub and topic a feed advertises (rel="hub" links, JSON Feed hubs)
    subscribe(...)                       POST hub.mode=subscribe with a per-subscription callback and secret
    verify_intent(...)                   the hub's GET: echo hub.challenge only for a topic and mode we asked for
    accept_notification(...)             the hub's POST: the subscription, when X-Hub-Signature matches its secret
    renew_leases(...)                    subscribe again before a lease ends

Requests to hubs go through the address guard like every other request (the hub is named by a feed, so it is
untrusted). Notifications whose signature is missing or wrong are acknowledged and ignored, as the specification asks
(section 8: a subscriber "MUST still return a 2xx success response ... but locally ignore the message"), so a forger
learns nothing; they are counted on the subscription.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import feedparser
import httpx

from ..errors import BAD_INPUT_ERRORS, HTTPStatusError, TransportError
from ..fetch.guard import AddressPolicy, GuardedTransport, Resolver, system_resolver
from ..settings import Settings
from ..store.websub import Subscription, SubscriptionStore

log = logging.getLogger("regwire.websub")

#: the lease asked for (the hub decides); renewed a day before it ends, or at half a short lease
DEFAULT_LEASE = timedelta(days=10)
RENEW_MARGIN = timedelta(days=1)
#: signature algorithms the specification allows, by the name used in X-Hub-Signature
_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


@dataclass(frozen=True, slots=True)
class HubLink:
    hub: str
    topic: str  #: the feed's rel="self" URL when it gives one (hubs publish under it), else the URL fetched


def find_hub(content: bytes, feed_url: str) -> HubLink | None:
    """The hub a feed document advertises, or None. Never raises on a bad document (no hub then)."""
    head = content[:2048].lstrip()
    try:
        if head.startswith(b"{"):
            return _json_feed_hub(json.loads(content), feed_url)
        parsed = feedparser.parse(content, response_headers={"content-location": feed_url})
    except BAD_INPUT_ERRORS:
        return None
    links = parsed.feed.get("links") or []
    hubs = [link.get("href") for link in links if link.get("rel") == "hub" and link.get("href")]
    selves = [link.get("href") for link in links if link.get("rel") == "self" and link.get("href")]
    if not hubs:
        return None
    return HubLink(hubs[0], selves[0] if selves else feed_url)


def _json_feed_hub(document: object, feed_url: str) -> HubLink | None:
    if not isinstance(document, dict):
        return None
    for hub in document.get("hubs") or []:
        if isinstance(hub, dict) and str(hub.get("type", "")).lower() == "websub" and isinstance(hub.get("url"), str):
            topic = document.get("feed_url")
            return HubLink(hub["url"], topic if isinstance(topic, str) else feed_url)
    return None


def hub_client(settings: Settings, *, transport: httpx.BaseTransport | None = None,
               resolver: Resolver = system_resolver) -> httpx.Client:
    """A client for hub requests: through the address guard, no redirects (a hub answers, it does not send us on),
    the fetcher's timeouts and user agent."""
    return httpx.Client(
        transport=GuardedTransport(transport, policy=AddressPolicy(settings.http.allow_networks), resolver=resolver),
        follow_redirects=False, trust_env=False,
        timeout=httpx.Timeout(settings.http.read_timeout, connect=settings.http.connect_timeout),
        headers={"User-Agent": settings.http.user_agent})


def callback_url(callback_base: str, subscription_id: str) -> str:
    return f"{callback_base.rstrip('/')}/websub/{subscription_id}"


def subscribe(store: SubscriptionStore, client: httpx.Client, *, link: HubLink, source: str, callback_base: str,
              now: datetime, lease: timedelta = DEFAULT_LEASE, mode: str = "subscribe") -> Subscription:
    """Ask ``link.hub`` to (re)subscribe our callback to ``link.topic``. The subscription stays pending (an active one
    stays active) until the hub verifies the intent; a hub that refuses the request raises, naming hub and topic."""
    known = store.by_topic(link.topic)
    subscription_id = known.id if known else secrets.token_urlsafe(16)
    secret = known.secret if known else secrets.token_hex(32)  # kept on renewal: pushes in flight still verify
    callback = callback_url(callback_base, subscription_id)
    store.requested(id=subscription_id, topic=link.topic, hub=link.hub, source=source, secret=secret,
                    callback=callback, now=now)
    if mode == "unsubscribe":
        store.set_state(subscription_id, "unsubscribing")
    form = {"hub.mode": mode, "hub.topic": link.topic, "hub.callback": callback, "hub.secret": secret,
            "hub.lease_seconds": str(int(lease.total_seconds()))}
    try:
        response = client.post(link.hub, data=form)
    except httpx.HTTPError as exc:
        raise TransportError(link.hub, f"hub for {link.topic}: {type(exc).__name__}: {exc}") from exc
    if response.status_code not in (202, 204):
        store.set_state(subscription_id, "denied", f"hub answered {response.status_code}")
        raise HTTPStatusError(link.hub, response.status_code, f"hub refused {mode} to {link.topic}")
    log.info("websub: %s requested for %s at %s (source %s)", mode, link.topic, link.hub, source)
    found = store.by_id(subscription_id)
    assert found is not None
    return found


def verify_intent(store: SubscriptionStore, subscription_id: str, query: Mapping[str, str],
                  now: datetime) -> str | None:
    """The hub's verification GET: the challenge to echo when the mode and topic are ones we asked for, else None
    (answer 404). A hub's denial (``hub.mode=denied``) is recorded and acknowledged (returns "")."""
    subscription = store.by_id(subscription_id)
    mode, topic = query.get("hub.mode", ""), query.get("hub.topic", "")
    if subscription is None or topic != subscription.topic:
        return None
    if mode == "denied":
        store.set_state(subscription_id, "denied", query.get("hub.reason", "denied by the hub")[:500])
        return ""
    challenge = query.get("hub.challenge", "")
    if not challenge:
        return None
    if mode == "subscribe" and subscription.state in ("pending", "active"):
        lease = query.get("hub.lease_seconds", "")
        store.verified(subscription_id, int(lease) if lease.isdigit() else None, now)
        return challenge
    if mode == "unsubscribe" and subscription.state == "unsubscribing":
        store.set_state(subscription_id, "unsubscribed")
        return challenge
    return None


def signature_valid(secret: str, header: str | None, body: bytes) -> bool:
    """``X-Hub-Signature: <algorithm>=<hex HMAC of the body>`` checked in constant time."""
    if not header or "=" not in header:
        return False
    algorithm, _, digest = header.strip().partition("=")
    hasher = _ALGORITHMS.get(algorithm.lower())
    if hasher is None:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hasher).hexdigest()
    return hmac.compare_digest(expected, digest.strip().lower())


def accept_notification(store: SubscriptionStore, subscription_id: str, body: bytes,
                        signature: str | None) -> Subscription | None:
    """The active subscription a content notification is for, or None when it is to be ignored (unknown or inactive
    subscription, missing or wrong signature). Counted either way."""
    subscription = store.by_id(subscription_id)
    if subscription is None or subscription.state != "active":
        return None
    if not signature_valid(subscription.secret, signature, body):
        store.count_notification(subscription_id, accepted=False)
        log.warning("websub: notification for %s ignored: %s X-Hub-Signature", subscription.topic,
                    "wrong" if signature else "no")
        return None
    store.count_notification(subscription_id, accepted=True)
    return subscription


def renew_leases(store: SubscriptionStore, client: httpx.Client, callback_base: str, now: datetime,
                 margin: timedelta = RENEW_MARGIN) -> list[Subscription]:
    """Subscribe again to every active subscription whose lease ends within ``margin``; returns those renewed.
    A hub that fails is logged and retried at the next maintenance run (the lease has not ended yet)."""
    renewed = []
    for subscription in store.expiring(now + margin):
        link = HubLink(subscription.hub, subscription.topic)
        try:
            renewed.append(subscribe(store, client, link=link, source=subscription.source,
                                     callback_base=callback_base, now=now))
        except (HTTPStatusError, TransportError) as exc:
            log.warning("websub: lease of %s not renewed: %s", subscription.topic, exc)
    return renewed
