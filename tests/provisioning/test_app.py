"""Scenario: the real aiohttp app, real activity JSON, the Graph and connector stand-ins.

An admin runs the setup guide with Communicate on Teams on; the bot creates the team in the
(stand-in) tenant, posts and updates a progress card in the admin's chat, emails the new
contact, and finishes when Teams tells it that the bot was added to the team.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import open_storage
from bot.provisioning.model import CHANNEL_NAME, TEAM_NAME, Status
from bot.transport.adapter import build_adapter
from bot.transport.web import SERVICES, create_app
from tests.standins.connector import ConnectorStandIn
from tests.standins.microsoft import ALEX, TENANT, Microsoft
from tests.support import action, inputs, texts

BOT_ID = "28:9e7b2c41-3f6d-4a8e-b5c2-1d0f7a6e8b93"
CHAT = "a:1alex-personal-chat"

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def connector() -> AsyncIterator[ConnectorStandIn]:
    async with ConnectorStandIn() as stand_in:
        yield stand_in


def activity(service_url: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "message",
        "id": "act-1",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": "29:alex", "aadObjectId": ALEX, "name": "Alex Wilber"},
        "recipient": {"id": BOT_ID, "name": "Defender Experts"},
        "conversation": {"id": CHAT, "conversationType": "personal", "tenantId": TENANT},
        "channelData": {"tenant": {"id": TENANT}},
    }
    base.update(fields)
    return base


class Guide:
    """Presses the buttons of the card the bot answered with, as the Teams client does."""

    def __init__(self, client: TestClient[Any, Any], service_url: str) -> None:
        self.client = client
        self.service_url = service_url
        self.card: dict[str, Any] = {}

    async def press(self, title: str, **values: Any) -> dict[str, Any]:
        act = action(self.card, title)
        data = dict(act.get("data") or {})
        if act.get("associatedInputs", "auto") != "none":
            data.update({i: n["value"] for i, n in inputs(self.card).items() if "value" in n})
            data.update(values)
        response = await self.client.post(
            "/api/messages",
            json=activity(
                self.service_url,
                type="invoke",
                name="adaptiveCard/action",
                replyToId="card-1",
                value={"action": {"type": "Action.Execute", "verb": act["verb"], "data": data}},
            ),
        )
        assert response.status == 200, await response.text()
        self.card = (await response.json())["value"]
        return self.card


async def test_the_setup_guide_provisions_teams_through_the_app(
    aiohttp_client: ClientFactory,
    microsoft: Microsoft,
    connector: ConnectorStandIn,
    tmp_path: Any,
) -> None:
    settings = microsoft.settings(BOT_DATA_DIR=str(tmp_path))
    assert settings.local_mode and settings.tenant_backend == "graph"
    app = create_app(
        settings,
        storage=open_storage("memory://"),
        adapter=build_adapter(settings, sleep=no_sleep),
    )
    client = await aiohttp_client(app)
    services = app[SERVICES]

    said = await client.post("/api/messages", json=activity(connector.url, text="setup"))
    assert said.status == 201
    guide = Guide(client, connector.url)
    ((sent,),) = [[op.card for op in connector.of_kind("send")]]
    assert sent is not None
    guide.card = sent
    await guide.press("Manage exclusions", respond="true")
    await guide.press("Search device groups", device_query="fin")
    await guide.press("+ Add device groups", device_pick="101")
    await guide.press("Next")
    await guide.press("Search", contact_query="secops")
    await guide.press(
        "Add",
        contact_pick="6c1e0b7a-1001-4c3d-9e8f-2a1b0c9d8e01",
        contact_for="incidentNotification",
    )
    await guide.press("Next")
    await guide.press("Next", teams_enabled="true")
    submitted = await guide.press("Submit")
    assert "Setup complete" in texts(submitted)

    assert services.provisioning is not None and services.contact_mail is not None
    await services.provisioning.wait_idle()
    await services.contact_mail.wait_idle()
    record = await services.provisioning.record(TENANT)
    assert record is not None and record.status is Status.WAITING
    (team,) = microsoft.graph.team_named(TEAM_NAME)
    (channel,) = microsoft.graph.channels_named(team, CHANNEL_NAME)
    (mail,) = microsoft.graph.mails
    assert mail["message"]["toRecipients"][0]["emailAddress"]["address"] == "secops@contoso.com"

    added = activity(
        connector.url,
        type="conversationUpdate",
        membersAdded=[{"id": BOT_ID}],
        conversation={
            "id": team.thread_id,
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": TENANT,
        },
        channelData={
            "tenant": {"id": TENANT},
            "eventType": "teamMemberAdded",
            "team": {"id": team.thread_id, "aadGroupId": team.group_id, "name": TEAM_NAME},
        },
    )
    assert (await client.post("/api/messages", json=added)).status == 201
    await services.provisioning.wait_idle()

    record = await services.provisioning.record(TENANT)
    assert record is not None and record.status is Status.READY
    (post,) = connector.of_kind("post")
    assert post.thread == channel["id"]
    assert post.card is not None and "Add member" in texts(post.card)
    progress = [op for op in connector.ops if op.conversation_id == CHAT]
    assert progress[-1].kind == "update"
    assert progress[-1].card is not None and "Microsoft Teams is ready" in texts(progress[-1].card)
