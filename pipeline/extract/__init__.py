"""The extract stage: an article's text and metadata from its page, with trafilatura.

    extract_article(html, url)     one page → :class:`~pipeline.models.Article`
    reconcile_dates(page, feed)    the page's date, with the feed's time of day when both name the same day

:mod:`pipeline.extract.furniture` takes link furniture ("Related: <headline>" lines, link lists, newsletter boxes)
out of trafilatura's XML body before the text is made.

:mod:`pipeline.extract.evaluation` holds the article-extraction-benchmark's metric, shared by the regression gate in
the tests and ``bench/bench_extraction.py``.
"""

from .article import extract_article, page_date, reconcile_dates

__all__ = ["extract_article", "page_date", "reconcile_dates"]
