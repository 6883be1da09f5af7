"""A button that asks for its answer as a new card keeps the card it's on."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from cards.verbs import ANSWER_WITH_NEW_CARD, HELP
from tests.standins.connector import ConnectorStandIn
from tests.support import texts
from tests.transport.test_endpoint import activity, bot_client, connector  # noqa: F401


def pressed(url: str, data: dict[str, Any]) -> dict[str, Any]:
    return activity(
        url,
        type="invoke",
        name="adaptiveCard/action",
        text=None,
        replyToId="card-1",
        value={"action": {"type": "Action.Execute", "verb": HELP, "data": data}},
    )


async def test_the_answer_comes_as_a_new_card_and_the_card_stays(
    bot_client: TestClient[Any, Any],  # noqa: F811
    connector: tuple[ConnectorStandIn, str],  # noqa: F811
) -> None:
    rec, url = connector
    response = await bot_client.post("/api/messages", json=pressed(url, ANSWER_WITH_NEW_CARD))
    assert response.status == 200
    payload = await response.json()
    assert payload["type"] == "application/vnd.microsoft.activity.message"
    assert isinstance(payload["value"], str) and "new card" in payload["value"]
    (card,) = rec.cards()
    assert "What I can do" in texts(card)
    (op,) = rec.ops
    assert (op.kind, op.conversation_id) == ("send", "a:personal-1")


async def test_without_it_the_answer_replaces_the_card(
    bot_client: TestClient[Any, Any],  # noqa: F811
    connector: tuple[ConnectorStandIn, str],  # noqa: F811
) -> None:
    rec, url = connector
    payload = await (await bot_client.post("/api/messages", json=pressed(url, {}))).json()
    assert payload["type"] == "application/vnd.microsoft.card.adaptive"
    assert "What I can do" in texts(payload["value"])
    assert rec.cards() == []
