"""The assessment itself: pure functions from the stored signal values, the admins' marks and
the previous statuses to each action's status and the protected-asset figures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.readiness.catalogue import CATALOGUE, Check, Facts, Signal
from bot.readiness.ports import (
    Controls,
    DeviceCoverage,
    IdentityCoverage,
    Licences,
    ServiceChoices,
)

JSON = dict[str, Any]
Status = Literal["completeNow", "inProgress", "completed"]
STATUS_LABEL: dict[Status, str] = {
    "completeNow": "Complete now",
    "inProgress": "In progress",
    "completed": "Completed",
}
SIGNALS = ("licences", "devices", "identities", "controls")
# The stored signals each kind of check depends on.
_DEPENDS: dict[Signal, tuple[str, ...]] = {
    "devices": ("licences", "devices"),
    "identities": ("licences", "identities"),
    "controls": ("controls",),
    "settings": (),
}

Phase = Literal["onboarding", "readiness", "monitoring", "active"]
PHASES: tuple[Phase, ...] = ("onboarding", "readiness", "monitoring", "active")
PHASE_LABEL: dict[Phase, str] = {
    "onboarding": "Onboarding",
    "readiness": "Readiness",
    "monitoring": "Monitoring",
    "active": "Active",
}


@dataclass(frozen=True)
class SignalRecord:
    """The last good value of a signal, when it was read, and whether the last read failed."""

    value: JSON | None
    at: str = ""
    stale: bool = False
    reason: str = ""

    def to_json(self) -> JSON:
        return {"value": self.value, "at": self.at, "stale": self.stale, "reason": self.reason}

    @classmethod
    def from_json(cls, d: Any) -> SignalRecord:
        if not isinstance(d, Mapping):
            return cls(None)
        value = d.get("value")
        return cls(
            value=dict(value) if isinstance(value, Mapping) else None,
            at=str(d.get("at", "")),
            stale=bool(d.get("stale", False)),
            reason=str(d.get("reason", "")),
        )


@dataclass(frozen=True)
class Mark:
    """An administrator said they're working on an action."""

    user_id: str
    name: str
    at: str

    def to_json(self) -> JSON:
        return {"userId": self.user_id, "name": self.name, "at": self.at}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Mark:
        return cls(str(d.get("userId", "")), str(d.get("name", "")), str(d.get("at", "")))


@dataclass(frozen=True)
class ActionState:
    check: Check
    status: Status
    stale: bool
    reason: str
    mark: Mark | None


@dataclass(frozen=True)
class Figure:
    """Protected against target; None when the signal was never read."""

    protected: int | None
    target: int | None
    stale: bool
    reason: str

    @property
    def remaining(self) -> int | None:
        if self.protected is None or self.target is None:
            return None
        return max(0, self.target - self.protected)

    def key(self) -> tuple[int | None, int | None]:
        return (self.protected, self.target)


def facts_of(signals: Mapping[str, SignalRecord], settings: ServiceChoices) -> Facts:
    def value(name: str) -> JSON | None:
        record = signals.get(name)
        return record.value if record is not None else None

    lic, dev, ident, ctl = (value(n) for n in SIGNALS)
    return Facts(
        licences=None if lic is None else Licences.from_json(lic),
        devices=None if dev is None else DeviceCoverage.from_json(dev),
        identities=None if ident is None else IdentityCoverage.from_json(ident),
        controls=None if ctl is None else Controls.from_json(ctl),
        settings=settings,
    )


def evaluate(
    signals: Mapping[str, SignalRecord],
    settings: ServiceChoices,
    marks: Mapping[str, Mark],
    previous: Mapping[str, str],
) -> list[ActionState]:
    """Each check's status. A check whose signal failed keeps the last good value but can't
    become Completed on it: only a fresh read turns an action green."""
    facts = facts_of(signals, settings)
    states: list[ActionState] = []
    for check in CATALOGUE:
        failed = [signals[n] for n in _DEPENDS[check.signal] if n in signals and signals[n].stale]
        missing = [n for n in _DEPENDS[check.signal] if n not in signals]
        stale = bool(failed or missing)
        reason = "; ".join(dict.fromkeys(r.reason for r in failed if r.reason))
        verdict = check.decide(facts)
        mark = marks.get(check.id)
        status: Status
        if verdict is True and (not stale or previous.get(check.id) == "completed"):
            status = "completed"
        elif mark is not None:
            status = "inProgress"
        else:
            status = "completeNow"
        states.append(ActionState(check, status, stale, reason, mark))
    order = {"completeNow": 0, "inProgress": 1, "completed": 2}
    return sorted(states, key=lambda s: order[s.status])


def figures(signals: Mapping[str, SignalRecord]) -> tuple[Figure, Figure]:
    """Devices and identities: protected against the licensed target."""
    facts = facts_of(signals, ServiceChoices())
    lic = signals.get("licences")
    dev = signals.get("devices")
    ident = signals.get("identities")

    def staleness(*records: SignalRecord | None) -> tuple[bool, str]:
        failed = [r for r in records if r is None or r.stale]
        return bool(failed), "; ".join(dict.fromkeys(r.reason for r in failed if r and r.reason))

    d_stale, d_reason = staleness(lic, dev)
    i_stale, i_reason = staleness(lic, ident)
    devices = Figure(
        None if facts.devices is None else facts.devices.reporting,
        None if facts.licences is None else facts.licences.endpoint,
        d_stale,
        d_reason,
    )
    identities = Figure(
        None if facts.identities is None else facts.identities.covered,
        None if facts.licences is None else facts.licences.identity,
        i_stale,
        i_reason,
    )
    return devices, identities


def ready_for_monitoring(states: list[ActionState], devices: Figure, identities: Figure) -> bool:
    """Every required action completed and both targets met, on fresh signals."""
    met = all(
        f.remaining == 0 and not f.stale for f in (devices, identities) if f.target is not None
    ) and all(f.target is not None for f in (devices, identities))
    return met and all(s.status == "completed" and not s.stale for s in states if s.check.required)


def counts(states: list[ActionState]) -> dict[Status, int]:
    out: dict[Status, int] = {"completeNow": 0, "inProgress": 0, "completed": 0}
    for s in states:
        out[s.status] += 1
    return out
