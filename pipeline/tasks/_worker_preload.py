"""Imported once by the extraction workers' fork server (:data:`pipeline.tasks.workers.PRELOAD`): the stages'
modules, and the tagger the environment's settings name, so each worker forked from the server starts with them
(no import or model load per worker, and the pages they share stay shared)."""

from __future__ import annotations

import gc

import pipeline.extract.article  # noqa: F401 - imported here so that workers inherit it
import pipeline.sources  # noqa: F401
import pipeline.tasks.ingest  # noqa: F401
from pipeline.errors import RegwireError
from pipeline.settings import load_settings
from pipeline.tagging import default_tagger

try:
    # one article tagged, so the classifiers (loaded on first use) are in memory before the workers fork
    default_tagger(load_settings().tagging.taxonomy).tag("Warm-up", "The regulator licensed a crypto exchange.")
except RegwireError:  # a bad setting or taxonomy: the worker that needs the tagger reports it to its caller
    pass
gc.freeze()  # the collector leaves these objects alone, so the workers' copies of their pages stay shared
