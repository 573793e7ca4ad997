"""FastAPI app factory for the search API and page (see :mod:`pipeline.web`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.params import Depends
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..errors import ConfigError, StoreError
from ..metrics import registry_for
from ..store.backend import Backend
from . import api, docs, pages, stories
from .present import evidence, safe_href, safe_snippet
from .security import add_security
from .state import BackendHolder, store_failure
from .templates import render
from .websub import websub_router

log = logging.getLogger("regwire.web")

#: the presentation helpers are re-exported for callers of the former single-module app
__all__ = ["create_app", "evidence", "safe_href", "safe_snippet"]


def _store_failure_handler(request: Request, exc: Exception) -> Response:
    """A store that cannot be opened or read (read-only, corrupt, engine down): 503 with the reason, no traceback."""
    status, reason = store_failure(exc)
    log.warning("store failure on %s: %s", request.url.path, exc)
    if request.url.path.startswith(str(request.scope.get("root_path", "")).rstrip("/") + "/api/"):
        return JSONResponse({"detail": reason}, status_code=status)
    base = str(request.scope.get("root_path", "")).rstrip("/")
    return HTMLResponse(render("unavailable.html", base=base, title=request.app.title, reason=reason, status=status),
                        status_code=status)


def _add_metrics(app: FastAPI, holder: BackendHolder) -> None:
    metrics = registry_for(holder.backend)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        """Prometheus metrics read from the store's feed state and the alert delivery log."""
        return Response(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)


def create_app(backend_factory: Callable[[], Backend], *, title: str = "regwire news search",
               allowed_hosts: Sequence[str] | None = None, dependencies: Sequence[Depends] = (),
               unauthenticated: Callable[[Request], Response | None] | None = None) -> FastAPI:
    """The search app over the backend ``backend_factory`` opens (once, on first use).

    ``allowed_hosts``: Host header allow-list (``regwire serve``); ``dependencies`` run before every route, page,
    API, docs and static files alike (the Airflow plugin passes Airflow's authentication); ``unauthenticated``
    turns a 401 on a page into a response of its own (a redirect to a login page).
    """
    holder = BackendHolder(backend_factory)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        holder.close()

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan,
                  dependencies=list(dependencies))
    app.state.holder = holder
    add_security(app, allowed_hosts)
    app.add_exception_handler(StoreError, _store_failure_handler)
    app.add_exception_handler(ConfigError, _store_failure_handler)
    if unauthenticated is not None:
        _add_login_redirect(app, unauthenticated)
    _add_metrics(app, holder)
    for router in (api.router, pages.router, docs.router, stories.router):  # stories: GET /api/stories
        app.include_router(router)
    app.include_router(websub_router())  # hub callbacks (issue 14): pipeline/web/websub.py
    return app


def _add_login_redirect(app: FastAPI, unauthenticated: Callable[[Request], Response | None]) -> None:
    from fastapi import HTTPException
    from fastapi.exception_handlers import http_exception_handler

    async def on_http_error(request: Request, exc: Any) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code == 401 and _is_page(request):
            response = unauthenticated(request)
            if response is not None:
                return response
        return await http_exception_handler(request, exc)

    app.add_exception_handler(HTTPException, on_http_error)


def _is_page(request: Request) -> bool:
    """A browser page (not the API, a static file or the metrics a scraper reads)."""
    path = request.url.path.removeprefix(str(request.scope.get("root_path", "")).rstrip("/"))
    return request.method == "GET" and not path.startswith(("/api/", "/static/", "/metrics"))
