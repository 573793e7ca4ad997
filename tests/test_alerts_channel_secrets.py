"""Credentials in channel URLs, through the real command line: ``alerts add`` refuses every credential-bearing part
written in clear (headers, payload fields, tokens in a webhook path), and ``alerts list/show/log`` mask what a
definition stored before these rules holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from test_alerts_hostile import regwire

from pipeline.alerts import Alert, SQLiteAlertStore
from pipeline.alerts.channel_secrets import looks_like_token, mask_channel
from pipeline.alerts.models import MatchedArticle, Mode
from pipeline.alerts.store import PendingDelivery

SECRET = "s3cr3tT0kenABCD9876zyxw"


@pytest.mark.parametrize(("channel", "named"), [
    (f"json://hooks.example.org/hook?+Authorization=Bearer%20{SECRET}", "+Authorization="),
    (f"json://hooks.example.org/hook?+X-Api-Key={SECRET}", "+X-Api-Key="),
    (f"xml://hooks.example.org/hook?+X-Auth-Token={SECRET}&+Content-Type=text/xml", "+X-Auth-Token="),
    (f"json://hooks.example.org/hook?:token={SECRET}", ":token="),
    (f"form://hooks.example.org/hook?-signature={SECRET}", "-signature="),
    (f"json://hooks.example.org/services/T0A1B2C3/B0A1B2C3/{SECRET}", "path segment"),
    (f"jsons://hooks.example.org/hook/{'ab12' * 8}", "path segment"),  # a hex id
    (f"slack://${{SLACK_TEAM}}/{SECRET}", "path segment"),  # a reference elsewhere does not cover the token
    (f"mailtos://desk:{SECRET}@smtp.example.org?to=desk@example.org", "password"),
    (f"json://{SECRET}@hooks.example.org/hook", "user name"),
    (f"json://hooks.example.org/hook?+Authorization=Bearer%20${{T}}{SECRET}", "+Authorization="),
])
def test_credentials_in_clear_are_refused_without_echoing_them(tmp_path, channel, named):
    result = regwire("alerts", "add", "a", "--owner", "o", "-q", "x", "--channel", channel, home=tmp_path / "h")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: alert 'a': field 'channels") and named in result.stderr
    assert "environment" in result.stderr and SECRET not in result.stderr and "ab12ab12ab12" not in result.stderr
    assert json.loads(regwire("alerts", "list", "--json", home=tmp_path / "h").stdout) == []


def test_references_are_accepted_and_shown_as_written(tmp_path):
    channels = ["json://hooks.example.org/hook?+Authorization=Bearer%20${HOOK_TOKEN}",
                "json://hooks.example.org/hook?+X-Api-Key=${API_KEY}&+Content-Type=application/json",
                "json://hooks.example.org/services/${HOOK_PATH}",
                "json://hooks.example.org/webhook/v1/notify-2024?to=analyst42@example.org",
                "mailtos://${SMTP_USER}:${SMTP_PASSWORD}@smtp.example.org?to=desk@example.org"]
    args = [part for c in channels for part in ("--channel", c)]
    added = regwire("alerts", "add", "a", "--owner", "o", "-q", "x", *args, "--json", home=tmp_path)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["alert"]["channels"] == channels
    assert json.loads(regwire("alerts", "show", "a", "--json", home=tmp_path).stdout)["alert"]["channels"] == channels


def test_a_definition_stored_before_the_rules_still_loads_and_is_shown_masked(tmp_path):
    clear = [f"json://127.0.0.1:9/hook?+Authorization=Bearer%20{SECRET}&+X-Trace=1",
             f"json://127.0.0.1:9/services/{SECRET}", f"mailto://desk:{SECRET}@127.0.0.1?to=a@example.org"]
    legacy = Alert.model_construct(**{**Alert(name="old", owner="o", q="x", channels=["json://127.0.0.1/h"])
                                      .model_dump(), "channels": clear})
    now = datetime(2026, 12, 1, tzinfo=UTC)
    article = MatchedArticle(id="a1", version=1, title="t", url="http://127.0.0.1/a", source="s")
    with SQLiteAlertStore(tmp_path / "regwire.db") as store:
        store.save_alert(legacy, now)
        store.record([PendingDelivery("old", article, "any", clear[0], Mode.IMMEDIATE, now)], now)
        store.mark_given_up([d.id for d in store.deliveries()], "test", attempted=False)
    outputs = {args: regwire("alerts", *args, home=tmp_path) for args in
               [("list", "--json"), ("list",), ("show", "old", "--json"), ("show", "old"), ("log", "--json"),
                ("log",)]}
    for args, result in outputs.items():
        assert result.returncode == 0, (args, result.stderr)
        assert SECRET not in result.stdout + result.stderr, args
    shown = json.loads(outputs[("show", "old", "--json")].stdout)["alert"]["channels"]
    assert shown == ["json://127.0.0.1:9/hook?+Authorization=***&+X-Trace=1", "json://127.0.0.1:9/services/***",
                     "mailto://desk:***@127.0.0.1?to=a@example.org"]
    assert json.loads(outputs[("log", "--json")].stdout)[0]["channel"] == shown[0]


def test_mask_and_token_heuristic():
    assert looks_like_token(SECRET) and looks_like_token("0123456789abcdef01234567")
    assert not looks_like_token("notify-2024") and not looks_like_token("analyst42@example.org")
    assert not looks_like_token("regwire-alerts-channel")  # long, but words without digits
    assert mask_channel("slack://T000/B000/XXXX") == "slack://***/***"
    assert mask_channel("slack://${SLACK_TOKENS}") == "slack://${SLACK_TOKENS}"
    assert mask_channel("not a url") == "not a url"
