"""The chat store on SQLite: tables beside the store's ``documents`` and the notifications
ledger, in the same database, so that a message, its event and its send commit together."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from bot.chat.model import (
    JSON,
    Attachment,
    ChatEvent,
    ChatMessage,
    Conversation,
    LeasedSend,
    Outgoing,
)
from bot.chat.ports import (
    BotMessage,
    ChatNotFound,
    ChatStore,
    ConversationFilter,
    ConversationSeed,
    DuplicateAnswer,
    NewMessage,
    Written,
)
from bot.storage.sqlite import SqliteStore
from bot.storage.sqlite_chat_rows import (
    MAX_ERROR,
    SCHEMA,
    SELECT_CONVERSATIONS,
    SELECT_MESSAGES,
    Clock,
    attachments_json,
    conversation_of,
    dumps,
    enqueue,
    get_conversation,
    get_message,
    insert_event,
    insert_message,
    leased_send_of,
    message_of,
    preview,
)

T = TypeVar("T")


class SqliteChatStore(ChatStore):
    """Every method runs in one transaction on the store's connection (serialized, fsync'd)."""

    def __init__(self, store: SqliteStore, clock: Clock = time.time) -> None:
        self._store = store
        self._clock = clock

        def create(conn: sqlite3.Connection) -> None:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

        store.run_locked(create)

    async def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._store.transaction(fn)

    # ---- helpers inside a transaction -------------------------------------------------------

    def _conversation_event(self, conn: sqlite3.Connection, cid: str, at: float) -> ChatEvent:
        conversation = get_conversation(conn, cid)
        assert conversation is not None
        return insert_event(conn, "conversation", cid, {"conversation": conversation.summary()}, at)

    # ---- writes -----------------------------------------------------------------------------

    async def add_customer_message(
        self, receipt: str, seed: ConversationSeed, message: NewMessage, *, ack_at: float | None
    ) -> Written | None:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> Written | None:
            try:
                conn.execute("INSERT INTO chat_receipts(id, at) VALUES (?, ?)", (receipt, now))
            except sqlite3.IntegrityError:
                return None
            place = seed.place
            conn.execute(
                "INSERT INTO chat_conversations(id, tenant_id, tenant_name, kind, title, "
                "incident_id, severity, status, teams_conversation_id, thread_id, reference, "
                "created_at, last_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET title = excluded.title, "
                "severity = excluded.severity, status = excluded.status, "
                "tenant_name = excluded.tenant_name",
                (
                    seed.id,
                    seed.tenant_id,
                    seed.tenant_name,
                    place.kind,
                    place.title,
                    place.incident_id,
                    place.severity,
                    place.status,
                    seed.teams_conversation_id,
                    seed.thread_id,
                    dumps(seed.reference),
                    now,
                    now,
                ),
            )
            insert_message(conn, seed.id, seed.tenant_id, message, now, "received", None)
            # Two statements rather than "CASE WHEN ? IS NULL": PostgreSQL can't type a NULL
            # parameter there.
            conn.execute(
                "UPDATE chat_conversations SET last_at = ?, last_text = ?, last_role = 'customer', "
                "unread = unread + 1, waiting = 1 WHERE id = ?",
                (now, preview(message.text), seed.id),
            )
            if ack_at is not None:
                conn.execute(
                    "UPDATE chat_conversations SET ack_due_at = COALESCE(ack_due_at, ?) "
                    "WHERE id = ?",
                    (ack_at, seed.id),
                )
            stored = get_message(conn, message.id)
            events = (
                insert_event(conn, "message", seed.id, {"message": stored.to_json()}, now),
                self._conversation_event(conn, seed.id, now),
            )
            return Written(stored, events, get_conversation(conn, seed.id))

        return await self._tx(op)

    async def open_conversation(self, seed: ConversationSeed) -> Written:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> Written:
            place = seed.place
            conn.execute(
                "INSERT INTO chat_conversations(id, tenant_id, tenant_name, kind, title, "
                "teams_conversation_id, thread_id, reference, created_at, last_at, open) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT(id) DO UPDATE SET open = 1, "
                "reference = excluded.reference, title = excluded.title",
                (
                    seed.id,
                    seed.tenant_id,
                    seed.tenant_name,
                    place.kind,
                    place.title,
                    seed.teams_conversation_id,
                    seed.thread_id,
                    dumps(seed.reference),
                    now,
                    now,
                ),
            )
            event = self._conversation_event(conn, seed.id, now)
            return Written(events=(event,), conversation=get_conversation(conn, seed.id))

        return await self._tx(op)

    async def close_conversation(self, conversation_id: str) -> Written | None:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> Written | None:
            done = conn.execute(
                "UPDATE chat_conversations SET open = 0, ack_due_at = NULL "
                "WHERE id = ? AND open = 1",
                (conversation_id,),
            )
            if done.rowcount != 1:
                return None
            return Written(events=(self._conversation_event(conn, conversation_id, now),))

        return await self._tx(op)

    async def add_bot_message(self, unit: BotMessage) -> Written | None:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> Written | None:
            conversation = get_conversation(conn, unit.conversation_id)
            if conversation is None:
                raise ChatNotFound(unit.conversation_id)
            if unit.request_id:
                row = conn.execute(
                    "SELECT id FROM chat_messages WHERE request_id = ?", (unit.request_id,)
                ).fetchone()
                if row is not None:
                    raise DuplicateAnswer(unit.request_id, row[0])
            if unit.mark == "attachments":
                done = conn.execute(
                    "UPDATE chat_conversations SET attachment_notice_at = ? "
                    "WHERE id = ? AND attachment_notice_at IS NULL",
                    (now, unit.conversation_id),
                )
                if done.rowcount != 1:
                    return None
            elif unit.mark == "ack":
                done = conn.execute(
                    "UPDATE chat_conversations SET last_ack_at = ?, ack_due_at = NULL "
                    "WHERE id = ? AND ack_due_at IS NOT NULL AND ack_due_at <= ? "
                    "AND (last_ack_at IS NULL OR last_ack_at <= ?)",
                    (now, unit.conversation_id, now, now - unit.ack_quiet),
                )
                if done.rowcount != 1:
                    conn.execute(
                        "UPDATE chat_conversations SET ack_due_at = NULL "
                        "WHERE id = ? AND ack_due_at <= ?",
                        (unit.conversation_id, now),
                    )
                    return None
            insert_message(
                conn,
                unit.conversation_id,
                conversation.tenant_id,
                unit.message,
                now,
                "sending",
                unit.request_id or None,
            )
            enqueue(conn, unit.send, now)
            if unit.answered:
                conn.execute(
                    "UPDATE chat_conversations SET last_at = ?, last_text = ?, last_role = ?, "
                    "waiting = 0, unread = 0, ack_due_at = NULL WHERE id = ?",
                    (now, preview(unit.message.text), unit.message.role, unit.conversation_id),
                )
            else:
                conn.execute(
                    "UPDATE chat_conversations SET last_at = ?, last_text = ?, last_role = ? "
                    "WHERE id = ?",
                    (now, preview(unit.message.text), unit.message.role, unit.conversation_id),
                )
            stored = get_message(conn, unit.message.id)
            events = (
                insert_event(
                    conn, "message", unit.conversation_id, {"message": stored.to_json()}, now
                ),
                self._conversation_event(conn, unit.conversation_id, now),
            )
            return Written(stored, events, get_conversation(conn, unit.conversation_id))

        return await self._tx(op)

    async def add_notice(self, receipt: str, send: Outgoing) -> bool:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> bool:
            try:
                conn.execute("INSERT INTO chat_receipts(id, at) VALUES (?, ?)", (receipt, now))
            except sqlite3.IntegrityError:
                return False
            enqueue(conn, send, now)
            return True

        return await self._tx(op)

    async def change_customer_message(
        self,
        tenant_id: str,
        teams_activity_id: str,
        *,
        text: str | None,
        attachments: tuple[Attachment, ...] | None,
    ) -> Written | None:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> Written | None:
            row = conn.execute(
                SELECT_MESSAGES + " WHERE tenant_id = ? "
                "AND teams_activity_id = ? AND role = 'customer'",
                (tenant_id.lower(), teams_activity_id),
            ).fetchone()
            if row is None:
                return None
            before = message_of(row)
            if before.deleted_at is not None:
                return None
            if text is None:
                conn.execute(
                    "UPDATE chat_messages SET deleted_at = ?, text = '', attachments = '[]' "
                    "WHERE seq = ?",
                    (now, before.seq),
                )
                kind = "message.deleted"
            else:
                same_attachments = attachments is None or attachments == before.attachments
                if text == before.text and same_attachments:
                    return None
                conn.execute(
                    "UPDATE chat_messages SET text = ?, attachments = ?, edited_at = ? "
                    "WHERE seq = ?",
                    (
                        text,
                        attachments_json(
                            before.attachments if attachments is None else attachments
                        ),
                        now,
                        before.seq,
                    ),
                )
                kind = "message.edited"
            after = get_message(conn, before.id)
            body = {"message": after.to_json()}
            event = insert_event(conn, kind, before.conversation_id, body, now)
            return Written(after, (event,))

        return await self._tx(op)

    async def incident_event(self, tenant_id: str, incident_id: str, body: JSON) -> Written:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> Written:
            rows = conn.execute(
                "SELECT id FROM chat_conversations WHERE tenant_id = ? AND incident_id = ?",
                (tenant_id.lower(), incident_id),
            ).fetchall()
            events = tuple(
                insert_event(conn, "incident.action", cid, {"action": body}, now) for (cid,) in rows
            )
            return Written(events=events)

        return await self._tx(op)

    async def mark_read(self, conversation_id: str) -> Written | None:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> Written | None:
            done = conn.execute(
                "UPDATE chat_conversations SET unread = 0 WHERE id = ? AND unread > 0",
                (conversation_id,),
            )
            if done.rowcount != 1:
                return None
            return Written(events=(self._conversation_event(conn, conversation_id, now),))

        return await self._tx(op)

    # ---- reads ------------------------------------------------------------------------------

    async def conversation(self, conversation_id: str) -> Conversation | None:
        return await self._tx(lambda conn: get_conversation(conn, conversation_id))

    async def conversations(self, query: ConversationFilter) -> list[Conversation]:
        where, args = ["1 = 1"], []
        if query.tenant_id:
            where.append("tenant_id = ?")
            args.append(query.tenant_id.lower())
        if query.waiting:
            where.append("waiting = 1")
        sql = (
            SELECT_CONVERSATIONS + " "
            "WHERE " + " AND ".join(where) + " ORDER BY last_at DESC, id LIMIT ?"
        )

        def op(conn: sqlite3.Connection) -> list[Conversation]:
            return [conversation_of(r) for r in conn.execute(sql, (*args, query.limit))]

        return await self._tx(op)

    async def messages(
        self, conversation_id: str, after_seq: int = 0, limit: int = 200
    ) -> list[ChatMessage]:
        def op(conn: sqlite3.Connection) -> list[ChatMessage]:
            rows = conn.execute(
                SELECT_MESSAGES + " WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (conversation_id, after_seq, limit),
            )
            return [message_of(r) for r in rows]

        return await self._tx(op)

    async def message_by_request(self, request_id: str) -> ChatMessage | None:
        def op(conn: sqlite3.Connection) -> ChatMessage | None:
            row = conn.execute(
                SELECT_MESSAGES + " WHERE request_id = ?",
                (request_id,),
            ).fetchone()
            return None if row is None else message_of(row)

        return await self._tx(op)

    async def events_after(self, cursor: int, limit: int) -> list[ChatEvent]:
        def op(conn: sqlite3.Connection) -> list[ChatEvent]:
            rows = conn.execute(
                "SELECT cursor, type, conversation_id, body, at FROM chat_events "
                "WHERE cursor > ? ORDER BY cursor LIMIT ?",
                (cursor, limit),
            )
            return [ChatEvent(c, t, cid, json.loads(b), at) for c, t, cid, b, at in rows]

        return await self._tx(op)

    async def last_cursor(self) -> int:
        def op(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT MAX(cursor) FROM chat_events").fetchone()
            return int(row[0] or 0)

        return await self._tx(op)

    async def due_acks(self, now: float, limit: int = 100) -> list[Conversation]:
        def op(conn: sqlite3.Connection) -> list[Conversation]:
            rows = conn.execute(
                SELECT_CONVERSATIONS + " "
                "WHERE ack_due_at IS NOT NULL AND ack_due_at <= ? ORDER BY ack_due_at LIMIT ?",
                (now, limit),
            )
            return [conversation_of(r) for r in rows]

        return await self._tx(op)

    async def next_ack_due(self) -> float | None:
        def op(conn: sqlite3.Connection) -> float | None:
            row = conn.execute("SELECT MIN(ack_due_at) FROM chat_conversations").fetchone()
            return None if row[0] is None else float(row[0])

        return await self._tx(op)

    # ---- the outbox -------------------------------------------------------------------------

    async def lease(self, now: float, limit: int, lease_seconds: float) -> list[LeasedSend]:
        def op(conn: sqlite3.Connection) -> list[LeasedSend]:
            rows = conn.execute(
                "SELECT seq, id, partition, tenant_id, thread_id, reference, card, text, "
                "message_id, attempts FROM chat_outbox AS o "
                "WHERE o.state = 'pending' AND o.available_at <= ? AND o.seq = ("
                "  SELECT MIN(p.seq) FROM chat_outbox AS p "
                "  WHERE p.partition = o.partition AND p.state IN ('pending', 'leased')"
                ") ORDER BY o.available_at, o.seq LIMIT ?",
                (now, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE chat_outbox SET state = 'leased', lease_until = ? WHERE seq = ?",
                [(now + lease_seconds, row[0]) for row in rows],
            )
            return [leased_send_of(row) for row in rows]

        return await self._tx(op)

    def _delivery(
        self, conn: sqlite3.Connection, leased: LeasedSend, delivery: str, error: str, now: float
    ) -> Written:
        mid = leased.outgoing.message_id
        if not mid:
            return Written()
        conn.execute(
            "UPDATE chat_messages SET delivery = ?, delivery_error = ? WHERE id = ?",
            (delivery, error[:MAX_ERROR], mid),
        )
        message = get_message(conn, mid)
        event = insert_event(
            conn,
            "message.delivery",
            message.conversation_id,
            {"message": message.to_json()},
            now,
        )
        return Written(message, (event,))

    async def posted(self, leased: LeasedSend, activity_id: str) -> Written:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> Written:
            done = conn.execute(
                "UPDATE chat_outbox SET state = 'done', lease_until = NULL, finished_at = ?, "
                "activity_id = ?, attempts = attempts + 1 WHERE seq = ? AND state = 'leased'",
                (now, activity_id, leased.seq),
            )
            if done.rowcount != 1:
                return Written()
            if leased.outgoing.message_id:
                conn.execute(
                    "UPDATE chat_messages SET teams_activity_id = ? WHERE id = ?",
                    (activity_id, leased.outgoing.message_id),
                )
            return self._delivery(conn, leased, "posted", "", now)

        return await self._tx(op)

    async def retry(self, leased: LeasedSend, *, at: float, error: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE chat_outbox SET state = 'pending', lease_until = NULL, "
                "attempts = attempts + 1, available_at = ?, last_error = ? "
                "WHERE seq = ? AND state = 'leased'",
                (at, error[:MAX_ERROR], leased.seq),
            )

        await self._tx(op)

    async def failed(self, leased: LeasedSend, *, error: str) -> Written:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> Written:
            done = conn.execute(
                "UPDATE chat_outbox SET state = 'dead', lease_until = NULL, finished_at = ?, "
                "attempts = attempts + 1, last_error = ? WHERE seq = ? AND state = 'leased'",
                (now, error[:MAX_ERROR], leased.seq),
            )
            if done.rowcount != 1:
                return Written()
            return self._delivery(conn, leased, "failed", error, now)

        return await self._tx(op)

    async def reclaim(self) -> int:
        def op(conn: sqlite3.Connection) -> int:
            done = conn.execute(
                "UPDATE chat_outbox SET state = 'pending', lease_until = NULL "
                "WHERE state = 'leased'"
            )
            return done.rowcount

        return await self._tx(op)

    async def next_send_due(self) -> float | None:
        def op(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                "SELECT MIN(available_at) FROM chat_outbox WHERE state = 'pending'"
            ).fetchone()
            return None if row[0] is None else float(row[0])

        return await self._tx(op)

    async def close(self) -> None:
        """The connection belongs to the store, which closes it."""


class _PrivateSqlite(SqliteChatStore):
    """For a memory store (tests, no durability asked for): a private in-memory database."""

    def __init__(self, clock: Clock) -> None:
        self._own = SqliteStore(":memory:")
        super().__init__(self._own, clock)

    async def close(self) -> None:
        await self._own.close()


def private_chat_store(clock: Clock) -> ChatStore:
    """A transcript in its own in-memory database, for a memory store (no durability asked)."""
    return _PrivateSqlite(clock)
