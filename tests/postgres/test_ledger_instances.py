"""The PostgreSQL ledger shared by several instances: leases with an expiry and a token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.errors import ConcurrencyError
from bot.notifications.ports import DocWrite, OutboxMessage, UnitOfWork
from bot.storage.postgres import PostgresStore
from bot.storage.postgres_ledger import PostgresLedger
from tests.notifications.support import FakeClock


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[PostgresStore]:
    s = PostgresStore(pg_url)
    await s.open()
    yield s
    await s.close()


def msg(mid: str, partition: str, revision: int = 1) -> OutboxMessage:
    return OutboxMessage(mid, partition, "notification", {"n": mid}, revision)


async def test_instances_leasing_at_once_never_share_a_message(store: PostgresStore) -> None:
    clock = FakeClock()
    a = PostgresLedger(store, clock, owner="a")
    b = PostgresLedger(store, clock, owner="b")
    await a.commit(UnitOfWork(enqueue=tuple(msg(f"m{i}", f"p{i}") for i in range(40))))
    rounds = await asyncio.gather(*(ledger.lease(5, 60) for ledger in (a, b) * 6))
    ids = [leased.message.id for got in rounds for leased in got]
    assert len(ids) == len(set(ids)) == 40


async def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_finish(
    store: PostgresStore,
) -> None:
    clock = FakeClock()
    a = PostgresLedger(store, clock, owner="a")
    b = PostgresLedger(store, clock, owner="b")
    await a.commit(
        UnitOfWork(writes=(DocWrite("inc", {"v": 0}, None),), enqueue=(msg("m", "inc"),))
    )
    (held,) = await a.lease(10, 30)
    assert await b.lease(10, 30) == []
    assert await b.next_due() == pytest.approx(clock() + 30)
    await clock.sleep(31)
    (taken,) = await b.lease(10, 30)
    assert taken.message.id == "m" and taken.lease_id != held.lease_id
    item = await a.read("inc")
    assert item is not None
    with pytest.raises(ConcurrencyError):
        await a.commit(UnitOfWork(writes=(DocWrite("inc", {"v": 1}, item.etag),), complete=held))
    assert (await a.read("inc")).value == {"v": 0}  # type: ignore[union-attr]
    await a.retry(held, delay=0, error="late")  # no effect: not a's lease any more
    await b.commit(UnitOfWork(complete=taken))
    (status,) = await b.messages("inc")
    assert status.state == "done" and status.attempts == 0


async def test_reclaim_takes_back_own_leases_but_not_a_live_instances(
    store: PostgresStore,
) -> None:
    clock = FakeClock()
    a = PostgresLedger(store, clock, owner="a")
    b = PostgresLedger(store, clock, owner="b")
    await a.commit(UnitOfWork(enqueue=(msg("m1", "p1"), msg("m2", "p2"))))
    assert len(await a.lease(1, 60)) == 1
    assert len(await b.lease(1, 60)) == 1
    restarted_a = PostgresLedger(store, clock, owner="a")
    assert await restarted_a.reclaim() == 1
    (again,) = await restarted_a.lease(10, 60)
    assert await b.lease(10, 60) == []
    await clock.sleep(61)
    assert await restarted_a.reclaim() == 2  # its own, and b's that expired meanwhile
    assert again.message.id in {"m1", "m2"}


async def test_release_gives_a_message_back_untried(store: PostgresStore) -> None:
    clock = FakeClock()
    a = PostgresLedger(store, clock, owner="a")
    await a.commit(UnitOfWork(enqueue=(msg("m", "p"),)))
    (held,) = await a.lease(1, 600)
    await a.release(held)
    (again,) = await PostgresLedger(store, clock, owner="b").lease(1, 600)
    assert again.message.id == "m" and again.attempts == 0


async def test_event_cursors_are_visible_in_order_under_concurrent_commits(
    store: PostgresStore,
) -> None:
    ledgers = [PostgresLedger(store, FakeClock(), owner=str(i)) for i in range(4)]
    seen: list[int] = []
    reached = 0
    stop = asyncio.Event()

    async def reader() -> None:
        nonlocal reached
        while not stop.is_set():
            for event in await ledgers[0].events_after(reached, 100):
                assert event.cursor > reached
                reached = event.cursor
                seen.append(event.cursor)
            await asyncio.sleep(0)

    task = asyncio.create_task(reader())
    await asyncio.gather(
        *(ledgers[n % 4].commit(UnitOfWork(events=({"n": n},))) for n in range(120))
    )
    stop.set()
    await task
    every = await ledgers[0].events_after(0, 1000)
    assert sorted(e.body["n"] for e in every) == list(range(120))
    # Paging by cursor while the commits raced, the reader skipped none that it went past.
    assert [e.cursor for e in every if e.cursor <= reached] == seen
