"""regwire_watch: ingest a source when the triggerer saw one of its feeds change (watch, then work).

Scheduled on the ``regwire_feed_changes`` asset, whose watchers (``REGWIRE_WATCH=on``: one
:class:`~pipeline.airflow_trigger.FeedChangeTrigger` per enabled source) make conditional GETs in the triggerer and
emit an event only for a feed with new or updated items. A 304 costs no worker slot and no run. A run polls just the
sources its events name (``extra["payload"]["source"]``; the ``changes`` param does the same for manual runs), then
publishes each source's batch on ``regwire_articles`` as regwire_poll does, so alerts and quality follow unchanged.

Wiring only: the work is in :mod:`pipeline.tasks`, the trigger in :mod:`pipeline.airflow_trigger`; which DAG to run
(this one or the timetable regwire_poll) is in docs/airflow.md.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, get_current_context, task, task_group
from airflow.sdk.exceptions import AirflowSkipException

from pipeline.airflow_helper import (
    ARTICLES,
    FETCH_POOL,
    POLL_RETRIES,
    POLL_RETRY_DELAY,
    changed_sources,
    default_args,
    feed_changes_asset,
    previous_watermark,
    record_outcome,
    sources_file,
    task_settings,
)

#: a source task's map index: the source it ingests (known before the task runs, also when it fails)
SOURCE_NAME = "{{ ti.xcom_pull(task_ids='sources_changed')[ti.map_index] }}"


@dag(
    dag_id="regwire_watch",
    schedule=[feed_changes_asset()],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["regwire", "ingest", "event-driven"],
    default_args=default_args(),
    params={
        "sources_file": Param(None, type=["null", "string"],
                              description="sources YAML; default: Variable regwire_sources_file, then REGWIRE_SOURCES"),
        "changes": Param([], type="array",
                         description='trigger payloads for a manual run: [{"source": "...", "feed": "..."}]'),
    },
    doc_md=__doc__,
)
def regwire_watch():
    @task
    def sources_changed() -> list[str]:
        context = get_current_context()
        return changed_sources(context["triggering_asset_events"], context["params"])

    @task_group(group_id="source")
    def per_source(source: str) -> None:
        @task(pool=FETCH_POOL, retries=POLL_RETRIES, retry_delay=POLL_RETRY_DELAY, map_index_template=SOURCE_NAME)
        def ingest(source: str) -> dict:
            from pipeline.tasks import load_source, poll_source, raise_if_failed, task_context

            params = get_current_context()["params"]
            with task_context(task_settings()) as ctx:
                # the trigger saw a change: poll the source's feeds now, whatever their adaptive schedule says
                report = poll_source(ctx, load_source(ctx, source, sources_file(params)), force=True)
            record_outcome(report.as_json())
            result = raise_if_failed(report).as_json()
            result.pop("changed_ids")
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

        ingest(source) >> publish(source)

    per_source.expand(source=sources_changed())


regwire_watch()
