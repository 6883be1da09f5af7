"""Scenario: the signed Experts chat API, and what it refuses (storing nothing)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.chat.support import ChatWorld


async def conversation_of(world: ChatWorld) -> str:
    post_id = await world.incident()
    await world.send(world.activity(text="help us", root=post_id))
    (conversation,) = await world.conversations()
    return str(conversation["id"])


async def expert_messages(world: ChatWorld, conversation_id: str) -> list[dict[str, Any]]:
    messages = (await world.transcript(conversation_id))["messages"]
    return [m for m in messages if m["role"] == "expert"]


async def test_a_repeated_webhook_id_is_a_duplicate_and_posts_once(chat_world: ChatWorld) -> None:
    cid = await conversation_of(chat_world)
    status, first = await chat_world.answer(cid, "On it.", "msg_answer_1")
    assert status == 202 and first["status"] == "accepted"
    status, again = await chat_world.answer(cid, "On it, again.", "msg_answer_1")
    assert status == 200 and again["status"] == "duplicate"
    assert again["message"]["id"] == first["message"]["id"]
    await chat_world.delivered()
    assert [m["text"] for m in await expert_messages(chat_world, cid)] == ["On it."]
    posted = [op for op in chat_world.connector.of_kind("reply") if "On it" in str(op.card)]
    assert len(posted) == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"text": "", "author": {"id": "e", "name": "E"}}, 422, "invalid"),
        ({"text": "a\x00b", "author": {"id": "e", "name": "E"}}, 422, "invalid"),
        ({"text": "é" * 10_001, "author": {"id": "e", "name": "E"}}, 422, "invalid"),
        ({"text": "hi"}, 422, "invalid"),
        ({"text": "hi", "author": {"id": "e", "name": "E\nvil"}}, 422, "invalid"),
        ({"text": "hi", "author": {"id": "", "name": "E"}}, 422, "invalid"),
        ([1, 2], 400, "badRequest"),
        (b"{not json", 400, "badRequest"),
        (b"x" * (200 * 1024), 413, "tooLarge"),
    ],
    ids=[
        "empty",
        "control",
        "oversized",
        "no-author",
        "name-control",
        "no-id",
        "array",
        "not-json",
        "huge",
    ],
)
async def test_bad_answers_are_refused_and_store_nothing(
    chat_world: ChatWorld, body: Any, status: int, code: str
) -> None:
    cid = await conversation_of(chat_world)
    got, error = await chat_world.post_signed(f"/api/chat/conversations/{cid}/messages", body)
    assert got == status and error["error"]["code"] == code and error["error"]["message"]
    assert await expert_messages(chat_world, cid) == []


async def test_bad_signature_unknown_conversation_and_wrong_media_type(
    chat_world: ChatWorld,
) -> None:
    cid = await conversation_of(chat_world)
    body = json.dumps({"text": "hi", "author": {"id": "e", "name": "E"}}).encode()
    target = f"/api/chat/conversations/{cid}/messages"
    forged = await chat_world.client.post(
        target,
        data=body,
        headers={
            "Content-Type": "application/json",
            **chat_world.signed(body),
            "webhook-signature": "v1,AAAA",
        },
    )
    assert forged.status == 401
    status, _ = await chat_world.post_signed(target, body, **{"Content-Type": "text/plain"})
    assert status == 415
    status, error = await chat_world.answer("c_000000000000000000000000", "hi")
    assert status == 404 and error["error"]["code"] == "notFound"
    status, _ = await chat_world.answer("c_" + "0" * 100, "hi")
    assert status == 404
    assert (await chat_world.get_signed("/api/chat/conversations", sign=False))[0] == 401
    assert (await chat_world.get_signed("/api/chat/events?after=x"))[0] == 400
    assert (await chat_world.get_signed("/api/chat/conversations?waiting=maybe"))[0] == 400
    assert await expert_messages(chat_world, cid) == []


async def test_a_conversation_of_a_tenant_the_bot_does_not_serve_is_not_found(
    chat_world: ChatWorld,
) -> None:
    from bot.chat.model import Person, Place, conversation_key
    from bot.chat.ports import ConversationSeed, NewMessage
    from bot.transport.console.common import CHAT

    store = chat_world.app[CHAT].store
    foreign = "99999999-9999-4999-8999-999999999999"
    cid = conversation_key(foreign, "19:x@thread.tacv2;messageid=1")
    await store.add_customer_message(
        "teams:foreign:1",
        ConversationSeed(cid, foreign, "Fabrikam", Place("general", "General"), "c", "t", {}),
        NewMessage("m1", "customer", Person("u", "U"), "hello"),
        ack_at=None,
    )
    assert await chat_world.conversations() == []
    status, _ = await chat_world.answer(cid, "hi")
    assert status == 404
    assert (await chat_world.get_signed(f"/api/chat/conversations/{cid}"))[0] == 404


async def test_the_openapi_document_describes_the_chat_api(chat_world: ChatWorld) -> None:
    status, doc = await chat_world.get_signed("/api/openapi.json", sign=False)
    assert status == 200
    paths = doc["paths"]
    assert "/api/chat/conversations/{id}/messages" in paths
    assert "/api/chat/events" in paths and "/api/chat/conversations" in paths
