"""Local mode's Mailer: each email becomes an ``.eml`` file under ``$BOT_DATA_DIR/mail``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path

from bot.mail.ports import MailMessage

LOCAL_SENDER = "defender-experts@localhost"
_SLUG = re.compile(r"[^A-Za-z0-9]+")


def _now() -> datetime:
    return datetime.now(UTC)


def to_email(message: MailMessage, sender: str, when: datetime) -> EmailMessage:
    email = EmailMessage()
    email["From"] = formataddr(("Microsoft Defender Experts", sender))
    email["To"] = formataddr((message.to_name, message.to_address))
    email["Subject"] = message.subject
    email["Date"] = format_datetime(when)
    email["Message-ID"] = make_msgid(domain="defender-experts.local")
    email.set_content(message.text)
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
    """Writes every email as an RFC 5322 file that a mail client can open."""

    def __init__(
        self, folder: Path, *, sender: str = "", clock: Callable[[], datetime] = _now
    ) -> None:
        self.folder = folder
        self._sender = sender or LOCAL_SENDER
        self._clock = clock

    async def send(self, message: MailMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: MailMessage) -> Path:
        when = self._clock()
        self.folder.mkdir(parents=True, exist_ok=True)
        slug = _SLUG.sub("-", message.to_address).strip("-")[:60] or "mail"
        stem = f"{when.strftime('%Y%m%dT%H%M%S%f')}-{slug}"
        path = self.folder / f"{stem}.eml"
        n = 1
        while path.exists():
            n += 1
            path = self.folder / f"{stem}-{n}.eml"
        partial = path.with_suffix(".eml.tmp")
        partial.write_bytes(bytes(to_email(message, self._sender, when)))
        partial.replace(path)
        return path
