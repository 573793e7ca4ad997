"""Alert definitions: what is refused (with a message naming the file, the alert and the field), YAML loading,
same query semantics as search, and the public API of the package."""

from __future__ import annotations

import pytest

import pipeline.alerts as alerts_pkg
from pipeline.alerts import Alert, AlertDefinitionError, alert_from_dict, expand, load_alerts
from pipeline.alerts.models import check_channel
from pipeline.errors import ConfigError

GOOD = {"name": "Kazakhstan fiat-ramp", "owner": "desk", "q": "Kazakhstan", "topics": ["fiat-ramp"],
        "channels": ["json://127.0.0.1:8080/hook"]}


def test_public_api_is_what_it_says():
    assert sorted(alerts_pkg.__all__) == alerts_pkg.__all__
    for name in alerts_pkg.__all__:
        assert hasattr(alerts_pkg, name), name
    assert issubclass(AlertDefinitionError, ConfigError)


def test_a_good_definition_becomes_the_same_search_query():
    alert = Alert(**{**GOOD, "jurisdictions": ["kz"], "min_relevance": 0.5})
    query = alert.search_query(ids=["a", "b"])
    assert (query.q, query.topics, query.jurisdictions, query.ids, query.min_relevance) == \
        ("Kazakhstan", ["fiat-ramp"], ["KZ"], ["a", "b"], 0.5)
    assert alert.mode == "immediate" and not alert.updates
    # the percolator re-indexes an alert only when what it matches changes
    assert Alert(**{**GOOD, "channels": ["json://127.0.0.1/a"]}).fingerprint == Alert(**GOOD).fingerprint
    assert alert.fingerprint != Alert(**GOOD).fingerprint


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"name": ""}, "name", "letters"),
    ({"owner": ""}, "owner", "at least 1"),
    ({"q": '"unbalanced'}, "q", "a quote is not closed (at character 1)"),
    ({"q": "a OR"}, "q", "ends too early"),
    ({"q": "MiCA~"}, "q", "fuzzy matching (~ after a word) is not supported"),
    ({"q": "x" * 1001}, "q", "the limit is 1000"),
    ({"topics": ["fiat"]}, "topics", "unknown topic"),
    ({"jurisdictions": ["Kazakhstan"]}, "jurisdictions", "ISO 3166"),
    ({"channels": []}, "channels", "at least 1"),
    ({"channels": ["not a url"]}, "channels", "not an apprise URL"),
    ({"channels": ["nosuchservice://x"]}, "channels", "no 'nosuchservice://' service"),
    ({"channels": ["mailtos://me:hunter2@smtp.example.org"]}, "channels", "environment variable"),
    ({"channels": ["json://127.0.0.1/h?token=abc"]}, "channels", "environment variable"),
    ({"channels": ["slack://T000/B000/XXXX"]}, "channels", "reference it from the environment"),
    ({"mode": "weekly"}, "mode", "immediate"),
    ({"min_relevance": 2}, "min_relevance", "less than or equal to 1"),
    ({"colour": "red"}, "colour", "unknown field"),
    ({"q": "", "topics": []}, None, "would match every article"),
])
def test_bad_definitions_are_refused_with_a_clear_message(change, field, words):
    with pytest.raises(AlertDefinitionError) as err:
        alert_from_dict({**GOOD, **change}, path="alerts.yaml")
    message = str(err.value)
    assert message.startswith("alerts.yaml: ") and words in message
    if change.get("name") != "":
        assert message.startswith("alerts.yaml: alert 'Kazakhstan fiat-ramp': ")
    assert err.value.field == field
    if field:
        assert f"field {field!r}" in message


def test_secrets_stay_references_until_send_time():
    url = check_channel("mailtos://${SMTP_USER}:${SMTP_PASSWORD}@smtp.example.org?to=desk@example.org")
    assert expand(url, {"SMTP_USER": "u", "SMTP_PASSWORD": "p w"}) == \
        "mailtos://u:p w@smtp.example.org?to=desk@example.org"
    assert check_channel("slack://${SLACK_TOKENS}") == "slack://${SLACK_TOKENS}"


def test_yaml_file(tmp_path):
    path = tmp_path / "alerts.yaml"
    path.write_text("""
alerts:
  - name: Kazakhstan fiat-ramp
    owner: compliance-desk
    q: Kazakhstan
    topics: [fiat-ramp]
    channels: ["mmost://chat.internal/${MM_HOOK}"]
  - name: HK stablecoins digest
    owner: apac
    q: stablecoin OR "payment token"
    jurisdictions: [hk]
    mode: daily
    updates: true
    channels: ["json://127.0.0.1:9000/hook"]
""")
    first, second = load_alerts(path)
    assert first.name == "Kazakhstan fiat-ramp" and first.channels == ["mmost://chat.internal/${MM_HOOK}"]
    assert second.jurisdictions == ["HK"] and second.mode == "daily" and second.updates
    path.write_text("alerts:\n  - name: a\n    owner: o\n    q: x\n    channels: ['json://h/']\n"
                    "  - name: a\n    owner: o\n    q: y\n    channels: ['json://h/']\n")
    with pytest.raises(AlertDefinitionError, match=r"alert 'a': field 'name': defined twice"):
        load_alerts(path)
    path.write_text("alerts:\n  - owner: o\n    q: x\n    channels: ['json://h/']\n")
    with pytest.raises(AlertDefinitionError, match=r"alert '#1': field 'name': Field required"):
        load_alerts(path)
    path.write_text("alerts: [\n")
    with pytest.raises(AlertDefinitionError, match="invalid YAML"):
        load_alerts(path)
    with pytest.raises(AlertDefinitionError, match="cannot read"):
        load_alerts(tmp_path / "missing.yaml")
