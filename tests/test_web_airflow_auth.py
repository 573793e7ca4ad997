"""The search app inside Airflow's real api-server app (built in a subprocess with a migrated metadata DB, requests
through FastAPI's test client): every route, page and API alike, needs Airflow's login."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_dags import AIRFLOW, _airflow_env, _run_python, airflow_home  # noqa: F401 - fixture re-used

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

PROBE = """
import json
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app

client = TestClient(create_app(apps="all"), follow_redirects=False)
paths = ["/regwire/", "/regwire/articles/x?q=a", "/regwire/api/search?q=stablecoin", "/regwire/api/health",
         "/regwire/api/articles/x", "/regwire/api/export.csv", "/regwire/api/docs", "/regwire/api/openapi.json",
         "/regwire/static/style.css", "/regwire/static/swagger-ui-bundle.js", "/regwire/metrics"]
anonymous = {p: [client.get(p).status_code, client.get(p).headers.get("location")] for p in paths}
anonymous["POST /regwire/api/alerts"] = [client.post("/regwire/api/alerts", json={}).status_code, None]
anonymous["POST /regwire/alerts"] = [client.post("/regwire/alerts", content=b"name=x").status_code, None]
forged = client.get("/regwire/api/search", headers={"Authorization": "Bearer not-a-jwt"}).status_code
token = client.post("/auth/token", json={"username": "admin", "password": "admin"}).json()["access_token"]
bearer = {p: client.get(p, headers={"Authorization": "Bearer " + token}).status_code for p in paths}
client.cookies.set("_token", token)
cookie_page = client.get("/regwire/?q=stablecoin")
print("RESULT " + json.dumps({"anonymous": anonymous, "forged": forged, "bearer": bearer,
                              "cookie_page": [cookie_page.status_code, "search" in cookie_page.text]}))
"""


def test_every_route_needs_airflow_login(airflow_home: Path, tmp_path: Path) -> None:  # noqa: F811
    env = _airflow_env(airflow_home, tmp_path / "regwire", AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
                       AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING")
    (airflow_home / "simple_auth_manager_passwords.json.generated").write_text('{"admin": "admin"}')
    result = _run_python(PROBE, env, timeout=180)
    pages = {"/regwire/", "/regwire/articles/x?q=a"}
    for path, (status, location) in result["anonymous"].items():
        if path in pages:  # a browser is sent to Airflow's login, and back afterwards
            assert status == 307 and location.startswith("/auth/login?next="), (path, status, location)
        else:
            assert status == 401, (path, status, result["_output"][-2000:])
    assert result["forged"] in (401, 403)
    missing = {"/regwire/api/articles/x": 404, "/regwire/articles/x?q=a": 404}  # signed in: no such article
    assert result["bearer"] == {**{p: 200 for p in result["bearer"]}, **missing}
    assert result["cookie_page"] == [200, True]
