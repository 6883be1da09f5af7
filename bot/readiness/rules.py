"""How the readiness figures are counted from Microsoft's documented payloads.

Shared by the Graph/Defender adapter and the demo tenant, so both count the same way.
``docs/readiness.md`` explains each rule and what it approximates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.readiness.ports import Controls, ControlState, DeviceCoverage, IdentityCoverage, Licences

# Service plans (subscribedSkus servicePlans[].servicePlanName) that carry each product.
ENDPOINT_PLANS = frozenset({"WINDEFATP", "MDE_LITE", "MDE_SMB"})
IDENTITY_PLANS = frozenset({"ATA"})
_ACTIVE_SKU = frozenset({"enabled", "warning"})
# Defender for Endpoint machine fields, compared case-insensitively.
ONBOARDED = "onboarded"
CAN_BE_ONBOARDED = "canbeonboarded"
REPORTING = "active"
# Defender for Identity sensors on domain controllers; statuses that mean it isn't reporting.
DC_SENSOR_TYPES = frozenset({"domaincontrollerintegrated", "domaincontrollerstandalone"})
NOT_REPORTING = frozenset({"disconnected", "unreachable", "notconfigured", "startfailure"})
UNHEALTHY = frozenset({"nothealthyhigh", "nothealthymedium", "nothealthylow"})


def _plans(sku: Mapping[str, Any]) -> set[str]:
    plans = sku.get("servicePlans") or []
    return {
        str(p.get("servicePlanName", "")).upper()
        for p in plans
        if isinstance(p, Mapping)
        and str(p.get("provisioningStatus", "Success")).lower() != "disabled"
    }


def licences(skus: Iterable[Mapping[str, Any]]) -> Licences:
    """Enabled seats of every active subscription whose service plans include the product."""
    endpoint = identity = 0
    for sku in skus:
        if str(sku.get("capabilityStatus", "Enabled")).lower() not in _ACTIVE_SKU:
            continue
        units = sku.get("prepaidUnits") or {}
        seats = int(units.get("enabled") or 0) if isinstance(units, Mapping) else 0
        plans = _plans(sku)
        if plans & ENDPOINT_PLANS:
            endpoint += seats
        if plans & IDENTITY_PLANS:
            identity += seats
    return Licences(endpoint=endpoint, identity=identity)


class DeviceCounter:
    """Counts machines as they come, page by page."""

    def __init__(self) -> None:
        self.reporting = self.not_reporting = self.can_be_onboarded = 0

    def add(self, machine: Mapping[str, Any]) -> None:
        onboarding = str(machine.get("onboardingStatus") or "").lower()
        health = str(machine.get("healthStatus") or "").lower()
        if onboarding == ONBOARDED:
            if health == REPORTING:
                self.reporting += 1
            else:
                self.not_reporting += 1
        elif onboarding == CAN_BE_ONBOARDED:
            self.can_be_onboarded += 1

    def result(self) -> DeviceCoverage:
        return DeviceCoverage(self.reporting, self.not_reporting, self.can_be_onboarded)


def devices(machines: Iterable[Mapping[str, Any]]) -> DeviceCoverage:
    counter = DeviceCounter()
    for m in machines:
        counter.add(m)
    return counter.result()


def covered_domains(sensors: Iterable[Mapping[str, Any]]) -> tuple[set[str], int, int]:
    """Domains with at least one reporting sensor on a domain controller; the number of such
    sensors; and how many sensors report a health issue or aren't reporting."""
    domains: set[str] = set()
    count = unhealthy = 0
    for s in sensors:
        kind = str(s.get("sensorType") or "").lower()
        status = str(s.get("deploymentStatus") or "").lower()
        health = str(s.get("healthStatus") or "").lower()
        if health in UNHEALTHY or status in NOT_REPORTING:
            unhealthy += 1
        if kind not in DC_SENSOR_TYPES:
            continue
        count += 1
        domain = str(s.get("domainName") or "").lower()
        if domain and status not in NOT_REPORTING:
            domains.add(domain)
    return domains, count, unhealthy


def identities(
    sensors: Iterable[Mapping[str, Any]], users: Iterable[Mapping[str, Any]]
) -> IdentityCoverage:
    """Enabled accounts synchronized from an on-premises domain that a reporting sensor on a
    domain controller covers (``users`` carry ``accountEnabled`` and ``onPremisesDomainName``)."""
    domains, count, unhealthy = covered_domains(sensors)
    covered = sum(
        1
        for u in users
        if u.get("accountEnabled") is not False
        and str(u.get("onPremisesDomainName") or "").lower() in domains
    )
    return IdentityCoverage(covered, count, unhealthy, tuple(sorted(domains)))


def controls(
    latest_score: Mapping[str, Any] | None,
    profiles: Iterable[Mapping[str, Any]],
    ids: Sequence[str],
) -> Controls:
    """Each control ``on`` when the latest Secure Score gives it its profile's full
    ``maxScore``; ``off`` below that; ``missing`` when the score doesn't list it, its profile is
    missing or deprecated, or its maximum is zero."""
    max_scores: dict[str, float] = {}
    for p in profiles:
        if p.get("deprecated") is True:
            continue
        try:
            max_scores[str(p.get("id", "")).lower()] = float(p.get("maxScore") or 0)
        except (TypeError, ValueError):
            continue
    scored: dict[str, float] = {}
    for c in (latest_score or {}).get("controlScores") or []:
        if not isinstance(c, Mapping):
            continue
        try:
            scored[str(c.get("controlName", "")).lower()] = float(c.get("score") or 0)
        except (TypeError, ValueError):
            continue
    states: dict[str, ControlState] = {}
    for control_id in ids:
        key = control_id.lower()
        top = max_scores.get(key, 0.0)
        if key not in scored or top <= 0:
            states[control_id] = "missing"
        else:
            states[control_id] = "on" if scored[key] >= top else "off"
    return Controls(states)
