from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import open_storage
from bot.config import Settings
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


@pytest.fixture(params=["sqlite", "postgres"])
def chat_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each durable backend in turn (the chat's scenarios are the chat store's contract). Set up
    before the app's client, so the database outlives the app."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'bot.sqlite3'}"


@pytest.fixture
async def chat_world(
    chat_database: str,
    aiohttp_client: ClientFactory,
    tmp_path: Path,
    connector: ConnectorStandIn,
) -> ChatWorld:
    storage = open_storage(chat_database)
    await storage.open()
    store = storage.store
    await seed_settings(store)
    await seed_channel(store, connector.url)
    settings = Settings(data_dir=tmp_path, experts_webhook_secret=SECRET, chat_ack_seconds=3600)
    app = create_app(settings, storage=storage)
    client = await aiohttp_client(app)
    return ChatWorld(client, app, store, connector)
