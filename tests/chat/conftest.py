from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import Storage
from bot.config import Settings
from bot.storage.sqlite import SqliteStore
from bot.storage.sqlite_ledger import SqliteLedger
from bot.transport.web import create_app
from tests.chat.support import ChatWorld, ClientFactory
from tests.notifications.support import SECRET, seed_channel, seed_settings
from tests.standins.connector import ConnectorStandIn
from tests.standins.microsoft import standin_ca

__all__ = ["standin_ca"]


@pytest.fixture
async def connector() -> AsyncIterator[ConnectorStandIn]:
    async with ConnectorStandIn() as c:
        yield c


@pytest.fixture
async def chat_world(
    aiohttp_client: ClientFactory, tmp_path: Path, connector: ConnectorStandIn
) -> ChatWorld:
    store = SqliteStore(tmp_path / "bot.sqlite3")
    await seed_settings(store)
    await seed_channel(store, connector.url)
    settings = Settings(data_dir=tmp_path, experts_webhook_secret=SECRET, chat_ack_seconds=3600)
    app = create_app(settings, storage=Storage(store, SqliteLedger(store)))
    client = await aiohttp_client(app)
    return ChatWorld(client, app, store, connector)
