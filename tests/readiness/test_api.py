"""The Experts API for readiness and the report: the real aiohttp app, signed requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.app import Storage
from bot.config import Settings
from bot.readiness.service import readiness_key
from bot.storage.sqlite import SqliteStore
from bot.storage.sqlite_ledger import SqliteLedger
from bot.transport.web import create_app
from tests.notifications.conftest import connector
from tests.notifications.support import (
    SECRET,
    TENANT,
    revised,
    seed_channel,
    seed_settings,
)
from tests.notifications.test_api import Api, ClientFactory
from tests.standins.connector import ConnectorStandIn

__all__ = ["connector"]


@pytest.fixture
async def api(aiohttp_client: ClientFactory, tmp_path: Path, connector: ConnectorStandIn) -> Api:
    store = SqliteStore(tmp_path / "bot.sqlite3")
    await seed_settings(store)
    await seed_channel(store, connector.url)
    settings = Settings(data_dir=tmp_path, experts_webhook_secret=SECRET)
    app = create_app(settings, storage=Storage(store, SqliteLedger(store)))
    client = await aiohttp_client(app)
    return Api(client, app, store, connector)


async def post_phase(
    api: Api, body: Any, webhook_id: str | None = None, **headers: str
) -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", **api.signed(raw, webhook_id), **headers}
    response = await api.client.post("/api/readiness/phase", data=raw, headers=all_headers)
    return response.status, await response.json()


async def test_the_phase_moves_and_is_audited_with_an_event(api: Api) -> None:
    status, body = await post_phase(
        api, {"phase": "readiness", "by": "Sam SDM", "reason": "kick-off"}, "ph1"
    )
    assert (status, body["phase"], body["from"]) == (200, "readiness", "onboarding")
    again = await post_phase(api, {"phase": "readiness", "by": "Sam SDM"}, "ph1")
    assert again == (200, {"status": "duplicate", "webhookId": "ph1"})
    status, readiness = await api.get("/api/readiness")
    assert status == 200 and readiness["phase"] == "readiness"
    assert readiness["phaseHistory"][-1]["by"] == "Sam SDM"
    status, events = await api.get("/api/events?after=0")
    assert [e["type"] for e in events["events"]] == ["readiness.phaseChanged"]
    assert events["events"][0]["to"] == "readiness"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"phase": "active", "by": "Sam"}, 422),
        ({"phase": "done", "by": "Sam"}, 422),
        ({"phase": "readiness"}, 422),
        ({"phase": "readiness", "by": "Sam", "extra": 1}, 422),
        ({"phase": 3, "by": "Sam"}, 422),
        (["readiness"], 422),
        (b"{not json", 400),
        (b"x" * 5000, 413),
    ],
)
async def test_bad_phase_changes_are_refused_and_change_nothing(
    api: Api, body: Any, status: int
) -> None:
    got, answer = await post_phase(api, body)
    assert got == status, answer
    assert "error" in answer
    assert await api.store.read(readiness_key(TENANT)) is None


async def test_the_phase_api_needs_a_signature_and_json(api: Api) -> None:
    raw = json.dumps({"phase": "readiness", "by": "Sam"}).encode()
    response = await api.client.post(
        "/api/readiness/phase", data=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status == 401
    assert (await post_phase(api, raw, **{"Content-Type": "text/plain"}))[0] == 415
    assert (await api.get("/api/readiness", sign=False))[0] == 401
    assert (await api.get("/api/report", sign=False))[0] == 401


async def test_the_report_as_json(api: Api) -> None:
    for revision in (1, 2, 3):
        assert (await api.notify(revised(revision)))[0] == 202
    status, report = await api.get("/api/report?days=30")
    assert status == 200
    assert report["incidentsInvestigated"] == 1 and report["incidentsResolved"] == 1
    assert (await api.get("/api/report?days=12"))[0] == 400
    assert (await api.get("/api/report?from=2026-13-01&to=2026-12-01"))[0] == 400
    assert (await api.get("/api/report?tenant=x"))[0] == 400


async def test_the_openapi_document_describes_them(api: Api) -> None:
    _, doc = await api.get("/api/openapi.json", sign=False)
    assert {"/api/readiness", "/api/readiness/phase", "/api/report"} <= set(doc["paths"])
    assert doc["components"]["schemas"]["PhaseChange"]["required"] == ["phase", "by"]
    committed = json.loads((Path(__file__).parents[2] / "api" / "openapi.json").read_text())
    assert committed == doc


def test_the_documented_phases_are_the_services() -> None:
    from bot.notifications.openapi_readiness import PHASES as DOCUMENTED
    from bot.readiness.assessment import PHASES

    assert DOCUMENTED == PHASES
