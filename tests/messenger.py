"""The one fake ChannelMessenger of the service tests: it records what would reach Teams.

Services talk to Teams through the ``ChannelMessenger`` port (``bot/messaging.py``); the edge's
adapter is tested against the Bot Connector stand-in (``tests/standins/connector.py``). This is
a real in-memory implementation of the port, not a mock: each call is recorded as a
:class:`Sent`, in order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from bot.messaging import DeliveryError, Posted

JSON = dict[str, Any]


@dataclass
class Sent:
    """One call: ``post`` (a new thread in ``channel_id``), ``reply`` (into a conversation) or
    ``update`` (a card replaced in place). ``reference`` is the one the call was given."""

    kind: str
    conversation_id: str
    activity_id: str
    card: JSON | None = None
    text: str = ""
    reference: JSON = field(default_factory=dict)
    channel_id: str = ""


@dataclass
class FakeMessenger:
    """Records posts, replies and card updates. ``failures`` are raised, in order, by the next
    calls of any kind; ``post_failures`` by the next posts only."""

    sent: list[Sent] = field(default_factory=list)
    failures: list[DeliveryError] = field(default_factory=list)
    post_failures: list[DeliveryError] = field(default_factory=list)
    calls: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)

    async def post_to_channel(
        self, team_reference: JSON, channel_id: str, *, card: JSON | None = None, text: str = ""
    ) -> Posted:
        self._maybe_fail()
        if self.post_failures:
            raise self.post_failures.pop(0)
        activity_id = f"m{next(self._ids)}"
        conversation = f"{channel_id};messageid={activity_id}"
        self.sent.append(
            Sent("post", conversation, activity_id, card, text, team_reference, channel_id)
        )
        reference = {"conversation": {"id": conversation}, "serviceUrl": "http://x/"}
        return Posted(conversation, activity_id, reference)

    async def send(self, reference: JSON, *, card: JSON | None = None, text: str = "") -> str:
        self._maybe_fail()
        activity_id = f"r{next(self._ids)}"
        conversation = reference["conversation"]["id"]
        self.sent.append(Sent("reply", conversation, activity_id, card, text, reference))
        return activity_id

    async def update(self, reference: JSON, activity_id: str, *, card: JSON) -> None:
        self._maybe_fail()
        conversation = reference["conversation"]["id"]
        self.sent.append(Sent("update", conversation, activity_id, card, "", reference))

    def of_kind(self, kind: str) -> list[Sent]:
        return [s for s in self.sent if s.kind == kind]

    def latest_card(self) -> JSON:
        """The card as it looks now in the conversation it was last sent to or updated in (the
        admin's progress card, in the saga's tests)."""
        shown = [s for s in self.sent if s.kind in ("reply", "update")]
        assert shown, "no card was sent"
        return shown[-1].card or {}
