"""Feed parsing: every format through one function, broken input named and contained."""

from __future__ import annotations

import json
import resource
import time

import pytest

from pipeline import FeedParseError, parse_feed

RSS2 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>T</title><link>https://news.example/</link><language>en-us</language>
<item><title>A &amp; B</title><link>https://news.example/a?utm_source=rss&amp;id=7#top</link>
<guid isPermaLink="false">a-1</guid><pubDate>Wed, 28 Sep 2022 10:30:00 +0100</pubDate>
<dc:creator>Helen Partz</dc:creator><category>Regulation</category><description>Short &lt;b&gt;teaser&lt;/b&gt;</description>
<content:encoded><![CDATA[<p>First paragraph.</p><p>Second paragraph.</p><script>alert(1)</script>]]></content:encoded></item>
<item><title>Relative</title><link>/b.html</link></item>
<item><title>No link at all</title></item>
</channel></rss>"""

RSS1 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://news.example/"><title>RDF</title><link>https://news.example/</link><description>d</description></channel>
<item rdf:about="https://news.example/rdf-1"><title>RDF item</title><link>https://news.example/rdf-1</link>
<dc:date>2023-01-02T03:04:05Z</dc:date><description>rdf body</description></item>
</rdf:RDF>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr"><title>Atom</title><id>urn:x</id><updated>2024-01-01T00:00:00Z</updated>
<entry><title type="html">MiCA &lt;em&gt;now&lt;/em&gt;</title><id>tag:x,2024:1</id>
<link rel="alternate" href="https://news.example/mica?ref=homepage"/>
<published>2024-12-18T08:00:00Z</published><updated>2024-12-19T09:00:00Z</updated>
<author><name>Ana</name></author><author><name>Ben</name></author>
<content type="html">&lt;p&gt;Full text here.&lt;/p&gt;</content></entry></feed>"""

JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1", "title": "J", "language": "en-GB",
    "authors": [{"name": "Desk"}],
    "items": [
        {"id": "1", "url": "https://news.example/j1", "title": "J one", "content_html": "<p>Hello <b>world</b></p>",
         "date_published": "2024-07-18T10:00:00Z", "tags": ["stablecoins"], "image": "https://news.example/i.png"},
        {"id": "https://news.example/j2", "content_text": "plain", "date_modified": "2024-07-19T10:00:00+02:00",
         "authors": [{"name": "Kim"}]},
        {"id": "no-url", "content_text": "skipped: nothing to fetch"},
    ],
}


def test_rss2_items_with_content_authors_dates_and_canonical_urls():
    items = parse_feed(RSS2, "https://news.example/feed.xml")
    assert [i.title for i in items] == ["A & B", "Relative"]
    first = items[0]
    assert first.canonical_url == "https://news.example/a?id=7"
    assert first.url.startswith("https://news.example/a?utm_source=rss")
    assert first.content == "First paragraph.\nSecond paragraph."
    assert first.summary == "Short teaser"
    assert first.authors == ["Helen Partz"] and first.categories == ["Regulation"]
    assert first.published.isoformat() == "2022-09-28T09:30:00+00:00"
    assert first.language == "en"
    assert items[1].url == "https://news.example/b.html"


def test_rss1_rdf():
    (item,) = parse_feed(RSS1, "https://news.example/rdf")
    assert item.title == "RDF item" and item.published.year == 2023


def test_atom_with_html_title_and_several_authors():
    (item,) = parse_feed(ATOM, "https://news.example/atom")
    assert item.title == "MiCA now"
    assert item.canonical_url == "https://news.example/mica"
    assert item.authors == ["Ana", "Ben"] and item.language == "fr"
    assert item.content == "Full text here." and item.updated.day == 19


def test_json_feed_1_1():
    items = parse_feed(json.dumps(JSON_FEED).encode(), "https://news.example/feed.json")
    assert [i.canonical_url for i in items] == ["https://news.example/j1", "https://news.example/j2"]
    assert items[0].content == "Hello world" and items[0].authors == ["Desk"] and items[0].categories == ["stablecoins"]
    assert items[0].language == "en" and items[0].image == "https://news.example/i.png"
    assert items[1].authors == ["Kim"] and items[1].updated.utcoffset().total_seconds() == 0 or items[1].updated


def test_json_feed_1_0_single_author():
    feed = {"version": "https://jsonfeed.org/version/1", "author": {"name": "Old"},
            "items": [{"id": "x", "url": "https://news.example/x", "content_text": "t"}]}
    assert parse_feed(json.dumps(feed).encode(), "u")[0].authors == ["Old"]


@pytest.mark.parametrize("body, message", [
    (b'{"version": "1"}', "not a JSON Feed"),
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "'items' must be a list"),
    (b"{not json", "invalid JSON"),
    (b"<html><body>Just a page</body></html>", "not a feed"),
])
def test_bad_documents_name_the_feed_and_the_field(body, message):
    with pytest.raises(FeedParseError, match=message) as info:
        parse_feed(body, "https://news.example/broken")
    assert "https://news.example/broken" in str(info.value)


def test_malformed_xml_is_recovered_where_feedparser_can():
    broken = RSS2.replace(b"</channel></rss>", b"<item><title>Unclosed &bogus; <b></title><link>https://news.example/c</link></item>")
    items = parse_feed(broken, "https://news.example/feed.xml")
    assert "https://news.example/c" in [i.canonical_url for i in items]


def test_entity_expansion_feed_is_refused_without_blowing_memory():
    lol = b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol "lol">\n'
    lol += b"".join(b'<!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i else b"&lol;") * 10) for i in range(10))
    lol += b']>\n<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title>'
    lol += b"<link>https://x/</link></item></channel></rss>"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(FeedParseError, match="entity"):
        parse_feed(lol, "https://news.example/lol.xml")
    assert time.monotonic() - started < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024  # KiB: no expansion happened


def test_the_demo_feeds_parse(site):
    for path, expected in (("/feeds/rss.xml", 7), ("/feeds/atom.xml", 5), ("/feeds/feed.json", 5)):
        items = parse_feed(site.render(path), site.url(path))
        assert len(items) == expected, path
        assert all(i.canonical_url.startswith(site.base_url) and "utm_" not in i.canonical_url for i in items)
