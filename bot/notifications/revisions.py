"""The report's record of each incident, kept up to date with every revision the experts send.

One document per incident (``tenants/{t}/incident-reports/{incident}``), written in the same
unit of work as the incident document. It keeps the incident's timeline (revision, status, time
of the update, actions asked) ordered by revision number, so a revision that arrives after a
later one still falls into place, and the figures the report aggregates: the latest revision's
fields, whether the customer's help was needed, and the time to resolve split into the experts'
time and the customer's (see :func:`measure`). The report then runs SQL aggregates over one row
per incident (:mod:`bot.storage.sqlite_report`).
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

from bot.notifications.model import Notification

JSON = dict[str, Any]
_FRACTION = re.compile(r"\.(\d{6})\d+")
MAX_LIST = 50
MAX_TIMELINE = 1000
"""Revisions kept per incident; beyond that the oldest are dropped (their time is then counted
from the first revision kept)."""
AWAITING = "awaitingAction"
RESOLVED = "resolved"


def reports_prefix(tenant_id: str) -> str:
    return f"tenants/{tenant_id.lower()}/incident-reports/"


def report_key(tenant_id: str, incident_id: str) -> str:
    return f"{reports_prefix(tenant_id)}{incident_id}"


def epoch(value: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (up to 7 fractional digits, as Graph)."""
    try:
        # Python 3.11 reads "Z" and a 7th fractional digit itself (truncated, as below): this
        # is the common case, in a microsecond instead of the rewriting's twenty.
        when = datetime.fromisoformat(value)
    except ValueError:
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


def measure(timeline: list[list[Any]], created: float) -> JSON:
    """The figures of one incident from its timeline ``[[revision, status, updated, asked]]``
    (ordered by revision):

    * the status is the latest revision's;
    * the customer's help was needed if some revision was ``awaitingAction`` or asked for an
      action;
    * time to resolve: from creation to the first revision, then each interval between
      consecutive revisions by the status of the earlier one: ``awaitingAction`` is the
      customer's time, ``resolved`` doesn't count (an incident resolved, then reopened),
      anything else is the experts' time.
    """
    experts = max(0.0, timeline[0][2] - created) if timeline else 0.0
    customer = 0.0
    for (_, status, at, _), (_, _, after, _) in itertools.pairwise(timeline):
        span = max(0.0, after - at)
        if status == AWAITING:
            customer += span
        elif status != RESOLVED:
            experts += span
    last = timeline[-1] if timeline else [0, "", created, 0]
    return {
        "status": last[1],
        "lastTs": last[2],
        "helped": any(status == AWAITING or asked for _, status, _, asked in timeline),
        "expertsSeconds": experts,
        "customerSeconds": customer,
    }


def fold(record: JSON | None, n: Notification, received_at: float) -> JSON | None:
    """The incident's record with revision ``n`` added; None if it already has that revision."""
    timeline: list[list[Any]] = [list(e) for e in (record or {}).get("timeline", [])]
    if any(e[0] == n.revision for e in timeline):
        return None
    updated = epoch(n.last_update)
    timeline.append(
        [n.revision, n.status, updated if updated is not None else received_at, len(n.pending)]
    )
    timeline.sort(key=lambda e: int(e[0]))
    timeline = timeline[-MAX_TIMELINE:]
    asked = _distinct([*(record or {}).get("asked", []), *(a.id for a in n.pending)])
    if record is not None and timeline[-1][0] != n.revision:
        latest = {k: record[k] for k in _LATEST if k in record}  # an older revision, late
    else:
        alerts = [
            a for a in (n.raw.get("incident") or {}).get("alerts") or [] if isinstance(a, dict)
        ]
        latest = {
            "title": n.display_name[:200],
            "severity": n.severity,
            "classification": n.classification or "unknown",
            "determination": n.determination or "unknown",
            "sources": _distinct([a.get("serviceSource") for a in alerts]),
            "tactics": _distinct([a.get("category") for a in alerts]),
            "devices": _distinct([d.name or d.id for d in n.devices]),
            "users": _distinct([u.name or u.id for u in n.users]),
            "pending": [a.id for a in n.pending][:MAX_LIST],
            "completed": {a.id: a.status for a in n.completed[:MAX_LIST]},
        }
    created = (record or {}).get("createdTs")
    if created is None:
        created = epoch(n.created)
    created = float(created if created is not None else received_at)
    return {
        "incidentId": n.incident_id,
        "createdTs": created,
        **latest,
        "asked": asked,
        **measure(timeline, created),
        "timeline": timeline,
    }


_LATEST = (
    "title",
    "severity",
    "classification",
    "determination",
    "sources",
    "tactics",
    "devices",
    "users",
    "pending",
    "completed",
)
