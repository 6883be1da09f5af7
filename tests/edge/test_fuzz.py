"""Fuzzing the three endpoints: /api/messages (local and token mode), card actions, the webhook.

Whatever arrives, the answer is never 5xx; what is refused (4xx, or a card action that isn't
the sender's to take) leaves every table of the database as it was.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import Storage
from bot.config import Settings
from bot.notifications.signing import WebhookVerifier
from bot.storage.sqlite import SqliteStore
from bot.storage.sqlite_ledger import SqliteLedger
from bot.transport.notifications_api import NOTIFICATIONS
from bot.transport.web import SERVICES, create_app
from tests.edge.fuzzing import activities, card_actions, snapshot, tokens, webhook_bodies
from tests.notifications.support import SECRET, example, seed_channel, seed_settings
from tests.standins.connector import ConnectorStandIn
from tests.standins.openid import OpenIdStandIn
from tests.standins.tls import StandInCA

APP_ID = "9e7b2c41-3f6d-4a8e-b5c2-1d0f7a6e8b93"
SIGNER = WebhookVerifier.from_secret(SECRET)
SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@dataclass
class Bot:
    client: TestClient[Any, Any]
    database: Path
    connector_url: str

    async def post(self, path: str, body: bytes, **headers: str) -> int:
        headers.setdefault("Content-Type", "application/json")
        response = await self.client.post(path, data=body, headers=headers)
        await response.read()
        return response.status

    async def settle(self) -> None:
        """Wait on the app's own delivery worker's idle signal (no clock), then check that its
        outbox is empty."""
        worker = self.client.app[SERVICES].delivery  # type: ignore[index]
        assert worker is not None
        await worker.wait_idle()
        assert (await self.client.app[NOTIFICATIONS].ledger.outbox_stats()).open == 0  # type: ignore[index]


@pytest.fixture
async def connector_url(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> str:
    server = await aiohttp_server(ConnectorStandIn().app(), host="127.0.0.1")
    return str(server.make_url("/")).rstrip("/") + "/"


async def _bot(
    aiohttp_client: ClientFactory,
    tmp_path: Path,
    connector_url: str,
    env: dict[str, str],
    *,
    incident: bool = True,
) -> Bot:
    database = tmp_path / "bot.sqlite3"
    store = SqliteStore(database)
    await seed_settings(store)
    await seed_channel(store, connector_url)
    settings = Settings.from_env(
        {"BOT_DATA_DIR": str(tmp_path), "EXPERTS_WEBHOOK_SECRET": SECRET, **env}
    )
    app = create_app(settings, storage=Storage(store, SqliteLedger(store)))
    bot = Bot(await aiohttp_client(app), database, connector_url)
    if incident:
        # One real incident, posted, so that forged card actions have something to aim at.
        raw = example_bytes()
        status = await bot.post("/api/notifications", raw, **signed(raw))
        assert status == 202
        await bot.settle()
    return bot


def example_bytes() -> bytes:
    import json

    return json.dumps(example()).encode()


_ids = iter(range(10**9))


def signed(raw: bytes) -> dict[str, str]:
    return SIGNER.sign(f"msg_fuzz{next(_ids)}", int(time.time()), raw).headers()


@pytest.fixture
async def local_bot(aiohttp_client: ClientFactory, tmp_path: Path, connector_url: str) -> Bot:
    return await _bot(aiohttp_client, tmp_path, connector_url, {})


@pytest.fixture
async def token_bot(
    aiohttp_client: ClientFactory,
    tmp_path: Path,
    connector_url: str,
    openid: OpenIdStandIn,
    standin_ca: StandInCA,
) -> Bot:
    env = {
        "MicrosoftAppId": APP_ID,
        "MicrosoftAppPassword": "stand-in-password",
        "BOT_OPENID_METADATA": openid.metadata_url,
        "SSL_CERT_FILE": str(standin_ca.ca_file),
    }
    # No incident: posting it would make botbuilder fetch an outgoing token from the real login
    # service. Nothing in this mode reaches a turn (every token is refused).
    return await _bot(aiohttp_client, tmp_path, connector_url, env, incident=False)


@settings(max_examples=500, deadline=None, suppress_health_check=SUPPRESS)
@given(data=st.data())
async def test_messages_in_local_mode_never_5xx(local_bot: Bot, data: st.DataObject) -> None:
    body = data.draw(activities(local_bot.connector_url))
    before = snapshot(local_bot.database)
    status = await local_bot.post("/api/messages", body)
    assert status < 500
    if status >= 400:
        assert snapshot(local_bot.database) == before


@settings(max_examples=300, deadline=None, suppress_health_check=SUPPRESS)
@given(data=st.data())
async def test_messages_in_token_mode_never_5xx(
    token_bot: Bot, openid: OpenIdStandIn, data: st.DataObject
) -> None:
    url = token_bot.connector_url
    body = data.draw(activities(url) | card_actions(url))
    header = data.draw(tokens(openid, APP_ID, url))
    before = snapshot(token_bot.database)
    status = await token_bot.post("/api/messages", body, Authorization=header)
    assert 400 <= status < 500
    assert snapshot(token_bot.database) == before


@settings(max_examples=500, deadline=None, suppress_health_check=SUPPRESS)
@given(data=st.data())
async def test_forged_card_actions_change_nothing(local_bot: Bot, data: st.DataObject) -> None:
    body = data.draw(card_actions(local_bot.connector_url))
    before = snapshot(local_bot.database)
    status = await local_bot.post("/api/messages", body)
    assert status < 500
    assert snapshot(local_bot.database) == before


@settings(max_examples=500, deadline=None, suppress_health_check=SUPPRESS)
@given(case=webhook_bodies())
async def test_webhook_never_5xx_and_refusals_store_nothing(
    local_bot: Bot, case: tuple[bytes, str]
) -> None:
    raw, content_type = case
    before = snapshot(local_bot.database)
    status = await local_bot.post(
        "/api/notifications", raw, **{"Content-Type": content_type, **signed(raw)}
    )
    assert status < 500
    if status >= 400:
        assert snapshot(local_bot.database) == before
    else:
        await local_bot.settle()
