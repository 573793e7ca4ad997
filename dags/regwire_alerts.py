"""regwire_alerts: on every ``regwire_articles`` asset event, evaluate every alert against the published batches and
deliver.

Delivery is exactly once per (alert, article): the delivery log makes a retried task or a replayed event send
nothing twice. Failed sends are retried with backoff by ``regwire_alert_delivery``, which also sends digests.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from pipeline.airflow_helper import ARTICLES, default_args, task_settings


@dag(
    dag_id="regwire_alerts",
    schedule=[ARTICLES],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["regwire", "alerts"],
    default_args=default_args(retries=3, retry_delay=pendulum.duration(minutes=1)),
    doc_md=__doc__,
)
def regwire_alerts():
    @task
    def evaluate_batch() -> dict:
        from pipeline.tasks import batch_ids_of_events, evaluate_alerts, task_context

        events = get_current_context()["triggering_asset_events"][ARTICLES]
        with task_context(task_settings(), tagger=None) as ctx:
            ids = batch_ids_of_events(ctx, [event.extra or {} for event in events])
            result = evaluate_alerts(ctx, ids).as_json()
        print(f"alerts: {result['articles']} article(s), {result['alerts']} alert(s) evaluated by "
              f"{result['evaluator'] or 'nothing'}, {result['matches']} match(es), {result['sent']} sent, "
              f"{result['failed']} failed, {result['given_up']} given up")
        return result

    evaluate_batch()


regwire_alerts()
