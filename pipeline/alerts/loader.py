"""Alert definitions from YAML, for ops who keep alerts in git::

    alerts:
      - name: Kazakhstan fiat-ramp
        owner: compliance-desk
        q: Kazakhstan
        topics: [fiat-ramp]
        channels:
          - "mmost://mattermost.internal/${MATTERMOST_HOOK}"
          - "mailtos://${SMTP_USER}:${SMTP_PASSWORD}@smtp.example.org?to=desk@example.org"
        mode: immediate        # or hourly / daily
        updates: false         # re-alert when a sent article changes

The file is read by :func:`pipeline.yamlfile.load_yaml` (UTF-8, no duplicate keys, bounded nesting). Every definition
is checked before any is returned; the first bad one is refused with the file, the alert and the
field in the message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import AlertDefinitionError
from ..yamlfile import load_yaml
from .models import Alert

if TYPE_CHECKING:
    from .store import AlertStore


def alert_from_dict(data: Any, *, path: str | None = None, index: int | None = None) -> Alert:
    """Validate one definition; raises :class:`AlertDefinitionError` naming the field."""
    name = data.get("name") if isinstance(data, dict) else None
    label = str(name) if name else (f"#{index + 1}" if index is not None else None)
    if not isinstance(data, dict):
        raise AlertDefinitionError("an alert must be a mapping of fields", path=path, alert=label)
    try:
        return Alert.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise AlertDefinitionError(message + more, path=path, alert=label, field=field) from exc


def add_alert(store: AlertStore, data: Any, *, replace: bool = False,
              now: datetime | None = None) -> tuple[Alert, bool]:
    """Validate and store one definition (``regwire alerts add`` and the search page's "save as alert").

    Returns the alert and whether it is new. A definition is refused (:class:`AlertDefinitionError`) when it is
    invalid (channels are checked, secrets must be ``${ENV}`` references) or, unless ``replace``, its name is taken.
    """
    alert = alert_from_dict(data)
    if not replace and any(a.name == alert.name for a in store.list_alerts()):
        raise AlertDefinitionError("an alert of this name exists already (use --replace to overwrite it)",
                                   alert=alert.name, field="name")
    return alert, store.save_alert(alert, now or datetime.now(UTC))


def load_alerts(path: str | Path) -> list[Alert]:
    """Every alert of a YAML file (``alerts:`` list, or a bare list); names must be unique."""
    path = Path(path)
    where = str(path)
    raw = load_yaml(path, lambda message: AlertDefinitionError(message, path=where))
    items = raw.get("alerts") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise AlertDefinitionError("expected a list under 'alerts:'", path=where)
    alerts = [alert_from_dict(item, path=where, index=i) for i, item in enumerate(items)]
    seen: set[str] = set()
    for alert in alerts:
        if alert.name in seen:
            raise AlertDefinitionError("defined twice", path=where, alert=alert.name, field="name")
        seen.add(alert.name)
    return alerts
