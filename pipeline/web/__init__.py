"""The analysts' search: a JSON API and a server-rendered HTML page over any :class:`~pipeline.store.base.Store`.

    create_app(store_factory) -> FastAPI

    GET /                     search page: query box, topic/jurisdiction/source/date filters, facet counts, results
    GET /articles/{id}        article detail: text, tags and the evidence (matched phrases in context)
    GET /api/search           SearchResult as JSON (?q=&topic=&jurisdiction=&source=&language=&since=&until=&sort=;
                              include_mentions=true widens jurisdiction= to mentions)
    GET /api/articles/{id}    StoredArticle as JSON
    GET /api/health           {"status": "ok", "articles": n}

The same app is served by Airflow's api-server (``plugins/regwire_plugin.py``, under ``/regwire``) and standalone by
``regwire serve``. Every link is built from the request's ``root_path`` so it works under any mount prefix. HTML output
is autoescaped; the store's snippets (HTML-safe with ``<mark>``) are re-escaped except for ``<mark>`` itself.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
