"""The Experts API for readiness and the report: read the assessment, move the service phase,
read the service report. Signed like the webhook (Standard Webhooks, EXPERTS_WEBHOOK_SECRET).

``POST /api/readiness/phase`` is checked in the webhook's order: size (413), signature (401),
repeated webhook-id (200, nothing new), content type (415), JSON (400), body (422). A move is
kept in the assessment's phase history (who, when, why) and in the experts' event feed.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiohttp import web

from bot.app import Services
from bot.errors import ConcurrencyError, ValidationError
from bot.logsafe import safe
from bot.notifications.model import BodyError, load_json
from bot.notifications.ports import DuplicateError, UnitOfWork
from bot.notifications.signing import request_line
from bot.transport.notifications_api import _verify, error, read_bounded

log = logging.getLogger(__name__)

MAX_PHASE_BODY = 4096
_PHASE_FIELDS = {"phase", "by", "reason"}


def _services(request: web.Request, key: web.AppKey[Services]) -> Services:
    return request.app[key]


def add_routes(app: web.Application, services_key: web.AppKey[Services]) -> None:
    """Mounted beside the notification routes, when EXPERTS_WEBHOOK_SECRET is set."""

    async def get_readiness(request: web.Request) -> web.Response:
        verified = _verify(request, request_line("GET", request.raw_path))
        if isinstance(verified, web.Response):
            return verified
        readiness = _services(request, services_key).readiness
        assert readiness is not None
        return web.json_response(await readiness.to_json())

    async def post_phase(request: web.Request) -> web.Response:
        body = await read_bounded(request, MAX_PHASE_BODY)
        if body is None:
            return error(413, "tooLarge", f"The body must be at most {MAX_PHASE_BODY} bytes")
        verified = _verify(request, body)
        if isinstance(verified, web.Response):
            return verified
        webhook_id = verified
        services = _services(request, services_key)
        readiness, ledger = services.readiness, services.notifications.ledger
        assert readiness is not None
        if await ledger.has_receipt(webhook_id):
            return web.json_response({"status": "duplicate", "webhookId": webhook_id})
        if request.content_type != "application/json":
            return error(415, "unsupportedMediaType", "Content-Type must be application/json")
        if (request.charset or "utf-8").lower() not in ("utf-8", "utf8"):
            return error(415, "unsupportedMediaType", "The body must be UTF-8 (charset=utf-8)")
        try:
            document: Any = load_json(body)
            if not isinstance(document, dict):
                raise ValidationError("The body must be a JSON object")
            extra = sorted(set(document) - _PHASE_FIELDS)
            if extra:
                raise ValidationError(f"Unknown field: {extra[0][:64]}", field=extra[0][:64])
            phase, by, reason = (document.get(k) for k in ("phase", "by", "reason"))
            if not isinstance(phase, str):
                raise ValidationError("phase must be a string", field="phase")
            if not isinstance(by, str):
                raise ValidationError("by must be a string", field="by")
            if reason is not None and not isinstance(reason, str):
                raise ValidationError("reason must be a string", field="reason")
            before = (await readiness.current()).phase
            moved = await readiness.set_phase(phase, by=by, reason=reason or "")
        except BodyError as exc:
            return error(400, "badRequest", str(exc))
        except ValidationError as exc:
            log.info("refused a phase change: %s", safe(exc.message, 200))
            return error(422, "invalid", exc.message, exc.field)
        except ConcurrencyError:
            response = error(503, "busy", "The assessment is changing; retry shortly")
            response.headers["Retry-After"] = "1"
            return response
        entry = moved.phase_history[-1]
        event = {
            "type": "readiness.phaseChanged",
            "tenantId": readiness.tenant_id,
            "from": before,
            "to": moved.phase,
            "by": {"name": entry["by"]},
            "at": entry["at"],
        }
        with contextlib.suppress(DuplicateError):
            await ledger.commit(UnitOfWork(receipt=webhook_id, events=(event,)))
        log.info("service phase moved to %s by %s", moved.phase, safe(entry["by"]))
        return web.json_response(
            {"status": "moved", "phase": moved.phase, "from": before, "at": entry["at"]}
        )

    async def get_report(request: web.Request) -> web.Response:
        verified = _verify(request, request_line("GET", request.raw_path))
        if isinstance(verified, web.Response):
            return verified
        report = _services(request, services_key).report
        assert report is not None
        query = request.query
        unknown = sorted(set(query) - {"from", "to", "days"})
        if unknown:
            return error(
                400, "badRequest", f"Unknown parameter: {unknown[0][:64]}", unknown[0][:64]
            )
        try:
            body = await report.to_json(query.get("from"), query.get("to"), query.get("days"))
        except ValidationError as exc:
            return error(400, "badRequest", exc.message, exc.field)
        return web.json_response(body)

    app.router.add_get("/api/readiness", get_readiness)
    app.router.add_post("/api/readiness/phase", post_phase)
    app.router.add_get("/api/report", get_report)
