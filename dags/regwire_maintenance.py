"""regwire_maintenance (daily): re-check suspended feeds, prune old article versions, run due index migrations,
retry dead-lettered writes."""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from pipeline.airflow_helper import MAINTENANCE_SCHEDULE, default_args, retention_days, sources_file, task_settings


@dag(
    dag_id="regwire_maintenance",
    schedule=MAINTENANCE_SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["regwire", "maintenance"],
    default_args=default_args(retries=1),
    params={"retention_days": Param(None, type=["null", "integer"], minimum=1,
                                    description="keep old versions this long; default Variable regwire_retention_days"
                                                " or 365")},
    doc_md=__doc__,
)
def regwire_maintenance():
    @task
    def maintain() -> dict:
        from pipeline.sources import load_sources
        from pipeline.tasks import maintenance, task_context

        context = get_current_context()
        with task_context(task_settings(), tagger=None) as ctx:
            sources = load_sources(sources_file(context["params"]) or ctx.settings.sources)
            return maintenance(ctx, retention_days=retention_days(context["params"]),
                               now=context["dag_run"].run_after, sources=sources)

    maintain()


regwire_maintenance()
