"""The stored state of one tenant's readiness assessment (``tenants/{tenant}/readiness``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.readiness.assessment import PHASES, Mark, Phase, SignalRecord
from cards.text import when

JSON = dict[str, Any]


def readiness_key(tenant_id: str) -> str:
    return f"tenants/{tenant_id.lower()}/readiness"


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def shown(at: str) -> str:
    """An ISO time as people read it: 3 Dec 2026, 09:40 UTC."""
    return when(at) or "Never"


@dataclass(frozen=True)
class Assessment:
    """The stored state of one tenant's assessment."""

    rev: int
    phase: Phase
    assessed_at: str
    assessed_ts: float
    refreshed_ts: float
    signals: dict[str, SignalRecord]
    marks: dict[str, Mark]
    statuses: dict[str, str]
    figures: dict[str, list[int | None]]
    ready_announced: bool
    phase_history: tuple[JSON, ...]

    @classmethod
    def empty(cls) -> Assessment:
        return cls(0, "onboarding", "", 0.0, 0.0, {}, {}, {}, {}, False, ())

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Assessment:
        phase = d.get("phase")
        return cls(
            rev=int(d.get("rev", 0)),
            phase=phase if phase in PHASES else "onboarding",
            assessed_at=str(d.get("assessedAt", "")),
            assessed_ts=float(d.get("assessedTs", 0.0)),
            refreshed_ts=float(d.get("refreshedTs", 0.0)),
            signals={k: SignalRecord.from_json(v) for k, v in (d.get("signals") or {}).items()},
            marks={k: Mark.from_json(v) for k, v in (d.get("marks") or {}).items()},
            statuses={str(k): str(v) for k, v in (d.get("statuses") or {}).items()},
            figures={str(k): list(v) for k, v in (d.get("figures") or {}).items()},
            ready_announced=bool(d.get("readyAnnounced", False)),
            phase_history=tuple(d.get("phaseHistory") or ()),
        )

    def to_json(self) -> JSON:
        return {
            "rev": self.rev,
            "phase": self.phase,
            "assessedAt": self.assessed_at,
            "assessedTs": self.assessed_ts,
            "refreshedTs": self.refreshed_ts,
            "signals": {k: v.to_json() for k, v in self.signals.items()},
            "marks": {k: v.to_json() for k, v in self.marks.items()},
            "statuses": dict(self.statuses),
            "figures": dict(self.figures),
            "readyAnnounced": self.ready_announced,
            "phaseHistory": list(self.phase_history),
        }
