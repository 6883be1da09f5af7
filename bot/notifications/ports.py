"""The ports of the notifications service: the ledger (documents + outbox + event feed, committed
together), the Managed response channel directory, and the settings it enforces. Email goes
through the one Mailer port, :mod:`bot.mail.ports`.

The ledger is one port because "a write and its enqueue are one transaction": a unit of work
writes incident documents (with ETag checks), records the webhook id, appends outbox messages and
customer events, and may acknowledge the message being delivered, all or nothing.

* SQLite (the default): ``documents`` plus three tables in the same database, one transaction.
* Memory: the same contract in-process, for tests.
* Azure (future): Blob Storage has no multi-blob transaction, so the unit of work is written as
  the incident blob itself, carrying its pending outbox entries (ETag-guarded); a relay copies
  entries to Azure Queue Storage (visibility-timeout leases) and clears them. The contract suite
  in ``tests/notifications/test_ledger.py`` is written to run against that adapter too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, Protocol

from bot.errors import BotError
from bot.onboarding.model import SettingsRecord
from bot.storage import Item

JSON = dict[str, Any]

MessageKind = Literal["notification", "refresh"]
MessageState = Literal["pending", "leased", "done", "dead"]
MAX_ERROR = 500
"""The longest error text a ledger keeps for a message."""
PruneTarget = Literal["receipts", "messages", "events"]


class DuplicateError(BotError):
    """The receipt (webhook id) was already recorded: nothing was written."""


@dataclass(frozen=True)
class DocWrite:
    """A conditional document write: ``etag=None`` creates, ``"*"`` overwrites."""

    key: str
    value: JSON
    etag: str | None


@dataclass(frozen=True)
class OutboxMessage:
    """Work for the delivery worker. Messages of one partition are delivered in order."""

    id: str
    partition: str
    kind: MessageKind
    payload: JSON
    revision: int = 0


@dataclass(frozen=True)
class Leased:
    """A message handed to one worker until it is completed, retried or dead-lettered."""

    message: OutboxMessage
    seq: int
    attempts: int
    enqueued_at: float
    lease_id: str = ""
    """Which lease this is, where the ledger tells leases apart (PostgreSQL: a lease that expired
    and was taken over by another instance can no longer be completed or retried by its old
    holder)."""


@dataclass(frozen=True)
class MessageStatus:
    """What ``GET /api/notifications/{id}`` shows about one outbox message."""

    id: str
    kind: MessageKind
    revision: int
    state: MessageState
    attempts: int
    enqueued_at: float
    available_at: float
    finished_at: float | None
    last_error: str

    def to_json(self) -> JSON:
        """Times in ISO 8601 UTC like every other time in the API; ``attempts`` counts every
        try, the one that delivered included (the ledger counts the failed ones)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "revision": self.revision,
            "state": self.state,
            "attempts": self.attempts + (1 if self.state == "done" else 0),
            "enqueuedAt": _iso(self.enqueued_at),
            "availableAt": _iso(self.available_at),
            "finishedAt": None if self.finished_at is None else _iso(self.finished_at),
            "lastError": self.last_error,
        }


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class StoredEvent:
    cursor: int
    body: JSON


@dataclass(frozen=True)
class UnitOfWork:
    """Everything that must happen together, or not at all."""

    writes: tuple[DocWrite, ...] = ()
    enqueue: tuple[OutboxMessage, ...] = ()
    events: tuple[JSON, ...] = ()
    receipt: str | None = None
    complete: Leased | None = None
    dead_letter_error: str | None = None
    """With ``complete``: finish the message as a dead letter with this error instead of done."""
    dead_letter_emailed: bool = False
    """With ``dead_letter_error``: the notification was emailed to the incident contacts, so the
    dead letter is settled and is pruned after the retention period like a done message."""


class OutboxStats(NamedTuple):
    """The outbox at a glance."""

    open: int
    """Messages not yet done or dead."""
    oldest_enqueued_at: float | None
    """When the oldest open message was enqueued (clock time), or None if none is open."""
    dead: int | None
    """Dead letters kept, or None where counting them would read the kept history (SQLite)."""


class Ledger(Protocol):
    async def read(self, key: str) -> Item | None: ...

    async def commit(self, unit: UnitOfWork) -> None:
        """Apply the unit atomically. ConcurrencyError / DuplicateError change nothing."""
        ...

    async def has_receipt(self, receipt: str) -> bool: ...

    async def lease(self, limit: int, lease_seconds: float) -> list[Leased]:
        """Due messages, at most one per partition: the oldest open one of each."""
        ...

    async def retry(self, leased: Leased, *, delay: float, error: str) -> None:
        """Give the message back, to be tried again after ``delay`` seconds."""
        ...

    async def dead_letter(self, leased: Leased, *, error: str) -> None: ...

    async def reclaim(self) -> int:
        """After a restart: leases of the dead process are given back. Returns how many."""
        ...

    async def next_due(self) -> float | None:
        """When the earliest pending message becomes due (clock time), or None if none."""
        ...

    async def outbox_stats(self) -> OutboxStats:
        """How deep the outbox is (the operations endpoint's metrics)."""
        ...

    async def messages(self, partition: str, limit: int = 100) -> list[MessageStatus]: ...

    async def events_after(self, cursor: int, limit: int) -> list[StoredEvent]:
        """Events with a cursor above ``cursor``, oldest first. Cursors only grow, even after
        pruning: a new event never gets the cursor of a deleted one."""
        ...

    async def prune(self, target: PruneTarget, before: float, limit: int) -> int:
        """Delete, in one transaction, up to ``limit`` of the oldest records of ``target`` from
        before ``before`` (clock time); returns how many.

        * ``receipts``: webhook ids received before it;
        * ``messages``: outbox messages finished before it, that are done, or dead and either
          emailed or a card refresh. Never an open (pending or leased) message;
        * ``events``: events that happened before it.
        """
        ...

    async def vacuum(self, pages: int) -> int:
        """Give up to ``pages`` free pages back to the file system, in one transaction, where
        the store supports it; returns how many (0 if it doesn't)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ManagedChannel:
    """Where incident posts go: the team's conversation reference and the channel's id."""

    team_id: str
    channel_id: str
    team_reference: JSON


class ChannelDirectory(Protocol):
    async def managed_response_channel(self, tenant_id: str) -> ManagedChannel | None: ...

    async def report_failure(self, tenant_id: str, status: int | None) -> bool:
        """A send to the channel failed with ``status``; True if the channel is being repaired
        (it was deleted or archived), so the notification should wait rather than give up."""
        ...


class SettingsSource(Protocol):
    """The committed settings of a tenant (the onboarding service)."""

    async def current(self, tenant_id: str) -> SettingsRecord: ...
