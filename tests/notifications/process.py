"""Helpers for tests that run the bot as a real process (``python -m bot``)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.notifications.signing import WebhookVerifier, request_line
from bot.storage.sqlite import SqliteStore
from tests.e2e.harness import BotProcess
from tests.notifications.support import SECRET, seed_channel, seed_settings
from tests.standins.connector import ConnectorStandIn

SIGNER = WebhookVerifier.from_secret(SECRET)
TIMEOUT = 20.0


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
