"""The Mailer port: send one email. Adapters: Microsoft Graph sendMail, and .eml files locally."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Attachment:
    """A file sent with an email; with ``content_id`` it is an inline image the HTML shows
    as ``<img src="cid:{content_id}">``."""

    filename: str
    content_type: str
    data: bytes
    content_id: str = ""


@dataclass(frozen=True)
class MailMessage:
    to_address: str
    to_name: str
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "toAddress": self.to_address,
            "toName": self.to_name,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MailMessage:
        return cls(
            to_address=str(d.get("toAddress", "")),
            to_name=str(d.get("toName", "")),
            subject=str(d.get("subject", "")),
            text=str(d.get("text", "")),
            html=str(d.get("html", "")),
        )


class Mailer(Protocol):
    async def send(self, message: MailMessage) -> None:
        """Send the message; raise on failure (the outbox retries)."""
        ...
