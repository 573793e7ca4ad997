"""regwire_alerts: on every ``regwire_articles`` asset event, evaluate every alert against that batch and deliver.

Delivery is exactly once per (alert, article): the delivery log makes a retried task or a replayed event send
nothing twice. Failed sends are retried with backoff by ``regwire_alert_delivery``, which also sends digests.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from pipeline.airflow_helper import ARTICLES, regwire_settings


@dag(
    dag_id="regwire_alerts",
    schedule=[ARTICLES],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["regwire"],
    doc_md=__doc__,
    default_args={"retries": 3, "retry_delay": pendulum.duration(minutes=1), "retry_exponential_backoff": True},
)
def regwire_alerts():
    @task
    def evaluate_batch() -> dict:
        from pipeline.orchestration import alert_batch, batch_ids

        settings = regwire_settings()
        ids: list[str] = []
        for event in get_current_context()["triggering_asset_events"][ARTICLES]:
            ids.extend(batch_ids(event.extra or {}, settings=settings))
        result = alert_batch(list(dict.fromkeys(ids)), settings)
        print(f"alerts: {result['batch']} article(s), {result['alerts']} alert(s) evaluated by "
              f"{result['evaluator'] or 'nothing'}, {result['matches']} match(es), {result['sent']} sent, "
              f"{result['failed']} failed, {result['given_up']} given up")
        return result

    evaluate_batch()


regwire_alerts()
