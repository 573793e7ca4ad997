"""Response headers that keep the pages inert in a browser, the Host allow-list, and the same-origin rule for forms.

* Content-Security-Policy: scripts, styles and images only from the app itself (no inline script anywhere; the
  Swagger page loads its start-up script as a file), no framing, forms post only to the app.
* X-Content-Type-Options, X-Frame-Options (for browsers without frame-ancestors) and Referrer-Policy.
* ``allowed_hosts``: requests whose Host header is not listed get 400 (DNS rebinding against ``regwire serve``).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, Request
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
#: Swagger UI sets style attributes from its scripts; everything else stays as strict as the pages
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
SECURITY_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"same-origin",
}
#: Host names `regwire serve` answers to when bound to loopback
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response of the app (errors and redirects included)."""

    def __init__(self, app: ASGIApp, docs_path: str = "/api/docs"):
        self.app = app
        self.docs_path = docs_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        csp = DOCS_CONTENT_SECURITY_POLICY if path.endswith(self.docs_path) else CONTENT_SECURITY_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in SECURITY_HEADERS]
                headers.extend(SECURITY_HEADERS.items())
                headers.append((b"content-security-policy", csp.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_security(app: FastAPI, allowed_hosts: Sequence[str] | None) -> None:
    """Install the headers middleware and, when ``allowed_hosts`` is given, the Host allow-list."""
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(SecurityHeadersMiddleware)


def require_same_origin(request: Request) -> None:
    """A state-changing request from a browser must come from a page of this app.

    Browsers send Origin with every POST (and Referer mostly): when either is there it must name the request's
    host, so a page elsewhere cannot make a signed-in analyst's browser create an alert. Scripts and the CLI
    send neither and are not browsers riding on a session.
    """
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return
    if urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(403, "this request must come from the search page (Origin does not match the host)")
