"""``regwire serve``: the search page and JSON API on the embedded store (or the configured search engine).

Register in :mod:`pipeline.cli` with ``app.command()(serve)``. Needs the ``serve`` extra (fastapi, uvicorn, jinja2,
fastapi-offline for the API docs' assets).
"""

from __future__ import annotations

from typing import Annotated

import typer


def allowed_hosts_for(host: str, extra: list[str]) -> list[str]:
    """Host header values the server answers: loopback names, the bound address, and the ones given.

    A server bound to every interface (0.0.0.0, ::) still answers only the listed names: pass the names clients
    use with --allow-host. Anything else is refused (400), which stops DNS-rebinding pages from reading the API.
    """
    from ..web.security import LOOPBACK_HOSTS

    hosts = [*LOOPBACK_HOSTS, *extra]
    if host not in ("0.0.0.0", "::", ""):
        hosts.append(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    return list(dict.fromkeys(hosts))


def serve(
    host: Annotated[str, typer.Option("--host", help="address to bind (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="port to listen on")] = 8000,
    allow_host: Annotated[list[str] | None, typer.Option(
        "--allow-host", help="a Host name clients use besides loopback and the bound address (repeatable; "
                             "'*' allows any)")] = None,
) -> None:
    """Serve the news search page and its JSON API (GET /, /articles/{id}, /api/search, /api/docs …)."""
    from ..store import open_backend
    from .common import cli_settings

    settings = cli_settings()
    try:
        import uvicorn

        from ..web import create_app
    except ImportError as exc:
        typer.echo(f"error: {exc.name} is missing: install regwire[serve]", err=True)
        raise typer.Exit(2) from exc
    app = create_app(lambda: open_backend(settings), allowed_hosts=allowed_hosts_for(host, allow_host or []))
    typer.echo(f"regwire search on http://{host}:{port}/ (store: {settings.search.url or settings.db_path})")
    uvicorn.run(app, host=host, port=port, log_level="info")
