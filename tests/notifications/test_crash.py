"""kill -9 on the real process: exactly one post after a restart.

The bot runs as ``python -m bot`` with ``BOT_FAILPOINTS`` set, which makes the delivery worker stop
for good at one step and say so in its log; the test then sends SIGKILL from outside, restarts
the bot without the failpoint, and counts the posts the Bot Connector stand-in received.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.notifications.signing import WebhookVerifier, request_line
from bot.storage.sqlite import SqliteStore
from tests.e2e.harness import BotProcess
from tests.notifications.support import SECRET, example, seed_channel, seed_settings
from tests.standins.connector import ConnectorStandIn

SIGNER = WebhookVerifier.from_secret(SECRET)
TIMEOUT = 20.0


@pytest.fixture
async def connector() -> AsyncIterator[ConnectorStandIn]:
    async with ConnectorStandIn() as c:
        yield c


async def seeded(tmp_path: Path, connector: ConnectorStandIn) -> Path:
    data = tmp_path / "data"
    store = SqliteStore(data / "bot.sqlite3")
    await seed_settings(store)
    await seed_channel(store, connector.url)
    await store.close()
    return data


async def send(bot: BotProcess, body: dict[str, Any], webhook_id: str) -> int:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    headers.update(SIGNER.sign(webhook_id, int(time.time()), raw).headers())
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{bot.base_url}/api/notifications", data=raw, headers=headers) as response,
    ):
        return response.status


async def delivery(bot: BotProcess, incident_id: str) -> dict[str, Any]:
    target = f"/api/notifications/{incident_id}"
    headers = SIGNER.sign("msg_state", int(time.time()), request_line("GET", target)).headers()
    async with (
        aiohttp.ClientSession() as http,
        http.get(bot.base_url + target, headers=headers) as response,
    ):
        assert response.status == 200
        state: dict[str, Any] = await response.json()
        return state


async def until(condition: Any, what: str, bot: BotProcess) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; bot log:\n{bot.log_text()[-3000:]}")


def start(bot: BotProcess) -> Any:
    return asyncio.to_thread(bot.start)


@pytest.mark.parametrize("failpoint", ["before_post", "after_post"])
async def test_kill_9_then_restart_posts_exactly_once(
    tmp_path: Path, connector: ConnectorStandIn, failpoint: str
) -> None:
    data = await seeded(tmp_path, connector)
    bot = BotProcess(
        {
            "BOT_DATA_DIR": str(data),
            "EXPERTS_WEBHOOK_SECRET": SECRET,
            "BOT_FAILPOINTS": failpoint,
            "LOG_LEVEL": "INFO",
        },
        tmp_path / "logs",
    )
    await start(bot)
    try:
        assert await send(bot, example(), "msg_crash") == 202

        async def paused() -> bool:
            return f"FAILPOINT {failpoint} reached" in bot.log_text()

        await until(paused, f"the {failpoint} failpoint", bot)
        posts_before_kill = len(connector.posts_of("2972395"))
        assert posts_before_kill == (0 if failpoint == "before_post" else 1)
        bot.kill9()

        bot.env.pop("BOT_FAILPOINTS")
        await start(bot)

        async def done() -> bool:
            state = await delivery(bot, "2972395")
            return bool(state["outbox"]) and all(m["state"] == "done" for m in state["outbox"])

        await until(done, "the delivery after the restart", bot)
        assert len(connector.posts_of("2972395")) == 1
        state = await delivery(bot, "2972395")
        assert state["post"]["activityId"] == connector.posts_of("2972395")[0].activity_id
        assert "recovered 1 notification" in bot.log_text()
        # A repeat of the accepted webhook after the crash is still a duplicate.
        assert await send(bot, example(), "msg_crash") == 200
    finally:
        bot.stop()
