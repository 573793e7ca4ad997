"""``regwire alerts …`` as users run it (typer's runner on the sub-app, registered the way cli.py will register it):
JSON output, rich output, exit codes 0/1/2."""

from __future__ import annotations

import json

import pytest
import typer
from test_alerts_loopback import LOOPBACK_HOSTS, WebhookReceiver
from test_alerts_seed import run_demo
from typer.testing import CliRunner

from pipeline.alerts import AppriseSender, SQLiteAlertStore, evaluate_and_deliver
from pipeline.cli.alerts import alerts_app
from pipeline.settings import AlertSettings
from pipeline.store import SQLiteStore

app = typer.Typer()
app.add_typer(alerts_app, name="alerts")


@pytest.fixture
def cli(settings):
    runner = CliRunner()
    env = {"REGWIRE_HOME": str(settings.home), "COLUMNS": "200", "REGWIRE_SEARCH_URL": "",
           "REGWIRE_ALERTS_BACKOFF_BASE": "0.001"}  # retries due at once

    def invoke(*args: str):
        return runner.invoke(app, ["alerts", *args], env=env)

    return invoke


def test_add_list_show_remove(cli):
    added = cli("add", "Kazakhstan fiat-ramp", "--owner", "desk", "-q", "Kazakhstan", "--topic", "fiat-ramp",
                "--channel", "mmost://chat.internal/${MM_HOOK}", "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["alert"]["topics"] == ["fiat-ramp"]
    again = cli("add", "Kazakhstan fiat-ramp", "--owner", "desk", "-q", "x", "--channel", "json://127.0.0.1/h")
    assert again.exit_code == 2 and "--replace" in again.output
    listed = json.loads(cli("list", "--json").stdout)
    assert [a["name"] for a in listed] == ["Kazakhstan fiat-ramp"]
    human = cli("list")
    assert "Kazakhstan fiat-ramp" in human.stdout and "topic: fiat-ramp" in human.stdout
    shown = json.loads(cli("show", "Kazakhstan fiat-ramp", "--json").stdout)
    assert shown["alert"]["channels"] == ["mmost://chat.internal/${MM_HOOK}"] and shown["deliveries"] == {}
    assert "mmost://chat.internal/${MM_HOOK}" in cli("show", "Kazakhstan fiat-ramp").stdout
    assert cli("remove", "Kazakhstan fiat-ramp").exit_code == 0
    assert cli("show", "Kazakhstan fiat-ramp").exit_code == 1
    assert cli("remove", "Kazakhstan fiat-ramp").exit_code == 1


def test_bad_definitions_exit_2_with_the_reason(cli):
    bad_topic = cli("add", "x", "--owner", "o", "--topic", "fiat", "--channel", "json://127.0.0.1/h")
    assert bad_topic.exit_code == 2 and "unknown topic" in bad_topic.output and "'topics'" in bad_topic.output
    secret = cli("add", "x", "--owner", "o", "-q", "a", "--channel", "mailtos://u:hunter2@smtp.example.org")
    assert secret.exit_code == 2 and "environment variable" in secret.output
    assert cli("add", "x", "--owner", "o", "-q", '"open', "--channel", "json://127.0.0.1/h").exit_code == 2
    assert cli("list", "--json").stdout.strip() == "[]"


def test_load_from_yaml_with_prune(cli, tmp_path):
    path = tmp_path / "alerts.yaml"
    path.write_text("alerts:\n"
                    "  - {name: a, owner: o, q: Kazakhstan, channels: ['json://127.0.0.1/h']}\n"
                    "  - {name: b, owner: o, topics: [mining], mode: daily, channels: ['json://127.0.0.1/h']}\n")
    first = json.loads(cli("load", str(path), "--json").stdout)
    assert (first["added"], first["updated"], first["unchanged"]) == (["a", "b"], [], [])
    path.write_text("alerts:\n  - {name: a, owner: o, q: Kazakhstan mining, channels: ['json://127.0.0.1/h']}\n")
    second = json.loads(cli("load", str(path), "--prune", "--json").stdout)
    assert (second["updated"], second["removed"]) == (["a"], ["b"])
    path.write_text("alerts:\n  - {name: c, owner: o, q: x, channels: ['json://127.0.0.1/h']}\n"
                    "  - {name: d, owner: o, q: x, channels: ['ftp://nowhere']}\n")
    refused = cli("load", str(path))
    assert refused.exit_code == 2 and "alert 'd'" in refused.output and "'channels" in refused.output
    assert [a["name"] for a in json.loads(cli("list", "--json").stdout)] == ["a"]  # nothing of the bad file stored


def test_test_prints_what_would_be_sent_and_log_shows_deliveries(cli, settings, transport, site):
    with SQLiteStore(settings.db_path) as store:
        ids = run_demo(settings, store, transport, site)
    assert cli("add", "kz", "--owner", "desk", "-q", "Kazakhstan", "--topic", "fiat-ramp", "--channel",
               "json://127.0.0.1:9/never-contacted").exit_code == 0
    dry = cli("test", "kz", "--days", "5000", "--json")
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.stdout)
    # only the seed story is about Kazakhstan's crypto-to-cash rules (the other Kazakhstan pages mention it in passing)
    assert data["total"] == 1 and len(data["messages"]) == 1
    assert any("crypto-to-cash" in m["title"] and "Matched: topic:fiat-ramp" in m["body"] for m in data["messages"])
    assert "would send 1 message(s)" in cli("test", "kz", "--days", "5000").stdout
    assert cli("log", "--json").stdout.strip() == "[]"  # test records nothing

    with WebhookReceiver() as hook, SQLiteStore(settings.db_path) as store, \
            SQLiteAlertStore(settings.db_path) as alerts:
        cli("add", "kz", "--owner", "desk", "-q", "Kazakhstan", "--topic", "fiat-ramp", "--replace",
            "--channel", f"json://127.0.0.1:{hook.port}/h")
        hook.fail_always = True
        evaluate_and_deliver(store, alerts, ids, config=AlertSettings(backoff_base=0.001), sender=AppriseSender(env={}, allowed_hosts=LOOPBACK_HOSTS))
        log = json.loads(cli("log", "kz", "--json").stdout)
        assert len(log) == 1 and {r["state"] for r in log} == {"failed"} and "500" in log[0]["last_error"]
        human = cli("log", "--state", "failed")
        assert human.exit_code == 0 and "failed" in human.stdout and "500" in human.stdout
        assert json.loads(cli("show", "kz", "--json").stdout)["deliveries"] == {"failed": 1}
        still_down = cli("deliver", "--json")  # the retry is due (1 ms backoff): sent again, fails again
        assert still_down.exit_code == 1 and json.loads(still_down.stdout)["failed"] == 1
        hook.fail_always = False
        import time

        time.sleep(0.01)
        delivered = cli("deliver")
        assert delivered.exit_code == 0 and "sent 1" in delivered.stdout and len(hook.on("/h")) == 1
        assert json.loads(cli("show", "kz", "--json").stdout)["deliveries"] == {"sent": 1}


@pytest.mark.slow
def test_with_a_search_engine_configured_alerts_live_in_the_engine(settings):
    import uuid

    from searchnode import shared_search_node

    prefix = f"t{uuid.uuid4().hex[:10]}"
    env = {"REGWIRE_HOME": str(settings.home), "COLUMNS": "200", "REGWIRE_SEARCH_URL": shared_search_node().url,
           "REGWIRE_SEARCH_ENGINE": "opensearch", "REGWIRE_SEARCH_INDEX_PREFIX": prefix}
    runner = CliRunner()
    try:
        added = runner.invoke(app, ["alerts", "add", "kz", "--owner", "desk", "-q", "Kazakhstan", "--channel",
                                    "json://127.0.0.1:9/h"], env=env)
        assert added.exit_code == 0, added.output
        listed = runner.invoke(app, ["alerts", "list", "--json"], env=env)
        assert [a["name"] for a in json.loads(listed.stdout)] == ["kz"]
        assert json.loads(runner.invoke(app, ["alerts", "log", "--json"], env=env).stdout) == []
        assert runner.invoke(app, ["alerts", "remove", "kz"], env=env).exit_code == 0
        assert not (settings.home / "regwire.db").exists()
    finally:
        from opensearchpy import OpenSearch

        OpenSearch(hosts=[shared_search_node().url]).indices.delete(index=f"{prefix}-*",
                                                                    expand_wildcards="all")
