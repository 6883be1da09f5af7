"""View models of the incident card, and the verbs of its Universal Actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cards.views import Notice

ACTION_COMPLETE = "incident.action.complete"
ACTION_SKIP = "incident.action.skip"
ACKNOWLEDGE = "incident.acknowledge"
VERB_PREFIX = "incident."

Severity = Literal["informational", "low", "medium", "high"]
PendingState = Literal["pending", "completed", "skipped"]


@dataclass(frozen=True)
class CompletedRow:
    """A response action the experts took."""

    label: str
    target: str
    status: str
    status_label: str
    when: str = ""


@dataclass(frozen=True)
class PendingRow:
    """A response action the customer is asked to take, and what they answered."""

    id: str
    label: str
    target: str
    instructions: str
    state: PendingState = "pending"
    by: str = ""
    when: str = ""


@dataclass(frozen=True)
class IncidentView:
    incident_id: str
    revision: int
    title: str
    severity: Severity
    severity_label: str
    status_label: str
    assigned_to: str
    classification: str
    determination: str
    devices: tuple[str, ...]
    users: tuple[str, ...]
    summary: str
    analyst: str
    completed: tuple[CompletedRow, ...]
    pending: tuple[PendingRow, ...]
    web_url: str
    updated: str
    acknowledged_by: str = ""
    acknowledged_when: str = ""
    notice: Notice | None = None
