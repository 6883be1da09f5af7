"""Chat with the experts end to end: the bot process, the Agents Playground as Teams, and the
expert console's WebSocket. An incident is posted in the Managed response channel; a customer
replies in its thread without mentioning the bot (a custom activity, as Teams delivers it to a
bot with ChannelMessage.Read.Group); the reply reaches the console live; the expert's answer
appears in that thread in the Playground."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.chat.support import next_event
from tests.e2e.harness import BotProcess, PlaygroundClient, frame_cards
from tests.e2e.test_notifications_e2e import (
    bot,
    notify,
    of_incident,
    recorded,
    welcomed,
)
from tests.notifications.support import CHANNEL_ID, TEAM_ID, revised
from tests.support import texts

pytestmark = pytest.mark.e2e
__all__ = ["bot"]  # the notifications e2e's bot: settings committed, Experts API on

ADELE = "user-id-2"


async def console_session(bot: BotProcess) -> tuple[aiohttp.ClientSession, str]:
    """Signed in with the development sign-in (local mode); returns the session and CSRF."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(
        f"{bot.base_url}/console/auth/dev", data={"expert": "demo-expert-2"}, allow_redirects=False
    ) as response:
        assert response.status == 303
    async with http.get(f"{bot.base_url}/console/api/me") as response:
        me = await response.json()
    assert me["expert"]["name"] == "Sam Okafor"
    return http, str(me["csrf"])


async def test_a_thread_reply_reaches_the_console_and_the_answer_the_thread(
    bot: BotProcess, client: PlaygroundClient
) -> None:
    await client.install(TEAM_ID)
    await welcomed(bot, client)
    assert (await notify(bot, revised(1, "6161")))[0] == 202
    post = await client.next_activity(of_incident("6161"), timeout=30)
    post_id = str(post["message"]["messageId"])
    thread = f"{CHANNEL_ID};messageid={post_id}"
    await recorded(bot, "6161", post_id)

    http, csrf = await console_session(bot)
    try:
        ws = await http.ws_connect(f"{bot.base_url}/console/ws", headers={"Origin": bot.base_url})
        await next_event(ws, "ready")
        reply = await client.activity_as(
            thread,
            ADELE,
            "message",
            text="<p>We see the device offline. Is that you?</p>",
            textFormat="xml",
            replyToId=post_id,
        )
        await client.custom_activity(reply)
        event = await next_event(ws, "message")
        message = event["message"]
        assert message["text"] == "We see the device offline. Is that you?"
        assert message["author"]["name"] == "Adele Vance" and message["role"] == "customer"

        async with http.post(
            f"{bot.base_url}/console/api/conversations/{message['conversationId']}/messages",
            json={"text": "Yes: we isolated it. Leave it offline."},
            headers={"X-CSRF-Token": csrf, "Origin": bot.base_url},
        ) as response:
            assert response.status == 202

        def answer_in_thread(frame: dict[str, Any]) -> bool:
            return (
                frame.get("action") == "createMessage"
                and frame.get("actionConversationId") == thread
                and any("we isolated it" in texts(c) for c in frame_cards(frame))
            )

        answer = await client.next_activity(answer_in_thread, timeout=30)
        shown = texts(frame_cards(answer)[0])
        assert "Sam Okafor" in shown and "Defender Experts" in shown
        while True:
            delivery = await next_event(ws, "message.delivery")
            if delivery["message"]["role"] == "expert":
                break
        assert delivery["message"]["delivery"] == "posted"
        await ws.close()
    finally:
        await http.close()
