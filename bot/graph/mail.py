"""Microsoft Graph's Mailer: ``POST /users/{MAIL_SENDER}/sendMail`` (application permission
Mail.Send; restrict it to that one mailbox with an Exchange Online application access policy).

``sendMail`` answers 202 and has no idempotency key: a send whose answer is lost, or a crash
between the 202 and the outbox recording it, sends the message again. Each message carries its
id in the ``X-Defender-Experts-Message-Id`` header, so a duplicate can be recognized (and
filtered by a mail flow rule) by that header. See docs/graph.md.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

from bot.graph.http import ApiClient
from bot.mail.ports import MailMessage

MESSAGE_ID_HEADER = "X-Defender-Experts-Message-Id"


class GraphMailer:
    def __init__(self, graph: ApiClient, sender: str) -> None:
        self._graph = graph
        self._sender = sender

    async def send(self, message: MailMessage) -> None:
        await self._graph.request(
            "POST",
            f"users/{quote(self._sender, safe='@')}/sendMail",
            json={
                "message": {
                    "subject": message.subject,
                    "body": {"contentType": "HTML", "content": message.html},
                    "toRecipients": [
                        {"emailAddress": {"address": address, "name": name}}
                        for name, address in message.recipients()
                    ],
                    "internetMessageHeaders": [
                        {"name": MESSAGE_ID_HEADER, "value": message.message_id[:200]}
                    ],
                    **(
                        {
                            "attachments": [
                                {
                                    "@odata.type": "#microsoft.graph.fileAttachment",
                                    "name": a.filename,
                                    "contentType": a.content_type,
                                    "contentBytes": base64.b64encode(a.data).decode("ascii"),
                                    "isInline": bool(a.content_id),
                                    **({"contentId": a.content_id} if a.content_id else {}),
                                }
                                for a in message.attachments
                            ]
                        }
                        if message.attachments
                        else {}
                    ),
                },
                "saveToSentItems": False,
            },
            creates=True,
        )
