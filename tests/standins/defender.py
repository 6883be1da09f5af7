"""A Microsoft Defender for Endpoint API stand-in: ``GET /api/machines`` and ``/api/machines/{id}``.

As documented: OData ``$top`` (at most 10,000) and ``$skip``; ``$filter`` on ``rbacGroupId`` and
``deviceValue``; 404 when there are no machines. With ``next_links`` on, a page that isn't the
last also carries ``@odata.nextLink``.

* Rate limits: 100 calls a minute and 1,500 an hour (sliding windows on ``clock``, which tests
  inject); a call over either answers 429 ``TooManyRequests`` with ``Retry-After``.
* Tokens: the audience must be ``audience`` (by default the stand-in's own origin). The real
  API, on host ``api.security.microsoft.com``, takes tokens for the resource
  ``https://api.securitycenter.microsoft.com``: set ``audience`` to that to model it.
* More routes (readiness signals, ...) mount from other modules with :meth:`mount`.
"""

from __future__ import annotations

import bisect
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from tests.standins.base import StandIn, error
from tests.standins.login import LoginStandIn

MAX_TOP = 10_000
RATE_LIMITS: tuple[tuple[float, int], ...] = ((60.0, 100), (3600.0, 1500))
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FILTER = re.compile(r"^(rbacGroupId|deviceValue)\s+eq\s+('?)([^']*)\2$")


@dataclass
class DefenderStandIn(StandIn):
    login: LoginStandIn | None = None
    machines: list[dict[str, Any]] = field(default_factory=list)
    next_links: bool = True
    default_top: int = MAX_TOP
    granted: set[str] = field(default_factory=lambda: {"Machine.Read.All"})
    audience: str = ""
    """The token audience accepted; "" is the stand-in's own origin."""
    clock: Callable[[], float] = time.monotonic
    limits: tuple[tuple[float, int], ...] = RATE_LIMITS
    served: list[float] = field(default_factory=list)
    """When each call within the limits was taken (clock time)."""
    throttled: int = 0
    routes: list[tuple[str, str, Handler]] = field(default_factory=list)

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

    def mount(self, method: str, path: str, handler: Handler) -> None:
        """Serve another route (an aiohttp path such as ``/api/vulnerabilities``); call it
        before :meth:`app`. Authentication, rate limits, faults and the call log apply."""
        self.routes.append((method, path, handler))

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware, self._auth])
        app.router.add_get("/api/machines", self._list)
        app.router.add_get("/api/machines/{id}", self._get)
        for method, path, handler in self.routes:
            app.router.add_route(method, path, handler)
        return app

    def _over_limit(self) -> float | None:
        """Seconds until a call would be within every limit, or None if it is now."""
        now = self.clock()
        wait = 0.0
        for span, count in self.limits:
            inside = len(self.served) - bisect.bisect_right(self.served, now - span)
            if inside >= count:
                wait = max(wait, self.served[len(self.served) - count] + span - now)
        return wait if wait > 0 else None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        expected = self.audience or f"{request.scheme}://{request.host}"
        if not self.login or self.login.audience_of(token) != expected:
            return error(401, "Unauthorized", "Invalid token audience.")
        wait = self._over_limit()
        if wait is not None:
            self.throttled += 1
            return error(
                429,
                "TooManyRequests",
                "API calls quota exceeded! Rate limitations for this API are 100 calls per "
                "minute and 1500 calls per hour.",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        self.served.append(self.clock())
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
