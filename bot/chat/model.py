"""The chat's plain shapes: what the transport hands in, what the store keeps, what is shown."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

JSON = dict[str, Any]

Role = Literal["customer", "expert", "assistant"]
Delivery = Literal["received", "sending", "posted", "failed"]
ConversationKind = Literal["incident", "general", "personal"]

ASSISTANT_NAME = "Defender Experts virtual assistant"


@dataclass(frozen=True)
class Person:
    id: str
    name: str


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str


@dataclass(frozen=True)
class TeamsMessage:
    """A message activity from Teams, parsed by the transport. Everything in it is untrusted.

    ``conversation_id`` is Teams' (a thread's is ``<channel>;messageid=<root>``); ``root_id``
    is that root, or "" outside a thread; ``reference`` is the opaque conversation reference
    to answer in the same conversation.
    """

    tenant_id: str
    activity_id: str
    conversation_id: str
    conversation_type: str
    sender: Person
    from_bot: bool
    text: str
    text_format: str = "xml"
    team_id: str = ""
    team_aad_group_id: str = ""
    channel_id: str = ""
    root_id: str = ""
    bot_mention_names: frozenset[str] = frozenset()
    attachments: tuple[Attachment, ...] = ()
    reference: JSON = field(default_factory=dict)

    @property
    def is_thread_reply(self) -> bool:
        return bool(self.root_id) and self.root_id != self.activity_id


@dataclass(frozen=True)
class TeamsChange:
    """Teams' messageUpdate (an edit) or messageDelete (a soft delete) of a message."""

    tenant_id: str
    activity_id: str
    conversation_id: str
    deleted: bool
    text: str = ""
    text_format: str = "xml"
    bot_mention_names: frozenset[str] = frozenset()
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Expert:
    """A signed-in expert (console) or the provider's system (API), as the answer's author."""

    id: str
    name: str


@dataclass(frozen=True)
class Place:
    """Where a conversation lives in Teams, resolved from a message: an incident's thread, the
    welcome post's thread (general), or a personal chat."""

    kind: ConversationKind
    title: str
    incident_id: str = ""
    severity: str = ""
    status: str = ""


def conversation_key(tenant_id: str, teams_conversation_id: str) -> str:
    """Our stable id for a Teams conversation (safe in URLs)."""
    digest = hashlib.sha256(f"{tenant_id.lower()}|{teams_conversation_id}".encode()).hexdigest()
    return f"c_{digest[:24]}"


@dataclass(frozen=True)
class Conversation:
    id: str
    tenant_id: str
    tenant_name: str
    kind: ConversationKind
    title: str
    incident_id: str
    severity: str
    status: str
    teams_conversation_id: str
    thread_id: str
    reference: JSON
    created_at: float
    last_at: float
    last_text: str
    last_role: str
    unread: int
    waiting: bool
    ack_due_at: float | None = None
    last_ack_at: float | None = None
    attachment_notice_at: float | None = None
    open: bool = True
    """Personal chats: the customer's messages go to the experts (after ``ask``, until
    ``stop``). Channel threads are always open."""

    def summary(self) -> JSON:
        return {
            "id": self.id,
            "tenantId": self.tenant_id,
            "tenantName": self.tenant_name,
            "kind": self.kind,
            "title": self.title,
            "incidentId": self.incident_id or None,
            "severity": self.severity or None,
            "status": self.status or None,
            "lastAt": self.last_at,
            "lastText": self.last_text,
            "lastRole": self.last_role,
            "unread": self.unread,
            "waiting": self.waiting,
            "open": self.open,
        }


@dataclass(frozen=True)
class ChatMessage:
    id: str
    seq: int
    conversation_id: str
    role: Role
    author: Person
    text: str
    at: float
    teams_activity_id: str = ""
    attachments: tuple[Attachment, ...] = ()
    edited_at: float | None = None
    deleted_at: float | None = None
    delivery: Delivery = "received"
    delivery_error: str = ""

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "seq": self.seq,
            "conversationId": self.conversation_id,
            "role": self.role,
            "author": {"id": self.author.id, "name": self.author.name},
            "text": "" if self.deleted_at is not None else self.text,
            "at": self.at,
            "attachments": [
                {"name": a.name, "contentType": a.content_type} for a in self.attachments
            ],
            "editedAt": self.edited_at,
            "deletedAt": self.deleted_at,
            "delivery": self.delivery,
            "deliveryError": self.delivery_error or None,
        }


@dataclass(frozen=True)
class ChatEvent:
    """One entry of the event stream; ``cursor`` only grows."""

    cursor: int
    type: str
    conversation_id: str
    body: JSON
    at: float

    @functools.cached_property
    def frame(self) -> str:
        """The event as one JSON text, serialized once however many consoles receive it."""
        return json.dumps(self.to_json(), separators=(",", ":"))

    def to_json(self) -> JSON:
        return {
            "id": self.cursor,
            "type": self.type,
            "conversationId": self.conversation_id,
            "at": self.at,
            **self.body,
        }


@dataclass(frozen=True)
class Outgoing:
    """A message for Teams, in the outbox. ``card`` is Adaptive Card JSON, or ``text``."""

    id: str
    tenant_id: str
    thread_id: str
    partition: str
    reference: JSON
    card: JSON | None = None
    text: str = ""
    message_id: str = ""
    """The transcript message whose delivery state this send decides ("" for a notice)."""


@dataclass(frozen=True)
class LeasedSend:
    outgoing: Outgoing
    seq: int
    attempts: int
