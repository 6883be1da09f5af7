"""The change card reaches the personal chats of administrators only."""

from __future__ import annotations

from bot.conversations import ConversationService
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
    chats = StoredAdminChats(conversations, directory, messenger)
    card = message_card(MessageView(title="Service status", text="Something changed"))
    assert await chats.send_to_admins(TENANT, card) == 2
    assert sorted(s.conversation_id for s in messenger.of_kind("reply")) == [
        "chat-Alex Wilber",
        "chat-Megan Bowen",
    ]
    assert all((s.card or {}).get("type") == "AdaptiveCard" for s in messenger.sent)
