"""The OpenAPI page at ``/api/docs``, served whole by the app: Swagger UI's files come from the ``fastapi-offline``
package (no CDN: the page works offline) and its start-up script is a file, as the Content-Security-Policy demands."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from .templates import render

STATIC = Path(str(files("pipeline.web") / "static"))
#: Swagger UI's dist files, shipped inside the fastapi-offline wheel
SWAGGER_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
OWN_FILES = {"style.css": "text/css", "docs.js": "text/javascript", "search.js": "text/javascript"}

router = APIRouter(include_in_schema=False)


def _swagger_dir() -> Path:
    try:
        return Path(str(files("fastapi_offline") / "static"))
    except ModuleNotFoundError as exc:  # the serve extra brings it
        raise HTTPException(503, "the API docs need the fastapi-offline package: install regwire[serve]") from exc


@router.get("/static/{name}")
def static_file(name: str) -> FileResponse:
    """The page's stylesheet and scripts, and Swagger UI's (a fixed list: no path from the URL reaches the disk)."""
    if name in OWN_FILES:
        return FileResponse(STATIC / name, media_type=OWN_FILES[name], headers={"cache-control": "max-age=3600"})
    if name in SWAGGER_FILES:
        return FileResponse(_swagger_dir() / name, media_type=SWAGGER_FILES[name],
                            headers={"cache-control": "max-age=86400"})
    raise HTTPException(404, f"no static file {name}")


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    base = request.scope.get("root_path", "").rstrip("/")
    return HTMLResponse(render("docs.html", base=base, title=request.app.title))


@router.get("/api/openapi.json")
def openapi_schema(request: Request) -> JSONResponse:
    """The OpenAPI document, routed like every other page so that the app's dependencies (auth) guard it."""
    return JSONResponse(request.app.openapi())
