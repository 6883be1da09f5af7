"""The chat transcript's SQLite tables and how their rows map to the chat model (used by
:mod:`bot.storage.sqlite_chat`; PostgreSQL gets the same tables from its migrations)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from bot.chat.model import (
    Attachment,
    ChatEvent,
    ChatMessage,
    Conversation,
    LeasedSend,
    Outgoing,
    Person,
)
from bot.chat.ports import NewMessage

Clock = Callable[[], float]
MAX_ERROR = 500
PREVIEW = 200

SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_conversations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    tenant_name TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    incident_id TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT '',
    teams_conversation_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_at REAL NOT NULL,
    last_text TEXT NOT NULL DEFAULT '',
    last_role TEXT NOT NULL DEFAULT '',
    unread INTEGER NOT NULL DEFAULT 0,
    waiting INTEGER NOT NULL DEFAULT 0,
    ack_due_at REAL,
    last_ack_at REAL,
    attachment_notice_at REAL,
    open INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS chat_conversations_last ON chat_conversations(last_at);
CREATE INDEX IF NOT EXISTS chat_conversations_ack ON chat_conversations(ack_due_at)
    WHERE ack_due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS chat_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    role TEXT NOT NULL,
    author_id TEXT NOT NULL,
    author_name TEXT NOT NULL,
    text TEXT NOT NULL,
    attachments TEXT NOT NULL DEFAULT '[]',
    teams_activity_id TEXT NOT NULL DEFAULT '',
    request_id TEXT,
    at REAL NOT NULL,
    edited_at REAL,
    deleted_at REAL,
    delivery TEXT NOT NULL DEFAULT 'received',
    delivery_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS chat_messages_conversation ON chat_messages(conversation_id, seq);
CREATE INDEX IF NOT EXISTS chat_messages_activity ON chat_messages(tenant_id, teams_activity_id)
    WHERE teams_activity_id != '';
CREATE UNIQUE INDEX IF NOT EXISTS chat_messages_request ON chat_messages(request_id)
    WHERE request_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS chat_events (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    body TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_receipts (
    id TEXT PRIMARY KEY,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    partition TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    card TEXT,
    text TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    enqueued_at REAL NOT NULL,
    available_at REAL NOT NULL,
    lease_until REAL,
    finished_at REAL,
    activity_id TEXT NOT NULL DEFAULT '',
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS chat_outbox_open ON chat_outbox(partition, seq)
    WHERE state IN ('pending', 'leased');
CREATE INDEX IF NOT EXISTS chat_outbox_due ON chat_outbox(available_at) WHERE state = 'pending';
"""

CONVERSATION_COLUMNS = (
    "id, tenant_id, tenant_name, kind, title, incident_id, severity, status, "
    "teams_conversation_id, thread_id, reference, created_at, last_at, last_text, last_role, "
    "unread, waiting, ack_due_at, last_ack_at, attachment_notice_at, open"
)
MESSAGE_COLUMNS = (
    "seq, id, conversation_id, role, author_id, author_name, text, attachments, "
    "teams_activity_id, at, edited_at, deleted_at, delivery, delivery_error"
)


SELECT_CONVERSATIONS = f"SELECT {CONVERSATION_COLUMNS} FROM chat_conversations"  # noqa: S608
SELECT_MESSAGES = f"SELECT {MESSAGE_COLUMNS} FROM chat_messages"  # noqa: S608


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def conversation_of(row: tuple[Any, ...]) -> Conversation:
    (cid, tenant, tenant_name, kind, title, incident, severity, status, teams_conv, thread,
     reference, created, last_at, last_text, last_role, unread, waiting, ack_due, last_ack,
     notice, is_open) = row  # fmt: skip
    return Conversation(
        id=cid,
        tenant_id=tenant,
        tenant_name=tenant_name,
        kind=kind,
        title=title,
        incident_id=incident,
        severity=severity,
        status=status,
        teams_conversation_id=teams_conv,
        thread_id=thread,
        reference=json.loads(reference),
        created_at=created,
        last_at=last_at,
        last_text=last_text,
        last_role=last_role,
        unread=unread,
        waiting=bool(waiting),
        ack_due_at=ack_due,
        last_ack_at=last_ack,
        attachment_notice_at=notice,
        open=bool(is_open),
    )


def message_of(row: tuple[Any, ...]) -> ChatMessage:
    (seq, mid, conv, role, author_id, author_name, text, attachments, activity, at, edited,
     deleted, delivery, error) = row  # fmt: skip
    return ChatMessage(
        id=mid,
        seq=seq,
        conversation_id=conv,
        role=role,
        author=Person(author_id, author_name),
        text=text,
        at=at,
        teams_activity_id=activity,
        attachments=tuple(Attachment(a["name"], a["contentType"]) for a in json.loads(attachments)),
        edited_at=edited,
        deleted_at=deleted,
        delivery=delivery,
        delivery_error=error,
    )


def attachments_json(attachments: tuple[Attachment, ...]) -> str:
    return dumps([{"name": a.name, "contentType": a.content_type} for a in attachments])


def preview(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW else line[: PREVIEW - 1] + "…"


def get_conversation(conn: sqlite3.Connection, cid: str) -> Conversation | None:
    row = conn.execute(
        SELECT_CONVERSATIONS + " WHERE id = ?",
        (cid,),
    ).fetchone()
    return None if row is None else conversation_of(row)


def get_message(conn: sqlite3.Connection, mid: str) -> ChatMessage:
    row = conn.execute(
        SELECT_MESSAGES + " WHERE id = ?",
        (mid,),
    ).fetchone()
    return message_of(row)


def insert_event(
    conn: sqlite3.Connection, kind: str, conversation_id: str, body: dict[str, Any], at: float
) -> ChatEvent:
    cursor = conn.execute(
        "INSERT INTO chat_events(type, conversation_id, body, at) VALUES (?, ?, ?, ?)",
        (kind, conversation_id, dumps(body), at),
    ).lastrowid
    assert cursor is not None
    return ChatEvent(cursor, kind, conversation_id, body, at)


def insert_message(
    conn: sqlite3.Connection,
    cid: str,
    tenant: str,
    m: NewMessage,
    at: float,
    delivery: str,
    request_id: str | None,
) -> None:
    conn.execute(
        "INSERT INTO chat_messages(id, conversation_id, tenant_id, role, author_id, "
        "author_name, text, attachments, teams_activity_id, request_id, at, delivery) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            m.id,
            cid,
            tenant,
            m.role,
            m.author.id,
            m.author.name,
            m.text,
            attachments_json(m.attachments),
            m.teams_activity_id,
            request_id,
            at,
            delivery,
        ),
    )


def leased_send_of(row: tuple[Any, ...]) -> LeasedSend:
    """A leased outbox row as the send it asks for: ``seq, id, partition, tenant_id, thread_id,
    reference, card, text, message_id, attempts``, the same columns on SQLite and PostgreSQL."""
    seq, sid, part, tenant, thread, ref, card, text, mid, attempts = row
    outgoing = Outgoing(
        id=sid,
        tenant_id=tenant,
        thread_id=thread,
        partition=part,
        reference=json.loads(ref),
        card=None if card is None else json.loads(card),
        text=text,
        message_id=mid,
    )
    return LeasedSend(outgoing, seq, attempts)


def enqueue(conn: sqlite3.Connection, send: Outgoing, at: float) -> None:
    conn.execute(
        "INSERT INTO chat_outbox(id, partition, tenant_id, thread_id, reference, card, text, "
        "message_id, enqueued_at, available_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            send.id,
            send.partition,
            send.tenant_id,
            send.thread_id,
            dumps(send.reference),
            None if send.card is None else dumps(send.card),
            send.text,
            send.message_id,
            at,
            at,
        ),
    )
