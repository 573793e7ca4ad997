"""The search page's features through FastAPI's test client over a real SQLite store: permalinks, relevance filter,
histogram, pages, streamed export, "save as alert" (the same alert as ``regwire alerts add``), the article view."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pipeline.alerts import SQLiteAlertStore
from pipeline.cli.alerts import alerts_app
from pipeline.models import Article
from pipeline.store import EmbeddedBackend, SQLiteStore
from pipeline.store.base import ArticleWrite
from pipeline.tagging.models import Entity, Match, Tags
from pipeline.web import create_app
from pipeline.web.histogram import build_histogram
from pipeline.web.params import SearchParams
from pipeline.web.present import highlight, query_terms, trim_snippet

LONG_TEXT = ("Regulators in Kazakhstan published stablecoin licensing rules for exchanges operating from the AIFC. "
             "The rules cover custody, reserves, disclosures and the handling of customer complaints in detail. ") * 3



def distinct_tail(n: int, words: int = 80) -> str:
    """Words no other article has (five letters, unique per article), so each article is a story of its own."""
    return " ".join("".join(chr(97 + ((n * 1000 + i) // 26 ** k) % 26) for k in range(5)) for i in range(words))


#: a source name a spreadsheet would run as a formula
ODD_SOURCE = "=cmd|' /C calc'!A0"


def _article(store: SQLiteStore, n: int, *, day: int, relevance: float, jurisdiction: str, source: str,
             topic: str, title: str | None = None, text: str | None = None, authors: list[str] | None = None,
             entities: tuple[str, ...] = ("AIFC",)) -> str:
    url = f"https://news.example/{n}"
    text = text if text is not None else f"{LONG_TEXT}\n{distinct_tail(n)}."
    tags = Tags(topics=[topic], jurisdictions=[jurisdiction], primary_jurisdiction=jurisdiction,
                mentioned_jurisdictions=["UA"] if n % 2 else [],
                entities=[Entity(name=e, type="regulator", jurisdiction="KZ") for e in entities], relevance=relevance,
                matches=[Match(label=f"jurisdiction:{jurisdiction}", phrase="Kazakhstan",
                               offset=text.index("Kazakhstan"), weight=1.0, field="text")] * 30,
                language="en", taxonomy_version="test")
    [result] = store.write_articles([ArticleWrite(
        article=Article(url=url, canonical_url=url, title=title or f"Stablecoin rules, part {n}", text=text,
                        language="en", published=datetime(2026, 3, day, 9, n % 60, tzinfo=UTC),
                        authors=authors or []),
        source=source, fetched_at=datetime(2026, 3, day, 10, tzinfo=UTC), tags=tags)])
    return result.id


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "home" / "regwire.db")
    fill_many(s)
    yield s
    s.close()


def fill_many(s: SQLiteStore) -> None:
    """46 articles: 45 stablecoin stories over days 1, 2 and 5 of March 2026, and one on day 7 with authors."""
    for n in range(45):  # 45 hits over days 1, 2, 5 (3 and 4 empty): three pages of twenty
        _article(s, n, day=(1, 2, 5)[n % 3], relevance=0.3 if n % 5 == 0 else 0.8,
                 jurisdiction="KZ" if n % 2 else "EU", source="wire-a" if n < 30 else "wire-b",
                 topic="stablecoins" if n % 4 else "licensing")
    _article(s, 99, day=7, relevance=0.95, jurisdiction="KZ", source=ODD_SOURCE, topic="licensing",
             title="AIFC regulator licenses a Kazakhstan exchange", authors=["Aigerim Nurlanovna", "J. Smith"],
             entities=("AIFC", "Astana Financial Services Authority"),
             text="The AIFC regulator in Kazakhstan licensed an exchange.\nBitcoin was not mentioned much.")


@pytest.fixture
def client(store: SQLiteStore) -> TestClient:
    return TestClient(create_app(lambda: EmbeddedBackend(store.path, articles=store)), base_url="http://127.0.0.1")


def _links(html: str, element_id: str) -> str:
    tag = re.search(rf'<a [^>]*id="{element_id}"[^>]*>', html)
    assert tag, element_id
    return unescape(re.search(r'href="([^"]+)"', tag.group(0)).group(1))


def test_every_filter_round_trips_through_the_url(client: TestClient) -> None:
    params = [("q", "stablecoin"), ("topic", "stablecoins"), ("jurisdiction", "KZ"), ("source", "wire-a"),
              ("since", "2026-03-02"), ("until", "2026-03-05"), ("min_relevance", "0.5"), ("sort", "date")]
    page = client.get("/", params=params)
    assert page.status_code == 200
    html = page.text
    assert 'name="since" id="since" value="2026-03-02"' in html and 'value="0.5"' in html
    assert '<option value="date" selected>' in html
    for name, value in params[1:4]:
        assert re.search(rf'name="{name}" value="{value}" checked', html), name
    permalink = parse_qsl(urlsplit(_links(html, "permalink")).query)
    assert sorted(permalink) == sorted(params)
    api = client.get("/api/search", params=params).json()
    assert api["total"] > 0 and all(h["relevance"] >= 0.5 and "KZ" in h["jurisdictions"] for h in api["hits"])
    first_hit = re.search(r'class="hit-title" href="([^"]+)"', html).group(1)
    assert sorted(parse_qsl(urlsplit(unescape(first_hit)).query)) == sorted(params)
    article = client.get(unescape(first_hit)).text
    assert sorted(parse_qsl(urlsplit(_links(article, "back")).query)) == sorted(params)  # "← search" keeps it all


def test_include_mentions_widens_the_jurisdiction_filter_on_page_and_api(client: TestClient) -> None:
    # odd-numbered articles mention UA in passing; none has UA as a subject
    assert client.get("/api/search", params={"jurisdiction": "UA"}).json()["total"] == 0
    wide = client.get("/api/search", params={"jurisdiction": "UA", "include_mentions": "true"}).json()
    assert wide["total"] == 23  # n = 1, 3, ..., 43 and 99
    page = client.get("/", params=[("jurisdiction", "UA"), ("include_mentions", "true")]).text
    assert re.search(r'name="include_mentions" id="include-mentions" value="true" checked', page)
    assert ("include_mentions", "true") in parse_qsl(urlsplit(_links(page, "permalink")).query)
    assert "23" in re.search(r'id="total"[^>]*>([^<]*)<', page).group(1)


def test_relevance_filter_on_page_and_api(client: TestClient) -> None:
    everything = client.get("/api/search").json()["total"]
    relevant = client.get("/api/search", params={"min_relevance": "0.5"}).json()
    assert everything == 46 and relevant["total"] == 46 - 9
    assert '<p id="total">37 articles</p>' in client.get("/", params={"min_relevance": "0.5"}).text
    assert "relevance 0.80" in client.get("/").text  # relevance shown on each card
    bad = client.get("/", params={"min_relevance": "7"})
    assert bad.status_code == 400 and "between 0 and 1" in bad.text and '<p id="total">46 articles</p>' in bad.text


def test_histogram_bars_per_day_with_empty_days_and_links(client: TestClient) -> None:
    html = client.get("/", params={"q": "stablecoin"}).text
    bars = re.findall(r'<a href="([^"]+)" class="bar-link" data-label="([^"]+)" data-count="(\d+)"', html)
    assert [(label, int(n)) for _, label, n in bars] == [("2026-03-01", 15), ("2026-03-02", 15), ("2026-03-03", 0),
                                                         ("2026-03-04", 0), ("2026-03-05", 15)]
    day = dict(parse_qsl(urlsplit(unescape(bars[1][0])).query))
    assert day == {"q": "stablecoin", "since": "2026-03-02", "until": "2026-03-02"}
    assert '<p id="total">15 articles</p>' in client.get(unescape(bars[1][0])).text


def test_histogram_switches_to_months_over_a_long_span() -> None:
    facet = {"2025-01-15": 2, "2025-06-01": 1, "2025-06-30": 3}
    histogram = build_histogram(facet, SearchParams(q="x"), "/regwire")
    assert histogram is not None
    assert [(b.label, b.count) for b in histogram.bars] == [
        ("2025-01", 2), ("2025-02", 0), ("2025-03", 0), ("2025-04", 0), ("2025-05", 0), ("2025-06", 4)]
    assert histogram.bars[-1].href == "/regwire/?q=x&since=2025-06-01&until=2025-06-30"
    assert build_histogram({}, SearchParams(), "") is None


def test_pages_with_totals_and_page_count(client: TestClient) -> None:
    first = client.get("/", params={"q": "stablecoin"}).text
    assert '<p id="page-of">page 1 of 3</p>' in first and 'id="previous"' not in first
    assert dict(parse_qsl(urlsplit(_links(first, "next")).query)) == {"q": "stablecoin", "offset": "20"}
    last = client.get("/", params={"q": "stablecoin", "offset": "40"}).text
    assert '<p id="page-of">page 3 of 3</p>' in last and 'id="next"' not in last
    assert len(re.findall(r'<li class="hit"', last)) == 5
    assert '<span class="page current">3</span>' in last


def test_export_streams_the_whole_result_set(client: TestClient) -> None:
    response = client.get("/api/export.csv", params={"q": "stablecoin", "jurisdiction": "KZ"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="regwire-search.csv"'
    assert "content-length" not in response.headers  # streamed
    rows = list(csv.DictReader(io.StringIO(response.text)))
    api_total = client.get("/api/search", params={"q": "stablecoin", "jurisdiction": "KZ"}).json()["total"]
    assert len(rows) == api_total == 22 and {r["jurisdictions"] for r in rows} == {"KZ"}
    everything = client.get("/api/export.ndjson", params={"q": "stablecoin"})
    assert everything.headers["content-type"].startswith("application/x-ndjson")
    hits = [json.loads(line) for line in everything.text.splitlines()]
    assert len(hits) == 45 > 20 and len({h["id"] for h in hits}) == 45  # beyond one page, no repeats
    formula = list(csv.DictReader(io.StringIO(client.get("/api/export.csv", params={"source": ODD_SOURCE}).text)))
    assert formula[0]["source"].startswith("'=")  # a spreadsheet shows it, never runs it
    assert client.get("/api/export.csv", params={"q": '"unbalanced'}).status_code == 400


def _cli_alert(home: Path, *args: str) -> dict:
    app = typer.Typer()
    app.add_typer(alerts_app, name="alerts")
    result = CliRunner().invoke(app, ["alerts", "add", *args, "--json"],
                                env={"REGWIRE_HOME": str(home), "REGWIRE_SEARCH_URL": "", "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["alert"]


def test_save_as_alert_stores_what_the_cli_would(client: TestClient, store: SQLiteStore, tmp_path: Path) -> None:
    search = [("q", "stablecoin"), ("topic", "licensing"), ("jurisdiction", "KZ"), ("min_relevance", "0.5"),
              ("since", "2026-03-01")]
    form = {"name": "KZ licensing", "owner": "desk", "channel": "mmost://chat.internal/${MM_HOOK}",
            "mode": "daily"}
    saved = client.post("/alerts", params=search, data=form, headers={"origin": "http://127.0.0.1"},
                        follow_redirects=False)
    assert saved.status_code == 303
    assert dict(parse_qsl(urlsplit(saved.headers["location"]).query))["alert_saved"] == "KZ licensing"
    assert "Alert &#39;KZ licensing&#39; saved." in client.get(saved.headers["location"]).text
    alerts = SQLiteAlertStore(store.path)
    try:
        [web_alert] = alerts.list_alerts()
    finally:
        alerts.close()
    cli_alert = _cli_alert(tmp_path / "cli-home", "KZ licensing", "--owner", "desk", "-q", "stablecoin", "--topic",
                           "licensing", "--jurisdiction", "KZ", "--min-relevance", "0.5", "--channel",
                           "mmost://chat.internal/${MM_HOOK}", "--mode", "daily")
    assert web_alert.model_dump(mode="json") == cli_alert


@pytest.mark.parametrize(("channel", "message"), [
    ("mailtos://desk:hunter2@smtp.example.org", "environment variable"),
    ("gopher://x", "no &#39;gopher://&#39; service"),
    ("", "channels"),
])
def test_save_as_alert_refuses_what_the_cli_refuses(client: TestClient, store: SQLiteStore, channel: str,
                                                    message: str) -> None:
    refused = client.post("/alerts", params={"q": "stablecoin"}, headers={"origin": "http://127.0.0.1"},
                          data={"name": "x", "owner": "desk", "channel": channel, "mode": "immediate"})
    assert refused.status_code == 400 and 'id="alert-error"' in refused.text and message in refused.text
    assert "hunter2" not in refused.text.split('id="alert-error"')[1].split("</p>")[0] or "hunter2" in channel
    alerts = SQLiteAlertStore(store.path)
    try:
        assert alerts.list_alerts() == []
    finally:
        alerts.close()


def test_save_as_alert_from_another_site_is_refused(client: TestClient) -> None:
    forged = client.post("/alerts", params={"q": "x"}, headers={"origin": "https://attacker.example"},
                         data={"name": "x", "owner": "o", "channel": "json://127.0.0.1/h"})
    assert forged.status_code == 403


def test_api_alerts(client: TestClient) -> None:
    body = {"name": "api alert", "owner": "desk", "channels": ["json://127.0.0.1:9/hook"]}
    created = client.post("/api/alerts", params={"q": "stablecoin", "jurisdiction": "kz"}, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["alert"]["jurisdictions"] == ["KZ"] and created.json()["created"] is True
    again = client.post("/api/alerts", params={"q": "stablecoin"}, json=body)
    assert again.status_code == 422 and "exists already" in again.json()["detail"]
    everything = client.post("/api/alerts", json={**body, "name": "all"})
    assert everything.status_code == 422 and "would match every article" in everything.json()["detail"]


def test_article_view(client: TestClient, store: SQLiteStore) -> None:
    [hit] = client.get("/api/search", params={"source": ODD_SOURCE}).json()["hits"]
    page = client.get(f"/articles/{hit['id']}", params={"q": "Kazakhstan -bitcoin regul*"}).text
    assert '<h1 id="article-title">AIFC <mark>regulator</mark> licenses a <mark>Kazakhstan</mark> exchange</h1>' in page
    assert "The AIFC <mark>regulator</mark> in <mark>Kazakhstan</mark> licensed an exchange." in page
    assert "<mark>Bitcoin</mark>" not in page  # an excluded term is not marked
    assert '<span id="authors">Aigerim Nurlanovna, J. Smith</span>' in page
    assert page.index('id="tags"') < page.index('id="text"') < page.index('id="evidence-details"')
    assert re.search(r'<details id="evidence-details">\s*<summary>Evidence: 30 matches', page)  # folded
    assert '<td id="relevance">0.95</td>' in page and '<span class="tag mentioned">UA</span>' in page


def test_snippets_end_on_a_word(client: TestClient) -> None:
    snippets = re.findall(r'<p class="snippet">(.*?)</p>', client.get("/").text, re.S)
    assert snippets
    for snippet in snippets:
        text = unescape(re.sub(r"</?mark>", "", snippet)).strip()
        last = text.rstrip("…").split()[-1]
        assert text.endswith(("…", ".")) and last.strip(".,") in LONG_TEXT.split() + ["much"], text[-40:]
    assert trim_snippet("word " * 40 + "partia") == ("word " * 40).strip() + "…"
    assert trim_snippet("short text") == "short text"


def test_query_terms_and_highlight() -> None:
    assert query_terms('title:Kazakhstan AND "travel rule" OR regul* NOT bitcoin -ban') == \
        ["Kazakhstan", "travel rule", "regul"]
    marked = highlight("Travel  rule for <b>regulators</b>", ["travel rule", "regul"])
    assert str(marked) == "<mark>Travel  rule</mark> for &lt;b&gt;<mark>regulators</mark>&lt;/b&gt;"


def test_back_from_an_article_returns_to_the_same_page(client: TestClient) -> None:
    second = client.get("/", params={"q": "stablecoin", "offset": "20"}).text
    first_hit = unescape(re.search(r'class="hit-title" href="([^"]+)"', second).group(1))
    back = _links(client.get(first_hit).text, "back")
    assert dict(parse_qsl(urlsplit(back).query)) == {"q": "stablecoin", "offset": "20"}
    assert '<p id="page-of">page 2 of 3</p>' in client.get(back).text


def test_entity_filter_round_trips_and_reaches_alerts(client: TestClient, store: SQLiteStore) -> None:
    """The entity filter is the query language's ``entity:"name"`` clause, added to the typed query."""
    article = client.get("/api/search", params={"source": ODD_SOURCE}).json()["hits"][0]
    page = client.get(f"/articles/{article['id']}").text
    entity_link = unescape(re.search(r'<a class="tag entity" href="([^"]+)"', page).group(1))
    assert dict(parse_qsl(urlsplit(entity_link).query)) == {"entity": "AIFC"}
    assert '<p id="total">46 articles</p>' in client.get(entity_link).text  # every article names the AIFC
    assert client.get("/api/search", params={"entity": "AIFC", "q": "exchange"}).json()["total"] == 46
    assert client.get("/api/search", params={"entity": "SEC"}).json()["total"] == 0
    assert client.get("/api/search", params={"entity": "Astana Financial Services Authority"}).json()["total"] == 1
    assert client.get("/api/search", params=[("entity", "SEC"), ("entity", "AIFC")]).json()["total"] == 46
    tricky = client.get("/api/search", params={"entity": 'Bank "of" \\ X'})
    assert tricky.status_code == 200 and tricky.json()["total"] == 0  # quotes and backslashes stay in the value
    filtered = client.get("/", params={"q": "stablecoin", "entity": "AIFC"}).text
    assert re.search(r'name="entity" value="AIFC" checked', filtered)
    assert sorted(parse_qsl(urlsplit(_links(filtered, "permalink")).query)) == [("entity", "AIFC"),
                                                                                ("q", "stablecoin")]
    saved = client.post("/api/alerts", params={"q": "stablecoin", "entity": "AIFC"},
                        json={"name": "aifc", "owner": "desk", "channels": ["json://127.0.0.1:9/h"]})
    assert saved.status_code == 201 and saved.json()["alert"]["q"] == '(stablecoin) AND (entity:"AIFC")'
