"""The chat fan-out between instances (``SharedFanout`` over PostgreSQL's ``LISTEN``/``NOTIFY``):
events written through one instance reach the subscribers of both, in cursor order, once each;
expert presence on one instance is counted by the other, including one that starts later."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from bot.chat.fanout import PRESENCE_CHANNEL, SharedFanout
from bot.chat.model import ChatEvent, Place
from bot.chat.ports import ConversationSeed
from bot.storage.postgres import PostgresStore
from bot.storage.postgres_chat import PostgresChatStore
from bot.storage.postgres_coordination import PostgresFanOut

_waiting: set[asyncio.Future[None]] = set()


def _heard(_: dict[str, Any]) -> None:
    for waiter in _waiting:
        if not waiter.done():
            waiter.set_result(None)


async def no_wait(_: float) -> None:
    await asyncio.sleep(0)


@asynccontextmanager
async def node(url: str, name: str) -> AsyncIterator[tuple[PostgresChatStore, SharedFanout]]:
    store = PostgresStore(url)
    await store.open()
    chat = PostgresChatStore(store)
    # Reconnecting after a lost connection waits on this sleep: none in a test.
    broadcast = PostgresFanOut(store, sleep=no_wait)
    fanout = SharedFanout(chat, broadcast, instance=name)
    await fanout.start()
    await broadcast.subscribe(PRESENCE_CHANNEL, _heard)  # after the node's own listener
    try:
        yield chat, fanout
    finally:
        await fanout.close()
        await chat.close()
        await store.close()


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition`` holds, re-checking it after each presence message any node has
    handled (its own listener ran first): no polling, and a bound only against a hang."""
    loop = asyncio.get_running_loop()
    while not condition():
        heard: asyncio.Future[None] = loop.create_future()
        _waiting.add(heard)
        try:
            await asyncio.wait_for(heard, 30)
        except TimeoutError:
            raise AssertionError(f"no presence message brought {what}") from None
        finally:
            _waiting.discard(heard)


async def collect(fanout: SharedFanout, n: int) -> list[ChatEvent]:
    seen: list[ChatEvent] = []
    subscription = fanout.subscribe()
    async for event in subscription:
        seen.append(event)
        if len(seen) == n:
            subscription.close()
    return seen


async def test_events_written_on_either_instance_reach_both_in_cursor_order(pg_url: str) -> None:
    async with node(pg_url, "a") as (chat_a, a), node(pg_url, "b") as (chat_b, b):
        readers = [asyncio.create_task(collect(f, 40)) for f in (a, b)]
        await asyncio.sleep(0)  # the readers subscribe

        async def write(chat: PostgresChatStore, fanout: SharedFanout, n: int) -> None:
            place = Place("incident", f"Incident {n}", incident_id=str(n))
            seed = ConversationSeed(f"c{n}", "t", "Contoso", place, f"19:c{n}", f"19:c{n}", {})
            written = await chat.open_conversation(seed)
            assert len(written.events) == 1
            fanout.publish(written.events)

        await asyncio.gather(
            *(write(*((chat_a, a) if n % 2 else (chat_b, b)), n) for n in range(40))
        )
        seen_a, seen_b = await asyncio.wait_for(asyncio.gather(*readers), 60)
        cursors = [e.cursor for e in seen_a]
        assert cursors == sorted(set(cursors)) and len(cursors) == 40
        assert [e.cursor for e in seen_b] == cursors


async def test_presence_on_one_instance_counts_on_the_others(pg_url: str) -> None:
    async with node(pg_url, "a") as (_, a), node(pg_url, "b") as (_, b):
        a.changed(2)
        await until(lambda: b.elsewhere == 2, "b to count a's two consoles")
        assert a.elsewhere == 0
        async with node(pg_url, "c") as (_, c):  # a late instance asks for the counts
            await until(lambda: c.elsewhere == 2, "c to learn a's count")
            c.changed(1)
            await until(lambda: a.elsewhere == 1 and b.elsewhere == 3, "c's console counted")
        await until(lambda: b.elsewhere == 2, "c's consoles gone when c stops")
        a.changed(0)
        await until(lambda: b.elsewhere == 0, "a's consoles closed")


async def test_a_lost_listen_connection_reconnects_and_misses_nothing(pg_url: str) -> None:
    async with node(pg_url, "a") as (chat_a, a), node(pg_url, "b") as (_, b):
        reader = asyncio.create_task(collect(b, 2))
        await asyncio.sleep(0)
        with psycopg.connect(pg_url, autocommit=True) as conn:  # a failover, as b sees it
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                "FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%%' AND datname = current_database()"
            ).fetchone()
            assert row == (2,)  # a's and b's listening connections
        for n in range(2):
            place = Place("incident", f"Incident {n}", incident_id=str(n))
            seed = ConversationSeed(f"c{n}", "t", "Contoso", place, f"19:c{n}", f"19:c{n}", {})
            a.publish((await chat_a.open_conversation(seed)).events)
        seen = await asyncio.wait_for(reader, 60)
        assert [e.conversation_id for e in seen] == ["c0", "c1"]
