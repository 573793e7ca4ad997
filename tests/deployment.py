"""What the distributed deployment runs: the settings every Airflow process gets and the command of each process.

tests/test_distributed.py starts exactly these on 127.0.0.1 (with test addresses filled in), and
tests/test_docker_compose.py checks that docker-compose.yml's ``celery`` profile runs the same commands with the same
settings, so the compose file is the deployment that was tested, not a second one.
"""

from __future__ import annotations

#: settings shared by every Airflow process of the Celery deployment (values with {placeholders} are addresses,
#: secrets or paths that differ between the test and compose; the others must be equal)
SHARED_ENV: dict[str, str] = {
    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
    "AIRFLOW__CORE__FERNET_KEY": "{fernet_key}",
    "AIRFLOW__API_AUTH__JWT_SECRET": "{jwt_secret}",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://{api_host}:{api_port}/execution/",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow{password}@{postgres}/airflow",
    "AIRFLOW__CELERY__BROKER_URL": "redis://{redis}/1",
    "AIRFLOW__CELERY__RESULT_BACKEND": "db+postgresql+psycopg2://airflow{password}@{postgres}/airflow",
    # one task per worker slot at a time, so mapped source polls spread over the workers instead of queueing
    # behind one worker's prefetched tasks
    "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "{worker_concurrency}",
    # extraction in the task's own process: under Celery's prefork pool a task is a daemonic process, which may not
    # start regwire's extraction worker processes ("daemonic processes are not allowed to have children")
    "REGWIRE_EXTRACT_WORKERS": "0",
    "REGWIRE_SEARCH_URL": "{search_url}",
    "REGWIRE_SEARCH_ENGINE": "{search_engine}",
    # per-host politeness shared by every worker on every machine
    "REGWIRE_HOST_BOOK": "redis://{redis}/0",
}

#: the process kinds and their commands (after ``airflow``); workers run one per machine, the rest once
COMMANDS: dict[str, list[str]] = {
    "init": ["db", "migrate"],
    "api-server": ["api-server"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer"],
    "worker": ["celery", "worker"],
}

#: the pool regwire_poll's source tasks run in (created after the migration, as in scripts/airflow-standalone)
POOL_COMMAND = ["pools", "set", "regwire_fetch", "{fetch_slots}", "regwire: source polls running at once"]

#: what a user sets in .env for docker-compose.yml's celery profile (docs/scale-out.md says the same)
CELERY_PROFILE_ENV: dict[str, str] = {
    "AIRFLOW_EXECUTOR": "CeleryExecutor",
    "REGWIRE_HOST_BOOK": "redis://redis:6379/0",
}
