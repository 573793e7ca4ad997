"""Extraction and tagging in worker processes: the CPU half of ingest, off the fetching threads.

trafilatura and lxml hold the GIL for most of their work and are not safe to call from several threads at once
(upstream adbar/trafilatura#840, #925: SIGSEGV / "double free" under ``metadata.extract_author``). So the fetching
threads hand each fetched page to :class:`ExtractionPool`, which runs the page's extraction and tagging in one of
``settings.schedule.extract_workers`` single-threaded processes (the core count by default)::

    pool = ExtractionPool(2, tagger=TaggerSpec(taxonomy=None))
    article, tags = pool.call(build_article, item, page, content_type, source_language)

``call`` blocks until a worker is free, so at most ``workers`` pages are in flight (the pool is bounded by its
callers, the polling threads). One worker that crashes or runs past ``timeout`` costs its page only: the call raises
:class:`ExtractionWorkerError` naming the exit signal or the limit, the worker is replaced, other calls go on.

With ``workers=0`` the calls run in the calling process, one at a time (a process-wide lock), for tools that would
rather not start processes; the results are the same.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from ..errors import ExtractionWorkerError

if TYPE_CHECKING:
    from ..sources.feeds import ParsedFeed
    from ..tagging import Tagger

#: a page whose extraction takes longer than this (seconds) is given up and its worker replaced
DEFAULT_TIMEOUT = 120.0
#: a worker is replaced after this many jobs: lxml's and the allocator's leftovers do not pile up over a long run
#: (a replacement forks from the fork server in milliseconds, with the stages and the tagger already loaded)
DEFAULT_MAX_JOBS = 250
#: what the fork server imports once, so a new or replacement worker starts without importing or loading it again
PRELOAD = ["pipeline.tasks._worker_preload"]
#: calls in the polling process itself (``workers=0``) take turns: trafilatura is not thread-safe
_INLINE_LOCK = threading.Lock()
#: one worker start at a time swaps ``__main__`` (see _main_module_hidden)
_MAIN_SWAP = threading.Lock()


@dataclass(frozen=True, slots=True)
class TaggerSpec:
    """How a worker gets its tagger: the default tagger for a taxonomy file (loaded in the worker), a given tagger
    (pickled over once), or none (``tagger=None``: articles are written untagged)."""

    taxonomy: Path | None = None
    tagger: Tagger | None = None
    enabled: bool = True

    def build(self) -> Tagger | None:
        if not self.enabled:
            return None
        if self.tagger is not None:
            return self.tagger
        from ..tagging import default_tagger

        return default_tagger(self.taxonomy)


class WorkerState:
    """What a job finds in its worker: the tagger (built on first use)."""

    def __init__(self, spec: TaggerSpec):
        self._spec = spec
        self._tagger: Tagger | None = None
        self._built = False

    @property
    def tagger(self) -> Tagger | None:
        if not self._built:
            self._tagger, self._built = self._spec.build(), True
        return self._tagger


def parse_feed_in_worker(state: WorkerState, content: bytes, url: str, content_type: str | None) -> ParsedFeed:
    """A feed's items (:func:`pipeline.sources.parse_feed_items`; its HTML-to-text step uses lxml, so it runs here
    too)."""
    from ..sources import parse_feed_items

    return parse_feed_items(content, url, content_type)


def _rebuild_error(cls: type[BaseException], args: tuple[Any, ...], attrs: dict[str, Any]) -> BaseException:
    """An exception from a worker, rebuilt without calling its ``__init__`` (ours take keyword-less reasons)."""
    exc = cls.__new__(cls)
    BaseException.__init__(exc, *args)
    exc.__dict__.update(attrs)
    return exc


def _worker_main(conn: multiprocessing.connection.Connection, spec: TaggerSpec) -> None:
    """A worker's loop: one job at a time from the pipe, its result or its exception back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which then closes the pipes
    state = WorkerState(spec)
    state.tagger  # noqa: B018 - built before the first page arrives, while the parent still fetches
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        fn, args = job
        try:
            reply: tuple[Any, ...] = ("ok", fn(state, *args))
        except Exception as exc:  # sent back to the caller, who raises it; the worker lives on
            reply = ("error", type(exc), exc.args, dict(getattr(exc, "__dict__", {})))
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result or error: the caller still gets a reason
            conn.send(("error", RuntimeError, (f"worker could not send its result: {exc}",), {}))


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start a worker without it importing the parent's ``__main__`` again (multiprocessing re-runs the main script
    in each child it prepares; under Airflow's task runner that script exits the child). The workers need nothing
    from it: their job functions live in this package."""
    main = sys.modules["__main__"]
    with _MAIN_SWAP:
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = main


def _context() -> Any:
    """Fork server where there is one: never fork the threaded polling process itself."""
    try:
        ctx = multiprocessing.get_context("forkserver")
    except ValueError:  # no fork server on this platform
        return multiprocessing.get_context("spawn")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


class _Worker:
    """One worker process and its pipe; restarted after a crash or a timeout."""

    def __init__(self, spec: TaggerSpec, name: str, max_jobs: int = DEFAULT_MAX_JOBS):
        self._spec, self._name, self._max_jobs = spec, name, max_jobs
        self._jobs = 0
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._starting = threading.Lock()  # the background start (ExtractionPool.start) and a first call

    def _start(self) -> multiprocessing.connection.Connection:
        with self._starting:
            return self._conn or self._start_process()

    def _start_process(self) -> multiprocessing.connection.Connection:
        ctx = _context()
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_worker_main, args=(child, self._spec), name=self._name, daemon=True)
        with _main_module_hidden():
            process.start()
        child.close()
        self._process, self._conn = process, parent
        return parent

    def start(self) -> None:
        if self._conn is None:
            self._start()

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float, what: str) -> Any:
        conn = self._conn or self._start()
        try:
            conn.send((fn, args))
            ready = conn.poll(timeout)
            reply = conn.recv() if ready else None
        except (EOFError, OSError, BrokenPipeError):
            raise ExtractionWorkerError(what, f"extraction worker died ({self._stop()})") from None
        if reply is None:
            self._stop()
            raise ExtractionWorkerError(what, f"extraction worker timed out after {timeout:g} s")
        self._jobs += 1
        if self._jobs >= self._max_jobs:
            self.close()
        if reply[0] == "ok":
            return reply[1]
        raise _rebuild_error(*reply[1:])

    def _stop(self) -> str:
        """Stop the process (if it still runs) and say how it ended."""
        process, self._process = self._process, None
        self._jobs = 0
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if process is None:
            return "not started"
        if process.is_alive():
            process.kill()
        process.join(5)
        code = process.exitcode
        if code is not None and code < 0:
            try:
                return f"signal {signal.Signals(-code).name}"
            except ValueError:
                return f"signal {-code}"
        return f"exit code {code}"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the worker sees EOF and returns
        process = self._process
        if process is not None:
            process.join(2)
        self._stop()


class ExtractionPool:
    """A bounded pool of single-threaded worker processes, shared by the polling threads (see the module doc)."""

    def __init__(self, workers: int, *, tagger: TaggerSpec | None = None, timeout: float = DEFAULT_TIMEOUT,
                 max_jobs_per_worker: int = DEFAULT_MAX_JOBS):
        self.workers, self.timeout = workers, timeout
        self._spec = tagger or TaggerSpec(enabled=False)
        self._inline_state = WorkerState(self._spec) if workers == 0 else None
        self._idle: SimpleQueue[_Worker] = SimpleQueue()
        self._all = [_Worker(self._spec, f"regwire-extract-{n}", max_jobs_per_worker) for n in range(workers)]
        for worker in self._all:
            self._idle.put(worker)

    def start(self) -> ExtractionPool:
        """Start the workers in the background now (the fork server loads the stages and the tagger while the
        caller fetches feeds) rather than on first use."""
        threading.Thread(target=self._start_all, name="regwire-extract-start", daemon=True).start()
        return self

    def _start_all(self) -> None:
        for worker in self._all:
            try:
                worker.start()
            except OSError:  # cannot start a process now: the first call tries again and reports it
                return

    def call(self, fn: Callable[..., Any], *args: Any, what: str = "page") -> Any:
        """``fn(state, *args)`` in a free worker (waiting for one); its result, or the exception it raised.

        ``fn`` must be a module-level function and ``args`` picklable. ``what`` (the URL) names the page in the
        :class:`ExtractionWorkerError` raised when the worker dies or times out.
        """
        if self._inline_state is not None:
            with _INLINE_LOCK:
                return fn(self._inline_state, *args)
        worker = self._idle.get()
        try:
            return worker.call(fn, args, self.timeout, what)
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        for worker in self._all:
            worker.close()

    def __enter__(self) -> ExtractionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
