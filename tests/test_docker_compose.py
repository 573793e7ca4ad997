"""docker-compose.yml cannot run here (no Docker): check its structure and keep it in step with the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from pipeline.settings import Settings, environment_variables

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
LONG_RUNNING = {"postgres", "elasticsearch", "kibana", "airflow-apiserver", "airflow-scheduler",
                "airflow-dag-processor", "airflow-triggerer"}
VAR = re.compile(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)(:?[-?][^}]*)?\}")


def env_example() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value
    return out


def test_the_services_the_issue_asks_for():
    assert LONG_RUNNING | {"es-setup", "airflow-init"} <= set(SERVICES)
    airflow = SERVICES["airflow-apiserver"]["image"]
    assert re.search(r"apache/airflow:\$\{?.*3\.3\.\d", airflow) or "3.3." in airflow
    assert SERVICES["airflow-apiserver"]["command"] == "api-server"
    assert {SERVICES[s]["command"] for s in ("airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")} == \
        {"scheduler", "dag-processor", "triggerer"}
    for name in ("elasticsearch", "kibana"):
        assert re.search(r":\$\{ELASTIC_VERSION:-9\.\d+\.\d+\}$", SERVICES[name]["image"])
    es_env = SERVICES["elasticsearch"]["environment"]
    assert es_env["discovery.type"] == "single-node" and es_env["xpack.security.enabled"] == "true"


def test_health_checks_dependencies_and_volumes():
    for name in LONG_RUNNING:
        check = SERVICES[name].get("healthcheck")
        assert check and check["test"], f"{name} has no health check"
    for name, service in SERVICES.items():
        deps = service.get("depends_on") or {}
        for dep, cond in deps.items():
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
            wanted = "service_completed_successfully" if dep in ("es-setup", "airflow-init") else "service_healthy"
            assert cond["condition"] == wanted
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in COMPOSE["volumes"], f"{name} uses undeclared volume {source}"
    mounts = SERVICES["airflow-scheduler"]["volumes"]
    assert "./dags:/opt/airflow/dags" in mounts and "./plugins:/opt/airflow/plugins" in mounts
    assert any(m.startswith("./:") for m in mounts)  # the project itself, installed from /opt/regwire
    assert any((ROOT / "dags").glob("*.py")) and any((ROOT / "plugins").glob("*.py"))


def test_secrets_come_from_env_and_every_variable_is_documented():
    text = (ROOT / "docker-compose.yml").read_text()
    documented = env_example()
    for name, default in VAR.findall(text):
        if not default.startswith(":-"):
            assert name in documented, f"${{{name}}} is required but missing from .env.example"
    for secret in ("POSTGRES_PASSWORD", "ELASTIC_PASSWORD", "KIBANA_PASSWORD", "AIRFLOW_FERNET_KEY",
                   "AIRFLOW_JWT_SECRET", "KIBANA_ENCRYPTION_KEY"):
        assert documented[secret] == "set-me"
        assert f"${{{secret}" in text
    for service in SERVICES.values():
        env = service.get("environment") or {}
        for key, value in env.items():
            if re.search(r"PASSWORD|SECRET|KEY", key) and key != "REGWIRE_SEARCH_API_KEY":
                assert "${" in str(value), f"{key} is not taken from .env"


def test_regwire_settings_and_connection_match_the_code():
    env = SERVICES["airflow-scheduler"]["environment"]
    known = set(environment_variables())
    for key in env:
        if key.startswith("REGWIRE_"):
            assert key in known, f"{key} is not a regwire setting"
    for key in env_example():
        if key.startswith("REGWIRE_"):
            assert key in known, f"{key} is not a regwire setting"
    # the Airflow connection the DAGs read (regwire_search) turns into the same search settings
    raw = VAR.sub(lambda m: {"ELASTIC_PASSWORD": "pw"}.get(m.group(1), (m.group(2) or ":-")[2:]),
                  env["AIRFLOW_CONN_REGWIRE_SEARCH"])
    conn = json.loads(raw)
    settings = Settings.from_airflow_connection(conn)
    assert settings.search.url == env["REGWIRE_SEARCH_URL"]
    assert settings.search.engine == env["REGWIRE_SEARCH_ENGINE"] == "elasticsearch"
    assert settings.search.username == env["REGWIRE_SEARCH_USERNAME"]
    assert settings.search.index_prefix == "regwire"
    kibana_dv = json.loads((ROOT / "pipeline" / "kibana" / "regwire-data-view.ndjson").read_text())
    assert kibana_dv["attributes"]["title"] == f"{settings.search.index_prefix}-articles"


@pytest.mark.parametrize("name", sorted(LONG_RUNNING - {"postgres"}))
def test_ports_bind_to_loopback_only(name):
    for port in SERVICES[name].get("ports", []):
        assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond this host"


def test_airflow_init_creates_the_pool_the_poll_dag_uses():
    """A task whose pool does not exist is never scheduled: the deployment must create regwire_poll's pool."""
    pool = re.search(r'FETCH_POOL\s*=\s*os\.environ\.get\("REGWIRE_FETCH_POOL",\s*"([^"]+)"\)',
                     (ROOT / "pipeline" / "airflow_helper.py").read_text())
    assert pool, "dags/regwire_common.py no longer names its pool the way this test reads it"
    command = " ".join(SERVICES["airflow-init"]["command"])
    assert f"airflow pools set {pool.group(1)} " in command


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?message}: from ``env``, else the default, else a marker."""
    def one(match: re.Match) -> str:
        name, rest = match.group(1), match.group(2) or ""
        if name in env:
            return env[name]
        return rest[2:] if rest.startswith(":-") else f"<{name}>"

    return VAR.sub(one, value)


def _template(template: str) -> re.Pattern:
    """A deployment.SHARED_ENV value as a pattern: {placeholders} (addresses, secrets) match anything."""
    parts = re.split(r"\{[a-z_]+\}", template)
    return re.compile(".*".join(re.escape(p) for p in parts) + r"\Z")


def test_celery_profile_runs_what_the_distributed_test_runs():
    """tests/test_distributed.py starts deployment.COMMANDS with deployment.SHARED_ENV; the celery profile, with the
    .env values docs/scale-out.md gives, must run the same commands with the same settings."""
    from deployment import CELERY_PROFILE_ENV, COMMANDS, POOL_COMMAND, SHARED_ENV

    for name in ("airflow-scheduler", "airflow-worker", "airflow-apiserver", "airflow-dag-processor",
                 "airflow-triggerer"):
        env = {k: _interpolate(str(v), CELERY_PROFILE_ENV) for k, v in SERVICES[name]["environment"].items()}
        for key, template in SHARED_ENV.items():
            assert key in env, f"{name} lacks {key}"
            assert _template(template).match(env[key]), f"{name}: {key}={env[key]!r} is not {template!r}"
    assert SERVICES["airflow-worker"]["environment"]["REGWIRE_HOME"] != SERVICES["airflow-scheduler"]["environment"][
        "REGWIRE_HOME"], "each worker keeps its own REGWIRE_HOME, as in the test"
    commands = {"api-server": "airflow-apiserver", "scheduler": "airflow-scheduler",
                "dag-processor": "airflow-dag-processor", "triggerer": "airflow-triggerer", "worker": "airflow-worker"}
    for kind, service in commands.items():
        assert SERVICES[service]["command"].split() == COMMANDS[kind], service
    init = " ".join(SERVICES["airflow-init"]["command"])
    assert "airflow " + " ".join(COMMANDS["init"]) in init
    assert "airflow " + " ".join(POOL_COMMAND[:3]) in init
    for name in ("redis", "airflow-worker"):
        assert SERVICES[name].get("profiles") == ["celery"], name
    assert SERVICES["airflow-worker"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "AIRFLOW_WORKERS" in str(SERVICES["airflow-worker"]["deploy"]["replicas"])
    # without the profile's .env values the single-host deployment is unchanged
    local = {k: _interpolate(str(v), {}) for k, v in SERVICES["airflow-scheduler"]["environment"].items()}
    assert local["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor" and local["REGWIRE_HOST_BOOK"] == ""
    # and the docs and .env.example give the same values
    scale_out = (ROOT / "docs" / "scale-out.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for key, value in CELERY_PROFILE_ENV.items():
        assert f"{key}={value}" in scale_out and f"# {key}={value}" in example, key
