"""Channels are apprise URLs: Slack, Teams, Telegram, email, generic webhooks and the rest of what apprise knows.

``${NAME}`` references in a URL are expanded from the environment at send time, so webhook tokens and SMTP
passwords never sit in the alert store or in a YAML file. apprise reports failure as a bool; the reason is taken
from its log (captured per send) so it can be shown in ``regwire alerts log``.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from ..errors import DeliveryError
from .models import ENV_REF
from .render import Message


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


class AppriseSender:
    """Sends through apprise, one channel at a time.

    ``allowed_hosts`` (tests, staging) refuses any URL that would contact another host, before apprise sees it.
    """

    def __init__(self, env: Mapping[str, str] | None = None, *, allowed_hosts: Collection[str] | None = None):
        self.env = env if env is not None else os.environ
        self.allowed_hosts = set(allowed_hosts) if allowed_hosts is not None else None
        #: counters for every decision: sent, failed, refused
        self.stats: dict[str, int] = {"sent": 0, "failed": 0, "refused": 0}

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
        notifier = apprise.Apprise()
        if not notifier.add(url):
            self.stats["refused"] += 1
            raise DeliveryError(channel, "apprise cannot parse this URL", transient=False)
        with apprise.LogCapture(level=apprise.logging.WARNING) as logs:
            ok = notifier.notify(title=message.title, body=message.body, body_format=apprise.NotifyFormat.MARKDOWN)
        if not ok:
            self.stats["failed"] += 1
            reason = " | ".join(line.split(" - ", 2)[-1].strip() for line in logs.getvalue().splitlines()
                                if line.strip()) or "apprise reported a failure"
            raise DeliveryError(channel, self._redact(reason, channel))
        self.stats["sent"] += 1

    def _redact(self, text: str, channel: str) -> str:
        """Never echo an expanded secret back into the delivery log."""
        for name in ENV_REF.findall(channel):
            value = self.env.get(name, "")
            if len(value) >= 4:
                text = text.replace(value, "${" + name + "}")
        return text[:1000]
