"""Readiness routes for the Graph stand-in, as Microsoft documents them.

* ``GET /v1.0/subscribedSkus`` (Organization.Read.All, Directory.Read.All or
  LicenseAssignment.Read.All), paged with ``@odata.nextLink``.
* ``GET /v1.0/security/secureScores`` (newest first, ``$top``) and
  ``GET /v1.0/security/secureScoreControlProfiles`` (SecurityEvents.Read.All or
  SecurityEvents.ReadWrite.All), paged.
* ``GET /beta/security/identities/sensors`` (SecurityIdentitiesSensors.Read.All or
  .ReadWrite.All), paged.
* Users synchronized from on-premises (``onPremisesSyncEnabled``, ``onPremisesDomainName``)
  through the Graph stand-in's ``GET /users``.

403 answers name the permissions in Graph's words; 429 and 5xx come from the stand-in's fault
injection (``fail``). Defender for Endpoint machines, with ``onboardingStatus`` and
``healthStatus``, are the Defender stand-in's (:meth:`add_machines`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.standins.base import error
from tests.standins.defender import DefenderStandIn
from tests.standins.graph import GraphStandIn

SKUS_READ = ("Organization.Read.All", "Directory.Read.All", "LicenseAssignment.Read.All")
SCORES_READ = ("SecurityEvents.Read.All", "SecurityEvents.ReadWrite.All")
SENSORS_READ = ("SecurityIdentitiesSensors.Read.All", "SecurityIdentitiesSensors.ReadWrite.All")
READINESS_GRANTED = {"Organization.Read.All", "SecurityEvents.Read.All", *SENSORS_READ[:1]}


@dataclass
class SecurityGraphStandIn(GraphStandIn):
    """The Graph stand-in with the readiness resources mounted beside its own."""

    secure_scores: list[dict[str, Any]] = field(default_factory=list)
    """Newest first, as Graph lists them."""
    control_profiles: list[dict[str, Any]] = field(default_factory=list)
    sensors: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_route("*", "/beta/{tail:.*}", self._beta)
        return app

    def _refused(self, accepted: tuple[str, ...]) -> web.Response | None:
        if self.granted & set(accepted):
            return None
        return error(
            403,
            "Forbidden",
            f"Missing role permissions on the request. API requires one of "
            f"'{', '.join(accepted)}'. Roles on the request '{', '.join(sorted(self.granted))}'.",
        )

    async def _route(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"].strip("/")
        if request.method == "GET":
            if tail == "subscribedSkus":
                return self._refused(SKUS_READ) or self._page(request, self.skus)
            if tail == "security/secureScores":
                return self._refused(SCORES_READ) or self._page(request, self.secure_scores)
            if tail == "security/secureScoreControlProfiles":
                return self._refused(SCORES_READ) or self._page(request, self.control_profiles)
        return await super()._route(request)

    async def _beta(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"].strip("/")
        if request.method == "GET" and tail == "security/identities/sensors":
            return self._refused(SENSORS_READ) or self._page(request, self.sensors)
        return error(400, "BadRequest", f"Resource not found for the segment '{tail[:40]}'.")

    def add_synced_users(self, domain: str, enabled: int, disabled: int = 0) -> None:
        """Accounts synchronized from an on-premises Active Directory domain."""
        for n in range(enabled + disabled):
            user_id = f"{domain}-{n:05d}"
            self.users[user_id] = {
                "id": user_id,
                "displayName": f"User {n} ({domain})",
                "userPrincipalName": f"user{n}@{domain}",
                "mail": f"user{n}@{domain}",
                "accountEnabled": n < enabled,
                "onPremisesSyncEnabled": True,
                "onPremisesDomainName": domain,
            }


def add_machines(
    defender: DefenderStandIn, count: int, *, onboarding: str, health: str, prefix: str
) -> None:
    for n in range(count):
        defender.add_machine(f"{prefix}-{n:04d}", f"{prefix}-{n:04d}.contoso.com", 101, "Fleet")
        defender.machines[-1].update(onboardingStatus=onboarding, healthStatus=health)


def sku(part: str, plans: tuple[str, ...], enabled: int) -> dict[str, Any]:
    return {
        "skuId": f"sku-{part}",
        "skuPartNumber": part,
        "capabilityStatus": "Enabled",
        "consumedUnits": enabled,
        "prepaidUnits": {"enabled": enabled, "suspended": 0, "warning": 0},
        "servicePlans": [
            {"servicePlanName": p, "provisioningStatus": "Success", "appliesTo": "User"}
            for p in plans
        ],
    }
