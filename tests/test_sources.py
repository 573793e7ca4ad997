"""The sources file and settings: bad input fails before any request, naming the file, the source and the field."""

from __future__ import annotations

import pytest

from pipeline import ConfigError, SourcesFileError, load_settings, load_sources


def write(tmp_path, text: str):
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_packaged_default_sources_are_valid():
    sources = load_sources()
    names = {s.name for s in sources}
    assert {"cointelegraph", "coindesk", "decrypt", "the-block", "bitcoin-magazine", "us-sec"} <= names
    assert all(f.startswith("https://") for s in sources for f in s.feeds)


def test_the_catalog_marks_each_source_with_its_kind_and_disables_unverified_addresses():
    sources = load_sources()
    assert all(s.kind in ("outlet", "regulator", "standard-setter") for s in sources)
    assert all(not s.enabled for s in sources if s.unverified)
    regulators = {s.name for s in sources if s.kind == "regulator"}
    assert {"us-sec", "us-cftc", "us-fincen", "us-ofac", "uk-fca", "eu-esma", "eu-eba", "ecb", "hk-hkma"} <= regulators
    assert {s.name for s in sources if s.kind == "standard-setter"} >= {"bis", "fsb"}
    urls = [u for s in sources for u in s.urls]
    assert len(urls) == len(set(urls))
    assert all(s.poll_interval is None for s in sources)  # the catalog's feeds adapt, within their bounds


def test_sitemaps_beside_or_instead_of_feeds(tmp_path):
    (only, both) = load_sources(write(tmp_path, """
sources:
  - name: only-sitemap
    sitemaps: ["https://news.example/news-sitemap.xml"]
    sitemap_window: 86400
    kind: regulator
  - name: both
    feeds: ["https://news.example/rss"]
    sitemaps: ["https://news.example/news-sitemap.xml"]
    min_poll_interval: 600
    max_poll_interval: 7200
"""))
    assert only.feeds == [] and only.urls == ["https://news.example/news-sitemap.xml"] and only.sitemap_window == 86400
    assert both.urls == ["https://news.example/rss", "https://news.example/news-sitemap.xml"]


@pytest.mark.parametrize("text, field, message", [
    ("sources:\n  - name: desk\n", "feeds", "at least 1 feed is required (or list sitemaps)"),
    ("sources:\n  - name: desk\n    sitemaps: ['ftp://a/s.xml']\n", "sitemaps", "not an http"),
    ("sources:\n  - name: desk\n    feeds: ['https://a/']\n    min_poll_interval: 600\n    max_poll_interval: 300\n",
     "max_poll_interval", "below min_poll_interval"),
    ("sources:\n  - name: desk\n    feeds: ['https://a/']\n    kind: blog\n", "kind", "'outlet'"),
    ("sources:\n  - name: desk\n    sitemaps: ['https://a/s.xml']\n    sitemap_window: 60\n", "sitemap_window",
     "greater than or equal to 3600"),
])
def test_bad_sitemap_and_interval_fields_name_the_field(tmp_path, text, field, message):
    with pytest.raises(SourcesFileError) as info:
        load_sources(write(tmp_path, text))
    assert info.value.field == field and message in str(info.value)


def test_optional_fields_and_defaults(tmp_path):
    (source,) = load_sources(write(tmp_path, """
sources:
  - name: desk
    feeds: ["https://news.example/rss"]
    poll_interval: 120
    language: en
    enabled: false
    max_articles_per_poll: 5
"""))
    assert (source.poll_interval, source.language, source.enabled, source.max_articles_per_poll) == (120, "en", False, 5)


@pytest.mark.parametrize("text, source, field, message", [
    ("sources:\n  - name: desk\n    feeds: []\n", "desk", "feeds", "at least 1"),
    ("sources:\n  - name: desk\n    feeds: ['file:///etc/passwd']\n", "desk", "feeds", "not an http"),
    ("sources:\n  - name: desk\n    feeds: ['https://a/']\n    poll_interval: 5\n", "desk", "poll_interval", "greater than or equal to 30"),
    ("sources:\n  - name: desk\n    feeds: ['https://a/']\n    pol_interval: 60\n", "desk", "pol_interval", "not permitted"),
    ("sources:\n  - feeds: ['https://a/']\n", "#1", "name", "required"),
    ("sources:\n  - name: a\n    feeds: ['https://a/']\n  - name: a\n    feeds: ['https://b/']\n", "a", "name", "unique"),
    ("sources:\n  - name: desk\n    feeds: ['https://a/']\n    language: english\n", "desk", "language", "match pattern"),
])
def test_bad_source_names_file_source_and_field(tmp_path, text, source, field, message):
    path = write(tmp_path, text)
    with pytest.raises(SourcesFileError) as info:
        load_sources(path)
    error = info.value
    assert (error.path, error.source, error.field) == (str(path), source, field)
    assert str(path) in str(error) and repr(source) in str(error) and message in str(error)


@pytest.mark.parametrize("text, message", [
    ("sources: [", "invalid YAML"),
    ("feeds: []", "top-level 'sources:'"),
    ("sources: {}", "must be a list"),
])
def test_bad_file_shapes(tmp_path, text, message):
    with pytest.raises(SourcesFileError, match=message):
        load_sources(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(SourcesFileError, match="cannot read"):
        load_sources(tmp_path / "nope.yaml")


def test_settings_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REGWIRE_HOME", str(tmp_path))
    monkeypatch.setenv("REGWIRE_ALLOW_NETWORKS", "127.0.0.0/8, ::1/128")
    monkeypatch.setenv("REGWIRE_HOST_DELAY", "2.5")
    settings = load_settings()
    assert settings.home == tmp_path and settings.http.host_delay == 2.5
    assert [str(n) for n in settings.http.allow_networks] == ["127.0.0.0/8", "::1/128"]
    monkeypatch.delenv("REGWIRE_ALLOW_NETWORKS")
    assert load_settings().http.allow_networks == []  # the guard exempts nothing by default


def test_bad_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("REGWIRE_ALLOW_NETWORKS", "not-a-network")
    with pytest.raises(ConfigError, match="REGWIRE_ALLOW_NETWORKS"):
        load_settings()
