"""Scenario: ``report`` with range arguments as text in personal chat, through the real app's
router (the activity handler passes what follows the command's name as ``args``). Bad
arguments answer with an inline message on the card and change nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Storage
from bot.config import Settings
from bot.storage.memory import MemoryStore
from bot.storage.memory_ledger import MemoryLedger
from bot.transport.adapter import build_adapter
from bot.transport.web import create_app
from tests.cards.test_cards import VALIDATOR, as_1_5
from tests.standins.connector import ConnectorStandIn
from tests.support import ADELE, texts
from tests.transport.test_endpoint import activity, no_sleep

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def world(
    aiohttp_client: ClientFactory,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    tmp_path: Any,
) -> tuple[TestClient[Any, Any], ConnectorStandIn, str, MemoryStore]:
    rec = ConnectorStandIn()
    server = await aiohttp_server(rec.app(), host="127.0.0.1")
    store = MemoryStore()
    settings = Settings(data_dir=tmp_path)
    app = create_app(
        settings,
        storage=Storage(store, MemoryLedger()),
        adapter=build_adapter(settings, sleep=no_sleep),
    )
    client = await aiohttp_client(app)
    return client, rec, str(server.make_url("/")).rstrip("/") + "/", store


async def snapshot(store: MemoryStore) -> dict[str, Any]:
    return {k: (await store.read(k)) for k in await store.list_keys("")}


async def say(world: Any, text: str) -> dict[str, Any]:
    client, rec, url, _ = world
    before = len(rec.cards())
    response = await client.post("/api/messages", json=activity(url, ADELE, text=text))
    assert response.status == 201
    cards = rec.cards()
    assert len(cards) == before + 1, text
    card: dict[str, Any] = cards[-1]
    assert list(VALIDATOR.iter_errors(as_1_5(card))) == [], text
    return card


def last_month() -> tuple[datetime, datetime]:
    first_of_this = datetime.now(UTC).replace(day=1)
    last = first_of_this - timedelta(days=1)
    return last.replace(day=1), last


async def test_range_arguments_choose_the_range(world: Any) -> None:
    assert "Last 30 days" in texts(await say(world, "report"))
    assert "Last 7 days" in texts(await say(world, "report 7"))
    assert "Last 90 days" in texts(await say(world, "  Report   90 "))
    first, last = last_month()
    card = await say(world, f"report {first:%Y-%m-%d} {last:%Y-%m-%d}")
    assert f"{first.day} {first:%b %Y} to {last.day} {last:%b %Y}" in texts(card)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("5", "Choose 7, 30 or 90 days, or a custom range."),
        ("seven", "Choose 7, 30 or 90 days, or a custom range."),
        ("2026-10-31 2026-10-01", "From must be on or before To."),
        ("2026-02-30 2026-03-01", "From isn't a real date."),
        ("2026-10-01 2999-01-01", "To can't be in the future."),
        ("2020-01-01 2026-10-01", "Choose at most 366 days."),
        ("1 2 3", "Type report, report 7, 30 or 90, or report FROM TO."),
    ],
)
async def test_bad_arguments_answer_on_the_card_and_change_nothing(
    world: Any, args: str, message: str
) -> None:
    await say(world, "report")  # whatever a first view stores is there before the bad one
    before = await snapshot(world[3])
    text = texts(await say(world, f"report {args}"))
    assert f"{message} Showing the last 30 days." in text
    assert "Last 30 days" in text
    assert await snapshot(world[3]) == before
