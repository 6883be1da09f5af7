"""From a notification and the incident's stored answers to the card view and the thread reply."""

from __future__ import annotations

from typing import Any

from bot.notifications.model import (
    CLASSIFICATION_LABELS,
    COMPLETED_STATUS_LABELS,
    DETERMINATION_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    Notification,
)
from cards.common import to_json
from cards.incident import incident_card, md
from cards.incident_views import CompletedRow, IncidentView, PendingRow, PendingState, Severity
from cards.text import when
from cards.views import Notice

JSON = dict[str, Any]


def _severity(value: str) -> Severity:
    if value == "high":
        return "high"
    if value == "medium":
        return "medium"
    if value == "low":
        return "low"
    return "informational"


def incident_view(n: Notification, doc: JSON, notice: Notice | None = None) -> IncidentView:
    responses: dict[str, Any] = doc.get("responses") or {}
    pending: list[PendingRow] = []
    for action in n.pending:
        answer = responses.get(action.id)
        if isinstance(answer, dict) and answer.get("state") in ("completed", "skipped"):
            state: PendingState = "completed" if answer["state"] == "completed" else "skipped"
            pending.append(
                PendingRow(
                    id=action.id,
                    label=action.label,
                    target=action.target.label,
                    instructions=action.instructions,
                    state=state,
                    by=str((answer.get("by") or {}).get("name") or "someone"),
                    when=when(str(answer.get("at", ""))),
                )
            )
        else:
            pending.append(
                PendingRow(action.id, action.label, action.target.label, action.instructions)
            )
    ack = doc.get("acknowledged") or {}
    return IncidentView(
        incident_id=n.incident_id,
        revision=n.revision,
        title=n.display_name,
        severity=_severity(n.severity),
        severity_label=SEVERITY_LABELS.get(n.severity, n.severity),
        status_label=STATUS_LABELS.get(n.status, n.status),
        assigned_to=n.assigned_to,
        classification=CLASSIFICATION_LABELS.get(n.classification, "Not classified yet"),
        determination=DETERMINATION_LABELS.get(n.determination, "Not determined yet"),
        devices=tuple(d.name for d in n.devices),
        users=tuple(u.name for u in n.users),
        summary=n.summary,
        analyst=n.analyst,
        completed=tuple(
            CompletedRow(
                label=a.label,
                target=a.target.label,
                status=a.status,
                status_label=COMPLETED_STATUS_LABELS.get(a.status, a.status),
                when=when(a.time) if a.time else "",
            )
            for a in n.completed
        ),
        pending=tuple(pending),
        web_url=n.web_url,
        updated=when(n.last_update),
        acknowledged_by=str((ack.get("by") or {}).get("name") or "") if ack else "",
        acknowledged_when=when(str(ack.get("at", ""))) if ack else "",
        notice=notice,
    )


def card_json(n: Notification, doc: JSON) -> JSON:
    return to_json(incident_card(incident_view(n, doc)))


def what_changed(before: Notification | None, after: Notification) -> str:
    """The short thread reply of a later revision: status, classification, new actions."""
    parts: list[str] = []
    if before is not None:
        if before.status != after.status:
            parts.append(
                f"status {STATUS_LABELS.get(before.status, before.status)} → "
                f"**{STATUS_LABELS.get(after.status, after.status)}**"
            )
        if before.severity != after.severity:
            parts.append(
                f"severity {SEVERITY_LABELS.get(before.severity, before.severity)} → "
                f"**{SEVERITY_LABELS.get(after.severity, after.severity)}**"
            )
        if (before.classification, before.determination) != (
            after.classification,
            after.determination,
        ):
            parts.append(
                "classification **"
                + CLASSIFICATION_LABELS.get(after.classification, "Not classified yet")
                + "**"
                + (
                    f" ({DETERMINATION_LABELS[after.determination]})"
                    if after.determination in DETERMINATION_LABELS
                    else ""
                )
            )
        if before.assigned_to != after.assigned_to:
            parts.append(f"assigned to **{md(after.assigned_to) or 'nobody'}**")
    old_completed = {a.id: a.status for a in before.completed} if before else {}
    for action in after.completed:
        if old_completed.get(action.id) != action.status:
            status = COMPLETED_STATUS_LABELS.get(action.status, action.status).lower()
            parts.append(f"{md(action.label)} on {md(action.target.label)} {status}")
    old_pending = {a.id for a in before.pending} if before else set()
    for pending in after.pending:
        if pending.id not in old_pending:
            parts.append(f"new pending action: {md(pending.label)} on {md(pending.target.label)}")
    summary = "; ".join(parts) if parts else "the experts updated their findings"
    return f"**Update {after.revision}:** {summary}."
