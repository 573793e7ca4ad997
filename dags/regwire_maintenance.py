"""regwire_maintenance (daily): re-check suspended feeds, prune old article versions, run due index migrations."""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, Variable, dag, get_current_context, task

from pipeline.airflow_helper import MAINTENANCE_SCHEDULE, RETENTION_VARIABLE, regwire_settings


@dag(
    dag_id="regwire_maintenance",
    schedule=MAINTENANCE_SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["regwire"],
    params={"retention_days": Param(None, type=["null", "integer"], minimum=1,
                                    description="keep old versions this long; default Variable regwire_retention_days"
                                                " or 365")},
    doc_md=__doc__,
)
def regwire_maintenance():
    @task
    def maintain() -> dict:
        from pipeline.orchestration import maintenance

        context = get_current_context()
        retention = context["params"].get("retention_days") or int(Variable.get(RETENTION_VARIABLE, default=365))
        return maintenance(regwire_settings(), retention_days=retention, now=context["dag_run"].run_after)

    maintain()


regwire_maintenance()
