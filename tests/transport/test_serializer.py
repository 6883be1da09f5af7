"""The connector clients' serializer: plain JSON values typed ``object`` pass through as they are,
and what goes on the wire is what msrest's own serializer writes, card by card."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from botbuilder.schema import Activity, ConversationParameters
from botframework.connector.auth import ClaimsIdentity
from msrest.serialization import Serializer

from bot.config import Settings
from bot.transport.adapter import JsonValueSerializer, build_adapter
from bot.transport.handler import card_attachment
from tests.cards.samples import all_cases

CASES = all_cases()


def _models() -> dict[str, type]:
    from botframework.connector import models

    return {k: v for k, v in models.__dict__.items() if isinstance(v, type)}


def _wire(serializer: Serializer, activity: Activity) -> str:
    """The request body of a new post, as the connector client sends it."""
    body = serializer.body(
        ConversationParameters(
            is_group=True, channel_data={"channel": {"id": "19:c"}}, activity=activity
        ),
        "ConversationParameters",
    )
    return json.dumps(body, sort_keys=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_card_goes_on_the_wire_as_msrest_writes_it(name: str) -> None:
    activity = Activity(type="message", attachments=[card_attachment(CASES[name]())])
    assert _wire(JsonValueSerializer(_models()), activity) == _wire(Serializer(_models()), activity)


@pytest.mark.parametrize(
    "value",
    [
        {"when": datetime.datetime(2026, 12, 3, 8, 20, tzinfo=datetime.UTC)},  # msrest's ISO text
        {1: "a number key"},
        {"items": ("a", "tuple")},
        {"nested": [{"deep": [1, 2.5, True, None, "x"]}]},
        [{"a": 1}, "b"],
        {},
    ],
)
def test_values_that_are_not_plain_json_still_go_to_msrest(value: Any) -> None:
    activity = Activity(type="message", channel_data=value, value=value)
    assert _wire(JsonValueSerializer(_models()), activity) == _wire(Serializer(_models()), activity)


def test_a_plain_json_card_is_passed_on_without_being_rebuilt() -> None:
    card = card_attachment(CASES[sorted(CASES)[0]]()).content
    assert JsonValueSerializer(_models()).serialize_object(card) is card
    assert Serializer(_models()).serialize_object(card) is not card


def test_a_circular_value_is_refused_as_msrest_refuses_it() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(RecursionError):
        Serializer(_models()).serialize_object(loop)
    with pytest.raises(RecursionError):
        JsonValueSerializer(_models()).serialize_object(loop)


async def test_the_adapters_connector_clients_use_it() -> None:
    """The path every post, reply and update takes: the adapter's cached connector clients."""
    adapter = build_adapter(Settings())
    factory = adapter.bot_framework_authentication.create_connector_factory(
        ClaimsIdentity({"aud": "bot-id"}, is_authenticated=True)
    )
    client = await factory.create("http://127.0.0.1:9/", None)
    try:
        for serializer in (
            client._serialize,
            client.conversations._serialize,
            client.attachments._serialize,
        ):
            assert type(serializer) is JsonValueSerializer
        assert client.conversations._serialize is client._serialize
    finally:
        await adapter.bot_framework_authentication.close()
