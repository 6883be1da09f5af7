"""Scenario: the console over HTTP and its WebSocket, signed in with the development sign-in
(local mode), against the real app."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.chat.support import ChatWorld, next_event

Session = dict[str, str]


async def sign_in(world: ChatWorld) -> str:
    """The development sign-in as the first demo expert; returns the CSRF token."""
    response = await world.client.post(
        "/console/auth/dev", data={"expert": "demo-expert-1"}, allow_redirects=False
    )
    assert response.status == 303
    me = await (await world.client.get("/console/api/me")).json()
    assert me["expert"]["name"] == "Jordan Avery" and me["devSignIn"]
    return str(me["csrf"])


def origin(world: ChatWorld) -> str:
    return str(world.client.make_url("")).rstrip("/")


async def test_the_console_sees_a_reply_live_and_answers_it(chat_world: ChatWorld) -> None:
    csrf = await sign_in(chat_world)
    post_id = await chat_world.incident()
    ws = await chat_world.client.ws_connect("/console/ws", headers={"Origin": origin(chat_world)})
    assert (await next_event(ws, "ready"))["id"] == 0
    reply = chat_world.activity(
        text='<div>Is <img src=x onerror=alert(1)> ok? <at id="0">Megan Bowen</at></div>',
        root=post_id,
    )
    await chat_world.send(reply)
    event = await next_event(ws, "message")
    message = event["message"]
    assert message["text"] == "Is ok? @Megan Bowen"
    assert message["attachments"] == [{"name": "inline image", "contentType": "image"}]
    conversation_id = message["conversationId"]

    listed = await (await chat_world.client.get("/console/api/conversations?waiting=1")).json()
    assert [c["id"] for c in listed["conversations"]] == [conversation_id]
    target = f"/console/api/conversations/{conversation_id}/messages"
    refused = await chat_world.client.post(target, json={"text": "hello"})
    assert refused.status == 403
    forged = await chat_world.client.post(
        target, json={"text": "hello"}, headers={"X-CSRF-Token": "forged"}
    )
    assert forged.status == 403
    other = await chat_world.client.post(
        target,
        json={"text": "hello"},
        headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
    )
    assert other.status == 403
    sent = await chat_world.client.post(
        target, json={"text": "We're on it."}, headers={"X-CSRF-Token": csrf}
    )
    assert sent.status == 202
    answer_id = (await sent.json())["message"]["id"]
    while True:
        event = await next_event(ws, "message.delivery")
        if event["message"]["id"] == answer_id:
            break
    assert event["message"]["delivery"] == "posted"
    await ws.close()
    replies = [op for op in chat_world.connector.of_kind("reply") if "We're on it." in str(op.card)]
    assert len(replies) == 1


@pytest.mark.parametrize(
    ("text", "status"),
    [("", 422), ("   ", 422), ("bell\x07", 422), ("x" * 20_001, 422), (42, 422)],
)
async def test_bad_answers_are_refused_and_store_nothing(
    chat_world: ChatWorld, text: Any, status: int
) -> None:
    csrf = await sign_in(chat_world)
    post_id = await chat_world.incident()
    await chat_world.send(chat_world.activity(text="hello", root=post_id))
    (conversation,) = await chat_world.conversations()
    before = await chat_world.transcript(conversation["id"])
    response = await chat_world.client.post(
        f"/console/api/conversations/{conversation['id']}/messages",
        json={"text": text},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status == status
    body = await response.json()
    assert body["error"]["code"] == "invalid" and body["error"]["message"]
    after = await chat_world.transcript(conversation["id"])
    customer = [m for m in after["messages"] if m["role"] != "assistant"]
    assert len(customer) == len([m for m in before["messages"] if m["role"] != "assistant"])


async def test_unknown_conversation_and_expired_session(chat_world: ChatWorld) -> None:
    csrf = await sign_in(chat_world)
    response = await chat_world.client.post(
        "/console/api/conversations/c_000000000000000000000000/messages",
        json={"text": "hi"},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status == 404
    chat_world.client.session.cookie_jar.clear()
    assert (await chat_world.client.get("/console/api/conversations")).status == 401
    page = await chat_world.client.get("/console", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/console/sign-in"


async def test_the_websocket_checks_the_session_and_the_origin(chat_world: ChatWorld) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as no_session:
        await chat_world.client.ws_connect("/console/ws", headers={"Origin": origin(chat_world)})
    assert no_session.value.status == 401
    await sign_in(chat_world)
    with pytest.raises(aiohttp.WSServerHandshakeError) as foreign:
        await chat_world.client.ws_connect(
            "/console/ws", headers={"Origin": "https://evil.example"}
        )
    assert foreign.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as missing:
        await chat_world.client.ws_connect("/console/ws")
    assert missing.value.status == 403


async def test_a_dropped_connection_resumes_after_its_last_event(chat_world: ChatWorld) -> None:
    await sign_in(chat_world)
    post_id = await chat_world.incident()
    ws = await chat_world.client.ws_connect("/console/ws", headers={"Origin": origin(chat_world)})
    await next_event(ws, "ready")
    await chat_world.send(chat_world.activity(text="first", root=post_id))
    first = await next_event(ws, "message")
    await ws.close()
    await chat_world.send(chat_world.activity(text="second", root=post_id))
    await chat_world.send(chat_world.activity(text="third", root=post_id))
    ws = await chat_world.client.ws_connect(
        f"/console/ws?after={first['id']}", headers={"Origin": origin(chat_world)}
    )
    seen: list[dict[str, Any]] = []
    while True:
        frame = json.loads((await ws.receive(timeout=10)).data)
        if frame["type"] == "ready":
            break
        seen.append(frame)
    await ws.close()
    ids = [e["id"] for e in seen]
    assert ids == sorted(set(ids)) and all(i > first["id"] for i in ids)
    texts = [e["message"]["text"] for e in seen if e["type"] == "message"]
    customer = [t for t in texts if t in ("first", "second", "third")]
    assert customer == ["second", "third"]
