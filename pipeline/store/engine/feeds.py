"""Feed state (ETag, error counters, next poll) in ``<prefix>-feeds``, one document per feed URL."""

from __future__ import annotations

import hashlib

from ...errors import SearchEngineRequestError
from ...models import FeedState
from .clients import EngineSession


def feed_doc_id(feed_url: str) -> str:
    return hashlib.blake2b(feed_url.encode("utf-8"), digest_size=16).hexdigest()


class FeedStates:
    def __init__(self, session: EngineSession):
        self.session = session

    def get(self, feed_url: str) -> FeedState | None:
        try:
            doc = self.session.req("GET", f"/{self.session.names.feeds}/_doc/{feed_doc_id(feed_url)}")
        except SearchEngineRequestError as exc:
            if exc.status == 404:
                return None
            raise
        return FeedState.model_validate(doc["_source"]["state"]) if doc.get("found") else None

    def save(self, state: FeedState) -> None:
        self.session.req("PUT", f"/{self.session.names.feeds}/_doc/{feed_doc_id(state.feed_url)}",
                         {"feed_url": state.feed_url, "source": state.source, "state": state.model_dump(mode="json")},
                         **self.session.refresh_param())

    def all(self) -> list[FeedState]:
        return [FeedState.model_validate(h["_source"]["state"])
                for h in self.session.scan(self.session.names.feeds, {"match_all": {}},
                                           [{"source": "asc"}, {"feed_url": "asc"}], ["state"])]
