"""A Microsoft Defender for Endpoint API stand-in: ``GET /api/machines`` and ``/api/machines/{id}``.

As documented: OData ``$top`` (at most 10,000) and ``$skip``; ``$filter`` on ``rbacGroupId`` and
``deviceValue``; 404 when there are no machines. With ``next_links`` on, a page that isn't the
last also carries ``@odata.nextLink``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from tests.standins.base import StandIn, error
from tests.standins.login import LoginStandIn

MAX_TOP = 10_000
_FILTER = re.compile(r"^(rbacGroupId|deviceValue)\s+eq\s+('?)([^']*)\2$")


@dataclass
class DefenderStandIn(StandIn):
    login: LoginStandIn | None = None
    machines: list[dict[str, Any]] = field(default_factory=list)
    next_links: bool = True
    default_top: int = MAX_TOP
    granted: set[str] = field(default_factory=lambda: {"Machine.Read.All"})

    def add_machine(
        self, machine_id: str, name: str, group_id: int | None, group: str, value: str = "Normal"
    ) -> None:
        self.machines.append(
            {
                "id": machine_id,
                "computerDnsName": name,
                "osPlatform": "Windows11",
                "healthStatus": "Active",
                "onboardingStatus": "Onboarded",
                "rbacGroupId": group_id,
                "rbacGroupName": group,
                "deviceValue": value,
                "riskScore": "Low",
                "exposureLevel": "Medium",
            }
        )

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware, self._auth])
        app.router.add_get("/api/machines", self._list)
        app.router.add_get("/api/machines/{id}", self._get)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        expected = f"{request.scheme}://{request.host}"
        if not self.login or self.login.audience_of(token) != expected:
            return error(401, "Unauthorized", "Invalid token audience.")
        if "Machine.Read.All" not in self.granted and "Machine.ReadWrite.All" not in self.granted:
            return error(
                403,
                "Forbidden",
                "Missing application roles. API required roles: Machine.Read.All, "
                "Machine.ReadWrite.All. Application roles: .",
            )
        response: web.StreamResponse = await handler(request)
        return response

    async def _list(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        try:
            top = int(query.get("$top", self.default_top))
            skip = int(query.get("$skip", 0))
        except ValueError:
            return error(400, "InvalidRequestBody", "Invalid $top or $skip.")
        if not 1 <= top <= MAX_TOP or skip < 0:
            return error(400, "InvalidRequestBody", f"$top must be between 1 and {MAX_TOP}.")
        machines = self.machines
        if "$filter" in query:
            found = _FILTER.match(query["$filter"])
            if found is None:
                return error(400, "InvalidRequestBody", "Unsupported $filter.")
            key, value = found.group(1), found.group(3)
            machines = [m for m in machines if str(m.get(key)) == value]
        if not machines:
            return error(404, "NotFound", "No machines found.")
        page = machines[skip : skip + top]
        body: dict[str, Any] = {
            "@odata.context": f"{request.scheme}://{request.host}/api/$metadata#Machines",
            "value": page,
        }
        if self.next_links and skip + top < len(machines):
            query["$skip"] = str(skip + top)
            query["$top"] = str(top)
            body["@odata.nextLink"] = (
                f"{request.scheme}://{request.host}{request.path}?"
                f"{urlencode(query, quote_via=quote)}"
            )
        return web.json_response(body)

    async def _get(self, request: web.Request) -> web.Response:
        machine_id = request.match_info["id"]
        for machine in self.machines:
            if machine["id"] == machine_id:
                return web.json_response(machine)
        return error(404, "NotFound", f"Machine {machine_id} was not found.")
