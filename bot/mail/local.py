"""Local mode's Mailer: each email becomes an ``.eml`` file under ``$BOT_DATA_DIR/mail``.

The file is named by the message's id and written whole (a temporary file, then renamed), so
sending a message again (a retry, or a re-send after the process was killed between the send
and the outbox recording it) replaces its file instead of adding a second one.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

from bot.mail.ports import MailMessage

LOCAL_SENDER = "defender-experts@localhost"
MESSAGE_ID_DOMAIN = "defender-experts.local"
_SLUG = re.compile(r"[^A-Za-z0-9]+")


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(message_id: str) -> str:
    return hashlib.sha256(message_id.encode("utf-8")).hexdigest()


def file_name(message_id: str) -> str:
    """The message's file: readable part of its id, and a digest of all of it (unique)."""
    slug = _SLUG.sub("-", message_id).strip("-")[:80] or "mail"
    return f"{slug}-{_digest(message_id)[:16]}.eml"


def to_email(message: MailMessage, sender: str, when: datetime) -> EmailMessage:
    email = EmailMessage()
    email["From"] = formataddr(("Microsoft Defender Experts", sender))
    email["To"] = ", ".join(formataddr(pair) for pair in message.recipients())
    email["Subject"] = message.subject
    email["Date"] = format_datetime(when)
    email["Message-ID"] = f"<{_digest(message.message_id)[:32]}@{MESSAGE_ID_DOMAIN}>"
    email.set_content(message.text)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    inline = [a for a in message.attachments if a.content_id]
    if inline:
        html_part = next(p for p in email.walk() if p.get_content_type() == "text/html")
        assert isinstance(html_part, EmailMessage)
        for a in inline:
            maintype, subtype = a.content_type.split("/", 1)
            html_part.add_related(
                a.data, maintype, subtype, cid=f"<{a.content_id}>", filename=a.filename
            )
    for a in message.attachments:
        if not a.content_id:
            maintype, subtype = a.content_type.split("/", 1)
            email.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    return email


class EmlMailer:
    """Writes every email as an RFC 5322 file that a mail client can open, once per id."""

    def __init__(
        self, folder: Path, *, sender: str = "", clock: Callable[[], datetime] = _now
    ) -> None:
        self.folder = folder
        self._sender = sender or LOCAL_SENDER
        self._clock = clock

    async def send(self, message: MailMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def path_of(self, message_id: str) -> Path:
        return self.folder / file_name(message_id)

    def _write(self, message: MailMessage) -> Path:
        if not message.message_id:
            raise ValueError("a message without an id can't be written once")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path_of(message.message_id)
        partial = path.with_name(path.name + ".tmp")
        partial.write_bytes(bytes(to_email(message, self._sender, self._clock())))
        partial.replace(path)
        return path
