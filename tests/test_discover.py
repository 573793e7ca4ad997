"""``regwire sources discover`` over real HTTP on 127.0.0.1: feeds from <link rel=alternate>, sitemaps from
robots.txt, each checked once, printed as a sources entry that loads as it is."""

from __future__ import annotations

import json

from test_cli import regwire
from test_sitemaps import SEED_PAGE, SEED_TITLE, URLSET, news_url

from pipeline.demo import Response
from pipeline.fetch import Fetcher
from pipeline.sources import load_sources
from pipeline.sources.discover import discover, feed_links, robots_sitemaps


def test_discover_the_demo_site_prints_a_ready_entry(tmp_path, site):
    result = regwire("sources", "discover", site.url("/"), home=tmp_path)
    assert result.returncode == 0, result.stderr
    entry = tmp_path / "found.yaml"
    entry.write_text(result.stdout)
    (source,) = load_sources(entry)
    assert source.name == "127.0.0.1" and source.language == "en"
    assert source.feeds == [site.url(p) for p in ("/feeds/rss.xml", "/feeds/atom.xml", "/feeds/feed.json")]
    # the demo's sitemap is a plain one and the site has feeds: offered, but commented out
    assert source.sitemaps == []
    assert f'# - "{site.url("/sitemap.xml")}"    # sitemap, 13 entries' in result.stdout
    assert "RSS 'Ledger Ledger News RSS', 7 entries" in result.stdout

    data = json.loads(regwire("sources", "discover", site.url("/"), "--json", home=tmp_path).stdout)
    assert [f["label"] for f in data["feeds"]] == ["RSS", "Atom", "JSON Feed"]
    assert data["sitemaps"][0]["use"] is False and data["sitemaps"][0]["entries"] == 13


def test_news_sitemaps_are_used_and_broken_feeds_are_reported(settings, transport, site):
    page = (b'<html lang="en"><head><base href="/en/">'
            b'<link rel="alternate" type="application/rss+xml" title="Gone" href="gone.xml">'
            b'<link rel="alternate" type="application/json" href="/wp-json/wp/v2/pages/1">'
            b'<link rel="stylesheet alternate" type="text/css" href="/x.css"></head><body>hi</body></html>')
    site.route("/en/", Response(200, page, {"Content-Type": "text/html"}))
    site.route("/robots.txt", Response(200, b"User-agent: *\nDisallow: /members/\n"
                                            b"Sitemap: /news-sitemap.xml # relative, tolerated\n"
                                            b"sitemap: /members/sitemap.xml\n", {"Content-Type": "text/plain"}))
    site.route("/news-sitemap.xml", Response(200, URLSET.format(
        news_url(site.url(SEED_PAGE), "2022-09-28T09:30:00Z", SEED_TITLE)).encode()))
    with Fetcher(settings, transport=transport) as fetcher:
        found = discover(fetcher, site.url("/en/"))
    assert [(f.url, f.use) for f in found.feeds] == [(site.url("/en/gone.xml"), False)]
    assert "404" in (found.feeds[0].error or "")
    news, members = found.sitemaps
    assert (news.url, news.label, news.use, news.entries) == (site.url("/news-sitemap.xml"), "news sitemap", True, 1)
    assert not members.use and "robots.txt" in (members.error or "")
    assert "/members/sitemap.xml" not in site.paths_requested()


def test_a_site_with_nothing_to_poll_exits_1(tmp_path, empty_site):
    empty_site.route("/", Response(200, b"<html><body>no feeds here</body></html>", {"Content-Type": "text/html"}))
    result = regwire("sources", "discover", empty_site.url("/"), home=tmp_path)
    assert result.returncode == 1 and "no working feed or sitemap found" in result.stdout
    missing = regwire("sources", "discover", empty_site.url("/nothing"), home=tmp_path)
    assert missing.returncode == 1 and "404" in missing.stderr and "Traceback" not in missing.stderr


def test_link_and_robots_parsing():
    html = (b'<link rel="Alternate" type="application/atom+xml; charset=utf-8" href="//cdn.example/a.atom">'
            b'<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">')
    assert feed_links(html, "https://site.example/") == [("https://cdn.example/a.atom", "Atom", "")]
    robots = "Sitemap: https://a.example/s1.xml\nSITEMAP:https://a.example/s1.xml\nsitemap: ftp://a.example/x\n"
    assert robots_sitemaps(robots, "https://a.example/") == ["https://a.example/s1.xml"]


def test_a_feed_url_discovers_itself(settings, transport, site):
    with Fetcher(settings, transport=transport) as fetcher:
        found = discover(fetcher, site.url("/feeds/atom.xml"))
    assert [(f.url, f.use, f.entries) for f in found.feeds] == [(site.url("/feeds/atom.xml"), True, 5)]
    assert [s.url for s in found.sitemaps] == [site.url("/sitemap.xml")]  # from robots.txt, offered commented out
