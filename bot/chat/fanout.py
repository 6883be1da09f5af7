"""Fan-out of committed chat events to live subscribers (console sockets, the API's stream).

Each subscriber has its own bounded queue; one that falls too far behind is closed and resumes
from its last event id, which the store still has. :class:`InProcessFanout` serves one instance;
:class:`SharedFanout` serves several on one database: a write announces its last cursor on a
:class:`~bot.chat.ports.Broadcast`, and every instance (the writer too) reads the events after
the cursor it has relayed from the store, in cursor order, and hands them to its own consoles.
Expert presence (how many consoles are open) travels the same way, so the assistant's
acknowledgement waits for an expert connected to any instance.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from bot.chat.model import ChatEvent
from bot.chat.ports import Broadcast, ChatStore
from bot.retry import stop_task

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "chat_events"
PRESENCE_CHANNEL = "chat_presence"
PAGE = 500
CLOSE_SECONDS = 5.0

QUEUE_LIMIT = 1000


class QueueSubscription:
    def __init__(self, owner: InProcessFanout) -> None:
        self._owner = owner
        self._queue: asyncio.Queue[ChatEvent | None] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False

    def offer(self, event: ChatEvent) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    def close(self) -> None:
        self._owner.drop(self)
        while True:
            try:
                self._queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()

    async def __aiter__(self) -> AsyncIterator[ChatEvent]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event


class InProcessFanout:
    def __init__(self) -> None:
        self._subscribers: set[QueueSubscription] = set()

    def publish(self, events: tuple[ChatEvent, ...]) -> None:
        for subscriber in list(self._subscribers):
            for event in events:
                subscriber.offer(event)

    def subscribe(self) -> QueueSubscription:
        subscription = QueueSubscription(self)
        self._subscribers.add(subscription)
        return subscription

    def drop(self, subscription: QueueSubscription) -> None:
        self._subscribers.discard(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)


class SharedFanout:
    """The :class:`~bot.chat.ports.Fanout` and :class:`~bot.chat.ports.Presence` ports for
    several instances. Call :meth:`start` before serving and :meth:`close` at shutdown.

    A notification is only a wake-up: the relay reads everything after its cursor, so a lost or
    merged notification delays events until the next one, never drops or reorders them (the
    store makes cursors visible in order)."""

    def __init__(self, store: ChatStore, broadcast: Broadcast, *, instance: str) -> None:
        self._store = store
        self._broadcast = broadcast
        self._instance = instance
        self._local = InProcessFanout()
        self._cursor = 0
        self._relaying = asyncio.Lock()
        self._online = 0
        self._others: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.relayed = 0

    async def start(self) -> None:
        self._cursor = await self._store.last_cursor()
        await self._broadcast.subscribe(EVENTS_CHANNEL, self._on_events)
        await self._broadcast.subscribe(PRESENCE_CHANNEL, self._on_presence)
        await self._announce(ask=True)

    async def close(self) -> None:
        """Tell the others this instance's consoles are gone (if it had any), then stop. The
        database may be gone already: closing never fails on it."""
        if self._online:
            self._online = 0
            try:
                await asyncio.wait_for(self._announce(), CLOSE_SECONDS)
            except Exception as error:
                log.warning("couldn't tell the other instances: %s", type(error).__name__)
        for task in list(self._tasks):
            await stop_task(task)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._broadcast.close()

    # ---- Fanout ---------------------------------------------------------------------------

    def publish(self, events: tuple[ChatEvent, ...]) -> None:
        if events:
            upto = max(event.cursor for event in events)
            self._spawn(self._broadcast.publish(EVENTS_CHANNEL, {"upto": upto}))

    def subscribe(self) -> QueueSubscription:
        return self._local.subscribe()

    @property
    def subscribers(self) -> int:
        return self._local.subscribers

    async def _on_events(self, message: dict[str, Any]) -> None:
        upto = message.get("upto")
        if isinstance(upto, int) and upto <= self._cursor:
            return
        async with self._relaying:
            while True:
                page = await self._store.events_after(self._cursor, PAGE)
                if page:
                    self._local.publish(tuple(page))
                    self._cursor = page[-1].cursor
                    self.relayed += len(page)
                if len(page) < PAGE:
                    return

    # ---- Presence -------------------------------------------------------------------------

    def changed(self, online: int) -> None:
        self._online = online
        self._spawn(self._announce())

    @property
    def elsewhere(self) -> int:
        return sum(self._others.values())

    async def _announce(self, *, ask: bool = False) -> None:
        message = {"instance": self._instance, "online": self._online, "ask": ask}
        await self._broadcast.publish(PRESENCE_CHANNEL, message)

    async def _on_presence(self, message: dict[str, Any]) -> None:
        if not message:  # the broadcast reconnected: counts may have changed meanwhile
            await self._announce(ask=True)
            return
        instance, online = message.get("instance"), message.get("online")
        if not isinstance(instance, str) or instance == self._instance:
            return
        if isinstance(online, int) and online > 0:
            self._others[instance] = online
        else:
            self._others.pop(instance, None)
        if message.get("ask") is True:  # a new instance asks for everyone's count
            await self._announce()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a chat fan-out message was not sent: %s", task.exception())
