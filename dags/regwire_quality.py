"""regwire_quality: a quality report for every batch the poll DAG publishes (asset-triggered)."""

from __future__ import annotations

import json

import pendulum
from airflow.sdk import dag, get_current_context, task

from pipeline.airflow_helper import ARTICLES, regwire_settings


@dag(
    dag_id="regwire_quality",
    schedule=[ARTICLES],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["regwire"],
    doc_md=__doc__,
)
def regwire_quality():
    @task
    def report() -> dict:
        from pipeline.orchestration import batch_ids, quality_report

        settings = regwire_settings()
        ids: list[str] = []
        for event in get_current_context()["triggering_asset_events"][ARTICLES]:
            ids.extend(batch_ids(event.extra or {}, settings=settings))
        result = quality_report(list(dict.fromkeys(ids)), settings)
        print("quality report:", json.dumps(result["totals"], sort_keys=True))
        for row in result["flagged"]:
            print(f"  flagged {row['id']} ({row['source']}): {', '.join(row['problems'])}")
        return result

    report()


regwire_quality()
