"""Email fallback: the incident notification contacts get the update when Teams can't.

One email per revision to all the incident notification contacts, through the one Mailer port
(:mod:`bot.mail.ports`): ``.eml`` files locally, Graph ``sendMail`` with
``TENANT_BACKEND=graph``. Its message id is the outbox message's id (``{id}.dead`` for a dead
letter's email), so a re-send after a crash is the same message: the local mailer replaces its
file; Graph may deliver it twice (docs/notifications.md).
"""

from __future__ import annotations

from html import escape

from bot.mail.ports import MailMessage
from bot.notifications.model import (
    CLASSIFICATION_LABELS,
    COMPLETED_STATUS_LABELS,
    DETERMINATION_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    Notification,
)


def incident_email(
    notification: Notification,
    *,
    message_id: str,
    to: tuple[str, ...],
    reason: str,
    names: tuple[str, ...] = (),
) -> MailMessage:
    """The notification as an email, with why it came by email rather than in Teams."""
    n = notification
    severity = SEVERITY_LABELS.get(n.severity, n.severity)
    subject = (
        f"[Defender Experts] {severity} severity incident {n.incident_id}: "
        f"{n.display_name[:120]} (update {n.revision})"
    )
    lines = [
        reason,
        "",
        f"Incident {n.incident_id}: {n.display_name}",
        f"Severity: {severity}",
        f"Status: {STATUS_LABELS.get(n.status, n.status)}",
        f"Assigned to: {n.assigned_to or 'Unassigned'}",
        f"Classification: {CLASSIFICATION_LABELS.get(n.classification, 'Not classified yet')}",
        f"Determination: {DETERMINATION_LABELS.get(n.determination, 'Not determined yet')}",
        f"Devices: {', '.join(d.name for d in n.devices) or 'None reported'}",
        f"Users: {', '.join(u.name for u in n.users) or 'None reported'}",
        "",
        "What our experts found:",
        n.summary or "The experts are investigating.",
        "",
        "Completed actions:",
        *(
            f"- {a.label} on {a.target.label}: {COMPLETED_STATUS_LABELS[a.status]}"
            for a in n.completed
        ),
        *(["- None yet."] if not n.completed else []),
        "",
        "Pending actions (for you):",
        *(
            f"- {a.label} on {a.target.label}" + (f": {a.instructions}" if a.instructions else "")
            for a in n.pending
        ),
        *(["- Nothing for you to do right now."] if not n.pending else []),
        "",
        f"Open in Microsoft Defender: {n.web_url}",
    ]
    text = "\n".join(lines) + "\n"
    html = (
        '<pre style="font-family: Segoe UI, sans-serif; white-space: pre-wrap">'
        + escape(text)
        + "</pre>"
    )
    return MailMessage(
        message_id=message_id, to=to, subject=subject, text=text, html=html, names=names
    )
