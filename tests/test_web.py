"""The search app (pipeline.web) through FastAPI's test client: JSON API, HTML page, escaping, mount prefix."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipeline.models import Article
from pipeline.settings import Settings
from pipeline.store import EmbeddedBackend, SQLiteStore, open_backend
from pipeline.store.base import ArticleWrite
from pipeline.tagging.models import Entity, Match, Tags
from pipeline.web import create_app
from pipeline.web.app import safe_snippet

XSS_TITLE = "<img src=x onerror=alert(1)>"


def tags(jurisdictions: list[str], topics: list[str], text: str, phrase: str) -> Tags:
    return Tags(topics=topics, jurisdictions=jurisdictions, primary_jurisdiction=jurisdictions[0],
                entities=[Entity(name="ESMA", type="regulator", jurisdiction="EU")], relevance=0.9,
                matches=[Match(label=f"jurisdiction:{jurisdictions[0]}", phrase=phrase, offset=text.index(phrase),
                               weight=1.0, field="text")],
                language="en", taxonomy_version="test")


def write(store: SQLiteStore, slug: str, title: str, text: str, source: str, jurisdictions: list[str],
          topics: list[str], phrase: str, day: int) -> str:
    url = f"https://news.example/{slug}"
    [result] = store.write_articles([ArticleWrite(
        article=Article(url=url, canonical_url=url, title=title, text=text, language="en",
                        published=datetime(2026, 3, day, 9, tzinfo=UTC)),
        source=source, fetched_at=datetime(2026, 3, day, 10, tzinfo=UTC),
        tags=tags(jurisdictions, topics, text, phrase))])
    return result.id


def fill(store: SQLiteStore) -> dict[str, str]:
    """Three articles: EU and UK stablecoin news, and one whose title and text carry HTML."""
    return {
        "eu": write(store, "eu-mica", "ESMA guidance on MiCA stablecoin licensing",
                    "The EU markets regulator ESMA published guidance on stablecoin licensing under MiCA.\n"
                    "Crypto-asset service providers must apply by July.", "wire-a", ["EU"],
                    ["licensing", "stablecoins"], "ESMA", 2),
        "uk": write(store, "uk-fca", "FCA sets stablecoin rules for UK payments",
                    "The UK Financial Conduct Authority set out stablecoin rules for payments firms.",
                    "wire-b", ["GB"], ["stablecoins", "payments"], "Financial Conduct Authority", 3),
        "xss": write(store, "xss", XSS_TITLE,
                     "A stablecoin story <script>alert(2)</script> with markup in its text, from ESMA.",
                     "wire-a", ["EU"], ["stablecoins"], "ESMA", 4),
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "web.db")
    yield s
    s.close()


@pytest.fixture
def ids(store: SQLiteStore) -> dict[str, str]:
    return fill(store)


@pytest.fixture
def client(store: SQLiteStore, ids: dict[str, str]) -> TestClient:
    return TestClient(create_app(lambda: EmbeddedBackend(store.path, articles=store)))


def test_api_search_with_filters_and_facets(client: TestClient, ids: dict[str, str]) -> None:
    body = client.get("/api/search", params={"q": "stablecoin"}).json()
    assert body["total"] == 3
    assert body["facets"]["jurisdiction"] == {"EU": 2, "GB": 1}
    assert body["facets"]["source"] == {"wire-a": 2, "wire-b": 1}
    eu = client.get("/api/search", params={"q": "stablecoin", "jurisdiction": "EU"}).json()
    assert {h["id"] for h in eu["hits"]} == {ids["eu"], ids["xss"]}
    both = client.get("/api/search", params=[("jurisdiction", "EU"), ("jurisdiction", "GB"), ("topic", "payments")])
    assert [h["id"] for h in both.json()["hits"]] == [ids["uk"]]
    dated = client.get("/api/search", params={"since": "2026-03-03", "until": "2026-03-03"}).json()
    assert [h["id"] for h in dated["hits"]] == [ids["uk"]]
    assert client.get("/api/search", params={"source": "wire-b"}).json()["total"] == 1
    assert "<mark>" in body["hits"][0]["snippet"]


def test_api_errors(client: TestClient) -> None:
    assert client.get("/api/search", params={"q": '"unbalanced'}).status_code == 400
    assert client.get("/api/search", params={"limit": 1000}).status_code == 422
    assert client.get("/api/search", params={"since": "yesterday"}).status_code == 422
    assert client.get("/api/articles/nope").status_code == 404


def test_api_article(client: TestClient, ids: dict[str, str]) -> None:
    article = client.get(f"/api/articles/{ids['eu']}").json()
    assert article["title"].startswith("ESMA guidance")
    assert article["tags"]["jurisdictions"] == ["EU"] and article["tags"]["matches"][0]["phrase"] == "ESMA"
    assert client.get("/api/health").json() == {"status": "ok", "articles": 3}


def test_page_lists_results_facets_and_highlights(client: TestClient, ids: dict[str, str]) -> None:
    page = client.get("/", params={"q": "stablecoin"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<p id="total">3 articles</p>' in page.text
    assert 'name="jurisdiction" value="EU"' in page.text and "(2)" in page.text
    assert "<mark>" in page.text
    assert f'href="/articles/{ids["eu"]}?q=stablecoin"' in page.text  # the article keeps the search
    filtered = client.get("/", params={"q": "stablecoin", "jurisdiction": "GB"})
    assert '<p id="total">1 article</p>' in filtered.text
    assert 'value="GB"\n      checked' in filtered.text or 'value="GB" checked' in " ".join(filtered.text.split())


def test_page_escapes_titles_snippets_and_text(client: TestClient, ids: dict[str, str]) -> None:
    page = client.get("/", params={"q": "markup"}).text
    assert XSS_TITLE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert(2)" not in page
    detail = client.get(f"/articles/{ids['xss']}").text
    assert XSS_TITLE not in detail and "<script>alert(2)" not in detail
    assert "&lt;img src=x onerror=alert(1)&gt;" in detail
    # the query is echoed escaped, too
    echoed = client.get("/", params={"q": '"><script>alert(3)</script>'}).text
    assert "<script>alert(3)" not in echoed


def test_safe_snippet_keeps_only_mark() -> None:
    assert safe_snippet("a <mark>b</mark> &lt;i&gt;") == "a <mark>b</mark> &lt;i&gt;"
    assert safe_snippet("<img src=x onerror=alert(1)> <mark>x</mark>") == \
        "&lt;img src=x onerror=alert(1)&gt; <mark>x</mark>"


def test_article_page_shows_tags_and_evidence(client: TestClient, ids: dict[str, str]) -> None:
    page = client.get(f"/articles/{ids['uk']}")
    assert page.status_code == 200
    assert 'class="tag jurisdiction">GB<' in page.text
    assert "<mark>Financial Conduct Authority</mark>" in page.text
    assert "ESMA (regulator, EU)" in page.text
    assert client.get("/articles/nope").status_code == 404


def test_bad_query_renders_an_error(client: TestClient) -> None:
    page = client.get("/", params={"q": "a OR"})
    assert page.status_code == 400 and 'id="error"' in page.text


def test_mounted_under_a_prefix_builds_prefixed_links(client: TestClient, store: SQLiteStore,
                                                      ids: dict[str, str]) -> None:
    host = FastAPI()
    host.mount("/regwire", create_app(lambda: EmbeddedBackend(store.path, articles=store)))
    mounted = TestClient(host)
    page = mounted.get("/regwire/", params={"q": "stablecoin"}).text
    assert f'href="/regwire/articles/{ids["eu"]}?q=stablecoin"' in page and 'action="/regwire/"' in page
    assert mounted.get(f"/regwire/articles/{ids['eu']}").status_code == 200
    assert mounted.get("/regwire/api/search").json()["total"] == 3


def test_store_opened_once_on_first_request(tmp_path: Path) -> None:
    opened: list[int] = []

    def factory() -> EmbeddedBackend:
        opened.append(1)
        return EmbeddedBackend(tmp_path / "lazy.db")

    app = create_app(factory)
    assert opened == []
    with TestClient(app) as c:
        c.get("/api/health")
        c.get("/")
    assert opened == [1]


def test_open_backend_default_is_embedded(settings: Settings) -> None:
    app = create_app(lambda: open_backend(settings))
    assert TestClient(app).get("/api/health").json()["articles"] == 0


def test_cli_serve_command_is_a_typer_function() -> None:
    import inspect

    from pipeline.cli.serve import serve

    params = inspect.signature(serve).parameters
    assert params["host"].default == "127.0.0.1" and params["port"].default == 8000


def test_page_accepts_the_empty_date_fields_a_form_submits(client: TestClient) -> None:
    """A browser sends since=&until= when the date inputs are empty: that means no bound, not an error."""
    page = client.get("/", params={"q": "stablecoin", "since": "", "until": "", "sort": "date"})
    assert page.status_code == 200 and '<p id="total">3 articles</p>' in page.text
    assert client.get("/api/search", params={"since": "", "until": ""}).json()["total"] == 3
    bad = client.get("/", params={"since": "03/02/2026"})
    assert bad.status_code == 400 and "is not a date" in bad.text


def test_metrics_are_read_from_the_store_by_any_process(settings: Settings, site, transport) -> None:
    """A `regwire serve` started after a run (a new app over the same store) exports per-source series."""
    from pipeline.demo import demo_sources_path
    from pipeline.fetch import Fetcher
    from pipeline.sources import load_sources
    from pipeline.tasks import poll_sources, task_context

    sources = load_sources(demo_sources_path(), substitutions={"base_url": site.base_url})
    with task_context(settings, fetcher=Fetcher(settings, transport=transport), tagger=None) as ctx:
        reports = poll_sources(ctx, sources)
    with TestClient(create_app(lambda: open_backend(settings))) as client:
        response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    for report in reports:
        assert f'regwire_feed_polls_total{{source="{report.source}"}} 1.0' in text
        assert f'regwire_articles_new_total{{source="{report.source}"}} {float(report.new)}' in text
        assert f'regwire_feeds{{source="{report.source}",state="active"}} 1.0' in text
    assert 'regwire_queue_lag_seconds{source="ledger-news-rss"} 0.0' in text
    assert "regwire_fetch_seconds_total" in text and "regwire_alert_deliveries" in text
