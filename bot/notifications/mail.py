"""Email fallback: the incident notification contacts get the update when Teams can't.

``EmlMailer`` is the local-mode Mailer: one ``.eml`` file per message, named by its message id,
so sending the same message again after a crash replaces the file instead of adding one.
TODO(issue 3): adapt to the shared Mailer port in ``bot/mail`` once it exists.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from email.message import EmailMessage
from email.utils import formatdate
from html import escape
from pathlib import Path

from bot.notifications.model import (
    CLASSIFICATION_LABELS,
    COMPLETED_STATUS_LABELS,
    DETERMINATION_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    Notification,
)
from bot.notifications.ports import MailMessage

SENDER = "Defender Experts <no-reply@defender-experts.invalid>"


class EmlMailer:
    """Writes each message as an RFC 5322 ``.eml`` file into ``directory`` (atomically)."""

    def __init__(self, directory: Path, sender: str = SENDER) -> None:
        self.directory = directory
        self.sender = sender

    def _write(self, message: MailMessage) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = ", ".join(message.to)
        email["Subject"] = message.subject
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = f"<{message.message_id}@defender-experts.invalid>"
        email.set_content(message.text)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        name = hashlib.sha256(message.message_id.encode()).hexdigest()[:32] + ".eml"
        path = self.directory / name
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(bytes(email))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path

    async def send(self, message: MailMessage) -> None:
        await asyncio.to_thread(self._write, message)


def incident_email(
    notification: Notification, *, message_id: str, to: tuple[str, ...], reason: str
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
    return MailMessage(message_id=message_id, to=to, subject=subject, text=text, html=html)
