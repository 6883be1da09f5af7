"""The chat's ports: the transcript store, the fan-out to live consoles, incident lookup.

The store keeps conversations, messages, the event stream, receipts and the outbox of sends to
Teams in the same database as the incidents, and every method is one transaction: a message,
its event and its send commit together or not at all. SQLite is the adapter today
(:mod:`bot.storage.sqlite_chat`); a PostgreSQL adapter follows the same contract
(``tests/chat/test_store.py``). Fan-out tells live consoles about committed events: in-process
for one instance (:mod:`bot.chat.fanout`), and between instances through a :class:`Broadcast`
(PostgreSQL's ``LISTEN``/``NOTIFY``) when several share one database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bot.chat.model import (
    JSON,
    Attachment,
    ChatEvent,
    ChatMessage,
    Conversation,
    LeasedSend,
    Outgoing,
    Person,
    Place,
    Role,
)
from bot.errors import BotError


class ChatNotFound(BotError):
    """No such conversation (or not one of a tenant this bot serves)."""


class DuplicateAnswer(BotError):
    """The request id (webhook-id) was already used: nothing was written."""

    def __init__(self, request_id: str, message_id: str) -> None:
        super().__init__(request_id)
        self.message_id = message_id


@dataclass(frozen=True)
class ConversationSeed:
    """What a new conversation starts with; an existing one keeps its id and reference."""

    id: str
    tenant_id: str
    tenant_name: str
    place: Place
    teams_conversation_id: str
    thread_id: str
    reference: JSON


@dataclass(frozen=True)
class NewMessage:
    id: str
    role: Role
    author: Person
    text: str
    teams_activity_id: str = ""
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Written:
    """What a write committed: the message (if any) and the events to publish."""

    message: ChatMessage | None = None
    events: tuple[ChatEvent, ...] = ()
    conversation: Conversation | None = None


Mark = Literal["ack", "attachments"]


@dataclass(frozen=True)
class BotMessage:
    """An expert's answer or an assistant's message, with its send to Teams.

    ``mark`` makes it conditional, checked in the same transaction: ``"attachments"`` only if
    the thread had no attachment notice yet; ``"ack"`` only if an acknowledgement is due at
    ``now`` and none was sent in the last ``ack_quiet`` seconds.
    """

    conversation_id: str
    message: NewMessage
    send: Outgoing
    request_id: str = ""
    answered: bool = False
    """An expert's answer: the conversation no longer waits, and a pending acknowledgement is
    cancelled."""
    mark: Mark | None = None
    ack_quiet: float = 1800.0


@dataclass(frozen=True)
class ConversationFilter:
    tenant_id: str = ""
    waiting: bool = False
    limit: int = 100


@dataclass(frozen=True)
class Transcript:
    conversation: Conversation
    messages: tuple[ChatMessage, ...] = field(default_factory=tuple)


class ChatStore(Protocol):
    async def add_customer_message(
        self, receipt: str, seed: ConversationSeed, message: NewMessage, *, ack_at: float | None
    ) -> Written | None:
        """Record a customer's message once per ``receipt`` (None if already recorded). Creates
        the conversation or updates it (last message, unread, waiting); schedules an
        acknowledgement at ``ack_at`` unless one is already pending."""
        ...

    async def open_conversation(self, seed: ConversationSeed) -> Written:
        """Create or reopen a personal chat's conversation (``ask``)."""
        ...

    async def close_conversation(self, conversation_id: str) -> Written | None:
        """``stop``: the customer's messages no longer go to the experts."""
        ...

    async def add_bot_message(self, unit: BotMessage) -> Written | None:
        """Record the message, enqueue its send and its event. None if ``mark`` didn't hold.
        Raises ChatNotFound, or DuplicateAnswer for a repeated ``request_id``."""
        ...

    async def add_notice(self, receipt: str, send: Outgoing) -> bool:
        """Enqueue a send that belongs to no conversation, once per ``receipt``."""
        ...

    async def change_customer_message(
        self,
        tenant_id: str,
        teams_activity_id: str,
        *,
        text: str | None,
        attachments: tuple[Attachment, ...] | None,
    ) -> Written | None:
        """An edit (``text`` set) or a deletion (``text`` None). None if unknown or unchanged."""
        ...

    async def conversation(self, conversation_id: str) -> Conversation | None: ...

    async def conversations(self, query: ConversationFilter) -> list[Conversation]:
        """Newest activity first."""
        ...

    async def messages(
        self, conversation_id: str, after_seq: int = 0, limit: int = 200
    ) -> list[ChatMessage]: ...

    async def message_by_request(self, request_id: str) -> ChatMessage | None: ...

    async def mark_read(self, conversation_id: str) -> Written | None: ...

    async def incident_event(self, tenant_id: str, incident_id: str, body: JSON) -> Written:
        """A customer's action on an incident's card, as an event of each of its
        conversations."""
        ...

    async def events_after(self, cursor: int, limit: int) -> list[ChatEvent]:
        """Events with a cursor above ``cursor``, oldest first."""
        ...

    async def last_cursor(self) -> int: ...

    async def due_acks(self, now: float, limit: int = 100) -> list[Conversation]: ...

    async def next_ack_due(self) -> float | None: ...

    # ---- the outbox -------------------------------------------------------------------------

    async def lease(self, now: float, limit: int, lease_seconds: float) -> list[LeasedSend]:
        """Due sends, at most one per partition (the oldest open one), in order."""
        ...

    async def posted(self, leased: LeasedSend, activity_id: str) -> Written:
        """The send reached Teams: done, and its message is posted."""
        ...

    async def retry(self, leased: LeasedSend, *, at: float, error: str) -> None: ...

    async def failed(self, leased: LeasedSend, *, error: str) -> Written:
        """Give up: the send is dead and its message shows the reason."""
        ...

    async def reclaim(self) -> int:
        """After a restart: sends leased by the dead process are due again."""
        ...

    async def next_send_due(self) -> float | None: ...

    async def close(self) -> None: ...


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[ChatEvent]: ...

    def close(self) -> None: ...


class Fanout(Protocol):
    """Tells every live subscriber about committed events, in cursor order."""

    def publish(self, events: tuple[ChatEvent, ...]) -> None: ...

    def subscribe(self) -> Subscription: ...


BroadcastListener = Callable[[dict[str, Any]], Awaitable[None] | None]


class Broadcast(Protocol):
    """Small JSON messages to every instance sharing the database (this one included), in the
    order they were published. Messages carry ids only: the rest is read from the store."""

    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...

    async def subscribe(self, channel: str, listener: BroadcastListener) -> None: ...

    async def close(self) -> None: ...


class Presence(Protocol):
    """Expert consoles open on the other instances (this one counts its own)."""

    def changed(self, online: int) -> None:
        """This instance now has ``online`` consoles open."""
        ...

    @property
    def elsewhere(self) -> int: ...


@dataclass(frozen=True)
class IncidentSummary:
    """What the console shows beside an incident's conversation."""

    incident_id: str
    title: str
    severity: str
    status: str
    summary: str
    pending_actions: tuple[JSON, ...] = ()
    acknowledged_by: str = ""
    web_url: str = ""

    def to_json(self) -> JSON:
        return {
            "incidentId": self.incident_id,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "summary": self.summary,
            "pendingActions": list(self.pending_actions),
            "acknowledgedBy": self.acknowledged_by or None,
            "webUrl": self.web_url or None,
        }


class Places(Protocol):
    """Which bot post a thread belongs to, and the incidents' summaries (read only)."""

    async def place_of_thread(self, tenant_id: str, team: TeamRef, root_id: str) -> Place | None:
        """The incident (or the welcome post) whose post is ``root_id`` in the tenant's
        Defender Experts team; None if the root isn't a Defender Experts post there."""
        ...

    async def is_our_team(self, tenant_id: str, team: TeamRef) -> bool: ...

    async def incident(self, tenant_id: str, incident_id: str) -> IncidentSummary | None: ...

    async def tenant_name(self, tenant_id: str) -> str: ...

    async def personal_reference(self, tenant_id: str, user_id: str) -> JSON | None:
        """The conversation reference of the user's personal chat with the bot, if any."""
        ...


@dataclass(frozen=True)
class TeamRef:
    team_id: str
    aad_group_id: str
    channel_id: str


class Askers(Protocol):
    """Who may ask the experts from personal chat: a tenant admin or a contact."""

    async def may_ask(self, tenant_id: str, user_id: str) -> bool: ...
