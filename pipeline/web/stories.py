"""``GET /api/stories``: the stories timeline (near-duplicate articles of several sources, clustered at ingest) as
JSON, with the filters of ``regwire stories``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

Jurisdiction = Annotated[str, Query(max_length=16, pattern=r"^[A-Za-z]{0,16}$",
                                    description="ISO code, EU or INT; empty for all")]
Day = Annotated[str, Query(max_length=10, description="YYYY-MM-DD")]


def _bound(value: str, name: str, *, end: bool = False) -> datetime | None:
    """The start (or end) of a UTC day given as YYYY-MM-DD; a bad value is a 422 naming the parameter."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise HTTPException(422, f"{name}: {value!r} is not a date (YYYY-MM-DD)") from exc
    return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)


router = APIRouter(tags=["stories"])


@router.get("/api/stories")
def api_stories(request: Request, jurisdiction: Jurisdiction = "", since: Day = "", until: Day = "",
                limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> dict[str, Any]:
    """Stories newest first, each with its article count, sources, and first and last publication time."""
    start, end = _bound(since, "since"), _bound(until, "until", end=True)
    store = request.app.state.holder.store()
    found = store.stories(jurisdiction=jurisdiction.upper() or None, since=start, until=end, limit=limit)
    return {"stories": [s.model_dump(mode="json") for s in found],
            "query": {"jurisdiction": jurisdiction.upper() or None, "since": since or None,
                      "until": until or None, "limit": limit}}
