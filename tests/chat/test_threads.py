"""Scenario: a reply in an incident's thread reaches the experts; the answer goes back there."""

from __future__ import annotations

from bot.chat.model import ASSISTANT_NAME
from bot.provisioning.model import teams_key
from cards.incident_views import ACKNOWLEDGE
from tests.chat.support import ChatWorld
from tests.notifications.support import BOT_ID, CHANNEL_ID, MEGAN, TENANT


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


async def test_a_redelivered_activity_is_stored_once(chat_world: ChatWorld) -> None:
    post_id = await chat_world.incident()
    reply = chat_world.activity(text="once", root=post_id)
    assert await chat_world.send(reply) == 201
    assert await chat_world.send(reply) == 201
    (conversation,) = await chat_world.conversations()
    await chat_world.delivered()
    transcript = await chat_world.transcript(conversation["id"])
    assert [m["text"] for m in transcript["messages"] if m["role"] == "customer"] == ["once"]
    assert conversation["unread"] == 1


async def test_a_top_level_post_is_answered_once_in_its_thread_and_not_forwarded(
    chat_world: ChatWorld,
) -> None:
    await chat_world.incident()
    post = chat_world.activity(text="Is anyone there?")
    assert await chat_world.send(post) == 201
    assert await chat_world.send(post) == 201  # Teams redelivers it
    await chat_world.delivered()
    assert await chat_world.conversations() == []
    (notice,) = chat_world.connector.of_kind("reply")
    assert notice.conversation_id == f"{CHANNEL_ID};messageid={post['id']}"
    assert "only see replies to their own posts" in notice.text


async def test_foreign_teams_tenants_bots_and_other_threads_are_never_forwarded(
    chat_world: ChatWorld,
) -> None:
    post_id = await chat_world.incident()
    other_team = chat_world.activity(
        text="x", root=post_id, team="19:other@thread.tacv2", group="11111111-2222-3333-4444-5555"
    )
    other_tenant = chat_world.activity(
        text="x", root=post_id, tenant="99999999-9999-4999-8999-999999999999"
    )
    from_bot = chat_world.activity(
        text="x", root=post_id, **{"from": {"id": "28:another-bot", "name": "Bot", "role": "bot"}}
    )
    ours = chat_world.activity(text="x", root=post_id, **{"from": {"id": f"28:{BOT_ID}"}})
    unknown_root = chat_world.activity(text="x", root="1700000000000")
    for activity in (other_team, other_tenant, from_bot, ours, unknown_root):
        assert await chat_world.send(activity) == 201
    await chat_world.delivered()
    assert await chat_world.conversations() == []
    assert chat_world.connector.of_kind("reply") == []


async def test_attachments_are_listed_and_the_customer_is_told_once_per_thread(
    chat_world: ChatWorld,
) -> None:
    post_id = await chat_world.incident()
    file = {
        "contentType": "reference",
        "contentUrl": "https://contoso.sharepoint.com/evil.pdf",
        "name": "evidence.pdf",
    }
    for text in ("first <attachment id='a1'></attachment>", "second"):
        await chat_world.send(chat_world.activity(text=text, root=post_id, attachments=[file]))
    await chat_world.delivered()
    (conversation,) = await chat_world.conversations()
    messages = (await chat_world.transcript(conversation["id"]))["messages"]
    customer = [m for m in messages if m["role"] == "customer"]
    assert [m["attachments"] for m in customer] == [
        [{"name": "evidence.pdf", "contentType": "reference"}]
    ] * 2
    notices = [m for m in messages if "can't view attachments" in m["text"]]
    assert len(notices) == 1 and notices[0]["role"] == "assistant"
    texts = [op for op in chat_world.connector.of_kind("reply") if "attachments" in str(op.card)]
    assert len(texts) == 1 and "contoso.sharepoint.com" not in str(chat_world.connector.ops)


async def test_edits_and_deletions_update_the_transcript(chat_world: ChatWorld) -> None:
    post_id = await chat_world.incident()
    reply = chat_world.activity(text="draft", root=post_id)
    await chat_world.send(reply)
    edit = dict(
        reply,
        type="messageUpdate",
        text="<p>final <b>answer</b></p>",
        channelData={**reply["channelData"], "eventType": "editMessage"},
    )
    assert await chat_world.send(edit) == 201
    (conversation,) = await chat_world.conversations()
    (message,) = [
        m
        for m in (await chat_world.transcript(conversation["id"]))["messages"]
        if m["role"] == "customer"
    ]
    assert message["text"] == "final answer" and message["editedAt"]
    delete = dict(
        reply,
        type="messageDelete",
        text="",
        channelData={**reply["channelData"], "eventType": "softDeleteMessage"},
    )
    assert await chat_world.send(delete) == 201
    status, events = await chat_world.get_signed("/api/chat/events")
    assert status == 200
    kinds = [e["type"] for e in events["events"]]
    assert "message.edited" in kinds and "message.deleted" in kinds
    (message,) = [
        m
        for m in (await chat_world.transcript(conversation["id"]))["messages"]
        if m["role"] == "customer"
    ]
    assert message["deletedAt"] and message["text"] == ""


async def test_a_reply_to_the_welcome_post_is_a_general_conversation(
    chat_world: ChatWorld,
) -> None:
    item = await chat_world.store.read(teams_key(TENANT))
    assert item is not None
    await chat_world.store.write(
        teams_key(TENANT), {**item.value, "welcomePostId": "1700000000111"}, etag="*"
    )
    await chat_world.send(chat_world.activity(text="hello experts", root="1700000000111"))
    (conversation,) = await chat_world.conversations()
    assert conversation["kind"] == "general" and conversation["title"] == "General"


async def test_a_card_action_on_the_incident_shows_in_its_conversation(
    chat_world: ChatWorld,
) -> None:
    post_id = await chat_world.incident()
    await chat_world.send(chat_world.activity(text="acknowledging now", root=post_id))
    invoke = chat_world.activity(
        root=post_id,
        type="invoke",
        name="adaptiveCard/action",
        who=MEGAN,
        value={
            "action": {
                "type": "Action.Execute",
                "verb": ACKNOWLEDGE,
                "data": {"incidentId": "2972395"},
            },
            "trigger": "manual",
        },
    )
    response = await chat_world.client.post("/api/messages", json=invoke)
    assert response.status == 200
    status, events = await chat_world.get_signed("/api/chat/events")
    assert status == 200
    (action,) = [e for e in events["events"] if e["type"] == "incident.action"]
    assert action["action"]["type"] == "incident.acknowledged"
    assert action["action"]["by"] == "Megan Bowen"
