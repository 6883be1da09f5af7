"""The readiness signals from Microsoft Graph and the Defender for Endpoint API.

* **Licences:** ``GET /subscribedSkus`` (Organization.Read.All): enabled seats of the active
  subscriptions whose service plans include Defender for Endpoint or Defender for Identity.
* **Devices:** ``GET /api/machines`` of the Defender for Endpoint API (Machine.Read.All), in
  ``$top``/``$skip`` pages (or ``@odata.nextLink``): ``onboardingStatus`` and ``healthStatus``,
  compared case-insensitively.
* **Identities:** ``GET /beta/security/identities/sensors``
  (SecurityIdentitiesSensors.Read.All) for the domains a reporting sensor on a domain controller
  covers, then ``GET /users`` synchronized from on-premises (User.Read.All, an advanced query)
  counted by ``onPremisesDomainName``. docs/readiness.md says what this approximates.
* **Defender settings:** the latest ``GET /security/secureScores?$top=1`` and
  ``GET /security/secureScoreControlProfiles`` (SecurityEvents.Read.All).

Every failure becomes a :class:`SignalError`: a 403 names the permission the call needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from bot.graph.errors import GraphError, GraphForbidden, GraphThrottled
from bot.graph.http import ApiClient
from bot.graph.machines import defender_machines
from bot.readiness import rules
from bot.readiness.ports import (
    Controls,
    DeviceCoverage,
    IdentityCoverage,
    Licences,
    SignalError,
)

MACHINES_PAGE_SIZE = 10_000
PERMISSIONS = {
    "licences": "Organization.Read.All",
    "devices": "Machine.Read.All (WindowsDefenderATP)",
    "sensors": "SecurityIdentitiesSensors.Read.All",
    "users": "User.Read.All",
    "secureScore": "SecurityEvents.Read.All",
}
EVENTUAL = {"ConsistencyLevel": "eventual"}


def _signal_error(exc: GraphError, permission_key: str) -> SignalError:
    service = "Microsoft Defender for Endpoint" if exc.service == "defender" else "Microsoft Graph"
    if isinstance(exc, GraphForbidden):
        named = ", ".join(exc.required_permissions())
        return SignalError(
            str(exc),
            reason="forbidden",
            permission=named or PERMISSIONS[permission_key],
            service=service,
        )
    if isinstance(exc, GraphThrottled):
        return SignalError(str(exc), reason="throttled", service=service)
    return SignalError(str(exc), reason="unavailable", service=service)


class GraphReadinessSignals:
    """Reads the signals with the app's Graph and Defender clients (application permissions)."""

    def __init__(
        self, graph: ApiClient, defender: ApiClient, *, machines_page_size: int = MACHINES_PAGE_SIZE
    ) -> None:
        self._graph = graph
        self._defender = defender
        self._page_size = max(1, min(machines_page_size, MACHINES_PAGE_SIZE))

    def _beta(self, path: str) -> str:
        root = self._graph.base_url.rsplit("/", 1)[0]
        return f"{root}/beta/{path}"

    async def licences(self) -> Licences:
        try:
            skus = [s async for s in self._graph.pages("subscribedSkus")]
        except GraphError as exc:
            raise _signal_error(exc, "licences") from None
        return rules.licences(skus)

    def _machines(self) -> AsyncIterator[dict[str, Any]]:
        return defender_machines(self._defender, self._page_size)

    async def devices(self) -> DeviceCoverage:
        counter = rules.DeviceCounter()
        try:
            async for machine in self._machines():
                counter.add(machine)
        except GraphError as exc:
            raise _signal_error(exc, "devices") from None
        return counter.result()

    async def identities(self) -> IdentityCoverage:
        try:
            sensors = [
                s async for s in self._graph.pages(self._beta("security/identities/sensors"))
            ]
        except GraphError as exc:
            raise _signal_error(exc, "sensors") from None
        domains, _, _ = rules.covered_domains(sensors)
        users: list[dict[str, Any]] = []
        if domains:
            try:
                users = [
                    u
                    async for u in self._graph.pages(
                        "users",
                        params={
                            "$filter": "onPremisesSyncEnabled eq true",
                            "$select": "id,accountEnabled,onPremisesDomainName",
                            "$count": "true",
                            "$top": 999,
                        },
                        headers=EVENTUAL,
                    )
                ]
            except GraphError as exc:
                raise _signal_error(exc, "users") from None
        return rules.identities(sensors, users)

    async def controls(self, ids: Sequence[str]) -> Controls:
        try:
            latest = None
            async for score in self._graph.pages("security/secureScores", params={"$top": 1}):
                latest = score
                break
            profiles = [p async for p in self._graph.pages("security/secureScoreControlProfiles")]
        except GraphError as exc:
            raise _signal_error(exc, "secureScore") from None
        return rules.controls(latest, profiles, ids)
