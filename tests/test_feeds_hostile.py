"""Hostile feed documents: one bad item never costs the others, deep nesting and wrong types are named by item and
field, malformed feeds with no item are parse problems, oversized fields are cut and say so. The pipeline-level cases
run over real loopback HTTP into a real SQLite store."""

from __future__ import annotations

import json

import pytest
from hostile import HostileServer, Reply
from test_pipeline import ARTICLE, BODY, Clock, make_context, store  # noqa: F401 - the store fixture

from pipeline.caps import EVIDENCE_PER_LABEL, TEXT_CAPS
from pipeline.errors import FeedParseError
from pipeline.models import Article, FeedItem
from pipeline.sources import Source, parse_feed_items
from pipeline.tagging.models import Match, Tags
from pipeline.tasks import poll_source

FEED = "https://news.example/feed"


def rss(*links: str, title: str = "Story") -> bytes:
    items = "".join(f"<item><title>{title} {i}</title><link>{link}</link><guid>{link}</guid></item>"
                    for i, link in enumerate(links))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()


def json_feed(*items: object) -> bytes:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "F", "items": list(items)}).encode()


def test_rss_item_with_an_invalid_idna_host_is_skipped_and_named():
    parsed = parse_feed_items(rss("https://news.example/a", "http://xn--ls8h/x.html", "https://news.example/b"), FEED)
    assert [i.canonical_url for i in parsed.items] == ["https://news.example/a", "https://news.example/b"]
    [skipped] = parsed.skipped
    assert skipped.item == "#2 (http://xn--ls8h/x.html)" and skipped.field == "link"
    assert FEED in str(skipped) and "field 'link'" in str(skipped)


@pytest.mark.parametrize("bad, field", [
    ({"id": "1", "url": 123}, "url"),
    ({"id": "2", "url": ["https://news.example/x"]}, "url"),
    ({"id": "3", "url": "https://news.example/3", "content_html": 42}, "content_html"),
    ({"id": "4", "url": "https://news.example/4", "image": 7}, "image"),
    ({"id": "5", "url": "https://news.example/5", "title": {"a": 1}}, "title"),
    ({"id": "6", "url": "https://news.example/6", "date_published": "nope"}, "date_published"),
    ({"id": {"x": 1}, "url": "https://news.example/7"}, "id"),
    ({"id": "8", "url": "http://xn--ls8h/8"}, "url"),
    ({"id": "9", "url": "javascript:alert(1)"}, "url"),
])
def test_json_feed_item_with_a_wrong_type_is_skipped_and_named(bad, field):
    good = {"id": "ok", "url": "https://news.example/ok", "content_text": "fine"}
    parsed = parse_feed_items(json_feed(good, bad, good | {"id": "ok2", "url": "https://news.example/ok2"}), FEED)
    assert [i.guid for i in parsed.items] == ["ok", "ok2"]
    [skipped] = parsed.skipped
    assert skipped.field == field and skipped.item.startswith("#2") and f"field {field!r}" in str(skipped)


def test_json_feed_item_that_is_not_an_object_is_skipped():
    parsed = parse_feed_items(json_feed("just a string", {"id": "ok", "url": "https://news.example/ok"}), FEED)
    assert len(parsed.items) == 1 and "must be an object" in str(parsed.skipped[0])


def test_deeply_nested_json_feed_item_costs_only_itself():
    deep = '{"id": "deep", "url": "https://news.example/deep", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    doc = ('{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "a", "url": "https://news.example/a"}, '
           + deep + ', {"id": "b", "url": "https://news.example/b"}]}').encode()
    parsed = parse_feed_items(doc, FEED)
    assert [i.guid for i in parsed.items] == ["a", "b"]
    assert "#2" in parsed.skipped[0].item and "nested deeper than" in str(parsed.skipped[0])


def test_deeply_nested_json_document_is_a_parse_error_not_a_crash():
    with pytest.raises(FeedParseError, match="feed https://news.example/feed"):
        parse_feed_items(b"[" * 100_000 + b"]" * 100_000, FEED, "application/feed+json")


def test_malformed_rss_with_no_items_is_a_parse_problem():
    broken = b'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title><item><title>x</ti'
    with pytest.raises(FeedParseError, match="malformed feed, no item could be read"):
        parse_feed_items(broken, FEED)


def test_an_empty_but_valid_feed_is_not_an_error():
    assert parse_feed_items(rss(), FEED).items == []


# -- caps -----------------------------------------------------------------------------------------------------------

def test_oversized_fields_are_cut_in_one_place_and_marked():
    item = FeedItem(feed_url=FEED, url="https://news.example/a", canonical_url="https://news.example/a",
                    title="T" * 8_000_000, authors=["A" * 10_000] * 1_000)
    assert len(item.title) == TEXT_CAPS["title"] and item.truncated
    assert len(item.authors) == 50 and all(len(a) == 200 for a in item.authors)
    article = Article(url="u", canonical_url="u", title="t", text="x" * (TEXT_CAPS["text"] + 5))
    assert len(article.text) == TEXT_CAPS["text"] and article.truncated
    assert not Article(url="u", canonical_url="u", title="t", text="short").truncated


def test_evidence_per_label_is_capped():
    matches = [Match(label="topic:mining", phrase="mining", offset=i, weight=1.0, field="text") for i in range(5000)]
    tags = Tags(relevance=0.5, matches=matches, language="en", taxonomy_version="t")
    assert len(tags.matches) == EVIDENCE_PER_LABEL and tags.truncated


# -- through the pipeline -------------------------------------------------------------------------------------------

def _page(title: str) -> bytes:
    return ARTICLE.format(title=title, canonical="", paragraphs=f"<p>{BODY}</p>" * 4).encode()


def test_one_bad_item_never_costs_the_feed_and_huge_titles_are_cut(settings, store, transport):  # noqa: F811
    with HostileServer() as server:
        server.route("/robots.txt", Reply(200, b"User-agent: *\nAllow: /\n"))
        server.route("/a.html", Reply(200, _page("Licensing rules"), {"Content-Type": "text/html"}))
        server.route("/b.html", Reply(200, _page("Second story"), {"Content-Type": "text/html"}))
        server.route("/go-bad", Reply(302, b"", {"Location": "http://xn--ls8h/x.html"}))
        feed = rss(server.url("/a.html"), "http://xn--ls8h/x.html", server.url("/go-bad"), server.url("/b.html"),
                   title="Huge " + "title " * 400_000)
        server.route("/feed.xml", Reply(200, feed, {"Content-Type": "application/rss+xml"}))
        ctx = make_context(settings, store, transport)
        report = poll_source(ctx, Source(name="mixed", feeds=[server.url("/feed.xml")]))
    assert report.failed == 0 and report.new == 2, report.errors
    assert report.item_errors == 2
    assert any("item skipped" in e and "field 'link'" in e and "xn--ls8h" in e for e in report.errors)
    assert any("/go-bad" in e and "invalid URL" in e and "given up" in e for e in report.errors)
    stored = list(store.iter_articles())
    assert all(len(a.title) <= TEXT_CAPS["title"] for a in stored) and all(a.truncated for a in stored)


def test_article_skipped_for_a_transient_reason_is_retried_on_a_later_poll(settings, store, transport):  # noqa: F811
    with HostileServer() as server:
        server.route("/robots.txt", Reply(503, b"busy"))
        server.route("/a.html", Reply(200, _page("Licensing rules"), {"Content-Type": "text/html"}))
        server.route("/feed.xml", Reply(200, rss(server.url("/a.html")), {"ETag": '"v1"'}))
        source = Source(name="retry", feeds=[server.url("/feed.xml")])
        first = poll_source(make_context(settings, store, transport), source)
        assert first.new == 0 and first.item_errors == 1 and "will retry" in first.errors[0]
        assert "robots.txt" in first.errors[0] and "disallowed" not in first.errors[0]
        assert "/a.html" not in server.requests
        # the feed's validator was not kept, so the next run sees the item again, and robots.txt now answers
        assert store.get_feed_state(source.feeds[0]).etag is None
        server.route("/robots.txt", Reply(200, b"User-agent: *\nAllow: /\n"))
        second = poll_source(make_context(settings, store, transport, Clock()), source, force=True)
    assert second.new == 1 and second.item_errors == 0, second.errors


def test_article_failing_transiently_on_every_poll_is_given_up_with_its_reason(settings, store, transport):  # noqa: F811
    from pipeline.tasks.poll import MAX_ITEM_ATTEMPTS

    with HostileServer() as server:
        server.route("/robots.txt", Reply(503, b"busy"))
        server.route("/feed.xml", Reply(200, rss(server.url("/a.html")), {"ETag": '"v1"'}))
        source = Source(name="retry", feeds=[server.url("/feed.xml")])
        reports = [poll_source(make_context(settings, store, transport), source, force=True)
                   for _ in range(MAX_ITEM_ATTEMPTS)]
        state = store.get_feed_state(source.feeds[0])
        assert all("will retry" in r.errors[0] for r in reports)
        assert any(f"given up after {MAX_ITEM_ATTEMPTS} polls" in e and "robots.txt" in e for e in reports[-1].errors)
        assert server.url("/a.html") in state.given_up and state.retrying == {} and state.etag == '"v1"'
        robots_asked = server.requests.count("/robots.txt")
        last = poll_source(make_context(settings, store, transport), source, force=True)
    assert last.item_errors == 0 and server.requests.count("/robots.txt") == robots_asked  # not tried again


def test_a_parse_result_with_skipped_items_survives_pickling():
    """Feeds may be parsed in a worker process: what it reports must cross the process boundary intact."""
    import pickle

    parsed = parse_feed_items(rss("https://news.example/a", "http://xn--ls8h/x.html"), FEED)
    again = pickle.loads(pickle.dumps(parsed))
    assert again.items == parsed.items and str(again.skipped[0]) == str(parsed.skipped[0])
    assert again.skipped[0].field == "link" and again.skipped[0].feed == FEED
