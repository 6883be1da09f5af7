"""The notification ledger in memory: the same contract as the durable ones, for unit tests and
``STORAGE_URL=memory://``. Each method runs without awaiting, so units of work are atomic."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.errors import ConcurrencyError
from bot.notifications.ports import (
    MAX_ERROR,
    DuplicateError,
    Leased,
    Ledger,
    MessageState,
    MessageStatus,
    OutboxMessage,
    OutboxStats,
    PruneTarget,
    StoredEvent,
    UnitOfWork,
)
from bot.storage.base import ANY_ETAG, Item, validate_key
from bot.storage.memory import MemoryStore

Clock = Callable[[], float]


@dataclass
class _Row:
    seq: int
    message: OutboxMessage
    state: MessageState
    attempts: int
    enqueued_at: float
    available_at: float
    finished_at: float | None = None
    last_error: str = ""
    emailed: bool = False


class MemoryLedger(Ledger):
    """The same contract in memory. Each method runs without awaiting, so units are atomic."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._docs = MemoryStore()
        self._rows: list[_Row] = []
        self._receipts: dict[str, float] = {}
        self._events: list[tuple[StoredEvent, float]] = []
        self._seq = 0
        self._cursor = 0
        self._lock = asyncio.Lock()

    async def read(self, key: str) -> Item | None:
        return await self._docs.read(key)

    async def commit(self, unit: UnitOfWork) -> None:
        async with self._lock:
            now = self._clock()
            if unit.receipt is not None and unit.receipt in self._receipts:
                raise DuplicateError(unit.receipt)
            for w in unit.writes:
                current = await self._docs.read(validate_key(w.key))
                if w.etag is None and current is not None:
                    raise ConcurrencyError(f"{w.key} already exists")
                if w.etag not in (None, ANY_ETAG) and (current is None or current.etag != w.etag):
                    raise ConcurrencyError(f"{w.key} was changed by someone else")
            ids = {r.message.id for r in self._rows}
            if any(m.id in ids for m in unit.enqueue):
                raise ConcurrencyError("outbox message id already used")
            row = None
            if unit.complete is not None:
                row = next((r for r in self._rows if r.seq == unit.complete.seq), None)
                if row is None or row.state != "leased":
                    raise ConcurrencyError("outbox message not leased")
            for w in unit.writes:
                await self._docs.write(w.key, copy.deepcopy(w.value), etag=ANY_ETAG)
            if unit.receipt is not None:
                self._receipts[unit.receipt] = now
            for m in unit.enqueue:
                self._seq += 1
                self._rows.append(
                    _Row(
                        self._seq, copy.deepcopy(m), "pending", 0, enqueued_at=now, available_at=now
                    )
                )
            for body in unit.events:
                self._cursor += 1
                self._events.append((StoredEvent(self._cursor, copy.deepcopy(body)), now))
            if row is not None and unit.dead_letter_error is not None:
                row.state = "dead"
                row.attempts += 1
                row.finished_at = now
                row.last_error = unit.dead_letter_error[:MAX_ERROR]
                row.emailed = unit.dead_letter_emailed
            elif row is not None:
                row.state = "done"
                row.finished_at = now
                row.message = replace(row.message, payload={})

    async def has_receipt(self, receipt: str) -> bool:
        return receipt in self._receipts

    def _heads(self) -> list[_Row]:
        heads: dict[str, _Row] = {}
        for r in self._rows:
            if r.state in ("pending", "leased") and r.message.partition not in heads:
                heads[r.message.partition] = r
        return list(heads.values())

    async def lease(self, limit: int, lease_seconds: float) -> list[Leased]:
        async with self._lock:
            now = self._clock()
            due = sorted(
                (r for r in self._heads() if r.state == "pending" and r.available_at <= now),
                key=lambda r: (r.available_at, r.seq),
            )[:limit]
            for r in due:
                r.state = "leased"
            return [Leased(copy.deepcopy(r.message), r.seq, r.attempts, r.enqueued_at) for r in due]

    def _find(self, leased: Leased) -> _Row | None:
        row = next((r for r in self._rows if r.seq == leased.seq), None)
        return row if row is not None and row.state == "leased" else None

    async def retry(self, leased: Leased, *, delay: float, error: str) -> None:
        row = self._find(leased)
        if row is not None:
            row.state = "pending"
            row.attempts += 1
            row.available_at = self._clock() + max(0.0, delay)
            row.last_error = error[:MAX_ERROR]

    async def dead_letter(self, leased: Leased, *, error: str) -> None:
        row = self._find(leased)
        if row is not None:
            row.state = "dead"
            row.attempts += 1
            row.finished_at = self._clock()
            row.last_error = error[:MAX_ERROR]

    async def reclaim(self) -> int:
        count = 0
        for r in self._rows:
            if r.state == "leased":
                r.state = "pending"
                count += 1
        return count

    async def next_due(self) -> float | None:
        due = [r.available_at for r in self._heads() if r.state == "pending"]
        return min(due) if due else None

    async def outbox_stats(self) -> OutboxStats:
        opened = [r.enqueued_at for r in self._rows if r.state in ("pending", "leased")]
        dead = sum(1 for r in self._rows if r.state == "dead")
        return OutboxStats(len(opened), min(opened) if opened else None, dead)

    async def messages(self, partition: str, limit: int = 100) -> list[MessageStatus]:
        rows = [r for r in self._rows if r.message.partition == partition][-limit:]
        return [
            MessageStatus(
                r.message.id,
                r.message.kind,
                r.message.revision,
                r.state,
                r.attempts,
                r.enqueued_at,
                r.available_at,
                r.finished_at,
                r.last_error,
            )
            for r in rows
        ]

    async def events_after(self, cursor: int, limit: int) -> list[StoredEvent]:
        return [copy.deepcopy(e) for e, _ in self._events if e.cursor > cursor][:limit]

    @staticmethod
    def _prunable(row: _Row, before: float) -> bool:
        finished = row.state == "done" or (
            row.state == "dead" and (row.emailed or row.message.kind == "refresh")
        )
        return finished and row.finished_at is not None and row.finished_at < before

    async def prune(self, target: PruneTarget, before: float, limit: int) -> int:
        async with self._lock:
            limit = max(0, limit)
            if target == "receipts":
                old = sorted((at, rid) for rid, at in self._receipts.items() if at < before)
                for _, rid in old[:limit]:
                    del self._receipts[rid]
                return min(len(old), limit)
            if target == "messages":
                rows = sorted(
                    (r for r in self._rows if self._prunable(r, before)),
                    key=lambda r: (r.finished_at or 0.0, r.seq),
                )[:limit]
                gone = {r.seq for r in rows}
                self._rows = [r for r in self._rows if r.seq not in gone]
                return len(gone)
            events = sorted((at, e.cursor) for e, at in self._events if at < before)[:limit]
            cursors = {c for _, c in events}
            self._events = [(e, at) for e, at in self._events if e.cursor not in cursors]
            return len(cursors)

    async def vacuum(self, pages: int) -> int:
        return 0

    async def close(self) -> None:
        """Nothing to release."""
