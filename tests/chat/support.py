"""A chat world for scenario tests: the real aiohttp app, a Bot Connector stand-in, signed
Experts API calls, and Teams activities shaped as Teams sends them to a bot with
ChannelMessage.Read.Group (thread replies without an @mention)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.notifications.signing import WebhookVerifier, request_line
from bot.storage import Store
from bot.transport.web import SERVICES
from tests.notifications.support import BOT_ID, CHANNEL_ID, SECRET, TEAM_ID, TENANT, example
from tests.standins.connector import ConnectorStandIn

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
SIGNER = WebhookVerifier.from_secret(SECRET)
AAD_GROUP = "5b8e2d1c-3001-4a6f-9c0e-7d1b2a3c4e01"
ADELE = ("1a2b3c4d-0003-4e5f-8a9b-0c1d2e3f4a03", "Adele Vance")


async def next_event(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next event of ``kind`` on a console WebSocket (others are skipped)."""
    while True:
        frame = await ws.receive(timeout=30)
        assert frame.type == aiohttp.WSMsgType.TEXT, frame
        event: dict[str, Any] = json.loads(frame.data)
        if event["type"] == kind:
            return event


@dataclass
class ChatWorld:
    client: TestClient[Any, Any]
    app: web.Application
    store: Store
    connector: ConnectorStandIn
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # ---- the Experts API, signed ------------------------------------------------------------

    def signed(self, body: bytes, webhook_id: str | None = None) -> dict[str, str]:
        webhook_id = webhook_id or f"msg_{next(self._ids)}"
        return SIGNER.sign(webhook_id, int(time.time()), body).headers()

    async def post_signed(
        self, target: str, body: Any, webhook_id: str | None = None, **headers: str
    ) -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **self.signed(raw, webhook_id)}
        all_headers.update(headers)
        response = await self.client.post(target, data=raw, headers=all_headers)
        return response.status, await response.json()

    async def get_signed(self, target: str, *, sign: bool = True) -> tuple[int, Any]:
        headers = self.signed(request_line("GET", target)) if sign else {}
        response = await self.client.get(target, headers=headers)
        return response.status, await response.json()

    async def incident(self, incident_id: str = "2972395") -> str:
        """Post an incident through the Experts API; returns its post's activity id."""
        status, _ = await self.post_signed("/api/notifications", example(1, incident_id))
        assert status == 202
        services = self.app[SERVICES]
        assert services.delivery is not None
        await services.delivery.wait_idle()  # the delivery worker's own idle signal, no clock
        assert (await services.delivery.ledger.outbox_stats()).open == 0
        return self.connector.posts_of(incident_id)[-1].activity_id

    async def answer(
        self, conversation_id: str, text: str, webhook_id: str | None = None
    ) -> tuple[int, Any]:
        return await self.post_signed(
            f"/api/chat/conversations/{conversation_id}/messages",
            {"text": text, "author": {"id": "expert-7", "name": "Jordan Avery"}},
            webhook_id,
        )

    async def delivered(self) -> None:
        """Wait on the app's own idle signals (no clock): the virtual assistant has posted every
        acknowledgement due, then the chat delivery has sent everything due."""
        services = self.app[SERVICES]
        assert services.chat_delivery is not None
        await services.chat.wait_assistant_idle()
        await services.chat_delivery.wait_idle()
        assert await services.chat.store.next_send_due() is None  # nothing left to send

    async def conversations(self) -> list[dict[str, Any]]:
        status, body = await self.get_signed("/api/chat/conversations")
        assert status == 200
        return list(body["conversations"])

    async def transcript(self, conversation_id: str) -> dict[str, Any]:
        status, body = await self.get_signed(f"/api/chat/conversations/{conversation_id}")
        assert status == 200, body
        return dict(body)

    # ---- Teams ------------------------------------------------------------------------------

    def activity(
        self,
        *,
        text: str = "",
        root: str | None = None,
        activity_id: str | None = None,
        who: tuple[str, str] = ADELE,
        tenant: str = TENANT,
        team: str = TEAM_ID,
        group: str = AAD_GROUP,
        **fields: Any,
    ) -> dict[str, Any]:
        activity_id = activity_id or f"17{next(self._ids):011d}"
        conversation = f"{CHANNEL_ID};messageid={root or activity_id}"
        body: dict[str, Any] = {
            "type": "message",
            "id": activity_id,
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "timestamp": "2026-11-27T10:20:00.000Z",
            "from": {"id": f"29:{who[0]}", "aadObjectId": who[0], "name": who[1]},
            "recipient": {"id": f"28:{BOT_ID}", "name": "Defender Experts"},
            "conversation": {
                "id": conversation,
                "conversationType": "channel",
                "isGroup": True,
                "tenantId": tenant,
            },
            "channelData": {
                "tenant": {"id": tenant},
                "team": {"id": team, "aadGroupId": group},
                "channel": {"id": CHANNEL_ID},
            },
            "text": text,
            "textFormat": "xml",
        }
        if root:
            body["replyToId"] = root
        body.update(fields)
        return body

    async def send(self, activity: dict[str, Any]) -> int:
        response = await self.client.post("/api/messages", json=activity)
        return response.status
