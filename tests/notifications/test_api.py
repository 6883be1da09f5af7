"""Scenario tests: the real aiohttp app, signed requests, botbuilder to a Bot Connector stand-in."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.app import Storage
from bot.config import Settings
from bot.notifications.service import incident_key
from bot.notifications.signing import WebhookVerifier, request_line
from bot.notifications.worker import DeliveryWorker
from bot.storage.sqlite import SqliteStore
from bot.storage.sqlite_ledger import SqliteLedger
from bot.transport import notifications_api
from bot.transport.notifications_api import NOTIFICATIONS
from bot.transport.web import SERVICES, create_app
from cards.incident_views import ACKNOWLEDGE, ACTION_COMPLETE
from tests.notifications.support import (
    ADELE,
    BOT_ID,
    CHANNEL_ID,
    FINANCE_EXCLUDED,
    MEGAN,
    SECRET,
    TEAM_ID,
    TENANT,
    FailingDirectory,
    example,
    revised,
    seed_channel,
    seed_settings,
    settings_record,
)
from tests.standins.connector import ConnectorStandIn, incident_of
from tests.support import texts

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
SIGNER = WebhookVerifier.from_secret(SECRET)


@dataclass
class Api:
    client: TestClient[Any, Any]
    app: web.Application
    store: SqliteStore
    connector: ConnectorStandIn
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def signed(
        self, body: bytes, webhook_id: str | None = None, at: int | None = None
    ) -> dict[str, str]:
        webhook_id = webhook_id or f"msg_{next(self._ids)}"
        return SIGNER.sign(webhook_id, at if at is not None else int(time.time()), body).headers()

    async def notify(
        self, body: dict[str, Any] | bytes, webhook_id: str | None = None, **headers: str
    ) -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers = {
            "Content-Type": "application/json",
            **self.signed(raw, webhook_id),
            **headers,
        }
        response = await self.client.post("/api/notifications", data=raw, headers=all_headers)
        return response.status, await response.json()

    async def get(self, target: str, *, sign: bool = True) -> tuple[int, Any]:
        headers = self.signed(request_line("GET", target)) if sign else {}
        response = await self.client.get(target, headers=headers)
        return response.status, await response.json()

    async def deliver(self) -> None:
        """Wait for the app's own delivery worker (running in the background, as in production)
        to finish everything in the outbox: its idle signal, no clock."""
        worker = self.app[SERVICES].delivery
        assert worker is not None
        await worker.wait_idle()
        assert (await self.app[NOTIFICATIONS].ledger.outbox_stats()).open == 0

    async def invoke(
        self, verb: str, data: dict[str, Any], *, who: tuple[str, str], post_id: str
    ) -> dict[str, Any]:
        activity = {
            "type": "invoke",
            "name": "adaptiveCard/action",
            "id": f"inv-{next(self._ids)}",
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "from": {"id": f"29:{who[0]}", "aadObjectId": who[0], "name": who[1]},
            "recipient": {"id": f"28:{BOT_ID}", "name": "Defender Experts"},
            "conversation": {
                "id": f"{CHANNEL_ID};messageid={post_id}",
                "conversationType": "channel",
                "isGroup": True,
                "tenantId": TENANT,
            },
            "channelData": {
                "tenant": {"id": TENANT},
                "team": {"id": TEAM_ID},
                "channel": {"id": CHANNEL_ID},
            },
            "replyToId": post_id,
            "value": {
                "action": {"type": "Action.Execute", "verb": verb, "data": data},
                "trigger": "manual",
            },
        }
        response = await self.client.post("/api/messages", json=activity)
        assert response.status == 200
        body = await response.json()
        assert body["type"] == "application/vnd.microsoft.card.adaptive"
        return dict(body["value"])

    async def stored(self, incident_id: str = "2972395") -> bool:
        return await self.store.read(incident_key(TENANT, incident_id)) is not None


@pytest.fixture
async def api(aiohttp_client: ClientFactory, tmp_path: Path, connector: ConnectorStandIn) -> Api:
    store = SqliteStore(tmp_path / "bot.sqlite3")
    await seed_settings(store)
    await seed_channel(store, connector.url)
    settings = Settings(data_dir=tmp_path, experts_webhook_secret=SECRET)
    app = create_app(settings, storage=Storage(store, SqliteLedger(store)))
    client = await aiohttp_client(app)
    return Api(client, app, store, connector)


async def test_openapi_is_served(api: Api) -> None:
    status, doc = await api.get("/api/openapi.json", sign=False)
    assert status == 200 and doc["openapi"].startswith("3.1")
    assert "/api/notifications" in doc["paths"] and "/api/events" in doc["paths"]


async def test_three_revisions_one_post_two_updates_two_replies(api: Api) -> None:
    for revision in (1, 2, 3):
        status, body = await api.notify(revised(revision))
        assert status == 202 and body["status"] == "accepted" and body["revision"] == revision
        await api.deliver()
    ops = api.connector.ops
    assert [op.kind for op in ops] == ["post", "update", "reply", "update", "reply"]
    post = ops[0]
    assert post.thread == CHANNEL_ID and incident_of(post.card) == "2972395"
    assert {op.activity_id for op in api.connector.of_kind("update")} == {post.activity_id}
    assert all(op.conversation_id == post.conversation_id for op in api.connector.of_kind("reply"))
    assert "Resolved" in texts(ops[3].card) and "Update 3" in ops[4].text


async def test_duplicate_webhook_id_is_200_and_stores_nothing_new(api: Api) -> None:
    assert (await api.notify(example(), "msg_dup"))[0] == 202
    status, body = await api.notify(revised(2), "msg_dup")
    assert status == 200 and body["status"] == "duplicate" and body["webhookId"] == "msg_dup"
    # A retry that would now be refused (here: not JSON) is still answered as the duplicate.
    status, body = await api.notify(b"{not json", "msg_dup")
    assert (status, body["status"], body["webhookId"]) == (200, "duplicate", "msg_dup")
    _, state = await api.get("/api/notifications/2972395")
    assert state["latestRevision"] == 1 and len(state["revisions"]) == 1


async def test_an_older_revision_is_recorded_and_ignored(api: Api) -> None:
    await api.notify(revised(2))
    status, body = await api.notify(revised(1))
    assert status == 202 and body["status"] == "ignored"
    await api.deliver()
    assert [op.kind for op in api.connector.ops] == ["post"]
    _, state = await api.get("/api/notifications/2972395")
    assert [r["outcome"] for r in state["revisions"]] == ["accepted", "ignored"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"webhook-signature": "v1,AAAA"}, "No valid webhook-signature"),
        ({"webhook-timestamp": str(int(time.time()) - 301)}, "5 minutes"),
        ({"webhook-id": ""}, "must carry"),
    ],
)
async def test_bad_signatures_are_401_and_store_nothing(
    api: Api, headers: dict[str, str], message: str
) -> None:
    status, body = await api.notify(example(), **headers)
    assert status == 401 and message in body["error"]["message"]
    assert not await api.stored()


async def test_a_signed_id_with_a_dot_is_accepted_and_a_257_character_one_is_401(
    api: Api,
) -> None:
    status, body = await api.notify(example(), "msg.1")
    assert status == 202 and body["status"] == "accepted"
    assert (await api.notify(example(), "msg.1"))[0] == 200  # and it is a receipt like any
    status, error = await api.notify(revised(2), "m" * 257)
    assert status == 401 and "webhook-id" in error["error"]["message"]
    _, state = await api.get("/api/notifications/2972395")
    assert [r["webhookId"] for r in state["revisions"]] == ["msg.1"]


async def test_a_body_over_256_kib_is_413(api: Api) -> None:
    body = example()
    body["incident"]["padding"] = "x" * (256 * 1024)
    status, error = await api.notify(body)
    assert status == 413 and error["error"]["code"] == "tooLarge"
    assert not await api.stored()


async def test_a_chunked_body_over_256_kib_is_413(api: Api) -> None:
    raw = json.dumps({**example(), "padding": "x" * (300 * 1024)}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(raw), 16_384):
            yield raw[i : i + 16_384]

    headers = {"Content-Type": "application/json", **api.signed(raw)}
    response = await api.client.post("/api/notifications", data=chunks(), headers=headers)
    assert response.status == 413
    assert not await api.stored()


async def test_invalid_json_names_the_field_with_422(api: Api) -> None:
    body = example()
    body["incident"]["severity"] = "critical"
    status, error = await api.notify(body)
    assert status == 422 and error["error"]["field"] == "incident.severity"
    assert "incident.severity must be one of" in error["error"]["message"]
    assert not await api.stored()


async def test_not_json_is_400_and_wrong_type_is_415(api: Api) -> None:
    assert (await api.notify(b"{not json"))[0] == 400
    status, _ = await api.notify(example(), **{"Content-Type": "text/plain"})
    assert status == 415
    assert not await api.stored()


@pytest.mark.parametrize("charset", ["utf-16", "latin-1", "iso-8859-1"])
async def test_a_charset_other_than_utf8_is_415(api: Api, charset: str) -> None:
    raw = json.dumps(example()).encode(charset if charset != "utf-16" else "utf-16")
    status, error = await api.notify(
        raw, **{"Content-Type": f"application/json; charset={charset}"}
    )
    assert status == 415 and "UTF-8" in error["error"]["message"]
    assert (await api.notify(example(), **{"Content-Type": "application/json; charset=UTF-8"}))[
        0
    ] == 202


async def test_non_finite_numbers_and_repeated_keys_are_400_and_store_nothing(api: Api) -> None:
    text = json.dumps(example())
    overflow = text[:-1] + ', "extra": 1e400}'
    repeated = text[:-1] + ', "type": "incident.notification"}'
    for raw in (overflow, repeated):
        status, _ = await api.notify(raw.encode())
        assert status == 400
    assert not await api.stored()


async def test_an_incident_url_ending_in_a_newline_is_422(api: Api) -> None:
    body = example()
    body["incident"]["incidentWebUrl"] += "\n"
    status, error = await api.notify(body)
    assert status == 422 and error["error"]["field"] == "incident.incidentWebUrl"
    assert not await api.stored()


async def test_excluded_targets_and_investigate_only_are_422(api: Api) -> None:
    await seed_settings(api.store, settings_record(exclusions=FINANCE_EXCLUDED))
    status, error = await api.notify(example())
    assert status == 422
    assert 'excluded device group "Finance workstations"' in error["error"]["message"]
    await seed_settings(api.store, settings_record(respond=False))
    status, error = await api.notify(example())
    assert status == 422 and "Investigate incidents" in error["error"]["message"]
    assert not await api.stored()


async def test_a_target_the_directory_does_not_know_is_422_naming_it(api: Api) -> None:
    await seed_settings(api.store, settings_record(exclusions=FINANCE_EXCLUDED))
    body = example()
    body["managedResponse"]["completedActions"][0]["target"] = {
        "kind": "device",
        "id": "d-999",
        "name": "ghost-ws.contoso.com",
    }
    status, error = await api.notify(body)
    assert status == 422
    assert "can't verify that ghost-ws.contoso.com isn't excluded" in error["error"]["message"]
    assert error["error"]["field"] == "managedResponse.completedActions[0]"
    assert not await api.stored()


async def test_a_directory_error_is_503_with_retry_after_and_stores_nothing(
    aiohttp_client: ClientFactory, tmp_path: Path, connector: ConnectorStandIn
) -> None:
    store = SqliteStore(tmp_path / "bot.sqlite3")
    await seed_settings(store, settings_record(exclusions=FINANCE_EXCLUDED))
    await seed_channel(store, connector.url)
    settings = Settings(data_dir=tmp_path, experts_webhook_secret=SECRET)
    app = create_app(
        settings,
        storage=Storage(store, SqliteLedger(store)),
        directory=FailingDirectory("device_group_of"),
    )
    client = await aiohttp_client(app)
    api = Api(client, app, store, connector)
    status, error = await api.notify(example(), "msg_dir_down")
    assert status == 503 and error["error"]["code"] == "unavailable"
    assert "try again" in error["error"]["message"].lower()
    response = await client.post(
        "/api/notifications",
        data=json.dumps(example()).encode(),
        headers={"Content-Type": "application/json", **api.signed(json.dumps(example()).encode())},
    )
    assert response.status == 503 and response.headers["Retry-After"] == "30"
    assert not await api.stored()
    assert not await app[NOTIFICATIONS].is_duplicate("msg_dir_down")  # the retry is not a dup
    assert (await app[NOTIFICATIONS].ledger.outbox_stats()).open == 0


async def test_delivery_state_is_signed(api: Api) -> None:
    await api.notify(example())
    await api.deliver()
    assert (await api.get("/api/notifications/2972395", sign=False))[0] == 401
    status, state = await api.get("/api/notifications/2972395")
    assert status == 200
    assert state["post"]["activityId"] == api.connector.ops[0].activity_id
    assert state["deliveries"]["1"]["state"] == "posted"
    assert [m["state"] for m in state["outbox"]] == ["done"]
    assert (await api.get("/api/notifications/404404"))[0] == 404


async def test_completing_from_the_card_reaches_everyone_and_the_experts(api: Api) -> None:
    await api.notify(example())
    await api.deliver()
    post_id = api.connector.ops[0].activity_id
    card = await api.invoke(
        ACTION_COMPLETE,
        {"incidentId": "2972395", "actionId": "a2", "revision": 1},
        who=ADELE,
        post_id=post_id,
    )
    assert "Completed by Adele Vance" in texts(card)
    await api.deliver()
    update = api.connector.of_kind("update")[-1]
    assert update.activity_id == post_id and "Completed by Adele Vance" in texts(update.card)
    status, page = await api.get("/api/events?after=0")
    assert status == 200
    (event,) = page["events"]
    assert event["type"] == "pendingAction.completed" and event["by"]["name"] == "Adele Vance"
    assert (await api.get(f"/api/events?after={page['next']}"))[1]["events"] == []
    assert (await api.get("/api/events?after=0", sign=False))[0] == 401
    assert (await api.get("/api/events?after=-1"))[0] == 400


async def test_acknowledge_and_a_forged_action_through_the_bot(api: Api) -> None:
    await api.notify(example())
    await api.notify(example(incident_id="777"))
    await api.deliver()
    first = api.connector.posts_of("2972395")[0].activity_id
    card = await api.invoke(ACKNOWLEDGE, {"incidentId": "2972395"}, who=MEGAN, post_id=first)
    assert "Acknowledged by Megan Bowen" in texts(card)
    forged = await api.invoke(
        ACTION_COMPLETE, {"incidentId": "777", "actionId": "a2"}, who=ADELE, post_id=first
    )
    assert "doesn't belong to the incident on this card" in texts(forged)
    _, state = await api.get("/api/notifications/777")
    assert state["actionResponses"] == {}


async def test_without_a_secret_the_api_is_off(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    client = await aiohttp_client(app)
    assert (await client.post("/api/notifications", json=example())).status in (404, 405)
    assert (await client.get("/api/openapi.json")).status == 200


def test_the_wiring_has_no_test_only_hooks() -> None:
    """Nothing in the product to switch the worker off or swap its messenger for tests: the
    tests drive the worker through what its run loop uses (``DeliveryWorker.process``)."""
    keys = {name for name, key in vars(notifications_api).items() if isinstance(key, web.AppKey)}
    # BODY_LIMIT is MAX_REQUEST_BYTES (capped by the webhook's own limit), read on every request.
    assert keys == {"NOTIFICATIONS", "VERIFIER", "BODY_LIMIT"}
    # ``drain`` is the product's SIGTERM path (tests/postgres/test_instances.py sends SIGTERM to a
    # real process), not a switch for tests.
    assert not hasattr(DeliveryWorker, "run_once")
