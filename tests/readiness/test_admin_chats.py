"""The change card reaches the personal chats of administrators only."""

from __future__ import annotations

from typing import Any

from bot.conversations import ConversationService
from bot.notifications.ratelimit import TeamsRateLimiter
from bot.readiness.compose import StoredAdminChats
from bot.storage.memory import MemoryStore
from bot.tenant.demo import DemoTenantDirectory
from cards.messages import message_card
from cards.views import MessageView
from tests.messenger import FakeMessenger
from tests.support import ADELE, ALEX, MEGAN, TENANT


async def test_only_admins_with_a_chat_get_the_card() -> None:
    store = MemoryStore()
    conversations = ConversationService(store)
    for actor in (ALEX, MEGAN, ADELE):
        chat = f"chat-{actor.name}"
        await conversations.remember(actor, chat, "personal", {"conversation": {"id": chat}})
    # A group chat, and another document under the user, are not personal chats.
    await conversations.remember(ALEX, "group", "groupChat", {"conversation": {"id": "group"}})
    await store.write(f"tenants/{TENANT}/users/{ALEX.user_id}/draft", {"x": 1}, etag="*")
    messenger = FakeMessenger()
    directory = DemoTenantDirectory.load()
    chats = StoredAdminChats(conversations, directory, messenger, TeamsRateLimiter())
    card = message_card(MessageView(title="Service status", text="Something changed"))
    assert await chats.send_to_admins(TENANT, card) == 2
    assert sorted(s.conversation_id for s in messenger.of_kind("reply")) == [
        "chat-Alex Wilber",
        "chat-Megan Bowen",
    ]
    assert all((s.card or {}).get("type") == "AdaptiveCard" for s in messenger.sent)


async def test_each_card_waits_for_its_chat_s_slot_of_teams_limits() -> None:
    """Seven calls just went to Alex's chat (the guide's answers, the progress card): the card
    for Alex waits until Teams' one-second window has room."""
    store = MemoryStore()
    conversations = ConversationService(store)
    for actor in (ALEX, MEGAN):
        chat = f"chat-{actor.name}"
        await conversations.remember(actor, chat, "personal", {"conversation": {"id": chat}})
    now = [0.0]
    sent_at: dict[str, float] = {}

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = TeamsRateLimiter(clock=lambda: now[0], sleep=sleep)
    for _ in range(7):
        async with limiter.slot(TENANT, "chat-Alex Wilber"):
            pass

    class Timed(FakeMessenger):
        async def send(
            self, reference: dict[str, Any], *, card: dict[str, Any] | None = None, text: str = ""
        ) -> str:
            sent_at[str(reference["conversation"]["id"])] = now[0]
            return await super().send(reference, card=card, text=text)

    chats = StoredAdminChats(conversations, DemoTenantDirectory.load(), Timed(), limiter)
    card = message_card(MessageView(title="Service status", text="Something changed"))
    assert await chats.send_to_admins(TENANT, card) == 2
    assert sent_at["chat-Alex Wilber"] >= 1.0
