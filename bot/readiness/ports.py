"""What the readiness service reads and whom it tells, and the errors its callers handle.

Adapters: Microsoft Graph and the Defender for Endpoint API (:mod:`bot.graph.signals`), and the
bundled demo tenant (:mod:`bot.readiness.demo`, data in ``bot/tenant/demo_signals.json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from bot.errors import DependencyError
from cards.elements import AdaptiveCard

JSON = dict[str, Any]
FailureReason = Literal["forbidden", "throttled", "unavailable"]


class SignalError(DependencyError):
    """A signal could not be read. ``permission`` names what a 403 says is missing."""

    def __init__(
        self, message: str, *, reason: FailureReason, permission: str = "", service: str = ""
    ) -> None:
        super().__init__(message)
        self.reason: FailureReason = reason
        self.permission = permission
        self.service = service

    def describe(self) -> str:
        """Why the value is stale, in words an administrator can act on."""
        where = self.service or "Microsoft"
        if self.reason == "forbidden":
            needed = self.permission or "a permission listed in docs/readiness.md"
            return f"{where} refused the read: the app needs {needed} (admin consent)."
        if self.reason == "throttled":
            return f"{where} is throttling requests; it will be read again later."
        return f"{where} didn't answer; it will be read again later."


@dataclass(frozen=True)
class Licences:
    """Seats of the subscriptions that include each product (``prepaidUnits.enabled``)."""

    endpoint: int
    identity: int

    def to_json(self) -> JSON:
        return {"endpoint": self.endpoint, "identity": self.identity}

    @classmethod
    def from_json(cls, d: JSON) -> Licences:
        return cls(endpoint=int(d.get("endpoint", 0)), identity=int(d.get("identity", 0)))


@dataclass(frozen=True)
class DeviceCoverage:
    """Defender for Endpoint machines: onboarded and reporting, onboarded but not reporting,
    and discovered devices that can be onboarded."""

    reporting: int
    not_reporting: int
    can_be_onboarded: int

    def to_json(self) -> JSON:
        return {
            "reporting": self.reporting,
            "notReporting": self.not_reporting,
            "canBeOnboarded": self.can_be_onboarded,
        }

    @classmethod
    def from_json(cls, d: JSON) -> DeviceCoverage:
        return cls(
            reporting=int(d.get("reporting", 0)),
            not_reporting=int(d.get("notReporting", 0)),
            can_be_onboarded=int(d.get("canBeOnboarded", 0)),
        )


@dataclass(frozen=True)
class IdentityCoverage:
    """Identities covered by Defender for Identity (see docs/readiness.md for the count)."""

    covered: int
    sensors: int
    sensors_unhealthy: int
    domains: tuple[str, ...] = ()

    def to_json(self) -> JSON:
        return {
            "covered": self.covered,
            "sensors": self.sensors,
            "sensorsUnhealthy": self.sensors_unhealthy,
            "domains": list(self.domains),
        }

    @classmethod
    def from_json(cls, d: JSON) -> IdentityCoverage:
        return cls(
            covered=int(d.get("covered", 0)),
            sensors=int(d.get("sensors", 0)),
            sensors_unhealthy=int(d.get("sensorsUnhealthy", 0)),
            domains=tuple(str(x) for x in d.get("domains", [])),
        )


ControlState = Literal["on", "off", "missing"]


@dataclass(frozen=True)
class Controls:
    """Secure Score controls by id: ``on`` (full score), ``off``, or ``missing`` (not scored)."""

    states: dict[str, ControlState]

    def to_json(self) -> JSON:
        return dict(self.states)

    @classmethod
    def from_json(cls, d: JSON) -> Controls:
        states: dict[str, ControlState] = {}
        for key, value in d.items():
            states[str(key)] = value if value in ("on", "off") else "missing"
        return cls(states)


class ReadinessSignals(Protocol):
    """The customer's tenant, read for the assessment. Each read raises :class:`SignalError`."""

    async def licences(self) -> Licences: ...

    async def devices(self) -> DeviceCoverage: ...

    async def identities(self) -> IdentityCoverage: ...

    async def controls(self, ids: Sequence[str]) -> Controls: ...


@dataclass(frozen=True)
class ServiceChoices:
    """This service's own settings, as far as the assessment checks them."""

    incident_contact: bool = False
    service_review_contact: bool = False
    communicate_on_teams: bool = False
    respond: bool = False
    configured: bool = False


class ChoicesSource(Protocol):
    async def choices(self, tenant_id: str) -> ServiceChoices: ...


class AdminChats(Protocol):
    """Sends a card to the personal chat of every administrator who has one with the bot."""

    async def send_to_admins(self, tenant_id: str, card: AdaptiveCard) -> int:
        """Returns how many chats it reached."""
        ...


class ExpertEvents(Protocol):
    """Events for the experts (the notifications event feed)."""

    async def publish(self, event: JSON) -> None: ...
