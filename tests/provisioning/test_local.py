"""Local mode: the same saga over the demo tenant's team, finished by the Playground's install."""

from __future__ import annotations

import pytest

from bot.onboarding.model import ServiceSettings
from bot.provisioning.local import LocalTeamsProvisioner
from bot.provisioning.model import Status, Step
from bot.provisioning.service import ProvisioningService
from bot.provisioning.target import channel_target
from bot.storage.memory import MemoryStore
from bot.tenant.demo import DemoTenantDirectory, load_demo_tenant
from tests.messenger import FakeMessenger
from tests.provisioning.support import (
    ADMIN,
    TEAMS_ON,
    installation,
    remember_admin_chat,
)
from tests.standins.microsoft import TENANT, FakeSleep
from tests.support import texts

DEMO = load_demo_tenant()
TEAM = DEMO["team"]


def local_service(store: MemoryStore, messenger: FakeMessenger) -> ProvisioningService:
    return ProvisioningService(
        store,
        LocalTeamsProvisioner(DEMO),
        messenger,
        DemoTenantDirectory(DEMO),
        poll_seconds=30.0,
        sleep=FakeSleep(),
        waiting_hint="In the Agents Playground, add the bot to the Defender Experts team.",
    )


@pytest.mark.parametrize("with_aad_group", [True, False])
async def test_local_provisioning_finishes_when_the_playground_installs_the_bot(
    store: MemoryStore, with_aad_group: bool
) -> None:
    messenger = FakeMessenger()
    service = local_service(store, messenger)
    await remember_admin_chat(store)
    await service.on_settings(TENANT, TEAMS_ON, ServiceSettings(), ADMIN)
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None
    assert (record.status, record.step) == (Status.WAITING, Step.AWAIT_INSTALLATION)
    assert record.team_id == TEAM["aadGroupId"]
    assert record.channel_id == TEAM["channel"]["id"]
    assert "Agents Playground" in texts(messenger.latest_card())

    event = installation(TEAM["aadGroupId"] if with_aad_group else "", TEAM["id"])
    await service.on_team_installation(event)
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None and record.status is Status.READY
    (post,) = messenger.of_kind("post")
    assert post.channel_id == TEAM["channel"]["id"]
    assert post.reference["conversation"]["id"] == TEAM["id"]
    assert "Welcome to Managed response" in texts(post.card)
    target = await channel_target(store, TENANT)
    assert target is not None and target.channel_id == TEAM["channel"]["id"]
    await service.close()


async def test_an_earlier_installation_is_not_waited_for_again(store: MemoryStore) -> None:
    messenger = FakeMessenger()
    service = local_service(store, messenger)
    await service.on_team_installation(installation(TEAM["aadGroupId"], TEAM["id"]))
    await service.request(TENANT, ADMIN)
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None and record.status is Status.READY
    assert len(messenger.of_kind("post")) == 1
    await service.close()
