"""Export of a whole result set (not just the page shown) as CSV or NDJSON, streamed page by page from the store."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from enum import StrEnum

from ..models import SearchHit
from ..query import SearchQuery
from ..store.base import Store
from .params import MAX_OFFSET

#: hits fetched from the store per round trip while streaming
EXPORT_BATCH = 200
#: the most hits one export carries (the engines' result window)
EXPORT_MAX = MAX_OFFSET
CSV_COLUMNS = ("id", "published", "source", "title", "url", "language", "relevance", "score", "jurisdictions",
               "topics")


class ExportFormat(StrEnum):
    CSV = "csv"
    NDJSON = "ndjson"


MEDIA_TYPES = {ExportFormat.CSV: "text/csv; charset=utf-8", ExportFormat.NDJSON: "application/x-ndjson"}


def export_hits(store: Store, query: SearchQuery) -> Iterator[SearchHit]:
    """Every hit of ``query`` (from its first result, up to :data:`EXPORT_MAX`), fetched in batches."""
    offset = 0
    while offset < EXPORT_MAX:
        batch = store.search(query.model_copy(update={"offset": offset, "limit": min(EXPORT_BATCH,
                                                                                     EXPORT_MAX - offset),
                                                      "facets": False}))
        yield from batch.hits
        offset += len(batch.hits)
        if not batch.hits or offset >= batch.total:
            return


def _csv_cell(value: str) -> str:
    """Cells that a spreadsheet would run as a formula are quoted with a leading apostrophe."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_lines(hits: Iterator[SearchHit]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for hit in hits:
        writer.writerow([
            hit.id, hit.published.isoformat() if hit.published else "", _csv_cell(hit.source), _csv_cell(hit.title),
            hit.url, hit.language or "", "" if hit.relevance is None else f"{hit.relevance:.3f}", f"{hit.score:g}",
            " ".join(hit.jurisdictions), " ".join(hit.topics),
        ])
        yield flush()


def ndjson_lines(hits: Iterator[SearchHit]) -> Iterator[str]:
    for hit in hits:
        yield json.dumps(hit.model_dump(mode="json"), ensure_ascii=False) + "\n"


def export_lines(store: Store, query: SearchQuery, fmt: ExportFormat) -> Iterator[str]:
    hits = export_hits(store, query)
    return csv_lines(hits) if fmt is ExportFormat.CSV else ndjson_lines(hits)
