"""The ChannelMessenger port: how services post proactively, without knowing the Bot Framework.

Conversation references are opaque JSON dicts to the services; :mod:`bot.conversations` keeps
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bot.errors import BotError
from bot.retry import RETRYABLE_STATUS

JSON = dict[str, Any]


@dataclass(frozen=True)
class Posted:
    """A new post: the id of its thread conversation, the activity id, and its reference."""

    conversation_id: str
    activity_id: str
    reference: JSON


class DeliveryError(BotError):
    """The connector refused or failed a send.

    ``status`` is the HTTP status (None for a connection error); ``retry_after`` is the wait the
    service asked for, in seconds, if any.
    """

    def __init__(self, message: str, *, status: int | None, retry_after: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRYABLE_STATUS


class ChannelMessenger(Protocol):
    async def post_to_channel(
        self, team_reference: JSON, channel_id: str, *, card: JSON | None = None, text: str = ""
    ) -> Posted:
        """Start a new post (a new thread) in a channel of the team the reference names."""
        ...

    async def send(self, reference: JSON, *, card: JSON | None = None, text: str = "") -> str:
        """Send into the conversation (a chat, or a thread); returns the new activity id."""
        ...

    async def update(self, reference: JSON, activity_id: str, *, card: JSON) -> None:
        """Replace the card of an existing activity in place."""
        ...
