"""The Mailer port: send one email. Adapters: Microsoft Graph ``sendMail``
(:mod:`bot.graph.mail`) and ``.eml`` files in local mode (:mod:`bot.mail.local`). Contact emails
(:mod:`bot.mail.service`) and the notification email fallback (:mod:`bot.notifications.worker`)
both send through it.

Errors: :class:`Forbidden` (a missing permission such as Mail.Send, named in ``permissions``,
or a mailbox policy), :class:`Refused` (a recipient or message the service won't take),
:class:`NotFound` (no such sender mailbox), :class:`Throttled` and :class:`Unavailable`
(retryable), :class:`SignInFailed` and :class:`Untrusted`. The adapters translate their
library's errors into them; a failed local write is an ``OSError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bot.errors import (
    Forbidden,
    NotFound,
    PortError,
    Refused,
    SignInFailed,
    Throttled,
    Unavailable,
    Untrusted,
)

__all__ = [
    "Attachment",
    "Forbidden",
    "MailMessage",
    "Mailer",
    "NotFound",
    "PortError",
    "Refused",
    "SignInFailed",
    "Throttled",
    "Unavailable",
    "Untrusted",
]


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
    """One email to one or more recipients.

    ``message_id`` names the message for good: the sender keeps it in its outbox, so sending the
    message again (after a crash, on a retry) sends the same id. A mailer that can (the local
    one) writes each id once; Graph's ``sendMail`` has no idempotency key, so it carries the id
    in a header where a duplicate can at least be recognized.
    """

    message_id: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str = ""
    names: tuple[str, ...] = ()
    """Display names, in the order of ``to`` (optional)."""
    attachments: tuple[Attachment, ...] = ()
    """Files sent with it (the monthly report's charts and CSV); not kept in an outbox."""

    def recipients(self) -> list[tuple[str, str]]:
        """``(name, address)`` pairs, in order."""
        names = (*self.names, *([""] * (len(self.to) - len(self.names))))
        return list(zip(names, self.to, strict=False))

    def to_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "to": list(self.to),
            "names": list(self.names),
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], *, message_id: str = "") -> MailMessage:
        """A stored message. One stored before message ids (one ``toAddress``) gets
        ``message_id``."""
        if "to" in d:
            to = tuple(str(a) for a in d.get("to") or ())
            names = tuple(str(n) for n in d.get("names") or ())
        else:
            to, names = (str(d.get("toAddress", "")),), (str(d.get("toName", "")),)
        return cls(
            message_id=str(d.get("messageId") or message_id),
            to=to,
            subject=str(d.get("subject", "")),
            text=str(d.get("text", "")),
            html=str(d.get("html", "")),
            names=names,
        )


class Mailer(Protocol):
    async def send(self, message: MailMessage) -> None:
        """Send the message; raise one of the port errors above on failure (the caller's outbox
        retries the retryable ones)."""
        ...
