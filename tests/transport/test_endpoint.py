"""Scenario tests: the real aiohttp app receives real activity JSON; replies go to a stand-in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.actions import ActionRouter
from bot.app import Storage, open_storage
from bot.config import Settings
from bot.notifications.ratelimit import TeamsRateLimiter
from bot.notifications.signing import new_secret
from bot.storage.memory import MemoryStore
from bot.storage.memory_ledger import MemoryLedger
from bot.transport import handler as handler_module
from bot.transport.adapter import build_adapter, invoke_body
from bot.transport.web import SERVICES, create_app
from tests.standins.connector import ConnectorStandIn
from tests.support import ADELE, ALEX, TENANT, texts

BOT_ID = "28:9e7b2c41-3f6d-4a8e-b5c2-1d0f7a6e8b93"

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def activity(service_url: str, actor: Any = ALEX, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "message",
        "id": "act-1",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": "29:user", "aadObjectId": actor.user_id, "name": actor.name},
        "recipient": {"id": BOT_ID, "name": "Defender Experts"},
        "conversation": {
            "id": "a:personal-1",
            "conversationType": "personal",
            "tenantId": actor.tenant_id,
        },
        "channelData": {"tenant": {"id": actor.tenant_id}},
        "text": "",
    }
    base.update(fields)
    return base


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def connector(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> tuple[ConnectorStandIn, str]:
    rec = ConnectorStandIn()
    server = await aiohttp_server(rec.app(), host="127.0.0.1")
    return rec, str(server.make_url("/")).rstrip("/") + "/"


@pytest.fixture
async def bot_client(
    aiohttp_client: ClientFactory, store: MemoryStore, tmp_path: Any
) -> TestClient[Any, Any]:
    settings = Settings(data_dir=tmp_path)
    adapter = build_adapter(settings, sleep=no_sleep)
    return await aiohttp_client(
        create_app(settings, storage=Storage(store, MemoryLedger()), adapter=adapter)
    )


async def test_healthz(bot_client: TestClient[Any, Any]) -> None:
    response = await bot_client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_setup_command_replies_with_the_permissions_card(
    bot_client: TestClient[Any, Any], connector: tuple[ConnectorStandIn, str]
) -> None:
    rec, url = connector
    response = await bot_client.post("/api/messages", json=activity(url, text="  Setup "))
    assert response.status == 201
    (card,) = rec.cards()
    assert "Grant permissions to our experts" in texts(card)
    (op,) = rec.ops
    assert (op.kind, op.conversation_id, op.reply_to) == ("send", "a:personal-1", "act-1")


async def test_unknown_text_gets_help(
    bot_client: TestClient[Any, Any], connector: tuple[ConnectorStandIn, str]
) -> None:
    rec, url = connector
    await bot_client.post("/api/messages", json=activity(url, text="what is this"))
    text = texts(rec.cards()[0])
    assert "I didn't recognize that" in text
    assert "setup" in text and "settings" in text and "help" in text


async def test_invoke_returns_the_next_card_in_place(
    bot_client: TestClient[Any, Any], connector: tuple[ConnectorStandIn, str]
) -> None:
    """Fails if the invoke-serialization workaround is removed (botbuilder answers 500)."""
    _, url = connector
    body = activity(
        url,
        type="invoke",
        name="adaptiveCard/action",
        text=None,
        value={
            "action": {"type": "Action.Execute", "verb": "setup.start", "data": {}},
            "trigger": "manual",
        },
    )
    response = await bot_client.post("/api/messages", json=body)
    assert response.status == 200
    payload = await response.json()
    assert payload["statusCode"] == 200
    assert payload["type"] == "application/vnd.microsoft.card.adaptive"
    assert payload["value"]["type"] == "AdaptiveCard"
    assert "Grant permissions" in texts(payload["value"])


def test_stock_botbuilder_serializer_fails_on_dict_bodies() -> None:
    """Documents the upstream bug the workaround exists for (microsoft/teams-sdk#2547)."""
    from botbuilder.core import serializer_helper

    with pytest.raises(AttributeError, match="is_xml_model"):
        serializer_helper({"statusCode": 200})


def test_invoke_bodies_are_serialized_or_refused() -> None:
    """msrest models become their JSON (camelCase keys); what is neither a model nor JSON data
    is refused rather than sent."""
    from botbuilder.schema import ChannelAccount

    account = ChannelAccount(id="29:1", name="Alex Wilber", aad_object_id="a1")
    assert invoke_body(account) == {"id": "29:1", "name": "Alex Wilber", "aadObjectId": "a1"}
    with pytest.raises(TypeError, match="unsupported invoke body type"):
        invoke_body(object())


async def test_non_admin_invoke_is_refused(
    bot_client: TestClient[Any, Any],
    connector: tuple[ConnectorStandIn, str],
    store: MemoryStore,
) -> None:
    _, url = connector
    body = activity(
        url,
        actor=ADELE,
        type="invoke",
        name="adaptiveCard/action",
        text=None,
        value={"action": {"type": "Action.Execute", "verb": "setup.start", "data": {}}},
    )
    payload = await (await bot_client.post("/api/messages", json=body)).json()
    assert "Security Administrator" in texts(payload["value"])
    assert [k for k in await store.list_keys("") if k.startswith("tenants/")] == []


async def test_welcome_is_sent_once_per_install(
    bot_client: TestClient[Any, Any], connector: tuple[ConnectorStandIn, str]
) -> None:
    rec, url = connector
    install = activity(url, type="installationUpdate", action="add", text=None)
    install["from"].pop("name")  # Teams' install events often carry no name
    added = activity(url, type="conversationUpdate", text=None, membersAdded=[{"id": BOT_ID}])
    added["from"].pop("name")
    for body in (install, added, install):
        assert (await bot_client.post("/api/messages", json=body)).status == 201
    (card,) = rec.cards()
    assert "Welcome, Alex Wilber!" in texts(card)
    assert any(a.get("verb") == "setup.start" for a in card["actions"])


@pytest.mark.parametrize(
    ("headers", "data", "status"),
    [
        ({"Content-Type": "text/plain"}, b"{}", 415),
        ({"Content-Type": "application/json"}, b"{not json", 400),
        ({"Content-Type": "application/json"}, b"[1, 2]", 400),
        ({"Content-Type": "application/json"}, b'{"text": "no type"}', 400),
        (
            {"Content-Type": "application/json"},
            b'{"type": "message", "pad": "' + b"x" * 300_000 + b'"}',
            413,
        ),
    ],
)
async def test_malformed_requests(
    bot_client: TestClient[Any, Any], headers: dict[str, str], data: bytes, status: int
) -> None:
    response = await bot_client.post("/api/messages", data=data, headers=headers)
    assert response.status == status


async def test_replies_are_retried_on_429_with_retry_after(
    bot_client: TestClient[Any, Any], connector: tuple[ConnectorStandIn, str]
) -> None:
    rec, url = connector
    rec.script = [(429, "2"), (503, None)]
    response = await bot_client.post("/api/messages", json=activity(url, text="help"))
    assert response.status == 201
    assert (rec.calls, rec.faults) == (3, 2)  # two refused attempts, one accepted
    assert len(rec.cards()) == 1


async def test_client_errors_are_not_retried_and_the_user_is_not_shown_internals(
    bot_client: TestClient[Any, Any],
    connector: tuple[ConnectorStandIn, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec, url = connector
    rec.script = [(400, None)]
    await bot_client.post("/api/messages", json=activity(url, text="help"))
    # first send refused with 400 (not retried); the error handler then apologizes once
    assert (rec.calls, rec.faults) == (2, 1)
    (apology_card,) = rec.cards()
    apology = texts(apology_card)
    assert "Sorry, something went wrong" in apology and "reference" in apology
    assert "Traceback" not in apology and "HttpOperationError" not in apology
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "turn failed" in errors[0].getMessage()


async def test_a_failing_service_gets_a_generic_apology_on_invoke(
    bot_client: TestClient[Any, Any],
    connector: tuple[ConnectorStandIn, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url = connector

    async def boom(self: ActionRouter, *args: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(ActionRouter, "card_action", boom)
    body = activity(
        url,
        type="invoke",
        name="adaptiveCard/action",
        text=None,
        value={"action": {"type": "Action.Execute", "verb": "setup.start"}},
    )
    response = await bot_client.post("/api/messages", json=body)
    assert response.status == 200
    text = texts((await response.json())["value"])
    assert "Something went wrong" in text and "secret internal detail" not in text


async def test_connector_clients_are_reused_across_turns(
    bot_client: TestClient[Any, Any],
    connector: tuple[ConnectorStandIn, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from botframework.connector.aio import ConnectorClient

    created: list[Any] = []
    original = ConnectorClient.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        created.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ConnectorClient, "__init__", counting)
    _, url = connector
    for _ in range(5):
        await bot_client.post("/api/messages", json=activity(url, text="help"))
    assert len(created) == 1


async def test_auth_mode_refuses_requests_without_a_jwt(
    aiohttp_client: ClientFactory, connector: tuple[ConnectorStandIn, str], tmp_path: Any
) -> None:
    _, url = connector
    settings = Settings.from_env(
        {
            "MicrosoftAppId": "9e7b2c41-3f6d-4a8e-b5c2-1d0f7a6e8b93",
            "MicrosoftAppPassword": "not-a-real-secret",
            "BOT_DATA_DIR": str(tmp_path),
        }
    )
    client = await aiohttp_client(create_app(settings, storage=open_storage("memory://")))
    response = await client.post("/api/messages", json=activity(url, text="help"))
    assert response.status == 401
    forged = await client.post(
        "/api/messages",
        json=activity(url, text="help"),
        headers={"Authorization": "Bearer e30.e30.c2ln"},
    )
    assert forged.status == 401


def test_the_sdk_stays_at_the_edge() -> None:
    """Only the transport package imports botbuilder (keeps the SDK at the edge)."""
    import pathlib

    root = pathlib.Path(handler_module.__file__).parents[2]
    offenders = [
        str(p.relative_to(root))
        for p in (root / "bot").rglob("*.py")
        if "transport" not in p.parts
        and (
            "import botbuilder" in p.read_text()
            or "from botbuilder" in p.read_text()
            or "from aiohttp import web" in p.read_text()
            or "botframework" in p.read_text()
        )
    ] + [
        str(p.relative_to(root))
        for p in (root / "cards").rglob("*.py")
        if "botbuilder" in p.read_text() or "botframework" in p.read_text()
    ]
    assert offenders == []


async def test_tenants_outside_the_allow_list_are_dropped(
    aiohttp_client: ClientFactory, connector: tuple[ConnectorStandIn, str], tmp_path: Any
) -> None:
    rec, url = connector
    settings = Settings(
        data_dir=tmp_path, tenant_allow_list=("11111111-2222-3333-4444-555555555555",)
    )
    client = await aiohttp_client(create_app(settings, storage=open_storage("memory://")))
    response = await client.post("/api/messages", json=activity(url, text="setup"))
    assert response.status == 201
    assert rec.arrived == 0


async def test_retries_are_bounded_and_ours_alone(
    bot_client: TestClient[Any, Any], connector: tuple[ConnectorStandIn, str]
) -> None:
    """msrest's own retry policy is off: a connector that keeps failing sees exactly
    CONNECTOR_RETRY_ATTEMPTS (4) sends, then the apology goes out once."""
    rec, url = connector
    rec.script = [(500, None)] * 4
    await bot_client.post("/api/messages", json=activity(url, text="help"))
    assert (rec.calls, rec.faults) == (5, 4)
    (apology,) = rec.cards()
    assert "Sorry, something went wrong" in texts(apology)


async def test_a_channel_message_outside_the_experts_team_is_not_forwarded(
    bot_client: TestClient[Any, Any], connector: tuple[ConnectorStandIn, str]
) -> None:
    """No Defender Experts team is provisioned here, so a thread reply goes nowhere and gets no
    answer (chat with the experts: tests/chat); a top-level @mention command still works."""
    rec, url = connector
    thread = "19:channel@thread.tacv2;messageid=42"
    body = activity(
        url,
        text="<at>Defender Experts</at> is this urgent?",
        conversation={
            "id": thread,
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": ALEX.tenant_id,
        },
        channelData={
            "tenant": {"id": ALEX.tenant_id},
            "team": {"id": "19:team@thread.tacv2"},
            "channel": {"id": "19:channel@thread.tacv2"},
        },
    )
    assert (await bot_client.post("/api/messages", json=body)).status == 201
    assert rec.ops == []
    body["text"] = "<at>Defender Experts</at> help"
    body["conversation"]["id"] = "19:channel@thread.tacv2;messageid=act-1"
    await bot_client.post("/api/messages", json=body)
    assert "What I can do" in texts(rec.cards()[0])


async def test_max_request_bytes_applies_to_the_experts_api(
    aiohttp_client: ClientFactory, tmp_path: Any
) -> None:
    """MAX_REQUEST_BYTES bounds /api/notifications too (below the API's own limit): 413, and
    nothing is read past it."""
    settings = Settings(
        data_dir=tmp_path, experts_webhook_secret=new_secret(), max_request_bytes=2048
    )
    client = await aiohttp_client(create_app(settings, storage=open_storage("memory://")))
    body = b'{"pad": "' + b"x" * 4096 + b'"}'
    response = await client.post(
        "/api/notifications", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    assert "2048 bytes" in (await response.json())["error"]["message"]
    small = await client.post(
        "/api/notifications", data=b"{}", headers={"Content-Type": "application/json"}
    )
    assert small.status == 401  # within the limit: on to the signature check


async def test_a_reply_in_the_turn_waits_for_the_chat_s_slot_of_teams_limits(
    bot_client: TestClient[Any, Any], connector: tuple[ConnectorStandIn, str]
) -> None:
    """A reply to the user's message is a connector call like the progress card's updates in
    the same chat: the eighth call within a second waits for the window."""
    rec, url = connector
    limiter = bot_client.app[SERVICES].limiter
    assert isinstance(limiter, TeamsRateLimiter)
    now = [0.0]

    async def sleep(seconds: float) -> None:  # a wait moves the limiter's clock on
        now[0] += seconds

    limiter.clock, limiter.sleep = lambda: now[0], sleep
    for _ in range(7):  # seven calls just went to this chat (the progress card, say)
        async with limiter.slot(ALEX.tenant_id, "a:personal-1"):
            pass
    response = await bot_client.post("/api/messages", json=activity(url, text="help"))
    assert response.status == 201
    assert len(rec.ops) == 1 and now[0] >= 1.0  # sent, after the window had room again


async def test_the_apology_for_a_failed_turn_waits_for_the_chat_s_slot_too(
    bot_client: TestClient[Any, Any], connector: tuple[ConnectorStandIn, str]
) -> None:
    """The reply is refused (400), so the turn fails and the bot apologizes: a ninth call in the
    chat, which Teams' 8-in-2-seconds window holds back like the reply before it."""
    rec, url = connector
    rec.script = [(400, None)]
    limiter = bot_client.app[SERVICES].limiter
    assert isinstance(limiter, TeamsRateLimiter)
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter.clock, limiter.sleep = lambda: now[0], sleep
    for _ in range(7):
        async with limiter.slot(ALEX.tenant_id, "a:personal-1"):
            pass
    response = await bot_client.post("/api/messages", json=activity(url, text="help"))
    assert response.status == 201
    (apology,) = rec.cards()
    assert "Sorry, something went wrong" in texts(apology)
    assert now[0] >= 2.0  # the reply went at about 1 s; the apology after the 2 s window


async def test_a_member_other_than_the_bot_added_costs_no_connector_call(
    bot_client: TestClient[Any, Any],
    connector: tuple[ConnectorStandIn, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """botbuilder would GET each added member from the connector (outside Teams' limits) and
    fail the turn if the connector doesn't know the member; the bot only asks whether it was the
    one added."""
    rec, url = connector
    someone = {"id": "29:someone-else", "name": "Someone"}
    for where in ({}, {"channelData": {"team": {"id": "19:team"}, "tenant": {"id": TENANT}}}):
        added = activity(url, type="conversationUpdate", text=None, membersAdded=[someone])
        added.update(where)
        assert (await bot_client.post("/api/messages", json=added)).status == 201
    assert rec.calls == 0 and rec.ops == []
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
