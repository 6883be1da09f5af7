"""Scenario: the console's Service status JSON against the real app, on SQLite and PostgreSQL
(the report's query port on each), signed in with the development sign-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.chat.conftest import chat_database, chat_world, connector
from tests.chat.support import ChatWorld
from tests.chat.test_console import sign_in
from tests.notifications.support import TENANT, example

__all__ = ["chat_database", "chat_world", "connector"]


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


async def send(world: ChatWorld, incident_id: str, status: str, days_ago: float) -> None:
    created = datetime.now(UTC) - timedelta(days=days_ago)
    body = example(
        1,
        incident_id,
        status=status,
        createdDateTime=_iso(created),
        lastUpdateDateTime=_iso(created + timedelta(hours=2)),
    )
    status_code, _ = await world.post_signed("/api/notifications", body)
    assert status_code == 202


async def test_only_signed_in_experts_read_the_status(chat_world: ChatWorld) -> None:
    client = chat_world.client
    for target in (
        "/console/api/tenants",
        f"/console/api/tenants/{TENANT}/readiness",
        f"/console/api/tenants/{TENANT}/report",
    ):
        assert (await client.get(target)).status == 401, target
    page = await client.get("/console/status", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/console/sign-in"
    assert (await client.get("/console/status/status.js", allow_redirects=False)).status == 303


async def test_the_assessment_and_the_report_per_tenant(chat_world: ChatWorld) -> None:
    await send(chat_world, "8801", "resolved", 2)
    await send(chat_world, "8802", "active", 20)
    await send(chat_world, "8803", "resolved", 60)
    await sign_in(chat_world)
    client = chat_world.client
    tenants = await (await client.get("/console/api/tenants")).json()
    assert tenants == {"tenants": [{"id": TENANT}]}

    readiness = await client.get(f"/console/api/tenants/{TENANT.upper()}/readiness")
    assert readiness.status == 200
    r = await readiness.json()
    assert r["assessedAt"] and r["phase"] == "onboarding" and r["phaseLabel"] == "Onboarding"
    devices = r["protectedAssets"]["devices"]
    assert devices["remaining"] == max(0, devices["target"] - devices["protected"])
    assert devices["whatToDo"] == "Onboard more devices" and devices["url"].startswith("https://")
    statuses = [a["status"] for a in r["actions"]]
    assert r["counts"] == {s: statuses.count(s) for s in ("completeNow", "inProgress", "completed")}
    assert all(a["why"] and a["howUrl"] for a in r["actions"])
    assert r["staleSignals"] == []

    async def investigated(query: str) -> int:
        response = await client.get(f"/console/api/tenants/{TENANT}/report?{query}")
        assert response.status == 200, await response.text()
        return int((await response.json())["incidentsInvestigated"])

    assert await investigated("") == 2  # the last 30 days by default
    assert await investigated("days=7") == 1
    assert await investigated("days=90") == 3
    today = datetime.now(UTC).date()
    assert await investigated(f"from={today - timedelta(days=21)}&to={today}") == 2


async def test_bad_ranges_and_unknown_tenants_are_refused(chat_world: ChatWorld) -> None:
    await sign_in(chat_world)
    client = chat_world.client
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    for query, message in (
        ("days=5", "Choose 7, 30 or 90 days, or a custom range."),
        (f"from=2026-01-01&to={tomorrow}", "To can't be in the future."),
        ("from=2026-13-01&to=2026-12-01", "From isn't a real date."),
        ("from=1.11.2026&to=2026-12-01", "From must be a date (YYYY-MM-DD)."),
        ("from=2026-11-02", "To must be a date (YYYY-MM-DD)."),
        ("tenant=x", "Unknown parameter: tenant"),
    ):
        response = await client.get(f"/console/api/tenants/{TENANT}/report?{query}")
        assert response.status == 400, query
        assert (await response.json())["error"]["message"] == message, query
    other = "00000000-0000-0000-0000-000000000000"
    assert (await client.get(f"/console/api/tenants/{other}/readiness")).status == 404
    assert (await client.get(f"/console/api/tenants/{other}/report")).status == 404
