"""The WebSub callback routes: hubs verify intents and push content notifications here.

    GET  /websub/{subscription}    intent verification: ``hub.challenge`` echoed for a topic and mode we asked for
    POST /websub/{subscription}    content notification: checked against the subscription's secret
                                   (``X-Hub-Signature``), then the source is ingested after the answer

Answers never say why a notification was ignored (2xx either way, as WebSub requires). Bodies are read up to the feed
size cap. ``on_notification(source, topic)`` defaults to the handler set with :func:`set_notification_handler` (the
Airflow plugin sets one that records an event on the ``regwire_feed_changes`` asset), else a direct ingest of that
source (the ``regwire serve`` path).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import PlainTextResponse, Response

from ..settings import Settings, load_settings
from ..sources.websub import accept_notification, verify_intent
from ..store.websub import SubscriptionStore

#: (source, topic) → None: what a verified notification does
Notify = Callable[[str, str], None]
_HANDLER: list[Notify] = []


def set_notification_handler(handler: Notify) -> None:
    """What notifications do in this process from now on (the Airflow plugin: an asset event, not an ingest)."""
    _HANDLER[:] = [handler]


def _ingest(settings: Settings) -> Notify:
    def run(source: str, _topic: str) -> None:
        from ..tasks.websub import ingest_notified_source

        ingest_notified_source(settings, source)
    return run


def websub_router(settings_factory: Callable[[], Settings] = load_settings,
                  on_notification: Notify | None = None) -> APIRouter:
    router = APIRouter(prefix="/websub", tags=["websub"])
    opened: dict[str, object] = {}

    def parts() -> tuple[Settings, SubscriptionStore, Notify]:
        if not opened:
            settings = settings_factory()
            opened.update(settings=settings, store=SubscriptionStore.in_home(settings.home),
                          notify=on_notification or (_HANDLER[0] if _HANDLER else _ingest(settings)))
        return opened["settings"], opened["store"], opened["notify"]  # type: ignore[return-value]

    @router.get("/{subscription_id}", include_in_schema=False)
    def verify(subscription_id: str, request: Request) -> Response:
        _settings, store, _notify = parts()
        challenge = verify_intent(store, subscription_id, dict(request.query_params), datetime.now(UTC))
        if challenge is None:
            return PlainTextResponse("unknown subscription or intent", status_code=404)
        return PlainTextResponse(challenge)

    @router.post("/{subscription_id}", include_in_schema=False)
    async def notify(subscription_id: str, request: Request, background: BackgroundTasks) -> Response:
        settings, store, run = parts()
        cap, received, chunks = settings.http.max_feed_bytes, 0, []
        async for chunk in request.stream():
            received += len(chunk)
            if received > cap:
                return PlainTextResponse("too large", status_code=413)
            chunks.append(chunk)
        subscription = accept_notification(store, subscription_id, b"".join(chunks),
                                           request.headers.get("x-hub-signature"))
        if subscription is not None:
            background.add_task(run, subscription.source, subscription.topic)
        return PlainTextResponse("", status_code=202)

    return router
