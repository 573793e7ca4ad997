"""``regwire stories``: the per-jurisdiction timeline, through the real command line over an embedded store."""

from __future__ import annotations

import json

from test_cli import regwire
from test_stories_store import ARTICLES, STORY_HEAD, WRITES

from pipeline.store import SQLiteStore


def test_stories_cli_lists_the_jurisdictions_stories_of_the_window(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with SQLiteStore(home / "regwire.db") as store:
        store.write_articles([WRITES[a["id"]] for a in ARTICLES])
    out = regwire("stories", "--jurisdiction", "kz", "--since", "2025-03-01", "--until", "2025-04-30", "--json",
                  home=home)
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert [s["story_id"] for s in listed] == [STORY_HEAD["kz-block"], STORY_HEAD["kz-mining"]]
    assert listed[1]["size"] == 3 and listed[1]["sources"] == ["chainpost", "ledgerwire", "steppe-business"]
    assert listed[1]["first_seen"].startswith("2025-03-11T09:00")

    text = regwire("stories", "--jurisdiction", "KZ", "--since", "2025-03-01", "--until", "2025-04-30", home=home)
    assert text.returncode == 0, text.stderr
    assert "2 stories in KZ" in text.stdout
    assert "Kazakhstan raises electricity levy on crypto miners" in text.stdout
    assert "2025-03-11 → 2025-03-12 · 3 article(s) from 3 source(s)" in text.stdout

    bad = regwire("stories", "--since", "0001-01-01T00:00+05:00", home=home)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "--since" in bad.stderr


def test_stories_api_route_lists_the_timeline_and_refuses_bad_dates(tmp_path):
    from fastapi.testclient import TestClient

    from pipeline.store.backend import EmbeddedBackend
    from pipeline.web import create_app

    store = SQLiteStore(tmp_path / "regwire.db")
    store.write_articles([WRITES[a["id"]] for a in ARTICLES])
    client = TestClient(create_app(lambda: EmbeddedBackend(store.path, articles=store)))
    resp = client.get("/api/stories", params={"jurisdiction": "hk", "since": "2025-02-01", "until": "2025-04-30"})
    assert resp.status_code == 200
    body = resp.json()
    assert [s["story_id"] for s in body["stories"]] == [STORY_HEAD["hk-etf"], STORY_HEAD["hk-vatp"]]
    assert body["stories"][1]["sources"] == ["chainpost", "harbour-finance", "ledgerwire"]
    assert body["query"]["jurisdiction"] == "HK"
    bad = client.get("/api/stories", params={"since": "2025-13-01"})
    assert bad.status_code == 422 and "since" in bad.text
    store.close()


def test_search_page_shows_one_card_per_story_with_its_sources(tmp_path):
    import re

    from fastapi.testclient import TestClient

    from pipeline.store.backend import EmbeddedBackend
    from pipeline.web import create_app

    store = SQLiteStore(tmp_path / "regwire.db")
    store.write_articles([WRITES[a["id"]] for a in ARTICLES])
    client = TestClient(create_app(lambda: EmbeddedBackend(store.path, articles=store)), base_url="http://127.0.0.1")
    api = client.get("/api/search", params={"q": "Kazakhstan miners electricity"}).json()
    stories = {h["story_id"] for h in api["hits"]}
    assert STORY_HEAD["kz-mining"] in stories and len(api["hits"]) > len(stories)  # several articles of one story
    page = client.get("/", params={"q": "Kazakhstan miners electricity"}).text
    cards = re.findall(r'<li class="hit" data-id="([^"]+)"', page)
    assert len(cards) == len(stories)  # one card per story on the page
    assert "3 sources" in page and len(re.findall(r'class="story-also"', page)) == len(api["hits"]) - len(stories)
    store.close()
