"""The chat store on PostgreSQL, for several instances on one database.

It runs the SQLite chat store's statements (portable SQL) on PostgreSQL through a small bridge
(placeholders, the new event's cursor, unique violations as ``IntegrityError`` inside a
savepoint), and replaces what must differ between one process and several: leasing takes each
partition's oldest open send with ``FOR UPDATE SKIP LOCKED`` and takes over expired leases, and
a restart gives back only expired leases, never a live instance's. Event cursors are assigned
under a transaction advisory lock, so they become visible in order.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool

from bot.chat.model import LeasedSend
from bot.storage.postgres import PostgresStore
from bot.storage.sqlite_chat import SqliteChatStore
from bot.storage.sqlite_chat_rows import leased_send_of

T = TypeVar("T")
Clock = Callable[[], float]
CHAT_EVENTS_LOCK = 0x44455854_0003


class _Cursor:
    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int, lastrowid: int | None) -> None:
        self._rows = rows
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._rows)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._rows)


class _Bridge:
    """The part of ``sqlite3.Connection`` the chat store uses, on a psycopg connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, statement: str, params: tuple[Any, ...] | list[Any] = ()) -> _Cursor:
        sql = statement.replace("%", "%%").replace("?", "%s")
        is_event = sql.lstrip().startswith("INSERT INTO chat_events")
        if is_event:
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHAT_EVENTS_LOCK,))
            sql += " RETURNING cursor"
        try:
            if sql.lstrip().upper().startswith("INSERT"):
                with self._conn.transaction():  # a savepoint: a refused insert changes nothing
                    cur = self._conn.execute(sql.encode(), tuple(params))
            else:
                cur = self._conn.execute(sql.encode(), tuple(params))
        except pg_errors.UniqueViolation as exc:
            raise sqlite3.IntegrityError(str(exc)) from None
        rows = cur.fetchall() if cur.description is not None else []
        lastrowid = int(rows[0][0]) if is_event and rows else None
        return _Cursor(rows, cur.rowcount, lastrowid)


class PostgresChatStore(SqliteChatStore):
    def __init__(self, store: PostgresStore, clock: Clock = time.time) -> None:
        # The tables come from the migrations; nothing is created here.
        self._pg = store
        self._clock = clock
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            store.url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True}
        )
        self._opened = False
        self._opening = threading.Lock()

    def _run(self, fn: Callable[[Any], T]) -> T:
        with self._opening:  # statements run on worker threads: open the pool once
            if not self._opened:
                self._pool.open(wait=True, timeout=30)
                self._opened = True
        with self._pool.connection() as conn, conn.transaction():
            return fn(_Bridge(conn))

    async def _tx(self, fn: Callable[[Any], T]) -> T:  # type: ignore[override]
        return await asyncio.to_thread(self._run, fn)

    async def lease(self, now: float, limit: int, lease_seconds: float) -> list[LeasedSend]:
        async with self._pg.transaction() as cur:
            await cur.execute(
                "WITH due AS ("
                "  SELECT o.seq FROM chat_outbox AS o "
                "  WHERE ((o.state = 'pending' AND o.available_at <= %(now)s) "
                "     OR (o.state = 'leased' AND o.lease_until <= %(now)s)) "
                "  AND o.seq = (SELECT min(p.seq) FROM chat_outbox AS p "
                "    WHERE p.partition = o.partition AND p.state IN ('pending', 'leased')) "
                "  ORDER BY o.available_at, o.seq LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
                ") UPDATE chat_outbox AS t SET state = 'leased', lease_until = %(until)s "
                "FROM due WHERE t.seq = due.seq RETURNING t.seq, t.id, t.partition, "
                "t.tenant_id, t.thread_id, t.reference, t.card, t.text, t.message_id, t.attempts",
                {"now": now, "limit": limit, "until": now + lease_seconds},
            )
            rows = await cur.fetchall()
        return [leased_send_of(row) for row in sorted(rows)]

    async def reclaim(self) -> int:
        """Only expired leases: another instance may be sending the others right now."""
        async with self._pg.transaction() as cur:
            await cur.execute(
                "UPDATE chat_outbox SET state = 'pending', lease_until = NULL "
                "WHERE state = 'leased' AND lease_until <= %s",
                (self._clock(),),
            )
            return int(cur.rowcount)

    async def close(self) -> None:
        if self._opened:
            await asyncio.to_thread(self._pool.close)
