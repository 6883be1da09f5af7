"""Chat across two ``python -m bot`` processes on one PostgreSQL: a customer's message received
by instance A reaches an expert console connected to instance B (``LISTEN``/``NOTIFY``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from tests.chat.support import next_event
from tests.e2e.harness import BotProcess
from tests.notifications.support import BOT_ID, TENANT
from tests.postgres.instances import instance, seed
from tests.standins.connector import ConnectorStandIn
from tests.support import ALEX


def personal(connector: ConnectorStandIn, text: str, n: int) -> dict[str, Any]:
    """Alex Wilber (a Global Administrator) writing to the bot in personal chat."""
    return {
        "type": "message",
        "id": f"p-alex-{n}",
        "channelId": "msteams",
        "serviceUrl": connector.url,
        "from": {"id": f"29:{ALEX.user_id}", "aadObjectId": ALEX.user_id, "name": ALEX.name},
        "recipient": {"id": f"28:{BOT_ID}", "name": "Defender Experts"},
        "conversation": {
            "id": "a:personal-alex",
            "conversationType": "personal",
            "tenantId": TENANT,
        },
        "channelData": {"tenant": {"id": TENANT}},
        "text": text,
    }


async def signed_in(http: aiohttp.ClientSession, bot: BotProcess) -> None:
    async with http.post(
        f"{bot.base_url}/console/auth/dev", data={"expert": "demo-expert-2"}, allow_redirects=False
    ) as response:
        assert response.status == 303


async def test_a_message_received_by_one_instance_reaches_a_console_on_the_other(
    pg_url: str, tmp_path: Path
) -> None:
    async with ConnectorStandIn() as connector:
        await seed(pg_url, connector)
        a = instance(pg_url, tmp_path, "a")
        b = instance(pg_url, tmp_path, "b")
        bots = [a, b]
        await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
        jar = aiohttp.CookieJar(unsafe=True)
        try:
            async with (
                aiohttp.ClientSession(cookie_jar=jar) as console,
                aiohttp.ClientSession() as teams,
            ):
                await signed_in(console, b)
                ws = await console.ws_connect(
                    f"{b.base_url}/console/ws", headers={"Origin": b.base_url}
                )
                await next_event(ws, "ready")

                for n, text in enumerate(["ask", "Is the device isolation ours?"], 1):
                    async with teams.post(
                        f"{a.base_url}/api/messages", json=personal(connector, text, n)
                    ) as response:
                        assert response.status in (200, 201, 202), await response.text()
                event = await asyncio.wait_for(next_event(ws, "message"), 60)
                message = event["message"]
                assert message["text"] == "Is the device isolation ours?"
                assert message["role"] == "customer" and message["author"]["name"] == ALEX.name
                await ws.close()
        finally:
            for bot in bots:
                bot.stop()
