"""Kibana saved objects (pipeline/kibana/*.ndjson, shipped as package data) and ``regwire kibana import``.

No Kibana runs here: the objects are checked for consistency with the index mapping and the taxonomy, and the import
request is checked against ``KibanaStandIn``, a loopback HTTP stand-in for Kibana's saved-objects import API (it
records the request and answers like Kibana does; it is not Kibana).
"""

from __future__ import annotations

import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from pipeline.cli.index import KIBANA_DIR, kibana_app, saved_objects
from pipeline.store.engine.mappings import ARTICLE_MAPPINGS
from pipeline.store.engine.names import IndexNames
from pipeline.tagging.models import TOPICS


def load_objects() -> list[dict]:
    return [json.loads(line) for line in saved_objects(KIBANA_DIR).decode().splitlines()]


def test_objects_are_consistent_with_the_mapping_and_taxonomy():
    objects = load_objects()
    keys = [(o["type"], o["id"]) for o in objects]
    assert len(keys) == len(set(keys))
    present = set(keys)
    for obj in objects:
        for ref in obj.get("references", []):
            assert (ref["type"], ref["id"]) in present, f"{obj['id']} references missing {ref}"
    (dv,) = [o for o in objects if o["type"] == "index-pattern"]
    assert dv["attributes"]["title"] == IndexNames("regwire").articles  # the alias, not a physical index
    props = ARTICLE_MAPPINGS["properties"]
    assert props[dv["attributes"]["timeFieldName"]]["type"] == "date"
    searches = {o["id"]: o for o in objects if o["type"] == "search"}
    assert {f"regwire-topic-{t}" for t in TOPICS} <= set(searches)
    assert "regwire-latest-high-relevance" in searches
    for s in searches.values():
        assert set(s["attributes"]["columns"]) <= set(props)
        json.loads(s["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    for vis in (o for o in objects if o["type"] == "visualization"):
        state = json.loads(vis["attributes"]["visState"])
        for agg in state["aggs"]:
            field = agg["params"].get("field")
            if field:
                assert props[field]["type"] in ("keyword", "date"), field  # aggregatable
    (dash,) = [o for o in objects if o["type"] == "dashboard"]
    panels = json.loads(dash["attributes"]["panelsJSON"])
    assert {p["panelRefName"] for p in panels} == {r["name"] for r in dash["references"]}
    titles = {o["attributes"]["title"] for o in objects if (o["type"], o["id"]) in
              {(r["type"], r["id"]) for r in dash["references"]}}
    assert titles == {"regwire: articles over time by topic", "regwire: top jurisdictions", "regwire: top sources",
                      "regwire: latest high-relevance articles"}


class KibanaStandIn:
    """A loopback stand-in for Kibana's ``POST /api/saved_objects/_import`` (records requests; not Kibana)."""

    def __init__(self, fail_ids: set[str] = frozenset()):
        self.requests: list[dict] = []
        self.fail_ids = set(fail_ids)

    def __enter__(self) -> KibanaStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                message = BytesParser(policy=HTTP).parsebytes(
                    f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
                files = {part.get_filename(): part.get_payload(decode=True) for part in message.iter_parts()}
                url = urlsplit(self.path)
                stand_in.requests.append({"path": url.path, "query": parse_qs(url.query),
                                          "headers": dict(self.headers), "files": files})
                objects = [json.loads(line) for line in next(iter(files.values())).decode().splitlines()]
                ok = [o for o in objects if o["id"] not in stand_in.fail_ids]
                errors = [{"type": o["type"], "id": o["id"], "title": o["attributes"].get("title"),
                           "error": {"type": "unknown"}} for o in objects if o["id"] in stand_in.fail_ids]
                answer = json.dumps({
                    "success": not errors, "successCount": len(ok), "errors": errors,
                    "successResults": [{"type": o["type"], "id": o["id"], "overwrite": True,
                                        "meta": {"title": o["attributes"].get("title")}} for o in ok],
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_kibana_import_posts_every_object_with_overwrite():
    with KibanaStandIn() as kibana:
        res = CliRunner().invoke(kibana_app, ["import", "--url", kibana.url, "--api-key", "abc123", "--json"])
    assert res.exit_code == 0, res.output
    (req,) = kibana.requests
    assert req["path"] == "/api/saved_objects/_import" and req["query"] == {"overwrite": ["true"]}
    headers = {k.lower(): v for k, v in req["headers"].items()}
    assert headers["kbn-xsrf"] and headers["authorization"] == "ApiKey abc123"
    (ndjson,) = req["files"].values()
    assert [json.loads(line) for line in ndjson.decode().splitlines()] == load_objects()
    assert json.loads(res.output)["successCount"] == len(load_objects())


def test_kibana_import_reports_per_object_failures_and_spaces(tmp_path: Path):
    with KibanaStandIn(fail_ids={"regwire-overview"}) as kibana:
        res = CliRunner().invoke(kibana_app, ["import", "--url", kibana.url + "/", "--space", "analysts"])
    assert res.exit_code == 1
    assert "regwire-overview" in res.output and "unknown" in res.output
    assert kibana.requests[0]["path"] == "/s/analysts/api/saved_objects/_import"
    res = CliRunner().invoke(kibana_app, ["import", "--url", "http://127.0.0.1:9", "--dir", str(tmp_path)])
    assert res.exit_code == 2  # no saved objects in an empty folder


@pytest.mark.parametrize("status", [401, 500])
def test_kibana_http_errors_exit_1(status):
    def handler_factory(code):
        class H(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                body = json.dumps({"statusCode": code, "message": "nope"}).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
        return H

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_factory(status))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        res = CliRunner().invoke(kibana_app, ["import", "--url", f"http://127.0.0.1:{server.server_address[1]}"])
    finally:
        server.shutdown()
        server.server_close()
    assert res.exit_code == 1 and f"HTTP {status}" in res.output


def test_sub_apps_register_on_the_main_cli():
    """pipeline/cli.py registers these with app.add_typer: check that they work that way."""
    import typer

    from pipeline.cli.index import deadletter_app, index_app

    app = typer.Typer()
    app.add_typer(index_app, name="index")
    app.add_typer(deadletter_app, name="deadletter")
    app.add_typer(kibana_app, name="kibana")
    runner = CliRunner()
    for args, words in ((["index", "--help"], ("migrate", "status")), (["deadletter", "--help"], ("list", "retry")),
                        (["kibana", "import", "--help"], ("--url", "--api-key"))):
        res = runner.invoke(app, args)
        assert res.exit_code == 0 and all(w in res.output for w in words), res.output
