"""Smoke tests for the real OpenSearch node used by the test suite (tests/searchnode.py, scripts/search-node).

These never skip: if Maven or Java is missing the fixture raises and every test here errors.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

pytestmark = pytest.mark.slow

from searchnode import SearchNode, shared_compat_proxy, shared_search_node  # noqa: E402


@pytest.fixture(scope="session")
def search_node():
    # one node for every test module (see searchnode.shared_search_node)
    return shared_search_node()


@pytest.fixture(scope="session")
def es_compat_proxy(search_node):
    return shared_compat_proxy()


@pytest.fixture()
def os_client(search_node):
    from opensearchpy import OpenSearch

    client = OpenSearch(hosts=[search_node.url], timeout=60)
    yield client
    client.close()


@pytest.fixture()
def es_client(es_compat_proxy):
    from elasticsearch import Elasticsearch

    client = Elasticsearch(es_compat_proxy.url, request_timeout=60)
    yield client
    client.close()


def _http(node: SearchNode, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        node.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)


def test_node_is_healthy_and_local(search_node):
    health = _http(search_node, "GET", "/_cluster/health")
    assert health["status"] in ("green", "yellow")
    assert health["number_of_nodes"] == 1
    info = _http(search_node, "GET", "/")
    assert info["version"]["distribution"] == "opensearch"
    http_info = _http(search_node, "GET", "/_nodes/_local/http")
    (node,) = http_info["nodes"].values()
    assert all(addr.startswith("127.0.0.1:") for addr in node["http"]["bound_address"])
    assert search_node.rss_bytes() is not None


def test_english_analyzer_stems(os_client):
    tokens = os_client.indices.analyze(body={"analyzer": "english", "text": "regulations"})["tokens"]
    assert [t["token"] for t in tokens] == ["regul"]
    tokens = os_client.indices.analyze(
        body={"tokenizer": "standard", "filter": ["lowercase", {"type": "stemmer", "language": "english"}],
              "text": "Regulators Regulating"}
    )["tokens"]
    assert [t["token"] for t in tokens] == ["regul", "regul"]


def test_percolator_round_trip(os_client):
    index = "smoke-percolator"
    os_client.indices.create(
        index=index,
        body={"mappings": {"properties": {"query": {"type": "percolator"}, "body": {"type": "text",
                                                                                  "analyzer": "english"}}}},
    )
    try:
        os_client.index(index=index, id="sanctions", body={"query": {"match": {"body": "sanction"}}},
                        refresh=True)
        os_client.index(index=index, id="tariffs", body={"query": {"match": {"body": "tariff"}}}, refresh=True)
        res = os_client.search(
            index=index,
            body={"query": {"percolate": {"field": "query",
                                          "document": {"body": "New sanctions announced on Monday"}}}},
        )
        assert [h["_id"] for h in res["hits"]["hits"]] == ["sanctions"]
    finally:
        os_client.indices.delete(index=index)


def test_reindex_painless_and_aggs(os_client):
    src, dst = "smoke-reindex-src", "smoke-reindex-dst"
    try:
        for i in range(5):
            os_client.index(index=src, id=str(i), body={"n": i, "kind": "odd" if i % 2 else "even"})
        os_client.indices.refresh(index=src)
        res = os_client.reindex(
            body={"source": {"index": src}, "dest": {"index": dst},
                  "script": {"lang": "painless", "source": "ctx._source.n2 = ctx._source.n * 2"}},
            refresh=True,
        )
        assert res["created"] == 5 and not res["failures"]
        doc = os_client.get(index=dst, id="3")["_source"]
        assert doc["n2"] == 6
        aggs = os_client.search(
            index=dst, body={"size": 0, "aggs": {"kinds": {"terms": {"field": "kind.keyword"}},
                                                 "total": {"sum": {"field": "n2"}}}}
        )["aggregations"]
        assert {b["key"]: b["doc_count"] for b in aggs["kinds"]["buckets"]} == {"even": 3, "odd": 2}
        assert aggs["total"]["value"] == 20
    finally:
        os_client.indices.delete(index=f"{src},{dst}", ignore_unavailable=True)


def test_mapper_extras_field_types(os_client):
    index = "smoke-mapper-extras"
    os_client.indices.create(index=index, body={"mappings": {"properties": {
        "title": {"type": "search_as_you_type"},
        "rank": {"type": "rank_feature"},
        "price": {"type": "scaled_float", "scaling_factor": 100},
    }}})
    try:
        os_client.index(index=index, id="1", body={"title": "quarterly earnings report", "rank": 3.5,
                                                   "price": 1.25}, refresh=True)
        res = os_client.search(index=index, body={"query": {"multi_match": {
            "query": "quarterly ear", "type": "bool_prefix",
            "fields": ["title", "title._2gram", "title._3gram"]}}})
        assert res["hits"]["total"]["value"] == 1
    finally:
        os_client.indices.delete(index=index)


def test_opensearch_py_index_and_search(os_client):
    index = "smoke-opensearch-py"
    try:
        os_client.index(index=index, id="a", body={"headline": "Central bank raises rates"}, refresh=True)
        res = os_client.search(index=index, body={"query": {"match": {"headline": "rates"}}})
        assert res["hits"]["hits"][0]["_id"] == "a"
    finally:
        os_client.indices.delete(index=index, ignore_unavailable=True)


def test_elasticsearch_py_through_compat_proxy(es_client, es_compat_proxy):
    """The elasticsearch-py 9 client over CompatProxy against the real OpenSearch node (not Elasticsearch)."""
    from elasticsearch import helpers

    info = es_client.info()
    assert info["version"]["number"] == "9.0.0"
    assert info["version"]["opensearch_number"]
    index = "smoke-elasticsearch-py"
    try:
        es_client.indices.create(index=index, mappings={"properties": {"headline": {"type": "text",
                                                                                   "analyzer": "english"}}})
        assert es_client.indices.exists(index=index)
        es_client.index(index=index, id="1", document={"headline": "Regulators fine the bank"}, refresh=True)
        ok, errors = helpers.bulk(
            es_client,
            ({"_index": index, "_id": str(i), "_source": {"headline": f"Regulation update {i}"}}
             for i in range(2, 12)),
            refresh=True,
        )
        assert ok == 10 and not errors
        res = es_client.search(index=index, query={"match": {"headline": "regulation"}}, size=20)
        assert res["hits"]["total"]["value"] == 11  # 'regulators' and 'regulation' both stem to 'regul'
        assert es_client.count(index=index)["count"] == 11
    finally:
        es_client.indices.delete(index=index, ignore_unavailable=True)
    assert es_compat_proxy.requests_seen > 0


def test_restart_keeps_data(search_node, os_client):
    """Stop the node mid-run and start it again on the same port and data dir: nothing indexed is lost.

    Runs last in this file; the session node is healthy again afterwards.
    """
    index = "smoke-restart"
    os_client.index(index=index, id="kept", body={"headline": "before the restart"}, refresh=True)
    old_pid, old_url = search_node.pid, search_node.url
    search_node.restart()
    assert search_node.url == old_url and search_node.pid != old_pid
    try:
        assert os_client.get(index=index, id="kept")["_source"]["headline"] == "before the restart"
    finally:
        os_client.indices.delete(index=index, ignore_unavailable=True)


def test_missing_tooling_fails_loudly(tmp_path, monkeypatch):
    """Without a usable java the node must raise, never skip."""
    import searchnode

    monkeypatch.setenv("SEARCH_NODE_JAVA", str(tmp_path / "no-such-java"))
    node = SearchNode(data_dir=tmp_path / "data", startup_timeout=30)
    with pytest.raises(searchnode.SearchNodeError):
        node.start()
    assert not node.running
