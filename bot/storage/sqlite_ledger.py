"""The notification ledger on SQLite: its tables share the store's database and transactions,
so that a document and its outbox message commit together."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.errors import BotError, ConcurrencyError, StorageError
from bot.notifications.ports import (
    MAX_ERROR,
    DuplicateError,
    Leased,
    Ledger,
    MessageStatus,
    OutboxMessage,
    OutboxStats,
    PruneTarget,
    StoredEvent,
    UnitOfWork,
)
from bot.storage.base import ANY_ETAG, Item, make_etag, validate_key
from bot.storage.codec import dumps
from bot.storage.sqlite import SqliteStore

Clock = Callable[[], float]
T = TypeVar("T")
_Pending = tuple[Callable[[sqlite3.Connection], None], "_Rows", "asyncio.Future[None]"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notification_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    partition TEXT NOT NULL,
    kind TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    enqueued_at REAL NOT NULL,
    available_at REAL NOT NULL,
    lease_until REAL,
    finished_at REAL,
    last_error TEXT NOT NULL DEFAULT '',
    emailed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS notification_outbox_open
    ON notification_outbox(partition, seq) WHERE state IN ('pending', 'leased');
CREATE INDEX IF NOT EXISTS notification_outbox_partition
    ON notification_outbox(partition, seq);
CREATE INDEX IF NOT EXISTS notification_outbox_due
    ON notification_outbox(available_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS notification_outbox_finished
    ON notification_outbox(finished_at) WHERE state IN ('done', 'dead');
CREATE TABLE IF NOT EXISTS notification_receipts (
    id TEXT PRIMARY KEY,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS notification_receipts_received
    ON notification_receipts(received_at);
CREATE TABLE IF NOT EXISTS notification_events (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS notification_events_at ON notification_events(at);
"""
# Columns added after the first release, for databases created before them.
_MIGRATIONS = (
    (
        "notification_outbox",
        "emailed",
        "ALTER TABLE notification_outbox ADD COLUMN emailed INTEGER NOT NULL DEFAULT 0",
    ),
)

# Pruning: one statement per target, deleting at most ``limit`` rows, oldest first. Only finished
# outbox messages are candidates (the state is checked in the selection and again on delete); a
# dead letter is a candidate once it was emailed, or if it is a card refresh (nothing to email).
_PRUNE = {
    "receipts": "DELETE FROM notification_receipts WHERE rowid IN ("
    "  SELECT rowid FROM notification_receipts WHERE received_at < ? "
    "  ORDER BY received_at LIMIT ?)",
    "messages": "DELETE FROM notification_outbox WHERE seq IN ("
    "  SELECT seq FROM notification_outbox "
    "  WHERE state IN ('done', 'dead') AND finished_at < ? "
    "  AND (state = 'done' OR emailed = 1 OR kind = 'refresh') "
    "  ORDER BY finished_at LIMIT ?"
    ") AND state IN ('done', 'dead')",
    "events": "DELETE FROM notification_events WHERE cursor IN ("
    "  SELECT cursor FROM notification_events WHERE at < ? ORDER BY at LIMIT ?)",
}
AUTO_VACUUM_INCREMENTAL = 2


def _leased(row: tuple[Any, ...]) -> Leased:
    seq, mid, partition, kind, revision, payload, attempts, enqueued_at = row
    return Leased(
        message=OutboxMessage(
            id=mid, partition=partition, kind=kind, payload=json.loads(payload), revision=revision
        ),
        seq=seq,
        attempts=attempts,
        enqueued_at=enqueued_at,
    )


@dataclass(frozen=True)
class _Rows:
    """A unit's rows, serialized: what a batched group writes."""

    now: float
    receipt: str | None
    writes: list[tuple[str, str, str | None]]
    messages: list[tuple[OutboxMessage, str]]
    events: list[str]
    batchable: bool
    """False for a unit that finishes a leased message: it is applied on its own."""


class _Refused(Exception):
    """A batched group would refuse one of its units: it is applied unit by unit instead."""


def _apply_batched(conn: sqlite3.Connection, group: list[_Rows]) -> bool:
    """Write the group's rows with one statement per table (executemany), when no unit of it
    would be refused: True if written. Otherwise nothing is changed and False returned, and
    the caller applies the units one by one, each in its own savepoint, so that a refused unit
    (a repeated receipt, a stale ETag, a key two units write) fails alone as before."""
    if len(group) < 2 or not all(rows.batchable for rows in group):
        return False
    writes = [w for rows in group for w in rows.writes]
    if len({key for key, _, _ in writes}) != len(writes):
        return False
    creates = [(k, body, make_etag()) for k, body, etag in writes if etag is None]
    overwrites = [(k, body, make_etag()) for k, body, etag in writes if etag == ANY_ETAG]
    updates = [
        (body, make_etag(), k, etag)
        for k, body, etag in writes
        if etag is not None and etag != ANY_ETAG
    ]
    conn.execute("SAVEPOINT batched")
    try:
        conn.executemany(
            "INSERT INTO notification_receipts(id, received_at) VALUES (?, ?)",
            [(rows.receipt, rows.now) for rows in group if rows.receipt is not None],
        )
        conn.executemany("INSERT INTO documents(key, value, etag) VALUES (?, ?, ?)", creates)
        conn.executemany(
            "INSERT INTO documents(key, value, etag) VALUES (?, ?, ?) ON CONFLICT(key) DO "
            "UPDATE SET value = excluded.value, etag = excluded.etag, "
            "updated_at = ((julianday('now') - 2440587.5) * 86400.0)",
            overwrites,
        )
        if updates:
            changed = conn.executemany(
                "UPDATE documents SET value = ?, etag = ?, "
                "updated_at = ((julianday('now') - 2440587.5) * 86400.0) "
                "WHERE key = ? AND etag = ?",
                updates,
            )
            if changed.rowcount != len(updates):
                raise _Refused
        conn.executemany(
            "INSERT INTO notification_outbox(id, partition, kind, revision, payload, "
            "enqueued_at, available_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (m.id, m.partition, m.kind, m.revision, payload, rows.now, rows.now)
                for rows in group
                for m, payload in rows.messages
            ],
        )
        conn.executemany(
            "INSERT INTO notification_events(body, at) VALUES (?, ?)",
            [(body, rows.now) for rows in group for body in rows.events],
        )
    except (sqlite3.Error, _Refused):
        conn.execute("ROLLBACK TO batched")
        conn.execute("RELEASE batched")
        return False
    conn.execute("RELEASE batched")
    return True


GROUP_MAX_UNITS = 256
"""At most this many units of work share one transaction; later ones wait for the next."""
GROUP_MAX_WAIT = 0.002
"""How long (seconds) a group may wait for the units it expects before it is written."""


class SqliteLedger(Ledger):
    """Tables next to the store's ``documents``; units of work are group-committed: the units
    that arrive while a transaction is being written share the next one and its fsync."""

    def __init__(
        self,
        store: SqliteStore,
        clock: Clock = time.time,
        *,
        group_max_units: int = GROUP_MAX_UNITS,
        group_max_wait: float = GROUP_MAX_WAIT,
    ) -> None:
        self._store = store
        self._clock = clock
        self._batch: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._group_max_units = max(1, group_max_units)
        self._group_max_wait = max(0.0, group_max_wait)
        self._last_group = 1
        self._expected = 1
        self._gathered = asyncio.Event()
        # Reads use their own connection: in WAL mode they see the last commit without waiting
        # for the writer's lock or its fsync.
        self._reader = sqlite3.connect(
            store.path, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._reader.execute("PRAGMA query_only=ON")
        self._read_lock = threading.Lock()

        def create(conn: sqlite3.Connection) -> None:
            for table, column, alter in _MIGRATIONS:
                exists = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
                ).fetchone()
                columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
                if exists and column not in columns:
                    conn.execute(alter)
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

        store.run_locked(create)

    def _read_locked(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._read_lock:
            return fn(self._reader)

    async def _reading(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._read_locked, fn)

    async def read(self, key: str) -> Item | None:
        return await self._store.read(key)

    def _prepare(self, unit: UnitOfWork) -> tuple[Callable[[sqlite3.Connection], None], _Rows]:
        """Serialize outside the lock; returns the function that applies the unit alone, and
        its rows for a batched group (:func:`_apply_batched`)."""
        now = self._clock()
        writes = [(validate_key(w.key), dumps(w.value), w.etag) for w in unit.writes]
        messages = [(m, dumps(m.payload)) for m in unit.enqueue]
        events = [dumps(e) for e in unit.events]

        def op(conn: sqlite3.Connection) -> None:
            if unit.receipt is not None:
                try:
                    conn.execute(
                        "INSERT INTO notification_receipts(id, received_at) VALUES (?, ?)",
                        (unit.receipt, now),
                    )
                except sqlite3.IntegrityError:
                    raise DuplicateError(unit.receipt) from None
            for key, body, etag in writes:
                SqliteStore.write_in(conn, key, body, etag, make_etag())
            for message, payload in messages:
                conn.execute(
                    "INSERT INTO notification_outbox(id, partition, kind, revision, payload, "
                    "enqueued_at, available_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        message.id,
                        message.partition,
                        message.kind,
                        message.revision,
                        payload,
                        now,
                        now,
                    ),
                )
            for body in events:
                conn.execute("INSERT INTO notification_events(body, at) VALUES (?, ?)", (body, now))
            if unit.complete is not None and unit.dead_letter_error is not None:
                done = conn.execute(
                    "UPDATE notification_outbox SET state = 'dead', attempts = attempts + 1, "
                    "lease_until = NULL, finished_at = ?, last_error = ?, emailed = ? "
                    "WHERE seq = ? AND state = 'leased'",
                    (
                        now,
                        unit.dead_letter_error[:MAX_ERROR],
                        int(unit.dead_letter_emailed),
                        unit.complete.seq,
                    ),
                )
                if done.rowcount != 1:
                    raise ConcurrencyError(f"outbox message {unit.complete.message.id} not leased")
            elif unit.complete is not None:
                done = conn.execute(
                    "UPDATE notification_outbox SET state = 'done', payload = '{}', "
                    "lease_until = NULL, finished_at = ? WHERE seq = ? AND state = 'leased'",
                    (now, unit.complete.seq),
                )
                if done.rowcount != 1:
                    raise ConcurrencyError(f"outbox message {unit.complete.message.id} not leased")

        rows = _Rows(now, unit.receipt, writes, messages, events, batchable=unit.complete is None)
        return op, rows

    async def commit(self, unit: UnitOfWork) -> None:
        """Group commit: units that arrive while a transaction is being written join the next
        one, each in its own savepoint (a refused unit changes nothing and fails alone), and one
        fsync makes the whole group durable. ``commit`` returns once its unit is on disk, so a
        caller never acknowledges what a crash could lose.

        The wait is bounded: a unit waits for the transaction being written (if any), then at
        most ``group_max_wait`` for the units its group expects (as many as the last group had:
        requests answered together tend to come back together), and a group holds at most
        ``group_max_units`` units."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.append((*self._prepare(unit), future))
        if len(self._batch) >= self._expected:
            self._gathered.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(future)

    async def _gather(self) -> None:
        """Wait, at most ``group_max_wait``, until the batch has as many units as the last
        group; without that, the first request of a burst would be written alone."""
        self._expected = min(self._last_group, self._group_max_units)
        if len(self._batch) >= self._expected or self._group_max_wait <= 0:
            return
        self._gathered.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._gathered.wait(), self._group_max_wait)

    async def _flush(self) -> None:
        while self._batch:
            try:
                await self._gather()
            except asyncio.CancelledError:
                for _, _, future in self._batch:
                    if not future.done():
                        future.set_exception(StorageError("the commit was interrupted"))
                self._batch = []
                raise
            batch = self._batch[: self._group_max_units]
            self._batch = self._batch[self._group_max_units :]
            self._last_group = len(batch)

            def op(
                conn: sqlite3.Connection, batch: list[_Pending] = batch
            ) -> list[BaseException | None]:
                if _apply_batched(conn, [rows for _, rows, _ in batch]):
                    return [None] * len(batch)
                results: list[BaseException | None] = []
                for i, (apply, _, _) in enumerate(batch):
                    conn.execute(f"SAVEPOINT unit{i}")
                    try:
                        apply(conn)
                    except (BotError, sqlite3.Error) as exc:
                        conn.execute(f"ROLLBACK TO unit{i}")
                        results.append(exc)
                    else:
                        results.append(None)
                    conn.execute(f"RELEASE unit{i}")
                return results

            try:
                results = await self._store.transaction(op)
            except BaseException as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(
                            exc
                            if isinstance(exc, Exception)
                            else StorageError("the commit was interrupted")
                        )
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, _, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if result is None:
                    future.set_result(None)
                else:
                    future.set_exception(result)

    async def has_receipt(self, receipt: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT 1 FROM notification_receipts WHERE id = ?", (receipt,)
            ).fetchone()
            return row is not None

        return self._store.read_now(op)

    async def lease(self, limit: int, lease_seconds: float) -> list[Leased]:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> list[Leased]:
            rows = conn.execute(
                "SELECT seq, id, partition, kind, revision, payload, attempts, enqueued_at "
                "FROM notification_outbox AS o "
                "WHERE o.state = 'pending' AND o.available_at <= ? AND o.seq = ("
                "  SELECT MIN(p.seq) FROM notification_outbox AS p "
                "  WHERE p.partition = o.partition AND p.state IN ('pending', 'leased')"
                ") ORDER BY o.available_at, o.seq LIMIT ?",
                (now, limit),
            ).fetchall()
            for row in rows:
                conn.execute(
                    "UPDATE notification_outbox SET state = 'leased', lease_until = ? "
                    "WHERE seq = ?",
                    (now + lease_seconds, row[0]),
                )
            return [_leased(r) for r in rows]

        # A lease a crash loses is one start-up reclaims anyway (reclaim): it is committed
        # without an fsync of its own, which keeps one fsync off the way from acceptance to post.
        return await self._store.transaction(op, durable=False)

    async def retry(self, leased: Leased, *, delay: float, error: str) -> None:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE notification_outbox SET state = 'pending', lease_until = NULL, "
                "attempts = attempts + 1, available_at = ?, last_error = ? "
                "WHERE seq = ? AND state = 'leased'",
                (now + max(0.0, delay), error[:MAX_ERROR], leased.seq),
            )

        await self._store.transaction(op)

    async def dead_letter(self, leased: Leased, *, error: str) -> None:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE notification_outbox SET state = 'dead', lease_until = NULL, "
                "attempts = attempts + 1, finished_at = ?, last_error = ? "
                "WHERE seq = ? AND state = 'leased'",
                (now, error[:MAX_ERROR], leased.seq),
            )

        await self._store.transaction(op)

    async def reclaim(self) -> int:
        def op(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE notification_outbox SET state = 'pending', lease_until = NULL "
                "WHERE state IN ('pending', 'leased') AND state = 'leased'"
            )
            return int(cur.rowcount)

        return await self._store.transaction(op)

    async def next_due(self) -> float | None:
        def op(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                "SELECT MIN(o.available_at) FROM notification_outbox AS o "
                "WHERE o.state = 'pending' AND o.seq = ("
                "  SELECT MIN(p.seq) FROM notification_outbox AS p "
                "  WHERE p.partition = o.partition AND p.state IN ('pending', 'leased'))"
            ).fetchone()
            return None if row is None or row[0] is None else float(row[0])

        return await self._reading(op)

    async def outbox_stats(self) -> OutboxStats:
        def op(conn: sqlite3.Connection) -> OutboxStats:
            # Over the partial index of open messages only: dead letters go uncounted, since
            # counting them would read the kept history on every scrape.
            opened, oldest = conn.execute(
                "SELECT COUNT(*), MIN(enqueued_at) FROM notification_outbox "
                "WHERE state IN ('pending', 'leased')"
            ).fetchone()
            return OutboxStats(int(opened), None if oldest is None else float(oldest), None)

        return await self._reading(op)

    async def messages(self, partition: str, limit: int = 100) -> list[MessageStatus]:
        def op(conn: sqlite3.Connection) -> list[MessageStatus]:
            rows = conn.execute(
                "SELECT id, kind, revision, state, attempts, enqueued_at, available_at, "
                "finished_at, last_error FROM notification_outbox WHERE partition = ? "
                "ORDER BY seq DESC LIMIT ?",
                (partition, limit),
            ).fetchall()
            return [MessageStatus(*r) for r in reversed(rows)]

        return await self._reading(op)

    async def events_after(self, cursor: int, limit: int) -> list[StoredEvent]:
        def op(conn: sqlite3.Connection) -> list[StoredEvent]:
            rows = conn.execute(
                "SELECT cursor, body FROM notification_events WHERE cursor > ? "
                "ORDER BY cursor LIMIT ?",
                (cursor, limit),
            ).fetchall()
            return [StoredEvent(int(c), json.loads(b)) for c, b in rows]

        return await self._reading(op)

    async def prune(self, target: PruneTarget, before: float, limit: int) -> int:
        statement = _PRUNE[target]

        def op(conn: sqlite3.Connection) -> int:
            return int(conn.execute(statement, (before, max(0, limit))).rowcount)

        return await self._store.transaction(op)

    async def vacuum(self, pages: int) -> int:
        """``PRAGMA incremental_vacuum``, if the database uses incremental auto-vacuum. The
        store creates databases without it (deleted pages stay in SQLite's free list and are
        reused by new rows, so the file stops growing); switching an existing database needs a
        full ``VACUUM``, which an operator runs while the bot is stopped (docs/notifications.md).
        Python's sqlite3 steps a pragma once, and each step frees one page, so the pragma is run
        once per page."""

        def op(conn: sqlite3.Connection) -> int:
            mode = conn.execute("PRAGMA auto_vacuum").fetchone()[0]
            if mode != AUTO_VACUUM_INCREMENTAL:
                return 0
            before = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
            for _ in range(min(before, max(0, pages))):
                conn.execute("PRAGMA incremental_vacuum(1)").fetchall()
            return before - int(conn.execute("PRAGMA freelist_count").fetchone()[0])

        return await self._store.transaction(op)

    async def close(self) -> None:
        """The store owns the writing connection; this closes the reading one."""
        with self._read_lock:
            self._reader.close()
