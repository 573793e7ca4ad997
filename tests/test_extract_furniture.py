"""Link furniture inside article bodies ("Related: <headline>", link lists, newsletter boxes) stays out of the stored
text: real trafilatura on the bundled demo site over real HTTP on 127.0.0.1, and on small pages with each shape."""

from __future__ import annotations

import re

from test_alerts_seed import run_demo

from pipeline.extract import extract_article
from pipeline.extract.article import body_text
from pipeline.store import SQLiteStore

#: a line that points at another story, as the issue describes them
FURNITURE_LINE = re.compile(r"^\s*(related|read more|see also|also read|read also)\b\s*[:\-–—]", re.IGNORECASE | re.M)

PROSE = ("<p>The Central Bank of Atlantis said on Tuesday that licensed exchanges must report every transfer above "
         "1,000 dollars to its financial intelligence unit from next year, extending rules that already apply to "
         "banks and payment firms operating in the country.</p>"
         "<p>More than forty firms hold a licence today. The regulator said it would publish a list of the firms "
         "that had applied, and that unlicensed platforms would be blocked by internet providers within weeks.</p>"
         "<p>Officials said the measure follows a consultation that ran for three months last year, in which "
         "exchanges argued for a higher threshold and a longer transition period for smaller platforms.</p>")


def page(body: str) -> str:
    return (f"<html><head><title>Atlantis tightens exchange reporting</title></head><body><article>"
            f"<h1>Atlantis tightens exchange reporting</h1>{body}</article></body></html>")


def test_no_demo_page_keeps_a_related_line_in_its_stored_text(settings, transport, site):
    with SQLiteStore(settings.db_path) as store:
        ids = run_demo(settings, store, transport, site)
        stored = [store.get_article(i) for i in ids]
    texts = {a.canonical_url: a.text for a in stored}
    related = {a.canonical_url.rsplit("/", 1)[1]: [link.title for link in a.related_links] for a in stored}
    assert related["india-crypto-tds-takes-effect.html"] == [
        "Kazakhstan to tie crypto mining tax to electricity prices from 2023"]  # kept apart, with its link
    assert len(texts) == 13
    assert {url: FURNITURE_LINE.findall(text) for url, text in texts.items() if FURNITURE_LINE.search(text)} == {}
    india = next(t for u, t in texts.items() if u.endswith("india-crypto-tds-takes-effect.html"))
    assert "Kazakhstan" not in india and "Central Board of Direct Taxes" in india  # the story itself is whole
    crestline = next(t for u, t in texts.items() if u.endswith("sec-sues-crestline-exchange.html"))
    assert "MAS" not in crestline and "Singapore" not in crestline


def test_related_lines_with_a_link_or_a_bare_headline_are_dropped_and_kept_apart():
    first, rest = PROSE.split("</p>", 1)
    html = page(first + '</p><p>Related: <a href="https://news.example/kz">Kazakhstan to tie crypto mining tax to '
                "electricity prices</a></p>" + rest +
                "<p>READ MORE - Dubai's VARA fines seven firms over marketing</p>")
    doc_text, related = _body(html)
    assert "Kazakhstan" not in doc_text and "VARA" not in doc_text
    assert "More than forty firms hold a licence today." in doc_text  # "More than" is prose, not a lead-in
    assert [(r.title, r.url) for r in related] == [
        ("Kazakhstan to tie crypto mining tax to electricity prices", "https://news.example/kz"),
        ("Dubai's VARA fines seven firms over marketing", None)]
    assert "Kazakhstan" not in extract_article(html, "https://news.example/atlantis").text


def test_link_lists_and_newsletter_boxes_are_dropped_but_prose_lists_stay():
    links = "".join(f'<li><a href="https://news.example/{i}">Another headline number {i} about markets</a></li>'
                    for i in range(4))
    prose_list = ("<ul><li>Exchanges must report transfers above 1,000 dollars.</li>"
                  "<li>Payment firms get six more months to comply.</li></ul>")
    html = page(PROSE + f"<h2>Related articles</h2><ul>{links}</ul>" + prose_list +
                "<p>Sign up for The Daily Ledger: the top crypto regulation stories in your inbox every morning.</p>")
    text, related = _body(html)
    assert "Another headline" not in text and "Related articles" not in text and "Daily Ledger" not in text
    assert "Payment firms get six more months to comply." in text
    assert [r.url for r in related][:4] == [f"https://news.example/{i}" for i in range(4)]


def test_a_long_paragraph_that_starts_like_a_lead_in_is_prose():
    sentence = ("Watch: the regulator said it will publish the list of applicants next month. It added that firms "
                "operating without a licence after the deadline will face fines of up to five million dollars, and "
                "that their bank accounts may be frozen while investigations proceed.")
    text, related = _body(page(PROSE + f"<p>{sentence}</p>"))
    assert "fines of up to five million dollars" in text and related == []


def _body(html: str):
    from trafilatura import bare_extraction

    doc = bare_extraction(html, url="https://news.example/atlantis", with_metadata=True, include_links=True)
    return body_text(doc)


def test_feed_content_loses_its_related_lines_too():
    from pipeline.sources import html_to_text

    content = (PROSE + '<p>Related: <a href="https://news.example/kz">Kazakhstan to tie crypto mining tax to electricity '
               "prices</a></p><h3>More stories</h3><ul>"
               + "".join(f'<li><a href="https://news.example/{i}">Headline {i}</a></li>' for i in range(3)) + "</ul>")
    text = html_to_text(content)
    assert "Kazakhstan" not in text and "Headline" not in text and "More stories" not in text
    assert text.splitlines()[0].startswith("The Central Bank of Atlantis said on Tuesday")
    assert "More than forty firms hold a licence today." in text
