"""The console's view of the readiness assessment and the service report, per tenant.

A page (``/console/status``, static HTML and script like the chat view) and its JSON, for
signed-in experts only (the console's session; reads only, so no CSRF token is needed):

* ``GET /console/api/tenants``: the tenants this deployment serves;
* ``GET /console/api/tenants/{tenant}/readiness``: the assessment (assessed now if it never
  was), as the Experts API's ``GET /api/readiness`` answers it;
* ``GET /console/api/tenants/{tenant}/report?days=7|30|90`` or ``?from=YYYY-MM-DD&to=…``: the
  service report, as ``GET /api/report`` answers it. A bad range is a 400 with the reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from bot.app import Services
from bot.errors import ValidationError
from bot.transport.console.common import error

STATIC = Path(__file__).parent / "static"
STATUS_SERVICES = web.AppKey("console_status_services", Services)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FILES = ("status.html", "status.js", "status.css")
_REPORT_PARAMS = {"days", "from", "to"}


def attach(app: web.Application, services: Services) -> None:
    """For the app's lifetime (:func:`bot.transport.console.routes.serving`)."""
    app[STATUS_SERVICES] = services


def _services(request: web.Request) -> Services | None:
    return request.app.get(STATUS_SERVICES)


def _tenant(request: web.Request) -> tuple[Services, str] | web.Response:
    services = _services(request)
    if services is None:
        return error(503, "unavailable", "The bot is starting: try again in a moment")
    tenant = request.match_info["tenant"].lower()[:64]
    if tenant != services.readiness.tenant_id.lower():
        return error(404, "notFound", "This deployment doesn't serve that tenant")
    return services, tenant


async def tenants(request: web.Request) -> web.Response:
    services = _services(request)
    if services is None:
        return error(503, "unavailable", "The bot is starting: try again in a moment")
    tenant = services.readiness.tenant_id
    return web.json_response({"tenants": [{"id": tenant}]}, headers={"Cache-Control": "no-store"})


async def readiness(request: web.Request) -> web.Response:
    found = _tenant(request)
    if isinstance(found, web.Response):
        return found
    services, _ = found
    body = await services.readiness.to_json(first_view=True)
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def report(request: web.Request) -> web.Response:
    found = _tenant(request)
    if isinstance(found, web.Response):
        return found
    services, _ = found
    query = request.query
    unknown = sorted(set(query) - _REPORT_PARAMS)
    if unknown:
        name = unknown[0][:64]
        return error(400, "badRequest", f"Unknown parameter: {name}", name)
    try:
        body = await services.report.to_json(query.get("from"), query.get("to"), query.get("days"))
    except ValidationError as exc:
        return error(400, "badRequest", exc.message, exc.field)
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def add_status_routes(
    app: web.Application,
    signed_in: Callable[[Handler], Handler],
    page: Callable[[web.Request, str], Awaitable[web.StreamResponse]],
) -> None:
    """``signed_in`` is the console's session guard; ``page`` serves a static file to a signed-in
    expert (and sends anyone else to the sign-in page)."""

    async def status_page(request: web.Request) -> web.StreamResponse:
        return await page(request, "status.html")

    async def status_file(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in _FILES[1:]:
            raise web.HTTPNotFound()
        return await page(request, name)

    app.router.add_get("/console/status", status_page)
    app.router.add_get("/console/status/{name}", status_file)
    app.router.add_get("/console/api/tenants", signed_in(tenants))
    app.router.add_get("/console/api/tenants/{tenant}/readiness", signed_in(readiness))
    app.router.add_get("/console/api/tenants/{tenant}/report", signed_in(report))
