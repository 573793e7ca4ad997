"""Imported by the Celery workers of tests/test_distributed.py (``[core] hostname_callable``): each worker records
its stand-in machine's name on the task instances it runs, as workers on separate machines would their own."""

from __future__ import annotations

import os


def hostname() -> str:
    return os.environ["REGWIRE_TEST_MACHINE"]
