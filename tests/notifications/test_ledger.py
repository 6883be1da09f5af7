"""One contract suite for every Ledger adapter: SQLite (shares the store's database), PostgreSQL
(likewise, for several instances) and memory.

An Azure (Blob + Queue) adapter would be added to ``LEDGERS`` and must pass the same tests.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from bot.errors import ConcurrencyError
from bot.notifications.ports import DocWrite, DuplicateError, Ledger, OutboxMessage, UnitOfWork
from bot.storage.memory_ledger import MemoryLedger
from bot.storage.postgres import PostgresStore
from bot.storage.postgres_ledger import PostgresLedger
from bot.storage.sqlite import SqliteStore
from bot.storage.sqlite_ledger import SqliteLedger
from tests.notifications.support import FakeClock

LedgerFactory = Callable[[Path, FakeClock], Ledger] | None
T = TypeVar("T")


def _sqlite(tmp: Path, clock: FakeClock) -> Ledger:
    return SqliteLedger(SqliteStore(tmp / "bot.sqlite3"), clock)


def _memory(tmp: Path, clock: FakeClock) -> Ledger:
    return MemoryLedger(clock)


LEDGERS = {"sqlite": _sqlite, "memory": _memory, "postgres": None}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=sorted(LEDGERS))
async def ledger(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Ledger]:
    factory = LEDGERS[request.param]
    if factory is None:  # PostgreSQL: a new database in the test cluster
        store = PostgresStore(request.getfixturevalue("pg_url"))
        await store.open()
        made: Ledger = PostgresLedger(store, clock)
        yield made
        await made.close()
        await store.close()
        return
    made = factory(tmp_path, clock)
    yield made
    await made.close()


def msg(mid: str, partition: str = "p", revision: int = 1) -> OutboxMessage:
    return OutboxMessage(mid, partition, "notification", {"n": mid}, revision)


async def test_a_unit_is_all_or_nothing(ledger: Ledger) -> None:
    await ledger.commit(UnitOfWork(writes=(DocWrite("k", {"v": 1}, None),)))
    with pytest.raises(ConcurrencyError):
        await ledger.commit(
            UnitOfWork(
                writes=(DocWrite("other", {"v": 1}, None), DocWrite("k", {"v": 2}, None)),
                enqueue=(msg("m1"),),
                events=({"type": "e"},),
                receipt="w1",
            )
        )
    assert await ledger.read("other") is None
    assert (await ledger.outbox_stats()).open == 0
    assert await ledger.events_after(0, 10) == []
    assert not await ledger.has_receipt("w1")


async def test_receipts_make_repeats_duplicates(ledger: Ledger) -> None:
    await ledger.commit(UnitOfWork(enqueue=(msg("m1"),), receipt="w1"))
    with pytest.raises(DuplicateError):
        await ledger.commit(
            UnitOfWork(writes=(DocWrite("k", {}, None),), enqueue=(msg("m2"),), receipt="w1")
        )
    assert await ledger.read("k") is None and (await ledger.outbox_stats()).open == 1


async def test_etags_guard_documents(ledger: Ledger) -> None:
    await ledger.commit(UnitOfWork(writes=(DocWrite("k", {"v": 1}, None),)))
    item = await ledger.read("k")
    assert item is not None
    await ledger.commit(UnitOfWork(writes=(DocWrite("k", {"v": 2}, item.etag),)))
    with pytest.raises(ConcurrencyError):
        await ledger.commit(UnitOfWork(writes=(DocWrite("k", {"v": 3}, item.etag),)))
    after = await ledger.read("k")
    assert after is not None and after.value == {"v": 2}


async def test_one_message_per_partition_in_order(ledger: Ledger) -> None:
    await ledger.commit(UnitOfWork(enqueue=(msg("a1", "A", 1), msg("b1", "B", 1))))
    await ledger.commit(UnitOfWork(enqueue=(msg("a2", "A", 2),)))
    first = await ledger.lease(10, 60)
    assert sorted(m.message.id for m in first) == ["a1", "b1"]
    assert await ledger.lease(10, 60) == []
    a1 = next(m for m in first if m.message.id == "a1")
    await ledger.commit(UnitOfWork(complete=a1))
    second = await ledger.lease(10, 60)
    assert [m.message.id for m in second] == ["a2"]
    assert second[0].message.payload == {"n": "a2"} and second[0].message.revision == 2


async def test_retry_waits_and_blocks_its_partition(ledger: Ledger, clock: FakeClock) -> None:
    await ledger.commit(UnitOfWork(enqueue=(msg("a1", "A"), msg("a2", "A"))))
    (a1,) = await ledger.lease(10, 60)
    await ledger.retry(a1, delay=30, error="HTTP 429")
    assert await ledger.lease(10, 60) == []
    assert await ledger.next_due() == pytest.approx(clock.now + 30)
    await clock.sleep(30)
    (again,) = await ledger.lease(10, 60)
    assert again.message.id == "a1" and again.attempts == 1
    status = await ledger.messages("A")
    assert [(s.id, s.state) for s in status] == [("a1", "leased"), ("a2", "pending")]
    assert status[0].last_error == "HTTP 429"


async def test_dead_letters_stop_blocking(ledger: Ledger) -> None:
    await ledger.commit(UnitOfWork(enqueue=(msg("a1", "A"), msg("a2", "A"))))
    (a1,) = await ledger.lease(10, 60)
    await ledger.commit(UnitOfWork(complete=a1, dead_letter_error="gone"))
    (a2,) = await ledger.lease(10, 60)
    assert a2.message.id == "a2"
    states = {s.id: (s.state, s.last_error) for s in await ledger.messages("A")}
    assert states["a1"] == ("dead", "gone")


async def test_reclaim_gives_back_leases_after_a_restart(ledger: Ledger) -> None:
    await ledger.commit(UnitOfWork(enqueue=(msg("a1", "A"),)))
    assert len(await ledger.lease(10, 60)) == 1
    assert await ledger.reclaim() == 1
    (again,) = await ledger.lease(10, 60)
    assert again.message.id == "a1" and again.attempts == 0
    await ledger.commit(UnitOfWork(complete=again))
    with pytest.raises(ConcurrencyError):
        await ledger.commit(UnitOfWork(complete=again))
    assert (await ledger.outbox_stats()).open == 0


async def test_events_are_read_after_a_cursor(ledger: Ledger) -> None:
    await ledger.commit(UnitOfWork(events=({"type": "a"}, {"type": "b"})))
    await ledger.commit(UnitOfWork(events=({"type": "c"},)))
    page = await ledger.events_after(0, 2)
    assert [e.body["type"] for e in page] == ["a", "b"]
    rest = await ledger.events_after(page[-1].cursor, 10)
    assert [e.body["type"] for e in rest] == ["c"]
    assert await ledger.events_after(rest[-1].cursor, 10) == []


async def test_sqlite_ledger_lives_in_the_stores_database(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bot.sqlite3")
    ledger = SqliteLedger(store)
    await ledger.commit(
        UnitOfWork(writes=(DocWrite("tenants/t/incidents/1", {"x": 1}, None),), enqueue=(msg("m"),))
    )
    assert (await store.read("tenants/t/incidents/1")) is not None
    await ledger.close()
    await store.close()
    conn = sqlite3.connect(tmp_path / "bot.sqlite3")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"documents", "notification_outbox", "notification_events"} <= tables
    assert conn.execute("SELECT COUNT(*) FROM notification_outbox").fetchone()[0] == 1
    conn.close()


async def test_concurrent_units_fail_alone(ledger: Ledger) -> None:
    """Units committed together (SQLite: one group commit) succeed or fail one by one."""
    units = [
        UnitOfWork(writes=(DocWrite(f"k{i}", {"i": i}, None),), enqueue=(msg(f"m{i}", f"P{i}"),))
        for i in range(40)
    ]
    units.append(UnitOfWork(writes=(DocWrite("k7", {"dup": True}, None),), enqueue=(msg("x"),)))
    units.append(UnitOfWork(receipt="r1", events=({"type": "a"},)))
    units.append(UnitOfWork(receipt="r1", events=({"type": "b"},)))
    results = await asyncio.gather(*(ledger.commit(u) for u in units), return_exceptions=True)
    assert results[:40] == [None] * 40
    assert isinstance(results[40], ConcurrencyError)
    assert sorted(type(r).__name__ for r in results[41:]) == ["DuplicateError", "NoneType"]
    assert (await ledger.outbox_stats()).open == 40
    assert [e.body["type"] for e in await ledger.events_after(0, 10)] in (["a"], ["b"])
    item = await ledger.read("k7")
    assert item is not None and item.value == {"i": 7}


class CountingStore(SqliteStore):
    """Counts the write transactions (each one ends with one fsync)."""

    transactions = 0

    def run_locked(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        self.transactions += 1
        return super().run_locked(fn, durable=durable)


async def test_sqlite_group_commit_shares_transactions_up_to_a_bound(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "bot.sqlite3")
    ledger = SqliteLedger(store, group_max_units=4, group_max_wait=0)
    store.transactions = 0
    units = [UnitOfWork(writes=(DocWrite(f"k{i}", {"i": i}, None),)) for i in range(10)]
    assert await asyncio.gather(*(ledger.commit(u) for u in units)) == [None] * 10
    assert store.transactions == 3  # 4 + 4 + 2
    assert [(await ledger.read(f"k{i}")) is not None for i in range(10)] == [True] * 10
    await ledger.close()
    await store.close()


async def test_sqlite_group_commit_waits_for_the_units_its_group_expects(tmp_path: Path) -> None:
    """After a group of four, the next group waits (bounded) for four units: the first request
    of a burst isn't written alone while the others are on their way."""
    store = CountingStore(tmp_path / "bot.sqlite3")
    ledger = SqliteLedger(store, group_max_wait=60)
    await asyncio.gather(*(ledger.commit(UnitOfWork(receipt=f"a{i}")) for i in range(4)))
    store.transactions = 0
    first = asyncio.create_task(ledger.commit(UnitOfWork(receipt="b0")))
    for _ in range(5):
        await asyncio.sleep(0)  # the group has started and is waiting for more units
    assert not first.done() and store.transactions == 0
    await asyncio.gather(first, *(ledger.commit(UnitOfWork(receipt=f"b{i}")) for i in (1, 2, 3)))
    assert store.transactions == 1
    assert all([await ledger.has_receipt(f"b{i}") for i in range(4)])
    await ledger.close()
    await store.close()


async def test_sqlite_group_of_updates_commits_in_unit_order_and_a_stale_etag_fails_alone(
    tmp_path: Path,
) -> None:
    """A group whose units all apply is written with one statement per table; one with a unit
    that would be refused is written unit by unit: either way, one transaction, the rows in the
    units' order, and only the refused unit fails."""
    store = CountingStore(tmp_path / "bot.sqlite3")
    ledger = SqliteLedger(store, group_max_wait=0)
    await asyncio.gather(
        *(ledger.commit(UnitOfWork(writes=(DocWrite(f"k{i}", {"v": 0}, None),))) for i in range(4))
    )
    etags = [(await ledger.read(f"k{i}")) for i in range(4)]
    assert all(etags)

    def update(i: int, etag: str, n: int) -> UnitOfWork:
        return UnitOfWork(
            writes=(DocWrite(f"k{i}", {"v": n}, etag),),
            enqueue=(msg(f"m{n}-{i}", f"P{i}"),),
            events=({"n": n, "i": i},),
            receipt=f"r{n}-{i}",
        )

    store.transactions = 0
    first = [update(i, e.etag, 1) for i, e in enumerate(etags) if e]
    assert await asyncio.gather(*(ledger.commit(u) for u in first)) == [None] * 4
    assert store.transactions == 1
    assert [e.body for e in await ledger.events_after(0, 10)] == [
        {"n": 1, "i": i} for i in range(4)
    ]
    assert [m.message.id for m in await ledger.lease(10, 60)] == [f"m1-{i}" for i in range(4)]
    now = [(await ledger.read(f"k{i}")) for i in range(4)]
    assert [n.value if n else None for n in now] == [{"v": 1}] * 4

    store.transactions = 0
    second = [update(i, n.etag if n else "", 2) for i, n in enumerate(now)]
    second[1] = update(1, etags[1].etag if etags[1] else "", 2)  # the ETag before the first group
    second.append(UnitOfWork(writes=(DocWrite("k3", {"v": "any"}, "*"),)))
    results = await asyncio.gather(*(ledger.commit(u) for u in second), return_exceptions=True)
    assert store.transactions == 1
    assert [type(r).__name__ for r in results] == [
        "NoneType",
        "ConcurrencyError",
        *["NoneType"] * 3,
    ]
    values = [(await ledger.read(f"k{i}")) for i in range(4)]
    assert [v.value if v else None for v in values] == [{"v": 2}, {"v": 1}, {"v": 2}, {"v": "any"}]
    assert not await ledger.has_receipt("r2-1") and await ledger.has_receipt("r2-2")
    assert [e.body["i"] for e in await ledger.events_after(4, 10)] == [0, 2, 3]
    await ledger.close()
    await store.close()


# ---- retention: what prune may delete, for every adapter ---------------------------------------

DAY = 86_400.0


async def _finish(ledger: Ledger, mid: str, how: str, partition: str = "p") -> None:
    """Lease ``mid`` (the head of its partition) and finish it: done, dead (emailed or not), or
    dead through ``Ledger.dead_letter`` (the path without a document)."""
    leased = [m for m in await ledger.lease(100, 60) if m.message.id == mid]
    assert leased, f"{mid} is not due"
    if how == "done":
        await ledger.commit(UnitOfWork(complete=leased[0]))
    elif how == "dead-emailed":
        await ledger.commit(
            UnitOfWork(complete=leased[0], dead_letter_error="x", dead_letter_emailed=True)
        )
    elif how == "dead-not-emailed":
        await ledger.commit(UnitOfWork(complete=leased[0], dead_letter_error="x"))
    else:
        await ledger.dead_letter(leased[0], error="x")
    await ledger.reclaim()  # give back the others leased on the way


async def test_prune_deletes_receipts_before_the_cutoff(ledger: Ledger, clock: FakeClock) -> None:
    await ledger.commit(UnitOfWork(receipt="old"))
    await clock.sleep(DAY)
    await ledger.commit(UnitOfWork(receipt="new"))
    assert await ledger.prune("receipts", clock.now - 1, 500) == 1
    assert not await ledger.has_receipt("old") and await ledger.has_receipt("new")
    await ledger.commit(UnitOfWork(receipt="old"))  # the id can be recorded again
    assert await ledger.has_receipt("old")


async def test_prune_deletes_only_settled_finished_messages(
    ledger: Ledger, clock: FakeClock
) -> None:
    refresh = OutboxMessage("refresh", "r", "refresh", {}, 1)
    await ledger.commit(
        UnitOfWork(
            enqueue=(
                msg("done", "a"),
                msg("emailed", "b"),
                msg("unsent", "c"),
                msg("nodoc", "d"),
                refresh,
                msg("pending", "e"),
                msg("leased", "f"),
                msg("retrying", "g"),
            )
        )
    )
    await _finish(ledger, "done", "done")
    await _finish(ledger, "emailed", "dead-emailed")
    await _finish(ledger, "unsent", "dead-not-emailed")
    await _finish(ledger, "nodoc", "dead_letter")
    (leased_refresh,) = [m for m in await ledger.lease(100, 60) if m.message.id == "refresh"]
    await ledger.commit(UnitOfWork(complete=leased_refresh, dead_letter_error="404"))
    await ledger.reclaim()
    for leased in await ledger.lease(100, 60):
        if leased.message.id == "retrying":
            await ledger.retry(leased, delay=10 * 365 * DAY, error="HTTP 429")
        elif leased.message.id == "pending":
            await ledger.retry(leased, delay=0, error="")
    await clock.sleep(400 * DAY)
    # A cutoff in the future: every finished message is old enough; open ones still stay.
    assert await ledger.prune("messages", clock.now + 1000 * DAY, 500) == 3
    remaining = {s.id: s.state for p in "abcdefgr" for s in await ledger.messages(p)}
    assert remaining == {
        "unsent": "dead",
        "nodoc": "dead",
        "pending": "pending",
        "leased": "leased",
        "retrying": "pending",
    }
    assert (await ledger.outbox_stats()).open == 3


async def test_prune_keeps_messages_finished_after_the_cutoff(
    ledger: Ledger, clock: FakeClock
) -> None:
    await ledger.commit(UnitOfWork(enqueue=(msg("m1", "a"), msg("m2", "b"))))
    await _finish(ledger, "m1", "done", "a")
    await clock.sleep(10 * DAY)
    await _finish(ledger, "m2", "done", "b")
    assert await ledger.prune("messages", clock.now - DAY, 500) == 1
    assert await ledger.messages("a") == [] and len(await ledger.messages("b")) == 1


async def test_prune_works_in_batches_oldest_first(ledger: Ledger, clock: FakeClock) -> None:
    for i in range(5):
        await ledger.commit(UnitOfWork(receipt=f"w{i}", events=({"type": f"e{i}"},)))
        await clock.sleep(1)
    assert await ledger.prune("receipts", clock.now, 2) == 2
    assert [await ledger.has_receipt(f"w{i}") for i in range(5)] == [False] * 2 + [True] * 3
    assert await ledger.prune("events", clock.now, 3) == 3
    assert [e.body["type"] for e in await ledger.events_after(0, 10)] == ["e3", "e4"]


async def test_event_cursors_stay_monotonic_after_pruning(ledger: Ledger, clock: FakeClock) -> None:
    await ledger.commit(UnitOfWork(events=({"type": "a"}, {"type": "b"})))
    last = (await ledger.events_after(0, 10))[-1].cursor
    await clock.sleep(100 * DAY)
    assert await ledger.prune("events", clock.now, 500) == 2
    assert await ledger.events_after(0, 10) == []
    await ledger.commit(UnitOfWork(events=({"type": "c"},)))
    (c,) = await ledger.events_after(0, 10)
    assert c.cursor > last
    # A client that read up to ``last`` before the pruning just goes on.
    assert [e.body["type"] for e in await ledger.events_after(last, 10)] == ["c"]
    assert [e.body["type"] for e in await ledger.events_after(1, 10)] == ["c"]


async def test_vacuum_is_a_no_op_without_incremental_auto_vacuum(ledger: Ledger) -> None:
    await ledger.commit(UnitOfWork(events=tuple({"pad": "x" * 2000} for _ in range(50))))
    assert await ledger.prune("events", float("inf"), 500) == 50
    assert await ledger.vacuum(1000) == 0


async def test_outbox_stats_count_the_open_messages_and_the_oldest(
    ledger: Ledger, clock: FakeClock
) -> None:
    empty = await ledger.outbox_stats()
    assert (empty.open, empty.oldest_enqueued_at) == (0, None)
    first_at = clock()
    await ledger.commit(UnitOfWork(enqueue=(msg("m1", "p"),)))
    clock.now += 30.0
    await ledger.commit(UnitOfWork(enqueue=(msg("m2", "q"),)))
    stats = await ledger.outbox_stats()
    assert (stats.open, stats.oldest_enqueued_at) == (2, first_at)
    (oldest,) = [m for m in await ledger.lease(16, 60.0) if m.message.id == "m1"]
    await ledger.dead_letter(oldest, error="gone")
    stats = await ledger.outbox_stats()
    assert (stats.open, stats.oldest_enqueued_at) == (1, first_at + 30.0)
    # SQLite leaves dead letters uncounted: that would read the kept history on every scrape.
    assert stats.dead == (None if isinstance(ledger, SqliteLedger) else 1)
