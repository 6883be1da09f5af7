"""The assessment as JSON, for the experts: the Experts API (``GET /api/readiness``) and the
experts' console."""

from __future__ import annotations

from typing import Any

from bot.readiness.assessment import (
    PHASE_LABEL,
    STATUS_LABEL,
    ActionState,
    counts,
    figures,
    ready_for_monitoring,
)
from bot.readiness.catalogue import INSTALL_SENSORS_URL, ONBOARD_DEVICES_URL
from bot.readiness.record import Assessment

JSON = dict[str, Any]
_WHAT_TO_DO = {
    "devices": ("Onboard more devices", ONBOARD_DEVICES_URL),
    "identities": ("Install more sensors", INSTALL_SENSORS_URL),
}


def assessment_json(tenant_id: str, a: Assessment, states: list[ActionState]) -> JSON:
    devices, identities = figures(a.signals)
    return {
        "tenantId": tenant_id,
        "phase": a.phase,
        "phaseLabel": PHASE_LABEL[a.phase],
        "assessedAt": a.assessed_at or None,
        "readyForMonitoring": ready_for_monitoring(states, devices, identities),
        "protectedAssets": {
            name: {
                "protected": f.protected,
                "target": f.target,
                "remaining": f.remaining,
                "stale": f.stale,
                "staleReason": f.reason,
                "whatToDo": _WHAT_TO_DO[name][0],
                "url": _WHAT_TO_DO[name][1],
            }
            for name, f in (("devices", devices), ("identities", identities))
        },
        "counts": dict(counts(states)),
        "actions": [
            {
                "id": s.check.id,
                "title": s.check.title,
                "required": s.check.required,
                "status": s.status,
                "statusLabel": STATUS_LABEL[s.status],
                "why": s.check.why,
                "howUrl": s.check.how_url,
                "stale": s.stale,
                "staleReason": s.reason,
                "markedBy": None if s.mark is None else s.mark.to_json(),
            }
            for s in states
        ],
        "staleSignals": [
            {"signal": name, "reason": record.reason, "lastGood": record.at or None}
            for name, record in sorted(a.signals.items())
            if record.stale
        ],
        "phaseHistory": list(a.phase_history),
    }
