"""The page templates (Jinja2, autoescaped), shipped as package data under ``pipeline/web/templates``."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

_ENV = Environment(
    loader=PackageLoader("pipeline.web", "templates"),
    autoescape=True,  # every template here is HTML
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(name: str, **context: Any) -> str:
    return _ENV.get_template(name).render(**context)
