"""regwire_poll: every source polled by its own mapped task group, each publishing its own batch.

Per source (map index named after the source on every try): ``poll`` fetches the source's due feeds, extracts, tags
and indexes (a transient failure is retried with exponential backoff, a permanent one fails at once); ``publish``
then emits an event on the ``regwire_articles`` asset with what that source wrote since its last batch, as soon as
that source is done, so one broken feed never delays the other sources' alerts. ``check`` fails the run, naming them,
when a source failed or has feeds backing off, suspended or disabled: a run is never green while feeds are broken.

Wiring only: the work is in :mod:`pipeline.tasks`; defaults (owner, retries, timeout, failure notices) in
:mod:`pipeline.airflow_helper`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, get_current_context, task, task_group
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from pipeline.airflow_helper import (
    ARTICLES,
    FETCH_POOL,
    POLL_MAX_RETRY_DELAY,
    POLL_RETRIES,
    POLL_RETRY_DELAY,
    POLL_SCHEDULE,
    default_args,
    previous_watermark,
    record_outcome,
    sources_file,
    task_settings,
)

#: a source task's map index, named after its source on every try: map index i polls list_sources' i-th name, which
#: is known before the task runs (the task's own result is not, when it fails)
SOURCE_NAME = "{{ ti.xcom_pull(task_ids='list_sources')[ti.map_index] }}"


@dag(
    dag_id="regwire_poll",
    schedule=POLL_SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["regwire", "ingest"],
    default_args=default_args(),
    params={
        "sources_file": Param(None, type=["null", "string"],
                              description="sources YAML; default: Variable regwire_sources_file, then REGWIRE_SOURCES"),
        "force": Param(False, type="boolean", description="poll every active feed now, due or not"),
    },
    doc_md=__doc__,
)
def regwire_poll():
    @task
    def list_sources() -> list[str]:
        from pipeline.tasks import enabled_sources, task_context

        with task_context(task_settings()) as ctx:
            return enabled_sources(ctx, sources_file(get_current_context()["params"]))

    @task_group(group_id="source")
    def per_source(source: str) -> None:
        @task(pool=FETCH_POOL, retries=POLL_RETRIES, retry_delay=POLL_RETRY_DELAY, max_retry_delay=POLL_MAX_RETRY_DELAY,
              map_index_template=SOURCE_NAME)
        def poll(source: str) -> dict:
            from pipeline.tasks import load_source, poll_source, raise_if_failed, task_context

            context = get_current_context()
            params = context["params"]
            # a retry polls the source's active feeds again at once: the feeds' own backoff would skip them
            force = bool(params.get("force")) or context["ti"].try_number > 1
            with task_context(task_settings()) as ctx:
                report = poll_source(ctx, load_source(ctx, source, sources_file(params)), force=force)
            record_outcome(report.as_json())
            result = raise_if_failed(report).as_json()
            result.pop("changed_ids")  # the batch comes from the store's change log; keep XComs small
            return result

        @task(inlets=[ARTICLES], outlets=[ARTICLES], trigger_rule="all_done", map_index_template=SOURCE_NAME)
        def publish(source: str) -> dict:
            from pipeline.tasks import publish_changes, task_context

            context = get_current_context()
            since = previous_watermark(context["inlet_events"], source)
            with task_context(task_settings(), tagger=None) as ctx:
                extra = publish_changes(ctx, since, source=source)
            if extra is None:
                raise AirflowSkipException(f"{source}: nothing new or updated since watermark {since}: no event")
            context["outlet_events"][ARTICLES].extra = extra
            return {k: v for k, v in extra.items() if k != "ids"}

        poll(source) >> publish(source)

    @task(trigger_rule="all_done", retries=0)
    def check(sources: list[str]) -> dict:
        """Fails, naming them, when a source failed or has feeds backing off, suspended or disabled."""
        from pipeline.tasks import feed_health, task_context

        with task_context(task_settings(), tagger=None) as ctx:
            health = feed_health(ctx, sources)
        if health["unhealthy"]:
            raise AirflowFailException(f"{len(health['unhealthy'])} feed(s) need attention: "
                                       + "; ".join(health["unhealthy"][:20]))
        return health

    sources = list_sources()
    # TaskFlow hands ``check`` the resolved list; mypy sees the XComArg
    per_source.expand(source=sources) >> check(sources)  # type: ignore[arg-type]


regwire_poll()
