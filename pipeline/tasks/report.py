"""What one poll of one source did: counts, errors and the ids it changed, ready for JSON (XCom, ``--json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SourceReport:
    source: str
    polled: int = 0
    not_modified: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0  #: feeds that failed
    item_errors: int = 0  #: articles that could not be fetched or extracted (and had no feed text to fall back on)
    skipped: int = 0  #: feeds not due
    #: feeds not polled because they are backing off after errors, suspended or disabled: "feed: why"
    backing_off: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)
    #: articles skipped this poll for a transient reason (canonical URL → why), retried on later polls
    retry: dict[str, str] = field(default_factory=dict)
    #: a feed failed for a reason a retry may cure (a 503, a timeout), as opposed to a permanent one (a 404, a refusal)
    transient_failure: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "polled": self.polled, "not_modified": self.not_modified, "new": self.new,
            "updated": self.updated, "unchanged": self.unchanged, "failed": self.failed,
            "article_errors": self.item_errors, "skipped": self.skipped, "backing_off": list(self.backing_off),
            "errors": list(self.errors), "changed_ids": list(self.changed_ids),
            "transient_failure": self.transient_failure, "seconds": round(self.seconds, 3),
        }
