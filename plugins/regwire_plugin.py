"""regwire's Airflow plugin: the news search app on the api-server, linked from the Airflow UI.

* ``fastapi_apps``: :func:`pipeline.web.create_app` mounted at ``/regwire`` (JSON API under ``/regwire/api/``),
  behind Airflow's own authentication on every route (pages, API, docs, static files): the api-server's JWT, from the
  UI's session cookie or an ``Authorization: Bearer`` header, as for Airflow's REST API. Without one the API answers
  401 and a page redirects to Airflow's login.
* WebSub: a second app at ``/regwire-websub`` (no Airflow login: hubs authenticate with the subscription's
  HMAC) turns a verified push into an event on ``regwire_feed_changes``.
* ``external_views``: a "News search" entry in the UI's Browse menu pointing at ``/regwire/``.
* ``listeners``: :class:`PollFailureListener` counts every failed ``regwire_poll`` ``source.poll`` map index per
  source, also failures the task's own metrics hook never saw (a bad sources file, a crash): a log line and the
  StatsD counter ``regwire.source.task_failed`` (tag ``source``) when metrics are on.

The store is the one the DAGs use: the ``regwire_search`` connection (Elasticsearch/OpenSearch) when it exists,
else the embedded store in ``REGWIRE_HOME``. It is opened on the first request, not at plugin load.
"""

from __future__ import annotations

import logging

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from pipeline.web import create_app
from pipeline.web.websub import set_notification_handler, websub_router

log = logging.getLogger("regwire.airflow.plugin")

URL_PREFIX = "/regwire"


def _open_backend():
    from pipeline.airflow_helper import server_search_connection
    from pipeline.settings import Settings
    from pipeline.store import open_backend

    return open_backend(Settings.from_airflow_connection(server_search_connection()))


def _airflow_user_required():
    """Airflow's dependency for "any signed-in user" (the same check its own UI endpoints use)."""
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return requires_authenticated()


def _login_redirect(request: Request) -> Response | None:
    """A page request without a valid session goes to Airflow's login page and comes back afterwards."""
    try:
        from airflow.api_fastapi.app import get_auth_manager

        login = get_auth_manager().get_url_login(next_url=str(request.url))
    except Exception:  # noqa: BLE001 - no auth manager: the plain 401 stands
        log.debug("no login URL for the redirect", exc_info=True)
        return None
    return RedirectResponse(login, status_code=307)


search_app = create_app(_open_backend, dependencies=[Depends(_airflow_user_required())],
                        unauthenticated=_login_redirect)


def _websub_event(source: str, topic: str) -> None:
    from pipeline.airflow_helper import feed_changes_event

    feed_changes_event(source, topic)


# a WebSub push received by the api-server becomes an event on regwire_feed_changes (regwire_watch ingests it)
set_notification_handler(_websub_event)
#: hubs cannot log in to Airflow: the callbacks live in their own app, authenticated by each subscription's HMAC
WEBSUB_PREFIX = "/regwire-websub"
websub_app = FastAPI(title="regwire WebSub callbacks", docs_url=None, redoc_url=None, openapi_url=None)
websub_app.include_router(websub_router())


class PollFailureListener:
    """Per-source failure counts for the poll DAG, wherever its tasks fail."""

    @hookimpl
    def on_task_instance_failed(self, previous_state, task_instance, error) -> None:
        if getattr(task_instance, "dag_id", None) != "regwire_poll" or task_instance.task_id != "source.poll":
            return
        source = getattr(task_instance, "rendered_map_index", None) or str(getattr(task_instance, "map_index", "?"))
        log.warning("regwire poll task failed for source %s (try %s): %s", source,
                    getattr(task_instance, "try_number", "?"), error)
        try:
            from airflow.sdk.observability.stats import Stats

            Stats.incr("regwire.source.task_failed", tags={"source": source})
        except Exception:  # noqa: BLE001 - metrics never fail the task's bookkeeping
            log.debug("StatsD counter not sent", exc_info=True)


class RegwirePlugin(AirflowPlugin):
    name = "regwire"
    listeners = [PollFailureListener()]
    fastapi_apps = [{"app": search_app, "url_prefix": URL_PREFIX, "name": "regwire news search"},
                    {"app": websub_app, "url_prefix": WEBSUB_PREFIX, "name": "regwire websub callbacks"}]
    external_views = [{
        "name": "News search",
        "href": URL_PREFIX + "/",
        "destination": "nav",
        "category": "browse",
        "url_route": "regwire_search",
    }]
