"""Scenario: a reply in an incident's thread reaches the experts; the answer goes back there."""

from __future__ import annotations

from bot.chat.model import ASSISTANT_NAME
from tests.chat.support import ChatWorld
from tests.notifications.support import CHANNEL_ID


async def test_a_thread_reply_is_stored_and_the_answer_is_posted_in_that_thread(
    chat_world: ChatWorld,
) -> None:
    post_id = await chat_world.incident()
    reply = chat_world.activity(
        text="<p>We isolated <b>fin-ws-042</b>. What next?</p>", root=post_id
    )
    assert await chat_world.send(reply) == 201
    (conversation,) = await chat_world.conversations()
    assert conversation["kind"] == "incident" and conversation["incidentId"] == "2972395"
    assert conversation["waiting"] and conversation["unread"] == 1
    # No expert has the console open: the virtual assistant acknowledges at once.
    await chat_world.delivered()
    transcript = await chat_world.transcript(conversation["id"])
    message, ack = transcript["messages"]
    assert message["text"] == "We isolated fin-ws-042. What next?"
    assert ack["role"] == "assistant" and ack["author"]["name"] == ASSISTANT_NAME
    assert message["author"]["name"] == "Adele Vance" and message["role"] == "customer"
    assert transcript["incident"]["title"] == "Multi-stage incident on one endpoint"

    status, body = await chat_world.answer(conversation["id"], "Reset jdoe's password <b>now</b>.")
    assert status == 202 and body["message"]["delivery"] == "sending"
    await chat_world.delivered()
    acknowledgement, answer = chat_world.connector.of_kind("reply")
    assert "Defender Experts virtual assistant" in str(acknowledgement.card)
    assert answer.conversation_id == f"{CHANNEL_ID};messageid={post_id}"
    card = answer.card
    assert card is not None
    runs = [i["text"] for b in card["body"] for i in b.get("inlines", [])]
    assert runs[0] == "Jordan Avery" and "Defender Experts" in runs[1]
    assert runs[2] == "Reset jdoe's password <b>now</b>."
    transcript = await chat_world.transcript(conversation["id"])
    assert [m["delivery"] for m in transcript["messages"]] == ["received", "posted", "posted"]
    assert not transcript["conversation"]["waiting"]
