"""The activity shape check on its own: what it lets through, and the reason it gives."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from bot.transport.activity_shape import ActivityShapeError, check_activity

TEAMS_MESSAGE: dict[str, Any] = {
    "type": "message",
    "id": "1",
    "timestamp": "2019-08-21T21:38:22.4670945Z",
    "localTimestamp": "2026-11-27T10:00:00.000+01:00",
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
    "channelId": "msteams",
    "from": {"id": "29:1", "name": "Alex", "aadObjectId": "u1", "extra": [1, 2]},
    "conversation": {"id": "a:1", "isGroup": False, "tenantId": "t1", "conversationType": None},
    "recipient": {"id": "28:bot", "name": "Defender Experts"},
    "text": "help",
    "entities": [{"type": "clientInfo", "locale": "en-US"}],
    "attachments": [],
    "channelData": {"tenant": {"id": "t1"}, "team": None, "anything": {"a": "b"}},
    "listenFor": ["a"],
    "value": {"verb": "x", "data": {"deep": [None, True]}},
    "unknownExtension": 12,
}


def reason(**change: Any) -> str:
    body = {k: v for k, v in {**TEAMS_MESSAGE, **change}.items() if v is not ...}
    with pytest.raises(ActivityShapeError) as caught:
        check_activity(body)
    return str(caught.value)


def test_a_teams_activity_with_extensions_and_nulls_passes() -> None:
    check_activity(TEAMS_MESSAGE)
    check_activity(
        {
            "type": "conversationUpdate",
            "channelId": "msteams",
            "conversation": {"id": "a:1"},
            "channelData": {},
            "membersAdded": [{"id": "28:bot"}],
        }
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"type": ...}, "type: is required"),
        ({"type": None}, "type: must be a string"),
        ({"type": ""}, "type: must have at least 1 character"),
        ({"type": "m" * 65}, "type: must have at most 64 characters"),
        ({"id": 5}, "id: must be a string"),
        ({"id": "x" * 2049}, "id: must have at most 2048 characters"),
        ({"timestamp": "yesterday"}, "timestamp: must be an ISO 8601 date and time"),
        ({"expiration": "9" * 100}, "expiration: must have at most 64 characters"),
        ({"from": "alex"}, "from: must be an object"),
        ({"from": {"id": 1}}, "from.id: must be a string"),
        ({"conversation": {"isGroup": "true"}}, "conversation.isGroup: must be a boolean"),
        ({"historyDisclosed": 1}, "historyDisclosed: must be a boolean"),
        ({"entities": {"type": "mention"}}, "entities: must be a list"),
        ({"entities": [None]}, "entities.0: must be an object"),
        ({"membersAdded": [{"id": "a"}, "x"]}, "membersAdded.1: must be an object"),
        ({"listenFor": ["a", 2]}, "listenFor.1: must be a string"),
        ({"channelData": {"tenant": "t"}}, "channelData.tenant: must be an object"),
        ({"relatesTo": {"user": {"name": []}}}, "relatesTo.user.name: must be a string"),
        ({"text": "x" * 100_000}, None),
        # Every reply is addressed by the conversation's id; botbuilder reads a Teams
        # conversationUpdate's team from its channel data (both failed the turn before).
        ({"conversation": ...}, "conversation.id: is required"),
        ({"conversation": {"id": ""}}, "conversation.id: is required"),
        ({"conversation": {"id": "a:\x00"}}, "conversation.id: must have no control characters"),
        ({"from": {"aadObjectId": "u\n1"}}, "from.aadObjectId: must have no control characters"),
        (
            {"channelData": {"tenant": {"id": "t\x7f"}}},
            "channelData.tenant.id: must have no control characters",
        ),
        (
            {"type": "conversationUpdate", "channelData": ...},
            "channelData: is required on a conversationUpdate from Teams",
        ),
    ],
)
def test_a_malformed_field_is_named_with_what_it_must_be(
    change: dict[str, Any], expected: str | None
) -> None:
    if expected is None:
        check_activity({**TEAMS_MESSAGE, **change})
    else:
        assert reason(**change) == expected


def test_a_body_that_is_not_an_object_or_too_deep_is_refused() -> None:
    with pytest.raises(ActivityShapeError, match="JSON object"):
        check_activity([TEAMS_MESSAGE])
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(40):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ActivityShapeError, match="nested deeper than 32"):
        check_activity({**TEAMS_MESSAGE, "value": deep})


def test_serving_loads_neither_pydantic_nor_a_card_library() -> None:
    """What ``python -m bot`` imports before it serves (bot/__main__.py): pydantic loads with
    the first notification, and cards are the project's own dataclasses."""
    code = (
        "import sys, bot.config, bot.logcontext, bot.notifications.local_secret, "
        "bot.transport.web, bot.app;"
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'pydantic', 'pydantic_core', 'microsoft_teams'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
