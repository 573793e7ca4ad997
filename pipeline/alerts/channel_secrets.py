"""Credentials in channel URLs: every credential-bearing part must be an ``${ENV}`` reference, and what is shown is
masked.

A channel URL is stored and shown as written, so a secret written into it would sit in the alert store, in YAML in
git and in ``alerts list --json``. The credential-bearing parts are:

* the password of ``user:password@host``;
* a query parameter, header (apprise's ``?+Name=``), payload field (``?:name=``) or request parameter (``?-name=``)
  whose name says it carries a credential (``Authorization``, ``X-Api-Key``, ``token``, ``secret``, ``password``,
  ``signature``, ``cookie``...): its value must be a reference, optionally after an auth scheme word
  (``Bearer ${TOKEN}``);
* a user name, path segment or parameter value that looks like a token (a webhook id): 20 or more letters, digits,
  ``-`` and ``_`` with at least four of each of letters and digits, or 24 or more hex digits;
* anything at all in a URL of a scheme that carries its token in host or path (``slack://``, ``tgram://``...): at
  least one reference.

The token test is a heuristic (it cannot know every service's token format); what it misses is still masked when it
matches, and the named parts are always enforced.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

#: ``${NAME}`` in a channel URL: replaced from the environment at send time, never stored expanded
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: schemes whose URL carries a token in its host or path (webhook ids, bot tokens): it must come from the environment
TOKEN_SCHEMES = frozenset({
    "slack", "msteams", "workflow", "workflows", "tgram", "discord", "mmost", "mmosts", "rocket", "rockets",
    "gchat", "pover", "ntfys", "ntfy", "matrix", "matrixs", "signal", "signals", "zulip", "ifttt", "join",
})
#: a parameter or header whose name contains one of these carries a credential
_SECRET_NAME = re.compile(r"pass|token|secret|key|auth|bearer|signature|sig$|cookie|session|credential|webhook|"
                          r"private|jwt|sas", re.IGNORECASE)
#: names that match the pattern above but carry none (apprise's own options, our idempotency key)
_NOT_SECRET = frozenset({"idempotency-key", "keepalive", "key_name"})
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,}$")
_HEX = re.compile(r"^[0-9a-fA-F]{24,}$")
#: what may stand next to a reference in a credential value: an auth scheme word ("Bearer", "Basic", "Token")
_SCHEME_WORD = re.compile(r"^[A-Za-z-]{0,20}$")
MASK = "***"


def looks_like_token(value: str) -> bool:
    if _HEX.match(value):
        return True
    if not _TOKEN.match(value):
        return False
    return sum(c.isdigit() for c in value) >= 4 and sum(c.isalpha() for c in value) >= 4


def _only_references(value: str) -> bool:
    """True when the secret in ``value`` comes from the environment: references, plus an auth scheme word at most."""
    return bool(ENV_REF.search(value)) and bool(_SCHEME_WORD.match(ENV_REF.sub("", value).strip()))


def is_secret_name(name: str) -> bool:
    name = name.lstrip(":+-").lower()
    return name not in _NOT_SECRET and bool(_SECRET_NAME.search(name))


def credential_parts(url: str) -> Iterator[tuple[str, str, str]]:
    """``(where, raw, problem)`` for each credential-bearing part of ``url`` written in clear; ``raw`` is the text as
    it stands in the URL (for masking)."""
    guarded = url.replace("${", "%7B").replace("}", "%7D")
    parts = urlsplit(guarded)
    if parts.password and not _only_references(_unguard(parts.password)):
        raw = _unguard(parts.password)
        yield "password", raw, "put the password in an environment variable (user:${SMTP_PASSWORD}@...)"
    user = unquote(_unguard(parts.username or ""))
    if user and not ENV_REF.search(user) and looks_like_token(user):
        yield "user name", _unguard(parts.username or ""), \
            "this looks like a token: reference it from the environment (${HOOK_USER}@...)"
    for segment in parts.path.split("/"):
        value = unquote(_unguard(segment))
        if value and not ENV_REF.search(value) and looks_like_token(value):
            yield f"path segment {_hint(value)!r}", _unguard(segment), \
                "this looks like a token: reference it from the environment (/${HOOK_TOKEN})"
    for pair in parts.query.split("&"):
        key, _, raw_value = pair.partition("=")
        raw_value = _unguard(raw_value)
        value = unquote(raw_value.replace("+", " "))
        name = unquote(key)
        if not value or _only_references(value):
            continue
        if is_secret_name(name):
            yield f"{name}=", raw_value, f"put {name}= in an environment variable ({name}=${{NAME}})"
        elif not ENV_REF.search(value) and looks_like_token(value):
            yield f"{name}= {_hint(value)!r}", raw_value, \
                f"this looks like a token: put {name}= in an environment variable ({name}=${{NAME}})"


def _unguard(text: str) -> str:
    return text.replace("%7B", "${").replace("%7D", "}")


def _hint(value: str) -> str:
    """Enough of a token to find it in the URL, not enough to use it."""
    return value[:4] + "…"


def check_channel_secrets(url: str, scheme: str) -> None:
    """Refuse ``url`` when a credential-bearing part is written in clear (a ``ValueError`` naming the part)."""
    found = next(credential_parts(url), None)
    if found is not None:
        where, _raw, problem = found
        raise ValueError(f"{mask_channel(url)!r}: {where}: {problem}")
    if scheme in TOKEN_SCHEMES and not ENV_REF.search(url):
        raise ValueError(f"{mask_channel(url)!r}: {scheme}:// URLs carry a token; reference it from the environment "
                         f"({scheme}://${{NAME}}...)")


def mask_channel(url: str) -> str:
    """``url`` with every credential-bearing part written in clear replaced by ``***`` (references are kept: they
    name a variable, not its value). For showing stored channels; what is sent is the stored URL."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    for _where, raw, _problem in credential_parts(url):
        if raw:
            rest = rest.replace(raw, MASK)
    if scheme.lower() in TOKEN_SCHEMES and not ENV_REF.search(url):
        rest = MASK + ("/" + MASK if "/" in rest else "")
    return f"{scheme}{sep}{rest}"
