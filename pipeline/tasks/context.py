"""What a task needs, opened once and closed together: the settings, the backend (article and alert stores), the
fetcher, the tagger and the extraction workers. The command line and the Airflow tasks open one the same way::

    with task_context(settings) as ctx:
        report = poll_source(ctx, source)

Each part is opened on first use, so a task that only reads the store never builds a fetcher or loads the tagger,
and parts given by the caller (tests, a long-running ``regwire run``) are used as they are and not closed here.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..settings import Settings, load_settings
from ..store.backend import Backend, open_backend

if TYPE_CHECKING:
    from ..fetch import Fetcher
    from ..store.base import Store
    from ..tagging import Tagger
    from .workers import ExtractionPool

#: ``tagger=`` default: the tagger the settings name (``tagging.taxonomy``); pass None to index untagged
DEFAULT: Any = object()


def utc_now() -> datetime:
    return datetime.now(UTC)


class TaskContext:
    def __init__(self, settings: Settings, *, backend: Backend | None = None, fetcher: Fetcher | None = None,
                 extraction: ExtractionPool | None = None,
                 tagger: Tagger | None = DEFAULT, clock: Callable[[], datetime] = utc_now,
                 rng: random.Random | None = None):
        self.settings, self.clock, self.rng = settings, clock, rng or random.Random()
        self._given: dict[str, Any] = {"backend": backend, "fetcher": fetcher, "extraction": extraction}
        self._tagger = tagger
        self._opened: list[Any] = []
        #: serialises store writes of threads polling several sources in one process
        self.write_lock = threading.Lock()
        #: canonical URLs some thread is fetching right now, so parallel sources never fetch one page twice
        self.claimed: set[str] = set()

    @cached_property
    def backend(self) -> Backend:
        backend = self._given["backend"]
        if backend is None:
            backend = open_backend(self.settings)
            self._opened.append(backend)
        return backend

    @property
    def store(self) -> Store:
        return self.backend.articles

    @cached_property
    def fetcher(self) -> Fetcher:
        fetcher = self._given["fetcher"]
        if fetcher is None:
            from ..fetch import Fetcher

            fetcher = Fetcher(self.settings)
            self._opened.append(fetcher)
        return fetcher

    @cached_property
    def extraction(self) -> ExtractionPool:
        """The worker processes that extract and tag pages (``schedule.extract_workers``), with this context's
        tagger: the settings' taxonomy by default, the given tagger (pickled to each worker), or none."""
        pool = self._given["extraction"]
        if pool is None:
            from .workers import ExtractionPool, TaggerSpec

            if self._tagger is DEFAULT:
                spec = TaggerSpec(taxonomy=self.settings.tagging.taxonomy)
            else:
                spec = TaggerSpec(tagger=self._tagger, enabled=self._tagger is not None)
            pool = ExtractionPool(self.settings.schedule.extract_workers, tagger=spec)
            self._opened.append(pool)
        return pool

    @cached_property
    def tagger(self) -> Tagger | None:
        if self._tagger is DEFAULT:
            from ..tagging import default_tagger

            return default_tagger(self.settings.tagging.taxonomy)
        return self._tagger

    def close(self) -> None:
        """Close what this context opened (last opened first); what the caller gave stays open."""
        while self._opened:
            self._opened.pop().close()


@contextmanager
def task_context(settings: Settings | None = None, **parts: Any) -> Iterator[TaskContext]:
    """A :class:`TaskContext` over ``settings`` (the environment's when None), closed on exit."""
    ctx = TaskContext(settings or load_settings(), **parts)
    try:
        yield ctx
    finally:
        ctx.close()
