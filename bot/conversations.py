"""Conversation references: where the bot can write later, kept by this service for the others.

The edge hands over the reference of every conversation a user writes in; services read a user's
personal chat under :func:`personal_chat_key` (never by retyping the storage key).
References are opaque JSON to the services; only the ChannelMessenger interprets them.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from bot.actions import Actor
from bot.errors import ConcurrencyError
from bot.storage import Store

JSON = dict[str, Any]

_KNOWN = 10_000


def conversation_key(conversation_id: str) -> str:
    return f"conversations/{conversation_id}/reference"


def _users_prefix(tenant_id: str) -> str:
    return f"tenants/{tenant_id.lower()}/users/"


_CHAT = "/chat"


def personal_chat_key(tenant_id: str, user_id: str) -> str:
    """Where the reference of a user's personal chat with the bot is kept."""
    return f"{_users_prefix(tenant_id)}{user_id.lower()}{_CHAT}"


def _welcomed_key(conversation_id: str) -> str:
    return f"conversations/{conversation_id}/welcomed"


class ConversationService:
    """Keeps conversation references; writes only when one changed since this process saw it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._known: OrderedDict[str, str] = OrderedDict()

    async def remember(
        self, actor: Actor, conversation_id: str, conversation_type: str, reference: JSON
    ) -> None:
        """Keep the reference of a conversation the actor wrote in (and of their personal chat)."""
        if not conversation_id:
            return
        key = conversation_key(conversation_id)
        fingerprint = json.dumps(reference, sort_keys=True)
        if self._known.get(key) == fingerprint:
            return
        await self._store.write(key, reference, etag="*")
        if conversation_type == "personal" and actor.user_id:
            await self._store.write(
                personal_chat_key(actor.tenant_id, actor.user_id), reference, etag="*"
            )
        self._known[key] = fingerprint
        if len(self._known) > _KNOWN:
            self._known.popitem(last=False)

    async def reference(self, conversation_id: str) -> JSON | None:
        item = await self._store.read(conversation_key(conversation_id))
        return None if item is None else dict(item.value)

    async def personal_chats(self, tenant_id: str) -> list[str]:
        """The ids of the tenant's users who have a personal chat with the bot."""
        prefix = _users_prefix(tenant_id)
        return [
            key[len(prefix) : -len(_CHAT)]
            for key in await self._store.list_keys(prefix)
            if key.endswith(_CHAT) and "/" not in key[len(prefix) : -len(_CHAT)]
        ]

    async def personal_chat(self, tenant_id: str, user_id: str) -> JSON | None:
        """The reference of a user's personal chat with the bot, if they ever wrote in one."""
        item = await self._store.read(personal_chat_key(tenant_id, user_id))
        return None if item is None else dict(item.value)

    async def first_welcome(self, conversation_id: str, at: str | None) -> bool:
        """True once per conversation: whether to send the welcome card now."""
        try:
            await self._store.write(_welcomed_key(conversation_id), {"at": at}, etag=None)
        except ConcurrencyError:
            return False
        return True
