"""regwire_alert_delivery: every few minutes, send digests whose window has closed and retry failed deliveries."""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, task

from pipeline.airflow_helper import default_args, task_settings


@dag(
    dag_id="regwire_alert_delivery",
    schedule=os.environ.get("REGWIRE_ALERT_DELIVERY_SCHEDULE", "*/5 * * * *"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["regwire", "alerts"],
    default_args=default_args(retries=1),
    doc_md=__doc__,
)
def regwire_alert_delivery():
    @task
    def deliver_due() -> dict:
        from pipeline.tasks import deliver_alerts, task_context

        with task_context(task_settings(), tagger=None) as ctx:
            result = deliver_alerts(ctx).as_json()
        print(f"alert delivery: {result['sent']} sent, {result['failed']} failed, {result['given_up']} given up")
        return result

    deliver_due()


regwire_alert_delivery()
