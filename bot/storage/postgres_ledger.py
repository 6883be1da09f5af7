"""The notification ledger on PostgreSQL, for several instances on one database.

Its tables share the store's database, so a unit of work (documents, outbox messages, events,
receipt, completion) is one transaction. Leases are taken with ``FOR UPDATE SKIP LOCKED`` (two
instances never lease the same message) and carry an expiry and a token: when an instance dies
mid-delivery its lease expires and another instance takes the message over; the old holder can
no longer complete or retry it. Event cursors are assigned under a transaction advisory lock, so
they become visible in order and a reader paging by cursor never skips one.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from psycopg import errors as pg_errors

from bot.errors import ConcurrencyError
from bot.notifications.ports import (
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
from bot.storage.base import Item, make_etag, validate_key
from bot.storage.postgres import PostgresStore

Clock = Callable[[], float]
MAX_ERROR = 500
EVENTS_LOCK = 0x44455854_0002


_LEASE = (
    "WITH due AS ("
    "  SELECT o.seq FROM notification_outbox AS o "
    "  WHERE ((o.state = 'pending' AND o.available_at <= %(now)s) "
    "     OR (o.state = 'leased' AND o.lease_until <= %(now)s)) "
    "  AND o.seq = (SELECT min(p.seq) FROM notification_outbox AS p "
    "    WHERE p.partition = o.partition AND p.state IN ('pending', 'leased')) "
    "  ORDER BY o.available_at, o.seq LIMIT %(limit)s "
    "  FOR UPDATE SKIP LOCKED"
    ") UPDATE notification_outbox AS t SET state = 'leased', "
    "  lease_until = %(until)s, lease_id = %(lease)s || '/' || t.seq "
    "FROM due WHERE t.seq = due.seq "
    "RETURNING t.seq, t.id, t.partition, t.kind, t.revision, t.payload, t.attempts, "
    "  t.enqueued_at, t.lease_id"
)
_NEXT_DUE = (
    "SELECT min(CASE WHEN o.state = 'pending' THEN o.available_at "
    "ELSE o.lease_until END) FROM notification_outbox AS o "
    "WHERE o.state IN ('pending', 'leased') AND o.seq = (SELECT min(p.seq) "
    "FROM notification_outbox AS p "
    "WHERE p.partition = o.partition AND p.state IN ('pending', 'leased'))"
)

_PRUNE = {
    "receipts": "DELETE FROM notification_receipts WHERE id IN ("
    "  SELECT id FROM notification_receipts WHERE received_at < %s "
    "  ORDER BY received_at LIMIT %s)",
    "messages": "DELETE FROM notification_outbox WHERE seq IN ("
    "  SELECT seq FROM notification_outbox "
    "  WHERE state IN ('done', 'dead') AND finished_at < %s "
    "  AND (state = 'done' OR emailed OR kind = 'refresh') "
    "  ORDER BY finished_at LIMIT %s"
    ") AND state IN ('done', 'dead')",
    "events": "DELETE FROM notification_events WHERE cursor IN ("
    "  SELECT cursor FROM notification_events WHERE at < %s ORDER BY at LIMIT %s)",
}


def _leased(row: tuple[Any, ...]) -> Leased:
    seq, mid, partition, kind, revision, payload, attempts, enqueued_at, lease_id = row
    return Leased(
        message=OutboxMessage(
            id=mid, partition=partition, kind=kind, payload=json.loads(payload), revision=revision
        ),
        seq=seq,
        attempts=attempts,
        enqueued_at=enqueued_at,
        lease_id=lease_id,
    )


class PostgresLedger(Ledger):
    """``owner`` names this instance: at start-up it takes back its own leases of before a
    restart at once (others' only once they expire)."""

    def __init__(
        self, store: PostgresStore, clock: Clock = time.time, *, owner: str | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self.owner = owner or uuid.uuid4().hex

    async def read(self, key: str) -> Item | None:
        return await self._store.read(key)

    async def commit(self, unit: UnitOfWork) -> None:
        now = self._clock()
        writes = [
            (validate_key(w.key), json.dumps(w.value, separators=(",", ":")), w.etag)
            for w in unit.writes
        ]
        try:
            async with self._store.transaction() as cur:
                if unit.receipt is not None:
                    await cur.execute(
                        "INSERT INTO notification_receipts(id, received_at) VALUES (%s, %s) "
                        "ON CONFLICT (id) DO NOTHING",
                        (unit.receipt, now),
                    )
                    if cur.rowcount != 1:
                        raise DuplicateError(unit.receipt)
                for key, body, etag in writes:
                    await PostgresStore.write_in(cur, key, body, etag, make_etag())
                if unit.enqueue:
                    await cur.executemany(
                        "INSERT INTO notification_outbox(id, partition, kind, revision, payload, "
                        "enqueued_at, available_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        [
                            (
                                m.id,
                                m.partition,
                                m.kind,
                                m.revision,
                                json.dumps(m.payload, separators=(",", ":")),
                                now,
                                now,
                            )
                            for m in unit.enqueue
                        ],
                    )
                if unit.events:
                    await cur.execute("SELECT pg_advisory_xact_lock(%s)", (EVENTS_LOCK,))
                    await cur.executemany(
                        "INSERT INTO notification_events(body, at) VALUES (%s, %s)",
                        [(json.dumps(e, separators=(",", ":")), now) for e in unit.events],
                    )
                if unit.complete is not None:
                    await self._finish(cur, unit, now)
        except pg_errors.UniqueViolation:
            raise ConcurrencyError("outbox message id already used") from None

    @staticmethod
    async def _finish(cur: Any, unit: UnitOfWork, now: float) -> None:
        leased = unit.complete
        assert leased is not None
        if unit.dead_letter_error is not None:
            await cur.execute(
                "UPDATE notification_outbox SET state = 'dead', attempts = attempts + 1, "
                "lease_until = NULL, lease_id = NULL, finished_at = %s, last_error = %s, "
                "emailed = %s WHERE seq = %s AND state = 'leased' AND lease_id = %s",
                (
                    now,
                    unit.dead_letter_error[:MAX_ERROR],
                    unit.dead_letter_emailed,
                    leased.seq,
                    leased.lease_id,
                ),
            )
        else:
            await cur.execute(
                "UPDATE notification_outbox SET state = 'done', payload = '{}', "
                "lease_until = NULL, lease_id = NULL, finished_at = %s "
                "WHERE seq = %s AND state = 'leased' AND lease_id = %s",
                (now, leased.seq, leased.lease_id),
            )
        if cur.rowcount != 1:
            raise ConcurrencyError(f"outbox message {leased.message.id} is no longer leased")

    async def has_receipt(self, receipt: str) -> bool:
        async with self._store.transaction() as cur:
            await cur.execute("SELECT 1 FROM notification_receipts WHERE id = %s", (receipt,))
            return await cur.fetchone() is not None

    async def lease(self, limit: int, lease_seconds: float) -> list[Leased]:
        """The oldest open message of each partition that is due, or whose lease expired.
        ``SKIP LOCKED``: instances leasing at the same moment each get different messages."""
        now = self._clock()
        lease_id = f"{self.owner}/{uuid.uuid4().hex}"
        async with self._store.transaction() as cur:
            await cur.execute(
                _LEASE,
                {"now": now, "limit": limit, "until": now + lease_seconds, "lease": lease_id},
            )
            rows = await cur.fetchall()
        rows.sort(key=lambda r: r[0])
        return [_leased(r) for r in rows]

    async def retry(self, leased: Leased, *, delay: float, error: str) -> None:
        now = self._clock()
        async with self._store.transaction() as cur:
            await cur.execute(
                "UPDATE notification_outbox SET state = 'pending', lease_until = NULL, "
                "lease_id = NULL, attempts = attempts + 1, available_at = %s, last_error = %s "
                "WHERE seq = %s AND state = 'leased' AND lease_id = %s",
                (now + max(0.0, delay), error[:MAX_ERROR], leased.seq, leased.lease_id),
            )

    async def extend(self, leases: list[Leased], lease_seconds: float) -> set[int]:
        """Renew leases still held (the holder is alive and working on them); returns the seqs
        that are still this holder's."""
        if not leases:
            return set()
        now = self._clock()
        async with self._store.transaction() as cur:
            # Each lease id names one message, and the rows are locked in seq order first: two
            # renewals (the worker's loop, and a delivery's own before it sends) never lock
            # the same rows in opposite orders. An UPDATE alone locks in heap order, which
            # changes as updates move rows: that was the cause of the deadlocks.
            await cur.execute(
                "UPDATE notification_outbox SET lease_until = %s WHERE seq IN ("
                "  SELECT seq FROM notification_outbox "
                "  WHERE state = 'leased' AND lease_id = ANY(%s) ORDER BY seq FOR UPDATE"
                ") AND state = 'leased' AND lease_id = ANY(%s) RETURNING seq",
                (now + lease_seconds, ids := [item.lease_id for item in leases], ids),
            )
            return {int(r[0]) for r in await cur.fetchall()}

    async def release(self, leased: Leased) -> None:
        """Give the message back untried (the instance is stopping): due at once, no attempt
        counted."""
        async with self._store.transaction() as cur:
            await cur.execute(
                "UPDATE notification_outbox SET state = 'pending', lease_until = NULL, "
                "lease_id = NULL WHERE seq = %s AND state = 'leased' AND lease_id = %s",
                (leased.seq, leased.lease_id),
            )

    async def dead_letter(self, leased: Leased, *, error: str) -> None:
        now = self._clock()
        async with self._store.transaction() as cur:
            await cur.execute(
                "UPDATE notification_outbox SET state = 'dead', lease_until = NULL, "
                "lease_id = NULL, attempts = attempts + 1, finished_at = %s, last_error = %s "
                "WHERE seq = %s AND state = 'leased' AND lease_id = %s",
                (now, error[:MAX_ERROR], leased.seq, leased.lease_id),
            )

    async def reclaim(self) -> int:
        """This instance's leases from before a restart, and every expired lease, are given
        back. A live instance's unexpired leases are left alone."""
        now = self._clock()
        async with self._store.transaction() as cur:
            await cur.execute(
                "UPDATE notification_outbox SET state = 'pending', lease_until = NULL, "
                "lease_id = NULL WHERE seq IN ("
                "  SELECT seq FROM notification_outbox WHERE state = 'leased' "
                "  AND (starts_with(lease_id, %s) OR lease_until <= %s) "
                "  ORDER BY seq FOR UPDATE SKIP LOCKED)",
                (f"{self.owner}/", now),
            )
            return int(cur.rowcount)

    async def next_due(self) -> float | None:
        """The earliest time a message becomes due: a pending head's ``available_at``, or when
        a lease held by anyone expires (an instance may have died holding it)."""
        async with self._store.transaction() as cur:
            await cur.execute(_NEXT_DUE)
            row = await cur.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def outbox_stats(self) -> OutboxStats:
        async with self._store.transaction() as cur:
            # Each over a partial index (open messages, dead letters): never the kept history.
            await cur.execute(
                "SELECT count(*), min(enqueued_at), (SELECT count(*) FROM notification_outbox "
                "  WHERE state = 'dead') "
                "FROM notification_outbox WHERE state IN ('pending', 'leased')"
            )
            row = await cur.fetchone()
        assert row is not None
        return OutboxStats(int(row[0]), None if row[1] is None else float(row[1]), int(row[2]))

    async def messages(self, partition: str, limit: int = 100) -> list[MessageStatus]:
        async with self._store.transaction() as cur:
            await cur.execute(
                "SELECT id, kind, revision, state, attempts, enqueued_at, available_at, "
                "finished_at, last_error FROM notification_outbox WHERE partition = %s "
                "ORDER BY seq DESC LIMIT %s",
                (partition, limit),
            )
            rows = await cur.fetchall()
        return [MessageStatus(*r) for r in reversed(rows)]

    async def events_after(self, cursor: int, limit: int) -> list[StoredEvent]:
        async with self._store.transaction() as cur:
            await cur.execute(
                "SELECT cursor, body FROM notification_events WHERE cursor > %s "
                "ORDER BY cursor LIMIT %s",
                (cursor, limit),
            )
            rows = await cur.fetchall()
        return [StoredEvent(int(c), json.loads(b)) for c, b in rows]

    async def prune(self, target: PruneTarget, before: float, limit: int) -> int:
        async with self._store.transaction() as cur:
            await cur.execute(_PRUNE[target], (before, max(0, limit)))
            return int(cur.rowcount)

    async def vacuum(self, pages: int) -> int:
        """PostgreSQL's autovacuum gives deleted rows' space back for reuse: nothing to do."""
        return 0

    async def close(self) -> None:
        """The store owns the connection pool."""
