"""Bad settings and bad files, through the real command line in subprocesses: exit code 2, one readable line naming
the variable (or the file and the field), no traceback, and no request made before the sources file is checked."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_alerts_hostile import regwire

from pipeline.demo import LoopbackSite
from pipeline.errors import ConfigError
from pipeline.yamlfile import MAX_DEPTH, _UniqueKeyLoader, parse_yaml

BAD_SETTINGS = [
    ("REGWIRE_HOST_DELAY", "-1"), ("REGWIRE_HOST_DELAY", "nan"), ("REGWIRE_HOST_DELAY", "inf"),
    ("REGWIRE_MAX_FEED_BYTES", "0"), ("REGWIRE_MAX_FEED_BYTES", "-1"), ("REGWIRE_TOTAL_TIMEOUT", "0"),
    ("REGWIRE_CONNECT_TIMEOUT", "-1"), ("REGWIRE_MAX_REDIRECTS", "-1"), ("REGWIRE_SUSPEND_AFTER", "0"),
    ("REGWIRE_HOST_CONCURRENCY", "0"), ("REGWIRE_ALERTS_MAX_ATTEMPTS", "0"), ("REGWIRE_ALERTS_SEND_TIMEOUT", "0"),
    ("REGWIRE_ALERTS_SEND_TIMEOUT", "nan"), ("REGWIRE_READ_TIMEOUT", "abc"),
]


def one_line_error(result, *needles: str) -> str:
    """The run exited 2 with exactly one line on stderr, an error naming every needle (and no traceback)."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "pydantic" not in lines[0] and "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(("variable", "value"), BAD_SETTINGS)
def test_a_numeric_setting_out_of_range_exits_2_naming_the_variable(tmp_path, variable, value):
    # a narrow terminal: the line must not be wrapped
    result = regwire("sources", "list", home=tmp_path, env={variable: value, "COLUMNS": "40"})
    one_line_error(result, f"{variable}:", repr(value))


def test_regwire_home_that_is_no_writable_directory_exits_2(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    one_line_error(regwire("sources", "list", home=a_file), "REGWIRE_HOME", str(a_file), "not a directory")
    one_line_error(regwire("search", "x", home=a_file / "sub"), "REGWIRE_HOME", "cannot create")
    if os.geteuid() == 0:  # root writes anywhere a mode allows: a read-only kernel file system stands in
        if not Path("/sys/kernel").is_dir():
            pytest.skip("no /sys here to stand in for an unwritable directory")
        unwritable = Path("/sys/kernel")
    else:
        unwritable = tmp_path / "read-only"
        unwritable.mkdir(mode=0o555)
    one_line_error(regwire("alerts", "list", home=unwritable), "REGWIRE_HOME", "cannot write to", str(unwritable))


BAD_FEEDS = [
    ("http://", "has no host"),
    ("http://[bad/x", "Invalid IPv6 URL"),
    ("https://exa mple.com/x", "whitespace"),
    ("https://example.com:99999/x", "Port out of range"),
    ("https://example.com:0/x", "port 0"),
    ("ftp://example.com/x", "not an http(s) URL"),
    ("http://xn--ls8h/x.xml", "not a valid domain name"),
    ("http://-bad-.example.com/x", "not a valid domain name"),
    ("feeds.example.com/rss", "not an http(s) URL"),
]


@pytest.mark.parametrize(("url", "reason"), BAD_FEEDS)
def test_bad_feed_urls_are_refused_before_any_request(tmp_path, url, reason):
    with LoopbackSite() as site:
        sources = tmp_path / "sources.yaml"
        sources.write_text(f"sources:\n  - name: good\n    feeds: ['{site.url('/feeds/rss.xml')}']\n"
                           f"  - name: bad\n    feeds: ['{site.url('/feeds/feed.json')}', '{url}']\n",
                           encoding="utf-8")
        result = regwire("run", "--once", "--sources", str(sources), home=tmp_path / "home")
        assert site.requests == []
    line = one_line_error(result, str(sources), "source 'bad'", "field 'feeds'", "feeds[1]", reason)
    assert "Value error" not in line


@pytest.mark.parametrize(("text", "needles"), [
    ("sources:\n  - name: a\n    feeds: ['http://127.0.0.1:9/a']\n    name: b\n",
     ["line 4, column 5", "duplicate key 'name' (first at line 2)"]),
    ("sources:\n  - name: a\n    feeds: ['http://127.0.0.1:9/a']\n  - name: a\n    feeds: ['http://127.0.0.1:9/b']\n",
     ["source 'a'", "unique"]),
    (b"sources:\n  - name: caf\xe9\n", ["not UTF-8", "byte 0xe9 at line 2"]),
    ("sources: " + "[" * 100_000, ["invalid YAML", "nesting depth"]),
    ("sources:\n  - name: a\n    feeds: " + "[" * 100 + "]" * 100 + "\n", [f"nested more than {MAX_DEPTH} levels"]),
    ("x: &a [y, y, y, y, y, y, y, y, y, y]\n" + "".join(
        f"x{i}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(6)) + "sources: []\n",
     ["more than 1,000,000 values"]),
    ("sources: !!python/object/apply:os.system ['true']\n", ["invalid YAML", "python/object"]),
])
def test_bad_sources_files_exit_2_naming_the_file(tmp_path, text, needles):
    sources = tmp_path / "sources.yaml"
    if isinstance(text, bytes):
        sources.write_bytes(text)
    else:
        sources.write_text(text, encoding="utf-8")
    one_line_error(regwire("sources", "list", "--sources", str(sources), home=tmp_path / "home"), str(sources),
                   *needles)


@pytest.mark.parametrize(("text", "needles"), [
    ("scoring:\n  relevance_slope: .nan\n", ["scoring.relevance_slope", "finite number"]),
    ("scoring:\n  relevance_bias: .inf\n", ["scoring.relevance_bias", "finite number"]),
    ("scoring:\n  relevance_slope: 1.0\n  relevance_slope: 2.0\n", ["line 3", "duplicate key 'relevance_slope'"]),
    (b"topics:\n  licensing:\n    patterns: {licen\xe7e: 1.0}\n", ["not UTF-8", "line 3"]),
    ("scoring: " + "{a: " * 60 + "1" + "}" * 60 + "\n", [f"nested more than {MAX_DEPTH} levels"]),
    ("scoring: " + "[" * 100_000 + "\n", ["invalid YAML", "nesting depth"]),
])
def test_bad_taxonomy_files_exit_2_naming_the_file_and_field(tmp_path, text, needles):
    taxonomy = tmp_path / "taxonomy.yaml"
    if isinstance(text, bytes):
        taxonomy.write_bytes(text)
    else:
        taxonomy.write_text(text, encoding="utf-8")
    result = regwire("retag", home=tmp_path / "home", env={"REGWIRE_TAXONOMY": str(taxonomy)})
    one_line_error(result, str(taxonomy), *needles)


@pytest.mark.parametrize(("text", "needles"), [
    ("alerts:\n  - {name: a, owner: o, q: x, min_relevance: .nan, channels: ['json://127.0.0.1/h']}\n",
     ["alert 'a'", "field 'min_relevance'", "finite number"]),
    ("alerts:\n  - {name: a, owner: o, q: x, q: y, channels: ['json://127.0.0.1/h']}\n", ["duplicate key 'q'"]),
    (b"alerts:\n  - {name: caf\xe9, owner: o, q: x, channels: ['json://127.0.0.1/h']}\n", ["not UTF-8"]),
    ("alerts: " + "[" * 100_000 + "\n", ["nesting depth"]),
    ("alerts: " + "[" * 50 + "]" * 50 + "\n", [f"nested more than {MAX_DEPTH} levels"]),
])
def test_bad_alert_files_exit_2_naming_the_file(tmp_path, text, needles):
    path = tmp_path / "alerts.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    one_line_error(regwire("alerts", "load", str(path), home=tmp_path / "home"), str(path), *needles)
    assert json.loads(regwire("alerts", "list", "--json", home=tmp_path / "home").stdout) == []


def error(message: str) -> ConfigError:
    return ConfigError(f"f.yaml: {message}")


def test_yaml_helper_uses_libyaml_allows_merge_keys_and_refuses_recursion():
    import yaml

    if getattr(yaml, "__with_libyaml__", False):
        assert issubclass(_UniqueKeyLoader, yaml.CSafeLoader)
    merged = parse_yaml("base: &b {a: 1, b: 2}\nuse:\n  <<: *b\n  a: 5\n", error)
    assert merged["use"] == {"a": 5, "b": 2}
    with pytest.raises(ConfigError, match="recursive alias"):
        parse_yaml("a: &a [1, *a]\n", error)
    with pytest.raises(ConfigError, match="month must be in 1..12"):
        parse_yaml("a: 2026-13-45\n", error)
    assert parse_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, error) == parse_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH,
                                                                              error)
    with pytest.raises(ConfigError, match="nested more than"):
        parse_yaml("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), error)
