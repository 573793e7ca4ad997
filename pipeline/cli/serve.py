"""``regwire serve``: the search page and JSON API on the embedded store (or the configured search engine).

Register in :mod:`pipeline.cli` with ``app.command()(serve)``. Needs the ``serve`` extra (fastapi, uvicorn, jinja2).
"""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option("--host", help="address to bind (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="port to listen on")] = 8000,
) -> None:
    """Serve the news search page and its JSON API (GET /, /articles/{id}, /api/search, /api/articles/{id})."""
    from ..store import open_backend
    from .common import cli_settings

    settings = cli_settings()
    try:
        import uvicorn

        from ..web import create_app
    except ImportError as exc:
        typer.echo(f"error: {exc.name} is missing: install regwire[serve]", err=True)
        raise typer.Exit(2) from exc
    app = create_app(lambda: open_backend(settings))
    typer.echo(f"regwire search on http://{host}:{port}/ (store: {settings.search.url or settings.db_path})")
    uvicorn.run(app, host=host, port=port, log_level="info")
