"""Sitemaps as sources over real HTTP on 127.0.0.1: news sitemaps, plain sitemaps, indexes, the window, robots,
conditional GET and hostile documents."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from test_pipeline import Clock, make_context

from pipeline import FeedStatus, SearchQuery, Source
from pipeline.demo import Response
from pipeline.errors import FeedParseError
from pipeline.sources.sitemaps import inflate, parse_sitemap, parse_w3c_datetime
from pipeline.store import SQLiteStore
from pipeline.tasks import poll_source, recheck_suspended

SEED_PAGE = "/news/kazakhstan-crypto-cash-conversion.html"
SEED_TITLE = "Kazakhstan ready to legalize crypto-to-cash conversion, says president"
URLSET = ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
          ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{}</urlset>')
INDEX = ('<?xml version="1.0" encoding="UTF-8"?>\n'
         '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</sitemapindex>')


def news_url(loc: str, published: str, title: str) -> str:
    return (f"<url><loc>{loc}</loc><news:news><news:publication><news:name>Ledger Ledger News</news:name>"
            f"<news:language>en</news:language></news:publication><news:publication_date>{published}"
            f"</news:publication_date><news:title>{title}</news:title></news:news></url>")


def plain_url(loc: str, lastmod: str | None = None) -> str:
    return f"<url><loc>{loc}</loc>" + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "") + "</url>"


def conditional(body: str, content_type: str = "application/xml"):
    """A route that answers If-None-Match with 304, as a well-behaved server does."""
    data = body.encode()
    etag = '"' + hashlib.sha1(data).hexdigest()[:12] + '"'

    def handler(request):
        if request.headers.get("If-None-Match") == etag:
            return Response(304, b"", {"ETag": etag})
        return Response(200, data, {"Content-Type": content_type, "ETag": etag})

    return handler


@pytest.fixture
def store(settings):
    with SQLiteStore(settings.db_path) as s:
        yield s


def seed_clock() -> Clock:
    clock = Clock()
    clock.now = datetime(2022, 9, 29, 12, tzinfo=UTC)  # the day after the seed article
    return clock


def test_a_source_with_only_a_news_sitemap_makes_the_seed_article_searchable(settings, store, transport, site):
    body = URLSET.format(
        news_url(site.url(SEED_PAGE), "2022-09-28T09:30:00Z", SEED_TITLE)
        # outside the 2-day window: part of the archive, never fetched
        + news_url(site.url("/news/india-crypto-tds-takes-effect.html"), "2022-07-01T12:00:00+05:30", "TDS")
        # undated: a sitemap cannot say whether it is new, so it is not fetched either
        + plain_url(site.url("/news/kazakhstan-crypto-mining-electricity-tax.html")))
    site.route("/news-sitemap.xml", conditional(body))
    source = Source(name="ledger-news-sitemap", sitemaps=[site.url("/news-sitemap.xml")])
    assert source.feeds == []
    ctx = make_context(settings, store, transport, seed_clock())

    report = poll_source(ctx, source)

    assert report.ok and report.new == 1, report.errors
    hit = store.search(SearchQuery(q="Kazakhstan")).hits[0]
    article = store.get_article(hit.id)
    assert article.title == SEED_TITLE and article.source == "ledger-news-sitemap"
    assert article.published == datetime(2022, 9, 28, 9, 30, tzinfo=UTC) == hit.published
    requested = site.paths_requested()
    assert SEED_PAGE in requested and "/robots.txt" in requested  # the sitemap and its pages obey robots.txt
    assert not any("india" in p or "mining" in p for p in requested)

    # the next poll is a conditional GET: 304, nothing fetched or written
    before = len(site.requests)
    again = poll_source(ctx, source, force=True)
    assert again.not_modified == 1 and again.new == 0
    assert [p for _m, p, _h in site.requests[before:]] == ["/news-sitemap.xml"]
    assert "If-None-Match" in site.requests[-1][2]


def test_the_window_is_settable_per_source_and_globally(settings, store, transport, site):
    old = news_url(site.url(SEED_PAGE), "2022-09-28T09:30:00Z", SEED_TITLE)
    site.route("/news-sitemap.xml", conditional(URLSET.format(old)))
    clock = seed_clock()
    clock.now += timedelta(days=10)  # the entry is ten days old now
    url = site.url("/news-sitemap.xml")
    ctx = make_context(settings, store, transport, clock)
    assert poll_source(ctx, Source(name="narrow", sitemaps=[url])).new == 0  # default window: 2 days
    assert SEED_PAGE not in site.paths_requested()

    wide = Source(name="wide", sitemaps=[url], sitemap_window=14 * 86400)
    store.save_feed_state(store.get_feed_state(url).model_copy(update={"etag": None}))
    assert poll_source(ctx, wide, force=True).new == 1

    with SQLiteStore(settings.db_path.with_name("other.db")) as other:
        globally = make_context(settings.replace(sitemap_window=14 * 86400), other, transport, clock)
        assert poll_source(globally, Source(name="narrow", sitemaps=[url])).new == 1


def test_a_sitemap_index_reads_recent_children_once(settings, store, transport, site):
    site.route("/sitemap-recent.xml", conditional(URLSET.format(
        plain_url(site.url(SEED_PAGE), "2022-09-28T10:30:00+01:00"))))
    site.route("/sitemap-2021.xml", conditional(URLSET.format(
        plain_url(site.url("/news/india-crypto-tds-takes-effect.html"), "2021-07-01"))))
    site.route("/sitemap-broken.xml", Response(200, b"<html>not a sitemap</html>", {"Content-Type": "text/html"}))
    children = [("/sitemap-recent.xml", "2022-09-28T10:30:00+01:00"), ("/sitemap-2021.xml", "2021-12-31"),
                ("/sitemap-broken.xml", "2022-09-29")]
    def index(listed):
        return conditional(INDEX.format("".join(f"<sitemap><loc>{site.url(p)}</loc><lastmod>{m}</lastmod></sitemap>"
                                                for p, m in listed)))

    site.route("/sitemap-index.xml", index(children))
    source = Source(name="indexed", sitemaps=[site.url("/sitemap-index.xml")])
    ctx = make_context(settings, store, transport, seed_clock())

    report = poll_source(ctx, source)
    assert report.new == 1 and report.item_errors == 1
    assert "sitemap-broken.xml" in report.errors[0] and "not a sitemap" in report.errors[0]
    assert "/sitemap-2021.xml" not in site.paths_requested()  # the index dates it before the window
    state = store.get_feed_state(source.sitemaps[0])
    assert state.etag is None  # a child failed: nothing is marked read, the next poll tries again

    site.route("/sitemap-broken.xml", conditional(URLSET.format("")))
    poll_source(ctx, source, force=True)
    state = store.get_feed_state(source.sitemaps[0])
    assert set(state.sitemap_children) == {site.url("/sitemap-recent.xml"), site.url("/sitemap-broken.xml")}

    # the index changes (a new, old child), its listed children do not: only the index is fetched
    site.route("/sitemap-index.xml", index([*children, ("/sitemap-2020.xml", "2020-01-01")]))
    before = len(site.requests)
    assert poll_source(ctx, source, force=True).ok
    assert [p for _m, p, _h in site.requests[before:]] == ["/sitemap-index.xml"]


def test_robots_txt_forbids_a_sitemap(settings, store, transport, site):
    site.route("/members/sitemap.xml", conditional(URLSET.format("")))
    source = Source(name="members", sitemaps=[site.url("/members/sitemap.xml")])
    ctx = make_context(settings, store, transport, seed_clock())
    report = poll_source(ctx, source)
    assert report.failed == 1 and "robots.txt" in report.errors[0]
    state = store.get_feed_state(source.sitemaps[0])
    assert state.document == "sitemap"
    # maintenance's re-check of a suspended sitemap obeys robots.txt too
    store.save_feed_state(state.model_copy(update={"status": FeedStatus.SUSPENDED}))
    (rechecked,) = recheck_suspended(ctx, ctx.clock())
    assert not rechecked["recovered"] and "robots.txt" in rechecked["error"]
    assert "/members/sitemap.xml" not in site.paths_requested()


def test_gzip_sitemaps_inflate_within_the_cap(settings, store, transport, site):
    body = URLSET.format(news_url(site.url(SEED_PAGE), "2022-09-28T09:30:00Z", SEED_TITLE)).encode()
    site.route("/sitemap.xml.gz", Response(200, gzip.compress(body), {"Content-Type": "application/gzip"}))
    source = Source(name="gz", sitemaps=[site.url("/sitemap.xml.gz")])
    assert poll_source(make_context(settings, store, transport, seed_clock()), source).new == 1

    bomb = gzip.compress(b"<urlset>" + b" " * 5_000_000 + b"</urlset>")
    assert len(bomb) < 10_000
    with pytest.raises(FeedParseError, match="inflates beyond the 1048576-byte cap"):
        inflate(bomb, "https://x/s.xml.gz", 1024 * 1024)


@pytest.mark.parametrize("body, message", [
    (b"<html><body>hello</body></html>", "root element <html>"),
    (b"<urlset><url><loc>https://a/</loc>", "invalid XML"),
    (b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY a "aaaa">]><urlset>&a;</urlset>', "XML entities"),
])
def test_bad_sitemaps_name_the_sitemap(body, message):
    with pytest.raises(FeedParseError, match=message) as info:
        parse_sitemap(body, "https://news.example/sitemap.xml")
    assert "https://news.example/sitemap.xml" in str(info.value)


def test_entries_without_a_usable_loc_or_date_are_skipped_not_fatal():
    doc = URLSET.format(plain_url("/relative", "2024-01-01") + plain_url("https://a.example/x", "yesterday")
                        + plain_url("https://a.example/y", "2024-05-02"))
    sitemap = parse_sitemap(doc.encode(), "https://a.example/sitemap.xml")
    assert [(e.loc, e.lastmod) for e in sitemap.entries] == [
        ("https://a.example/x", None), ("https://a.example/y", datetime(2024, 5, 2, tzinfo=UTC))]
    assert parse_w3c_datetime("2024-05-02T08:00+02:00") == datetime(2024, 5, 2, 6, tzinfo=UTC)


def test_cli_run_over_sitemap_sources_and_search_by_kind(tmp_path, site):
    from test_cli import regwire

    now = datetime.now(UTC)
    mica = "/news/eu-mica-casp-licensing-esma-guidance.html"
    site.route("/regulator-sitemap.xml", conditional(URLSET.format(
        news_url(site.url(SEED_PAGE), (now - timedelta(hours=1)).isoformat(), SEED_TITLE))))
    site.route("/outlet-sitemap.xml", conditional(URLSET.format(
        plain_url(site.url(mica), (now - timedelta(hours=2)).isoformat()))))
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n"
                       f"  - name: a-regulator\n    kind: regulator\n    sitemaps: ['{site.url('/regulator-sitemap.xml')}']\n"
                       f"  - name: a-desk\n    kind: outlet\n    sitemaps: ['{site.url('/outlet-sitemap.xml')}']\n")
    env = {"REGWIRE_SOURCES": str(sources)}
    run = regwire("run", "--once", "--json", home=tmp_path, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert {r["source"]: r["new"] for r in json.loads(run.stdout)["sources"]} == {"a-regulator": 1, "a-desk": 1}

    def titles(*args: str) -> list[str]:
        result = regwire("search", "--json", *args, home=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        return [h["title"] for h in json.loads(result.stdout)["hits"]]

    assert titles("--kind", "regulator") == [SEED_TITLE]
    assert len(titles("--kind", "outlet")) == 1 and SEED_TITLE not in titles("--kind", "outlet")
    assert len(titles()) == 2
    missing = regwire("search", "--kind", "standard-setter", home=tmp_path, env=env)
    assert missing.returncode == 2 and "no source of kind 'standard-setter'" in missing.stderr
    listed = json.loads(regwire("sources", "list", "--json", home=tmp_path, env=env).stdout)
    assert {r["type"] for r in listed} == {"sitemap"} and all(r["status"] == "active" for r in listed)
    checked = regwire("sources", "check", "--json", home=tmp_path, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert [(r["source"], r["ok"], r["items"]) for r in json.loads(checked.stdout)["feeds"]] == [
        ("a-regulator", True, 1), ("a-desk", True, 1)]


def test_the_address_guard_and_byte_cap_hold_for_sitemaps(settings, store, transport, site):
    """Entries and children pointing at metadata or private addresses are refused by the guard (the loopback-only
    test transport would fail the test if anything got past it); an oversized sitemap fails its feed."""
    recent = "2022-09-29T08:00:00Z"
    site.route("/hostile-index.xml", conditional(INDEX.format(
        f"<sitemap><loc>http://169.254.169.254/latest/meta-data/sitemap.xml</loc><lastmod>{recent}</lastmod></sitemap>"
        f"<sitemap><loc>{site.url('/inner.xml')}</loc><lastmod>{recent}</lastmod></sitemap>")))
    site.route("/inner.xml", conditional(URLSET.format(plain_url("http://10.0.0.7/admin", recent))))
    ctx = make_context(settings, store, transport, seed_clock())
    report = poll_source(ctx, Source(name="hostile", sitemaps=[site.url("/hostile-index.xml")]))
    assert report.item_errors == 2 and report.new == 0
    # the guard refuses the address before robots.txt is asked: a guard refusal, not a robots verdict
    assert report.errors[0].startswith("http://169.254.169.254/") and "blocked by the address guard" in report.errors[0]
    assert "http://10.0.0.7/admin" in report.errors[1] and "blocked by the address guard" in report.errors[1]
    # with robots.txt ignored, the address guard itself refuses them
    reckless = make_context(settings.replace(obey_robots=False), store, transport, seed_clock())
    report = poll_source(reckless, Source(name="hostile", sitemaps=[site.url("/hostile-index.xml")]), force=True)
    assert report.item_errors == 2 and all("refused" in e for e in report.errors), report.errors
    assert transport.refused == []

    huge = URLSET.format(plain_url(site.url(SEED_PAGE), recent) * 400)
    assert len(huge) > 20_000
    site.route("/huge.xml", conditional(huge))
    capped = make_context(settings.replace(max_feed_bytes=16_384), store, transport, seed_clock())
    report = poll_source(capped, Source(name="huge", sitemaps=[site.url("/huge.xml")]))
    assert report.failed == 1 and "exceeds the 16384-byte cap" in report.errors[0]
