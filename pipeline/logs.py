"""Logging: every line says where it comes from (source, feed, article, stage), as text or as JSON.

Library code logs through the standard ``logging`` module and marks where it is with :func:`log_context` (structlog's
context variables), which holds for everything logged inside the block, in this thread or task. Airflow's task logs
already merge structlog context variables, so task log lines carry the same fields; on the command line
:func:`configure_logging` installs a handler that renders them (``REGWIRE_LOG_JSON=1`` for one JSON object a line).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

#: the fields regwire binds
CONTEXT_FIELDS = ("source", "feed", "article", "stage", "task")


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Fields added to every log line written inside the block (None values are left out)."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in fields.items() if v is not None}):
        yield


def configure_logging(*, json: bool = False, level: int = logging.INFO) -> None:
    """Route regwire's log records to stderr, rendered as JSON lines or as readable text with their context fields.

    Only the ``regwire`` loggers are configured (the command line's); an embedding application keeps its own.
    """
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    logger = logging.getLogger("regwire")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
