"""Microsoft Graph's Mailer: ``POST /users/{MAIL_SENDER}/sendMail`` (application permission
Mail.Send; restrict it to that one mailbox with an Exchange Online application access policy)."""

from __future__ import annotations

import base64
from urllib.parse import quote

from bot.graph.http import ApiClient
from bot.mail.ports import MailMessage


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
                        {"emailAddress": {"address": message.to_address, "name": message.to_name}}
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
