"""Email fallback: the incident notification contacts get the update when Teams can't."""

from __future__ import annotations

from html import escape

from bot.mail.ports import Mailer as SharedMailer
from bot.mail.ports import MailMessage as SharedMessage
from bot.notifications.model import (
    CLASSIFICATION_LABELS,
    COMPLETED_STATUS_LABELS,
    DETERMINATION_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    Notification,
)
from bot.notifications.ports import MailMessage


class PerRecipientMailer:
    """Sends our messages (several recipients) through the shared Mailer port, one per address.

    Local mode's shared mailer writes ``.eml`` files under ``$BOT_DATA_DIR/mail``; with
    ``TENANT_BACKEND=graph`` it is Microsoft Graph ``sendMail``. Delivery is at least once: a
    crash or a failure part-way sends the message again to everyone on the retry.
    """

    def __init__(self, mailer: SharedMailer) -> None:
        self._mailer = mailer

    async def send(self, message: MailMessage) -> None:
        names = dict(zip(message.to, message.names, strict=False))
        for address in message.to:
            await self._mailer.send(
                SharedMessage(
                    to_address=address,
                    to_name=names.get(address, ""),
                    subject=message.subject,
                    text=message.text,
                    html=message.html,
                )
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
