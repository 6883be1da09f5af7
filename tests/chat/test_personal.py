"""Scenario: asking the experts from personal chat."""

from __future__ import annotations

from typing import Any

from tests.chat.support import ChatWorld
from tests.notifications.support import BOT_ID, TENANT
from tests.support import ADELE, ALEX, texts


def personal(world: ChatWorld, who: Any, text: str, n: int) -> dict[str, Any]:
    return {
        "type": "message",
        "id": f"p-{who.user_id[-2:]}-{n}",
        "channelId": "msteams",
        "serviceUrl": world.connector.url,
        "from": {"id": f"29:{who.user_id}", "aadObjectId": who.user_id, "name": who.name},
        "recipient": {"id": f"28:{BOT_ID}", "name": "Defender Experts"},
        "conversation": {
            "id": f"a:personal-{who.user_id[-2:]}",
            "conversationType": "personal",
            "tenantId": TENANT,
        },
        "channelData": {"tenant": {"id": TENANT}},
        "text": text,
    }


def sent_cards(world: ChatWorld) -> list[str]:
    return [texts(op.card) for op in world.connector.ops if op.card]


async def test_an_admin_asks_and_the_answer_comes_back_in_the_chat(chat_world: ChatWorld) -> None:
    assert await chat_world.send(personal(chat_world, ALEX, "hello?", 1)) == 201
    assert "What I can do" in sent_cards(chat_world)[-1]  # not asking yet: help
    assert await chat_world.conversations() == []
    await chat_world.send(personal(chat_world, ALEX, "ask", 2))
    card = sent_cards(chat_world)[-1]
    assert "You're talking to Defender Experts" in card and "stop" in card
    await chat_world.send(personal(chat_world, ALEX, "Can you check our exclusions?", 3))
    await chat_world.send(personal(chat_world, ALEX, "settings", 4))
    assert any("Edit" in card for card in sent_cards(chat_world))  # settings still answers
    (conversation,) = await chat_world.conversations()
    assert conversation["kind"] == "personal" and conversation["title"] == "Alex Wilber"
    messages = (await chat_world.transcript(conversation["id"]))["messages"]
    assert [m["text"] for m in messages if m["role"] == "customer"] == [
        "Can you check our exclusions?"
    ]
    status, _ = await chat_world.answer(conversation["id"], "Yes, they look right.")
    assert status == 202
    await chat_world.delivered()
    answers = [op for op in chat_world.connector.ops if "they look right" in str(op.card)]
    assert len(answers) == 1 and answers[0].conversation_id == "a:personal-01"
    await chat_world.send(personal(chat_world, ALEX, "stop", 5))
    assert "ended" in sent_cards(chat_world)[-1]
    await chat_world.send(personal(chat_world, ALEX, "one more thing", 6))
    assert "What I can do" in sent_cards(chat_world)[-1]


async def test_someone_who_is_neither_admin_nor_contact_is_told_who_may_ask(
    chat_world: ChatWorld,
) -> None:
    await chat_world.send(personal(chat_world, ADELE, "ask", 1))
    card = sent_cards(chat_world)[-1]
    assert "Only your organization's Global or Security Administrators" in card
    assert "To become a contact" in card
    await chat_world.send(personal(chat_world, ADELE, "please help", 2))
    assert await chat_world.conversations() == []
