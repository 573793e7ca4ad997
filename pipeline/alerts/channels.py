"""Channels are apprise URLs: Slack, Teams, Telegram, email, generic webhooks and the rest of what apprise knows.

``${NAME}`` references in a URL are expanded from the environment at send time, so webhook tokens and SMTP
passwords never sit in the alert store or in a YAML file. apprise reports failure as a bool; the reason is taken
from its log (captured per send) so it can be shown in ``regwire alerts log``.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from ..errors import DeliveryError, DeliveryOutcomeUnknownError
from ..settings import AlertSettings
from .models import ENV_REF
from .render import Message

DEFAULT_SEND_TIMEOUT: float = AlertSettings.model_fields["send_timeout"].default


class Sender(Protocol):
    def send(self, channel: str, message: Message) -> None:
        """Deliver or raise :class:`DeliveryError` (``transient`` decides between retry and give-up)."""


def expand(channel: str, env: Mapping[str, str]) -> str:
    """Replace ``${NAME}`` from ``env``; a missing variable is a permanent error (no retry will set it)."""
    missing = [name for name in ENV_REF.findall(channel) if name not in env]
    if missing:
        raise DeliveryError(channel, f"environment variable(s) not set: {', '.join(missing)}", transient=False)
    return ENV_REF.sub(lambda m: env[m.group(1)], channel)


def channel_hosts(url: str) -> set[str]:
    """Hosts a URL would contact: its own host, and the SMTP server of an email URL."""
    parts = urlsplit(url)
    hosts = {parts.hostname or ""}
    hosts.update(v for k, v in parse_qsl(parts.query) if k.lower() == "smtp")
    return {h for h in hosts if h}


#: what apprise logs when the request went out and no answer came (requests/urllib3 messages): maybe delivered
_NO_ANSWER = ("Read timed out", "RemoteDisconnected", "Remote end closed connection without response",
              "Connection aborted")
#: the header (and JSON/form field) that carries a message's idempotency key on channels that can carry one
KEY_HEADER = "Idempotency-Key"
KEY_FIELD = "idempotency_key"


class AppriseSender:
    """Sends through apprise, one channel at a time.

    ``timeout`` bounds each wait for the receiver (connect, and each read of its answer) unless the channel URL sets
    apprise's own ``cto=``/``rto=``. A message's ``key`` goes out as an ``Idempotency-Key`` header on channels that
    take headers (``json://``, ``xml://``, ``form://``, email...) and as an ``idempotency_key`` field in
    ``json://``/``form://`` payloads. A request that went out without an answer raises
    :class:`DeliveryOutcomeUnknownError` (maybe delivered), not a retryable failure.

    ``allowed_hosts`` (tests, staging) refuses any URL that would contact another host, before apprise sees it.
    """

    def __init__(self, env: Mapping[str, str] | None = None, *, allowed_hosts: Collection[str] | None = None,
                 timeout: float = DEFAULT_SEND_TIMEOUT):
        self.env = env if env is not None else os.environ
        self.allowed_hosts = set(allowed_hosts) if allowed_hosts is not None else None
        self.timeout = timeout
        #: counters for every decision: sent, failed, unknown (sent, no answer), refused
        self.stats: dict[str, int] = {"sent": 0, "failed": 0, "unknown": 0, "refused": 0}

    def send(self, channel: str, message: Message) -> None:
        try:
            import apprise
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise DeliveryError(channel, "apprise is not installed (pip install 'regwire[alerts]')",
                                transient=False) from exc
        url = expand(channel, self.env)
        if self.allowed_hosts is not None:
            outside = channel_hosts(url) - self.allowed_hosts
            if outside:
                self.stats["refused"] += 1
                raise DeliveryError(channel, f"host(s) not allowed here: {sorted(outside)}", transient=False)
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            self.stats["refused"] += 1
            raise DeliveryError(channel, "apprise cannot parse this URL", transient=False)
        self._configure(plugin, url, message.key)
        notifier = apprise.Apprise()
        notifier.add(plugin)
        with apprise.LogCapture(level=apprise.logging.DEBUG) as logs:
            ok = notifier.notify(title=message.title, body=message.body, body_format=apprise.NotifyFormat.MARKDOWN)
        if ok:
            self.stats["sent"] += 1
            return
        lines = logs.getvalue().splitlines()
        reason = " | ".join(line.split(" - ", 2)[-1].strip() for line in lines
                            if " - WARNING - " in line or " - ERROR - " in line) or "apprise reported a failure"
        # only apprise's exception lines: its debug log also holds the payload, whose text could say anything
        exceptions = [line.split(" - ", 2)[-1].strip() for line in lines if "Socket Exception" in line]
        detail = next((text for text in exceptions if any(m in text for m in _NO_ANSWER)), None)
        if detail is not None:
            self.stats["unknown"] += 1
            raise DeliveryOutcomeUnknownError(channel, self._redact(
                f"sent, outcome unknown (no answer within {self.timeout:g} s): {detail}", channel))
        self.stats["failed"] += 1
        raise DeliveryError(channel, self._redact(reason, channel))

    def _configure(self, plugin: Any, url: str, key: str) -> None:
        """The send timeout (unless the URL sets its own) and the idempotency key, where the plugin can carry it."""
        query = {k.lower() for k, _ in parse_qsl(urlsplit(url).query)}
        if "cto" not in query:
            plugin.socket_connect_timeout = self.timeout
        if "rto" not in query:
            plugin.socket_read_timeout = self.timeout
        if not key:
            return
        if isinstance(getattr(plugin, "headers", None), dict):
            plugin.headers[KEY_HEADER] = key
        if isinstance(getattr(plugin, "payload_extras", None), dict):
            plugin.payload_extras[KEY_FIELD] = key

    def _redact(self, text: str, channel: str) -> str:
        """Never echo an expanded secret back into the delivery log."""
        for name in ENV_REF.findall(channel):
            value = self.env.get(name, "")
            if len(value) >= 4:
                text = text.replace(value, "${" + name + "}")
        return text[:1000]
