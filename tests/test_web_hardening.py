"""Web hardening of the search app: security headers on every answer, no inline script, the Host allow-list of
``regwire serve``, the API docs served offline with response schemas, bad parameters 422 (API) / exit 2 (CLI), and an
unreadable store (corrupt, read-only) answered 503 with the reason."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from test_web import fill
from typer.testing import CliRunner

from pipeline.cli.search import search as search_command
from pipeline.cli.serve import allowed_hosts_for
from pipeline.store import EmbeddedBackend, SQLiteStore
from pipeline.web import create_app
from pipeline.web.security import LOOPBACK_HOSTS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path: Path):
    s = SQLiteStore(tmp_path / "web.db")
    fill(s)
    yield s
    s.close()


@pytest.fixture
def client(store: SQLiteStore) -> TestClient:
    return TestClient(create_app(lambda: EmbeddedBackend(store.path, articles=store)))


ROUTES = ["/", "/?q=stablecoin", "/articles/nope", "/api/search?q=stablecoin", "/api/health", "/api/docs",
          "/api/openapi.json", "/static/style.css", "/api/export.csv", "/api/search?limit=1000", "/no-such-page"]


@pytest.mark.parametrize("path", ROUTES)
def test_security_headers_on_every_answer(client: TestClient, path: str) -> None:
    response = client.get(path)
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'", "no inline or remote script, anywhere"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert directives["default-src"] == "'none'" and directives["form-action"] == "'self'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/?q=stablecoin", "/articles/{uk}?q=stablecoin", "/api/docs"])
def test_pages_carry_no_inline_script_or_handlers(client: TestClient, store: SQLiteStore, path: str) -> None:
    uk = store.search(__import__("pipeline.query", fromlist=["SearchQuery"]).SearchQuery(q="FCA")).hits[0].id
    html = client.get(path.format(uk=uk)).text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert all('src="' in attrs and not body.strip() for attrs, body in scripts), scripts
    tags = re.findall(r"<[a-zA-Z][^>]*>", html)  # real elements (a title shown as text is &lt;escaped&gt;)
    assert not [t for t in tags if re.search(r"\son[a-z]+\s*=", t)], "no inline event handlers (CSP blocks them)"
    assert "<style" not in html and " style=" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html.replace('href="https://news.example', "")), \
        "every asset is the app's own"


def test_host_allow_list(store: SQLiteStore) -> None:
    app = create_app(lambda: EmbeddedBackend(store.path, articles=store), allowed_hosts=allowed_hosts_for(
        "127.0.0.1", ["search.internal"]))
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/health", headers={"host": "search.internal"}).status_code == 200
    rebound = client.get("/api/search?q=stablecoin", headers={"host": "attacker.example"})
    assert rebound.status_code == 400 and "stablecoin" not in rebound.text
    assert rebound.headers["x-frame-options"] == "DENY"
    assert set(LOOPBACK_HOSTS) <= set(allowed_hosts_for("0.0.0.0", []))
    assert "0.0.0.0" not in allowed_hosts_for("0.0.0.0", [])
    assert "[::1]" in allowed_hosts_for("::1", [])


def test_api_docs_are_served_offline_with_response_schemas(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(assets) == ["/static/docs.js", "/static/swagger-ui-bundle.js", "/static/swagger-ui.css"]
    for asset in assets:
        body = client.get(asset)
        assert body.status_code == 200 and len(body.content) > 300, asset
    assert "SwaggerUIBundle" in client.get("/static/swagger-ui-bundle.js").text
    assert client.get("/static/../app.py").status_code == 404
    spec = client.get("/api/openapi.json").json()

    def schema_of(path: str, method: str = "get", status: str = "200") -> str:
        return spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]["$ref"]

    assert schema_of("/api/search").endswith("/SearchResult")
    assert schema_of("/api/articles/{article_id}").endswith("/StoredArticle")
    assert schema_of("/api/health").endswith("/Health")
    assert schema_of("/api/alerts", "post", "201").endswith("/AlertCreated")
    assert {"SearchHit", "SearchResult", "StoredArticle"} <= set(spec["components"]["schemas"])


@pytest.mark.parametrize("params", [
    {"offset": "9223372036854775808"}, {"offset": "-1"}, {"offset": "10001"}, {"offset": "9990"}, {"limit": "1000"},
    {"min_relevance": "2"}, {"min_relevance": "high"}, {"since": "0001-13-01"}, {"sort": "random"},
    {"q": "x" * 20_001},
])
def test_bad_parameters_are_422(client: TestClient, params: dict[str, str]) -> None:
    response = client.get("/api/search", params=params)
    assert response.status_code == 422, response.text
    assert "detail" in response.json()
    if "limit" not in params and params != {"offset": "9990"}:  # an export has no page size and starts at 0
        assert client.get("/api/export.csv", params=params).status_code == 422


def test_page_with_a_huge_offset_is_refused_not_a_traceback(client: TestClient) -> None:
    page = client.get("/", params={"offset": "9223372036854775808"})
    assert page.status_code == 422 and "Traceback" not in page.text
    deep = client.get("/", params={"offset": "9990"})  # past the result window: said, and the first page shown
    assert deep.status_code == 400 and "results end at 10000" in deep.text and '<p id="total">3 articles</p>' in deep.text


def test_cli_since_outside_the_calendar_exits_2(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(search_command)
    app.command("noop")(lambda: None)
    env = {"REGWIRE_HOME": str(tmp_path), "REGWIRE_SEARCH_URL": "", "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["search", "x", "--since", "0001-01-01T00:00+05:00"], env=env)
    assert result.exit_code == 2 and result.exception is None or isinstance(result.exception, SystemExit)
    assert "--since" in result.output and "outside the dates" in result.output
    late = CliRunner().invoke(app, ["search", "x", "--until", "9999-12-31T23:00-05:00"], env=env)
    assert late.exit_code == 2 and "--until" in late.output
    fine = CliRunner().invoke(app, ["search", "x", "--since", "2026-01-01T00:00+05:00"], env=env)
    assert fine.exit_code == 0, fine.output


def test_corrupt_store_is_503_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"not a database at all " * 200)
    client = TestClient(create_app(lambda: EmbeddedBackend(path)))
    api = client.get("/api/search", params={"q": "stablecoin"})
    assert api.status_code == 503 and "not a database" in api.json()["detail"] and str(path) in api.json()["detail"]
    page = client.get("/")
    assert page.status_code == 503 and 'id="error"' in page.text and "not a database" in page.text
    assert "Traceback" not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


READ_ONLY_PROBE = """
    import json, sys
    from fastapi.testclient import TestClient
    from pipeline.store import EmbeddedBackend
    from pipeline.web import create_app
    client = TestClient(create_app(lambda: EmbeddedBackend(sys.argv[1])))
    api, page = client.get("/api/search?q=stablecoin"), client.get("/")
    print("RESULT " + json.dumps([api.status_code, api.json(), page.status_code, "Traceback" in page.text]))
"""


def test_read_only_store_is_503_with_the_reason(store: SQLiteStore, tmp_path: Path) -> None:
    """The store's folder on a read-only mount (a user namespace: this needs no privilege, and root's
    permission bypass does not hide it as chmod would)."""
    if shutil.which("unshare") is None:
        pytest.fail("needs util-linux unshare")
    folder = store.path.parent
    store.close()
    script = f"mount --bind {folder} {folder} && mount -o bind,remount,ro {folder} && " \
             f"exec {sys.executable} -c '{textwrap.dedent(READ_ONLY_PROBE)}' {store.path}"
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert line, proc.stderr[-3000:]
    import json

    api_status, api_body, page_status, traceback = json.loads(line[0][len("RESULT "):])
    assert api_status == 503 and "unavailable" in api_body["detail"] and str(store.path) in api_body["detail"]
    assert page_status == 503 and not traceback


def test_store_failures_map_to_status_and_reason() -> None:
    from pipeline.errors import SearchEngineRequestError, SearchEngineUnavailableError, StoreError
    from pipeline.web.state import store_failure

    assert store_failure(SearchEngineRequestError("window exceeded", status=400)) == (400, "window exceeded")
    status, reason = store_failure(SearchEngineUnavailableError("connection refused", status=None))
    assert status == 503 and reason.endswith("connection refused")
    assert store_failure(StoreError("disk I/O error"))[0] == 503
