"""The search page over the real OpenSearch node (tests/opensearch): the same histogram, filters, pages, export and
entity filter as on the embedded store, from the engine's aggregations and queries."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from searchnode import shared_search_node
from test_store_contract import drop_prefix
from test_web_features import fill_many

from pipeline.settings import Settings
from pipeline.store import open_backend
from pipeline.web import create_app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    node = shared_search_node()
    backend = open_backend(Settings(home=tmp_path, search_url=node.url, search_engine="opensearch",
                                    search_index_prefix=f"t-web-{uuid.uuid4().hex[:8]}"))
    try:
        fill_many(backend.articles)  # type: ignore[arg-type]
        yield TestClient(create_app(lambda: backend))
    finally:
        drop_prefix(backend.articles)
        backend.close()


def test_page_features_on_opensearch(client: TestClient) -> None:
    html = client.get("/", params={"q": "stablecoin"}).text
    assert '<p id="total">45 articles</p>' in html and '<p id="page-of">page 1 of 3</p>' in html
    bars = re.findall(r'class="bar-link" data-label="([^"]+)" data-count="(\d+)"', html)
    assert bars == [("2026-03-01", "15"), ("2026-03-02", "15"), ("2026-03-03", "0"), ("2026-03-04", "0"),
                    ("2026-03-05", "15")]
    assert client.get("/api/search", params={"min_relevance": "0.5"}).json()["total"] == 37
    assert client.get("/api/search", params={"entity": "Astana Financial Services Authority"}).json()["total"] == 1
    rows = list(csv.DictReader(io.StringIO(client.get("/api/export.csv", params={"q": "stablecoin",
                                                                                  "jurisdiction": "KZ"}).text)))
    assert len(rows) == 22 and {r["jurisdictions"] for r in rows} == {"KZ"}
    last = client.get("/", params={"q": "stablecoin", "offset": "40"}).text
    assert len(re.findall(r'<li class="hit"', last)) == 5
    assert client.get("/api/search", params={"offset": "9990"}).status_code == 422
