"""In-process fan-out of committed chat events to live subscribers (console sockets, the API's
stream). Each subscriber has its own bounded queue; one that falls too far behind is closed and
resumes from its last event id, which the store still has."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from bot.chat.model import ChatEvent

QUEUE_LIMIT = 1000


class _Closed(Exception):
    pass


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
