"""Coordination of several instances through PostgreSQL.

* :class:`PostgresRateLimiter`: Teams' per-thread and per-tenant limits counted across every
  instance together. Each connector call takes a slot in ``rate_slots`` inside a transaction that
  holds the tenant's and the thread's advisory locks, so two instances never both take the last
  slot of a window. Time is the database's clock, the same for every instance.
* :class:`PeriodicRuns`: scheduled work (retention, re-assessments, monthly reports) runs once
  per period: the first instance to claim ``(job, period)`` runs it, the others skip it.
* :func:`exclusive`: a session advisory lock around a piece of work (one provisioning saga per
  tenant at a time, across instances).
* :class:`PostgresFanOut`: ``LISTEN``/``NOTIFY`` between instances behind a small port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from psycopg import AsyncConnection, sql

from bot.notifications.ratelimit import TENANT_WINDOWS, THREAD_WINDOWS, Window, with_margin
from bot.retry import stop_task
from bot.storage.postgres import PostgresStore

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

IN_FLIGHT_BOUND = 120.0
"""A slot whose call never reported its answer (its instance died) counts as ended this long
after it was taken (longer than any connector call's timeout)."""
IN_FLIGHT_POLL = 0.05
"""How often to look again while a full window waits on a call in flight."""


class PostgresRateLimiter:
    """The :class:`~bot.notifications.ratelimit.RateLimiter` port for several instances."""

    def __init__(
        self,
        store: PostgresStore,
        *,
        sleep: Sleep = asyncio.sleep,
        thread_windows: Sequence[Window] = THREAD_WINDOWS,
        tenant_windows: Sequence[Window] = TENANT_WINDOWS,
        margin: bool = True,
    ) -> None:
        self._store = store
        self._sleep = sleep
        # The same margin as one process: here too a slot is held until its call's answer,
        # and every instance reads one clock (the database's).
        widen = with_margin if margin else tuple
        self._threads = tuple(widen(thread_windows))
        self._tenants = tuple(widen(tenant_windows))
        self._span = max(span for span, _ in (*self._threads, *self._tenants))

    async def _try(self, tenant_id: str, thread_id: str) -> tuple[float, bool, list[int]]:
        """(seconds to wait, whether a call still in flight is what blocks, the slots taken:
        the tenant's and the thread's, none if it must wait)."""
        tenant_key, thread_key = f"tenant:{tenant_id}", f"thread:{thread_id}"
        windows = [(tenant_key, s, n) for s, n in self._tenants] + [
            (thread_key, s, n) for s, n in self._threads
        ]
        async with self._store.transaction() as cur:
            # Always the tenant's lock first, then the thread's: no two instances deadlock.
            await cur.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s)), "
                "pg_advisory_xact_lock(hashtext(%s)), extract(epoch FROM clock_timestamp())",
                (tenant_key, thread_key),
            )
            row = await cur.fetchone()
            assert row is not None
            now = float(row[2])
            at, in_flight = now, False
            for key, span, limit in windows:
                # A slot counts from when it was taken until its call had its answer (a call
                # in flight may reach Teams at any moment): the window is full while `limit`
                # slots ended less than `span` ago or haven't ended.
                await cur.execute(
                    "SELECT coalesce(done_at, at + %s) AS ended, done_at IS NULL "
                    "FROM rate_slots WHERE key = %s ORDER BY ended DESC OFFSET %s LIMIT 1",
                    (IN_FLIGHT_BOUND, key, limit - 1),
                )
                found = await cur.fetchone()
                if found is not None and float(found[0]) + span > at:
                    at, in_flight = float(found[0]) + span, bool(found[1])
            await cur.execute("SELECT until FROM rate_blocks WHERE key = %s", (thread_key,))
            blocked = await cur.fetchone()
            if blocked is not None and float(blocked[0]) > at:
                at, in_flight = float(blocked[0]), False
            if at > now:
                return at - now, in_flight, []
            await cur.execute(
                "INSERT INTO rate_slots(key, at) VALUES (%s, %s), (%s, %s) RETURNING slot",
                (tenant_key, now, thread_key, now),
            )
            slots = [int(r[0]) for r in await cur.fetchall()]
            await cur.execute(
                "DELETE FROM rate_slots WHERE key IN (%s, %s) AND coalesce(done_at, at + %s) <= %s",
                (tenant_key, thread_key, IN_FLIGHT_BOUND, now - self._span),
            )
        return 0.0, False, slots

    @contextlib.asynccontextmanager
    async def slot(self, tenant_id: str, thread_id: str) -> AsyncIterator[None]:
        """Wait for a slot and hold it while the block makes its call: it ends, for every
        instance, when the block has the call's answer (or its failure)."""
        while True:
            wait, in_flight, slots = await self._try(tenant_id, thread_id)
            if slots:
                break
            # Waiting on a call in flight: look again soon, it ends when it has its answer.
            await self._sleep(min(wait, IN_FLIGHT_POLL) if in_flight else wait)
        try:
            yield
        finally:
            try:
                await self._answered(slots)
            except Exception as error:  # e.g. stopping: the slots end at IN_FLIGHT_BOUND
                log.warning("rate limit bookkeeping failed: %s", type(error).__name__)

    async def _answered(self, slots: list[int]) -> None:
        async with self._store.transaction() as cur:
            await cur.execute(
                "UPDATE rate_slots SET done_at = extract(epoch FROM clock_timestamp()) "
                "WHERE slot = ANY(%s) AND done_at IS NULL",
                (slots,),
            )

    async def back_off(self, thread_id: str, seconds: float) -> None:
        """The connector answered 429 for this thread: hold every instance's sends to it."""
        async with self._store.transaction() as cur:
            await cur.execute(
                "INSERT INTO rate_blocks(key, until) "
                "VALUES (%s, extract(epoch FROM clock_timestamp()) + %s) "
                "ON CONFLICT (key) DO UPDATE SET until = greatest(rate_blocks.until, "
                "excluded.until)",
                (f"thread:{thread_id}", max(0.0, seconds)),
            )


class PeriodicRuns:
    """Claims of scheduled work: ``claim(job, period)`` is True for exactly one instance."""

    def __init__(self, store: PostgresStore, owner: str | None = None) -> None:
        self._store = store
        self.owner = owner or uuid.uuid4().hex

    async def claim(self, job: str, period: str) -> bool:
        async with self._store.transaction() as cur:
            await cur.execute(
                "INSERT INTO scheduled_runs(job, period, owner, started_at) "
                "VALUES (%s, %s, %s, extract(epoch FROM clock_timestamp())) "
                "ON CONFLICT DO NOTHING",
                (job, period, self.owner),
            )
            return cur.rowcount == 1


@contextlib.asynccontextmanager
async def exclusive(store: PostgresStore, name: str) -> AsyncIterator[None]:
    """Hold a session advisory lock named ``name`` for the block (waits for another holder)."""
    async with store.pool.connection() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))


Listener = Callable[[dict[str, Any]], Awaitable[None] | None]


class PostgresFanOut:
    """Publish a small JSON message to every instance listening on a channel (``NOTIFY``).

    One dedicated connection listens; a message published by any instance (this one included)
    reaches every subscriber of its channel on every instance. Payloads must stay under
    PostgreSQL's 8,000-byte limit: send ids, and read the rest from the store."""

    def __init__(self, store: PostgresStore, *, sleep: Sleep = asyncio.sleep) -> None:
        self._store = store
        self._sleep = sleep
        self._subscribers: dict[str, list[Listener]] = {}
        self._conn: AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        payload = json.dumps(message, separators=(",", ":"))
        if len(payload.encode()) >= 8000:
            raise ValueError("fan-out messages must be under 8,000 bytes")
        async with self._store.transaction() as cur:
            await cur.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    async def subscribe(self, channel: str, listener: Listener) -> None:
        first = channel not in self._subscribers
        self._subscribers.setdefault(channel, []).append(listener)
        if self._conn is None:
            self._conn = await AsyncConnection.connect(self._store.url, autocommit=True)
        if first:
            # The listening loop holds the connection while it waits: stop it for the LISTEN
            # (what arrives meanwhile waits in psycopg's backlog and comes out first).
            await self._stop_listening()
            await self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="pg-fan-out")

    async def _stop_listening(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        """Hand each notification to its channel's listeners. If the connection fails (a
        restart, a failover), connect again and LISTEN again, then wake every listener with an
        empty message: what was published meanwhile is read from the store, not lost."""
        delay = 1.0
        while True:
            try:
                assert self._conn is not None
                async for note in self._conn.notifies():
                    delay = 1.0
                    try:
                        message = json.loads(note.payload)
                    except ValueError:
                        continue
                    await self._deliver(note.channel, message)
                return
            except Exception as error:
                log.warning(
                    "fan-out: the LISTEN connection failed (%s); connecting again in %.0f s",
                    type(error).__name__,
                    delay,
                )
            await self._sleep(delay)
            delay = min(30.0, delay * 2)
            try:
                await self._relisten()
            except Exception as error:
                log.warning("fan-out: connecting again failed (%s)", type(error).__name__)
                continue
            for channel in list(self._subscribers):
                await self._deliver(channel, {})

    async def _relisten(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        self._conn = await AsyncConnection.connect(self._store.url, autocommit=True)
        for channel in self._subscribers:
            await self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))

    async def _deliver(self, channel: str, message: dict[str, Any]) -> None:
        for listener in list(self._subscribers.get(channel, ())):
            try:
                result = listener(message)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("a fan-out listener failed")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._stop_listening()
        if self._conn is not None:
            await self._conn.close()
