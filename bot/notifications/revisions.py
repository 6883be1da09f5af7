"""One compact document per incident revision the experts sent, for the service report.

Written in the same unit of work as the incident document (``tenants/{t}/incident-revisions/
{incident}/{revision:010d}``), so the report's SQL aggregates read one small row per revision
instead of the incident documents. A revision that arrives after a later one (and is ignored
for the channel) is still recorded: it is part of the incident's timeline.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bot.notifications.model import Notification

JSON = dict[str, Any]
_FRACTION = re.compile(r"\.(\d{6})\d+")
MAX_LIST = 50


def revisions_prefix(tenant_id: str) -> str:
    return f"tenants/{tenant_id.lower()}/incident-revisions/"


def revision_key(tenant_id: str, incident_id: str, revision: int) -> str:
    return f"{revisions_prefix(tenant_id)}{incident_id}/{revision:010d}"


def epoch(value: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (up to 7 fractional digits, as Graph)."""
    try:
        when = datetime.fromisoformat(_FRACTION.sub(r".\1", value.replace("Z", "+00:00")))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _distinct(values: list[Any]) -> list[str]:
    seen = dict.fromkeys(str(v) for v in values if isinstance(v, str) and v)
    return list(seen)[:MAX_LIST]


def revision_record(n: Notification, received_at: float) -> JSON:
    alerts = [a for a in (n.raw.get("incident") or {}).get("alerts") or [] if isinstance(a, dict)]
    created = epoch(n.created)
    updated = epoch(n.last_update)
    return {
        "incidentId": n.incident_id,
        "revision": n.revision,
        "title": n.display_name[:200],
        "status": n.status,
        "severity": n.severity,
        "classification": n.classification or "unknown",
        "determination": n.determination or "unknown",
        "created": n.created,
        "createdTs": created if created is not None else received_at,
        "updatedTs": updated if updated is not None else received_at,
        "receivedTs": received_at,
        "sources": _distinct([a.get("serviceSource") for a in alerts]),
        "tactics": _distinct([a.get("category") for a in alerts]),
        "devices": _distinct([d.name or d.id for d in n.devices]),
        "users": _distinct([u.name or u.id for u in n.users]),
        "pending": [a.id for a in n.pending][:MAX_LIST],
        "completed": {a.id: a.status for a in n.completed[:MAX_LIST]},
    }
