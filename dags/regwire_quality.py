"""regwire_quality: a quality report for every batch the poll DAG publishes (asset-triggered)."""

from __future__ import annotations

import json

import pendulum
from airflow.sdk import dag, get_current_context, task

from pipeline.airflow_helper import ARTICLES, default_args, task_settings


@dag(
    dag_id="regwire_quality",
    schedule=[ARTICLES],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["regwire", "quality"],
    default_args=default_args(),
    doc_md=__doc__,
)
def regwire_quality():
    @task
    def report() -> dict:
        from pipeline.tasks import batch_ids_of_events, quality_report, task_context

        events = get_current_context()["triggering_asset_events"][ARTICLES]
        with task_context(task_settings(), tagger=None) as ctx:
            result = quality_report(ctx, batch_ids_of_events(ctx, [event.extra or {} for event in events]))
        print("quality report:", json.dumps(result["totals"], sort_keys=True))
        for row in result["flagged"]:
            print(f"  flagged {row['id']} ({row['source']}): {', '.join(row['problems'])}")
        return result

    report()


regwire_quality()
