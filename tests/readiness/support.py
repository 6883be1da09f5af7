"""Fakes for the readiness ports: real in-memory implementations, not mocks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.readiness.catalogue import CONTROL_IDS
from bot.readiness.ports import (
    Controls,
    DeviceCoverage,
    IdentityCoverage,
    Licences,
    ServiceChoices,
    SignalError,
)
from bot.readiness.service import ReadinessService
from bot.storage.memory import MemoryStore
from cards import to_json
from cards.elements import AdaptiveCard
from tests.support import ALEX, MEGAN, TENANT

ADMINS = {ALEX.user_id, MEGAN.user_id}


class FakeClock:
    def __init__(self, now: float = 1_796_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class TenantSignals:
    """A tenant whose figures the test sets; ``failures`` makes a read raise."""

    licences_: Licences = field(default_factory=lambda: Licences(50, 40))
    devices_: DeviceCoverage = field(default_factory=lambda: DeviceCoverage(45, 2, 3))
    identities_: IdentityCoverage = field(
        default_factory=lambda: IdentityCoverage(31, 2, 0, ("corp.contoso.com",))
    )
    controls_: dict[str, str] = field(default_factory=lambda: dict.fromkeys(CONTROL_IDS, "on"))
    failures: dict[str, SignalError] = field(default_factory=dict)
    reads: int = 0

    def _check(self, name: str) -> None:
        self.reads += 1
        if name in self.failures:
            raise self.failures[name]

    async def licences(self) -> Licences:
        self._check("licences")
        return self.licences_

    async def devices(self) -> DeviceCoverage:
        self._check("devices")
        return self.devices_

    async def identities(self) -> IdentityCoverage:
        self._check("identities")
        return self.identities_

    async def controls(self, ids: Sequence[str]) -> Controls:
        self._check("controls")
        return Controls.from_json({i: self.controls_.get(i, "missing") for i in ids})


@dataclass
class Choices:
    value: ServiceChoices = field(default_factory=ServiceChoices)

    async def choices(self, tenant_id: str) -> ServiceChoices:
        return self.value


@dataclass
class Inbox:
    """The admins' chats: every card sent."""

    cards: list[dict[str, Any]] = field(default_factory=list)

    async def send_to_admins(self, tenant_id: str, card: AdaptiveCard) -> int:
        self.cards.append(to_json(card))
        return 1


@dataclass
class Events:
    published: list[dict[str, Any]] = field(default_factory=list)

    async def publish(self, event: dict[str, Any]) -> None:
        self.published.append(event)


async def is_admin(user_id: str) -> bool:
    return user_id in ADMINS


@dataclass
class World:
    service: ReadinessService
    signals: TenantSignals
    choices: Choices
    inbox: Inbox
    events: Events
    clock: FakeClock
    store: MemoryStore


def world(**signals: Any) -> World:
    store = MemoryStore()
    tenant_signals = TenantSignals(**signals)
    choices, inbox, events, clock = Choices(), Inbox(), Events(), FakeClock()
    service = ReadinessService(
        store,
        tenant_signals,
        choices,
        is_admin,
        tenant_id=TENANT,
        admins=inbox,
        events=events,
        clock=clock,
    )
    return World(service, tenant_signals, choices, inbox, events, clock, store)
