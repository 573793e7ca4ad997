"""The ``regwire`` command line (typer + rich). Exit codes: 0 ok, 1 some work failed, 2 bad usage or configuration."""

from .app import app, main

__all__ = ["app", "main"]
