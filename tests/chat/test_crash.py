"""kill -9 on the real process after an expert answer's 202: posted exactly once after the
restart, and its webhook-id is still a duplicate."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.notifications.signing import request_line
from tests.chat.support import AAD_GROUP, ADELE
from tests.e2e.harness import BotProcess
from tests.notifications.process import SIGNER, seeded, send, start, until
from tests.notifications.support import BOT_ID, CHANNEL_ID, SECRET, TEAM_ID, TENANT, example
from tests.standins.connector import ConnectorStandIn

CRASH_SITE = Path(__file__).parent / "crash_site"
ANSWER = "Reset jdoe's password now."


async def signed(bot: BotProcess, method: str, target: str, body: Any = None, wid: str = "") -> Any:
    raw = b"" if body is None else json.dumps(body).encode()
    signed_body = raw if method == "POST" else request_line("GET", target)
    headers = SIGNER.sign(wid or f"w{time.time_ns()}", int(time.time()), signed_body).headers()
    headers["Content-Type"] = "application/json"
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, bot.base_url + target, data=raw or None, headers=headers) as r,
    ):
        return r.status, await r.json()


def reply(connector: ConnectorStandIn, post_id: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "1733220000001",
        "channelId": "msteams",
        "serviceUrl": connector.url,
        "from": {"id": f"29:{ADELE[0]}", "aadObjectId": ADELE[0], "name": ADELE[1]},
        "recipient": {"id": f"28:{BOT_ID}", "name": "Defender Experts"},
        "conversation": {
            "id": f"{CHANNEL_ID};messageid={post_id}",
            "conversationType": "channel",
            "tenantId": TENANT,
        },
        "channelData": {
            "tenant": {"id": TENANT},
            "team": {"id": TEAM_ID, "aadGroupId": AAD_GROUP},
            "channel": {"id": CHANNEL_ID},
        },
        "replyToId": post_id,
        "text": "What should we do?",
    }


def answers(connector: ConnectorStandIn) -> list[Any]:
    return [op for op in connector.of_kind("reply") if ANSWER in json.dumps(op.activity)]


async def test_kill_9_after_an_answers_202_posts_it_exactly_once(
    tmp_path: Path, connector: ConnectorStandIn
) -> None:
    data = await seeded(tmp_path, connector)
    bot = BotProcess(
        {
            "BOT_DATA_DIR": str(data),
            "EXPERTS_WEBHOOK_SECRET": SECRET,
            "PYTHONPATH": str(CRASH_SITE),
            "DE_TEST_CHAT_CRASH": "before_send",
            "LOG_LEVEL": "INFO",
        },
        tmp_path / "logs",
    )
    await start(bot)
    try:
        assert await send(bot, example(), "msg_incident") == 202

        async def posted() -> bool:
            return bool(connector.posts_of("2972395"))

        await until(posted, "the incident post", bot)
        post_id = connector.posts_of("2972395")[0].activity_id
        async with (
            aiohttp.ClientSession() as http,
            http.post(bot.messaging_endpoint, json=reply(connector, post_id)) as response,
        ):
            assert response.status == 201
        status, listed = await signed(bot, "GET", "/api/chat/conversations")
        assert status == 200
        (conversation,) = listed["conversations"]
        body = {"text": ANSWER, "author": {"id": "e7", "name": "Jordan Avery"}}
        target = f"/api/chat/conversations/{conversation['id']}/messages"
        status, accepted = await signed(bot, "POST", target, body, "msg_answer")
        assert status == 202 and accepted["message"]["delivery"] == "sending"

        async def paused() -> bool:
            return "CRASHPOINT before_send reached" in bot.log_text()

        await until(paused, "the before_send failpoint", bot)
        assert answers(connector) == []
        bot.kill9()

        bot.env.pop("DE_TEST_CHAT_CRASH")
        await start(bot)

        async def delivered() -> bool:
            _, page = await signed(bot, "GET", f"/api/chat/conversations/{conversation['id']}")
            return any(
                m["role"] == "expert" and m["delivery"] == "posted" for m in page["messages"]
            )

        await until(delivered, "the answer after the restart", bot)
        assert len(answers(connector)) == 1
        assert "recovered" in bot.log_text()
        status, again = await signed(bot, "POST", target, body, "msg_answer")
        assert status == 200 and again["status"] == "duplicate"
        assert len(answers(connector)) == 1
    finally:
        bot.stop()
