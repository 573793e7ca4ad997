"""regwire_poll: one mapped task per source polls its due feeds and indexes new articles; then one asset event.

Wiring only: the work is in :mod:`pipeline.orchestration`. A failing source fails its own map index (after retries
with exponential backoff); the others still index. ``publish`` emits an event on the ``regwire_articles`` asset
carrying counts, the changed ids and the store watermark, and emits nothing when nothing changed (it is skipped).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from pipeline.airflow_helper import (
    ARTICLES,
    FETCH_POOL,
    POLL_MAX_RETRY_DELAY,
    POLL_RETRIES,
    POLL_RETRY_DELAY,
    POLL_SCHEDULE,
    record_outcome,
    regwire_settings,
    sources_file,
)


@dag(
    dag_id="regwire_poll",
    schedule=POLL_SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one publisher at a time: each batch starts where the previous event's watermark ended
    tags=["regwire"],
    params={
        "sources_file": Param(None, type=["null", "string"],
                              description="sources YAML; default: Variable regwire_sources_file, then REGWIRE_SOURCES"),
        "force": Param(False, type="boolean", description="poll every active feed now, due or not"),
        "since_watermark": Param(None, type=["null", "integer"], minimum=0,
                                 description="announce the store's changes after this watermark instead of the last"
                                             " event's (0 after the store was rebuilt)"),
    },
    doc_md=__doc__,
)
def regwire_poll():
    @task
    def list_sources() -> list[str]:
        from pipeline.orchestration import list_sources as enabled_sources

        return enabled_sources(sources_file(get_current_context()["params"]), settings=regwire_settings())

    @task(
        pool=FETCH_POOL,
        retries=POLL_RETRIES,
        retry_delay=POLL_RETRY_DELAY,
        retry_exponential_backoff=True,
        max_retry_delay=POLL_MAX_RETRY_DELAY,
        map_index_template="{{ regwire_source }}",
    )
    def poll(source: str) -> dict:
        from pipeline.orchestration import SourcePollError, poll_source

        context = get_current_context()
        # names the map index in the UI (map_index_template above)
        context["regwire_source"] = source  # type: ignore[typeddict-unknown-key]
        params = context["params"]
        # A retry polls the source's active feeds again at once: the feed's own backoff would otherwise skip them.
        force = bool(params.get("force")) or context["ti"].try_number > 1
        try:
            report = poll_source(source, regwire_settings(), sources_path=sources_file(params), force=force)
        except SourcePollError as exc:
            record_outcome(exc.report)
            raise
        record_outcome(report)
        report.pop("changed_ids")  # the batch comes from the store's change log; keep XComs small
        return report

    @task(inlets=[ARTICLES], outlets=[ARTICLES], trigger_rule="all_done")
    def publish(reports: list[dict]) -> dict:
        from pipeline.orchestration import publish_batch

        context = get_current_context()
        previous = context["params"].get("since_watermark")
        if previous is None:  # where the last batch ended (events without a watermark come from elsewhere)
            previous = 0
            for event in context["inlet_events"][ARTICLES].ascending(False).limit(20):
                watermark = event.extra.get("watermark") if isinstance(event.extra, dict) else None
                if isinstance(watermark, int):
                    previous = watermark
                    break
        extra = publish_batch(regwire_settings(), previous, [r for r in reports if r])
        if extra is None:
            raise AirflowSkipException(f"nothing new or updated since watermark {previous}: no asset event")
        context["outlet_events"][ARTICLES].extra = extra
        return {k: v for k, v in extra.items() if k != "ids"}

    @task
    def all_sources_ok(reports: list[dict]) -> int:
        """Fails (upstream_failed) when any source failed, so the run shows it; the batch was published anyway."""
        return len(reports)

    reports = poll.expand(source=list_sources())
    # TaskFlow hands each task the resolved list of the mapped results; mypy sees the XComArg
    publish(reports)  # type: ignore[arg-type]
    all_sources_ok(reports)  # type: ignore[arg-type]


regwire_poll()
