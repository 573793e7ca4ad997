"""``regwire run``: poll due feeds, fetch, extract, tag and index, evaluate alerts; once or until interrupted.

The same task functions as the Airflow DAGs (:mod:`pipeline.tasks`): ``poll_sources`` over every source, then
``evaluate_alerts`` on the pass's new and updated articles.
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import AlertEvaluationError, RegwireError
from ..models import FeedStatus
from .common import JsonOption, SourcesOption, cli_context, cli_errors, cli_settings, console, emit_json, err_console

if TYPE_CHECKING:  # the stages load when a command runs, not when `regwire --help` does
    from ..sources import Source
    from ..tasks import SourceReport, TaskContext

#: the longest sleep between passes, so edited schedules and re-enabled feeds are picked up
MAX_SLEEP = 60.0


def summary_table(reports: list[SourceReport]) -> Table:
    table = Table(title="regwire run")
    table.add_column("source", no_wrap=True)
    for column in ("polled", "not modified", "new", "updated", "failed", "article errors", "backing off"):
        table.add_column(column, justify="right")
    for r in reports:
        failed = f"[red]{r.failed}[/red]" if r.failed else "0"
        backing_off = f"[yellow]{len(r.backing_off)}[/yellow]" if r.backing_off else "0"
        table.add_row(r.source, str(r.polled), str(r.not_modified), str(r.new), str(r.updated), failed,
                      str(r.item_errors), backing_off)
    return table


def run_pass(ctx: TaskContext, sources: list[Source], *, force: bool, quiet: bool,
             **alert_options: Any) -> tuple[list[SourceReport], dict[str, Any]]:
    """One pass: every source polled, then the alerts evaluated on what changed (an alert failure is reported,
    never stops the loop)."""
    from ..tasks import evaluate_alerts, poll_sources

    with cli_errors():
        if quiet:
            reports = poll_sources(ctx, sources, force=force)
        else:
            with console.status(f"polling {len(sources)} source(s)…"):
                reports = poll_sources(ctx, sources, force=force)
    ids = [article_id for r in reports for article_id in r.changed_ids]
    try:
        alerts = evaluate_alerts(ctx, ids, **alert_options).as_json()
    except AlertEvaluationError as exc:
        alerts = {**exc.report.as_json(), "ok": False}
    except RegwireError as exc:
        alerts = {"ok": False, "errors": [str(exc)]}
    return reports, alerts


def print_pass(reports: list[SourceReport], alerts: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json({"sources": [r.as_json() for r in reports], "alerts": alerts})
        return
    console.print(summary_table(reports))
    for r in reports:
        for error in r.errors:
            err_console.print(f"[yellow]{escape(r.source)}[/yellow]: {escape(error)}")
        for feed in r.backing_off:
            err_console.print(f"[yellow]{escape(r.source)}[/yellow] not polled: {escape(feed)}")
    if alerts.get("alerts") or alerts.get("errors"):
        console.print(f"alerts: {alerts.get('alerts', 0)} evaluated, {alerts.get('matches', 0)} match(es), "
                      f"{alerts.get('sent', 0)} sent, {alerts.get('failed', 0)} to retry, "
                      f"{alerts.get('given_up', 0)} given up")
    for error in alerts.get("errors", []):
        err_console.print(f"[yellow]alerts[/yellow]: {escape(error)}")


def _seconds_to_next_poll(ctx: TaskContext) -> float:
    try:
        upcoming = [s.next_poll for s in ctx.store.feed_states()
                    if s.next_poll is not None and s.status is FeedStatus.ACTIVE]
    except RegwireError as exc:  # the store is unreachable: try again later
        err_console.print(f"[yellow]store[/yellow]: {escape(str(exc))}")
        upcoming = []
    return min([(t - datetime.now(UTC)).total_seconds() for t in upcoming] + [MAX_SLEEP])


def run(
    sources: SourcesOption = None,
    once: Annotated[bool, typer.Option("--once", help="one pass over due feeds, then exit")] = False,
    force: Annotated[bool, typer.Option("--force", help="poll every active feed now, due or not")] = False,
    metrics_port: Annotated[int | None, typer.Option(
        "--metrics-port", min=1, max=65535, help="serve Prometheus metrics on 127.0.0.1:PORT/metrics")] = None,
    as_json: JsonOption = False,
) -> None:
    """Poll due feeds, fetch and index new articles. Without --once, keep polling until interrupted."""
    from ..sources import load_sources

    settings = cli_settings()
    with cli_errors():
        configured = load_sources(sources or settings.sources)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        # The first Ctrl-C or SIGTERM lets the pass under way finish and store what it fetched; a second Ctrl-C
        # stops at once.
        if signum == signal.SIGINT and stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    exit_code = 0
    try:
        with cli_context(settings) as ctx:
            if metrics_port is not None:
                from ..metrics import serve_metrics

                serve_metrics(ctx.backend, port=metrics_port)
            while True:
                reports, alerts = run_pass(ctx, configured, force=force, quiet=as_json)
                exit_code = 1 if any(not r.ok for r in reports) or not alerts.get("ok", True) else 0
                print_pass(reports, alerts, as_json)
                if once or stop.is_set():
                    if stop.is_set():
                        err_console.print("interrupted: stopped cleanly after the pass")
                    break
                force = False
                if stop.wait(max(1.0, _seconds_to_next_poll(ctx))):
                    err_console.print("interrupted: stopped cleanly")
                    break
    except KeyboardInterrupt:
        err_console.print("interrupted: stopped at once")
        exit_code = 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    raise typer.Exit(exit_code)
