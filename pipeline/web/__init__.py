"""The analysts' search: a JSON API and a server-rendered HTML page over any :class:`~pipeline.store.base.Store`.

    create_app(backend_factory, allowed_hosts=None, dependencies=()) -> FastAPI

    GET  /                      search page: query, filters (topic, jurisdiction, source, language, entity, relevance,
                                dates), sort, date histogram (SVG), facet counts, pages, export links, save as alert
    GET  /articles/{id}         article: tags, text with the query's terms marked, evidence folded away
    POST /alerts                "save as alert" form (same definition and checks as ``regwire alerts add``)
    GET  /api/search            SearchResult as JSON (?q=&topic=&jurisdiction=&source=&language=&entity=&since=&until=
                                &min_relevance=&sort=&limit=&offset=)
    GET  /api/export.{csv,ndjson}  the whole result set, streamed
    POST /api/alerts            alert on the search in the query string (JSON body: name, owner, channels, mode)
    GET  /api/articles/{id}     StoredArticle as JSON
    GET  /api/health            {"status": "ok", "articles": n}
    GET  /api/docs, /api/openapi.json   Swagger UI (assets served locally) and the OpenAPI document

Every parameter round-trips through the URL (permalinks). The same app is served by Airflow's api-server
(``plugins/regwire_plugin.py``, under ``/regwire``, behind Airflow's login) and standalone by ``regwire serve`` (Host
allow-list). Every link is built from the request's ``root_path`` so it works under any mount prefix. HTML output is
autoescaped, no page runs inline script (Content-Security-Policy), and a store that cannot be read answers 503 with
the reason.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
