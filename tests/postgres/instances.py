"""Helpers for the tests that run several ``python -m bot`` processes on one PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.storage.postgres import PostgresStore
from tests.e2e.harness import BotProcess
from tests.notifications.support import SECRET, seed_channel, seed_settings
from tests.standins.connector import ConnectorStandIn

CRASH_SITE = Path(__file__).parent / "crash_site"


async def seed(url: str, connector: ConnectorStandIn) -> None:
    """Settings and a ready Managed response channel, as a finished setup leaves them."""
    store = PostgresStore(url)
    await store.open()
    await seed_settings(store)
    await seed_channel(store, connector.url)
    await store.close()


def instance(url: str, root: Path, name: str, **env: str) -> BotProcess:
    return BotProcess(
        {
            "STORAGE_URL": url,
            "BOT_DATA_DIR": str(root / name),
            "EXPERTS_WEBHOOK_SECRET": SECRET,
            "LOG_LEVEL": "INFO",
            "INSTANCE_ID": name,
            **env,
        },
        root / "logs",
        name=name,
        startup_timeout=60.0,
    )


async def eventually(
    condition: Callable[[], Awaitable[bool]], what: str, bots: list[BotProcess], timeout: float
) -> None:
    """Poll a public signal until it holds; on timeout, fail with the bots' log tails. Only for
    what another process does (a bot's log, the rows it writes): neither offers an event to
    wait on. What happens in this process (the connector stand-in) is awaited with
    :func:`until`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{log_tails(bots)}")


async def until(signal: Awaitable[None], what: str, bots: list[BotProcess], timeout: float) -> None:
    """Wait on an event of this process; on timeout, fail with the bots' log tails."""
    try:
        await asyncio.wait_for(signal, timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}\n{log_tails(bots)}") from None


def log_tails(bots: list[BotProcess]) -> str:
    return "\n".join(f"--- {b.log_path.name}\n{b.log_text()[-2500:]}" for b in bots)
