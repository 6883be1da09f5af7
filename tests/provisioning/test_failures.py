"""Every known failure stops the saga with an actionable message and a Retry action."""

from __future__ import annotations

from typing import Any

import pytest

from bot.graph.clients import MicrosoftApis
from bot.graph.errors import GraphAuthError
from bot.messaging import DeliveryError
from bot.onboarding.model import ServiceSettings
from bot.provisioning.failures import classify
from bot.provisioning.model import CHANNEL_NAME, TEAM_NAME, Status, Step
from bot.provisioning.service import ProvisioningService
from bot.provisioning.target import channel_target
from bot.storage.memory import MemoryStore
from cards import to_json
from cards.provisioning import RETRY
from tests.messenger import FakeMessenger
from tests.provisioning.conftest import ServiceFactory, graph_provisioner
from tests.provisioning.support import (
    ADMIN,
    TEAMS_ON,
    CrashAfter,
    FailOnce,
    card_action,
    installation,
    provision,
    remember_admin_chat,
)
from tests.standins.microsoft import ALEX, TENANT, Microsoft
from tests.support import actions, texts


async def stopped(service: ProvisioningService, store: MemoryStore) -> dict[str, Any]:
    await remember_admin_chat(store)
    await service.on_settings(TENANT, TEAMS_ON, ServiceSettings(), ADMIN)
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None
    assert record.status is Status.FAILED, record
    assert record.failure is not None
    return {"record": record, "failure": record.failure}


def has_retry(card: dict[str, Any]) -> bool:
    return any(a.get("verb") == RETRY for a in actions(card))


async def finish(service: ProvisioningService) -> None:
    """Press Retry, then let Teams install the bot; the saga must end ready."""
    to_json(await service.on_card_action(card_action(RETRY)))
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None
    if record.status is Status.WAITING:
        await service.on_team_installation(installation(record.team_id))
        await service.wait_idle()
        record = await service.record(TENANT)
        assert record is not None
    assert record.status is Status.READY, record.failure


@pytest.mark.parametrize("how", ["refused", "operation"])
async def test_group_creation_disabled(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    messenger: FakeMessenger,
    how: str,
) -> None:
    microsoft.graph.group_creation = how
    service = make_service()
    result = await stopped(service, store)
    assert result["failure"].kind == "group_creation_disabled"
    card = messenger.latest_card()
    assert "Microsoft 365 group creation is turned off" in texts(card)
    assert "EnableGroupCreation" in texts(card)
    assert has_retry(card)
    assert result["record"].step is Step.CREATE_TEAM
    microsoft.graph.group_creation = "enabled"
    await finish(service)
    assert len(microsoft.graph.team_named(TEAM_NAME)) == 1
    assert len(microsoft.graph.groups_named(TEAM_NAME)) == 1
    # A failed operation leaves its group: Retry makes that group the team.
    assert microsoft.graph.teams_from_groups == (1 if how == "operation" else 0)


@pytest.mark.parametrize("visibility", ["Public", "HiddenMembership"])
async def test_a_team_by_that_name_that_isnt_private_is_never_taken_over(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    messenger: FakeMessenger,
    visibility: str,
) -> None:
    theirs = microsoft.graph.add_team(TEAM_NAME, visibility=visibility)
    service = make_service()
    result = await stopped(service, store)
    failure = result["failure"]
    assert failure.kind == "team_not_private"
    assert result["record"].step is Step.CREATE_TEAM and not result["record"].team_id
    card = messenger.latest_card()
    assert f"A team named '{TEAM_NAME}' already exists and isn't private" in texts(card)
    assert "rename or delete it" in texts(card) and has_retry(card)
    assert microsoft.graph.count("POST", r"/v1\.0/teams$") == 0
    assert not microsoft.graph.channels_named(theirs, CHANNEL_NAME) and theirs.apps == {}

    microsoft.graph.groups[theirs.group_id]["displayName"] = "Marketing"  # the admin renames it
    await finish(service)
    (ours,) = microsoft.graph.team_named(TEAM_NAME)
    assert ours.group_id != theirs.group_id
    assert microsoft.graph.groups[ours.group_id]["visibility"] == "Private"
    assert len(microsoft.graph.groups_named(TEAM_NAME)) == 1


async def test_app_blocked_by_a_permission_policy(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    messenger: FakeMessenger,
) -> None:
    microsoft.graph.app_blocked = True
    service = make_service()
    result = await stopped(service, store)
    assert result["failure"].kind == "app_blocked"
    assert result["record"].step is Step.INSTALL_APP
    card = messenger.latest_card()
    assert "Permission policies" in texts(card) and has_retry(card)
    assert "Stopped at step 3 of 5" in texts(card)
    microsoft.graph.app_blocked = False
    await finish(service)
    assert microsoft.graph.teams_created == 1 and microsoft.graph.channels_created == 1
    assert len(microsoft.graph.groups_named(TEAM_NAME)) == 1


async def test_a_missing_teams_license(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    messenger: FakeMessenger,
) -> None:
    microsoft.graph.unlicensed.add(ALEX)
    service = make_service()
    result = await stopped(service, store)
    assert result["failure"].kind == "no_teams_license"
    assert "Microsoft Teams license" in texts(messenger.latest_card())
    assert len(microsoft.graph.groups_named(TEAM_NAME)) == 1  # the failed team's group

    await service.on_card_action(card_action(RETRY))  # too early: still no license
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None and record.failure is not None
    assert record.failure.kind == "no_teams_license"
    assert len(microsoft.graph.groups_named(TEAM_NAME)) == 1

    microsoft.graph.unlicensed.clear()
    await finish(service)
    assert len(microsoft.graph.groups_named(TEAM_NAME)) == 1
    assert microsoft.graph.teams_created == 1 and microsoft.graph.teams_from_groups == 2


async def test_a_crash_after_asking_for_the_team_of_the_failed_group(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft, apis: MicrosoftApis
) -> None:
    microsoft.graph.unlicensed.add(ALEX)
    await stopped(make_service(), store)
    microsoft.graph.unlicensed.clear()
    dying = make_service(provisioner=CrashAfter(graph_provisioner(apis), "create_team_from_group"))
    await dying.on_card_action(card_action(RETRY))
    await dying.wait_idle()
    await dying.close()
    assert microsoft.graph.teams_from_groups == 1

    restarted = make_service()
    await restarted.start()
    await restarted.wait_idle()
    record = await restarted.record(TENANT)
    assert record is not None and record.status is Status.WAITING, record.failure
    assert len(microsoft.graph.groups_named(TEAM_NAME)) == 1
    assert microsoft.graph.teams_from_groups == 1
    assert len(microsoft.graph.team_named(TEAM_NAME)) == 1


async def test_a_failed_creations_group_deleted_before_retry(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft
) -> None:
    microsoft.graph.unlicensed.add(ALEX)
    service = make_service()
    await stopped(service, store)
    (orphan,) = microsoft.graph.groups_named(TEAM_NAME)
    del microsoft.graph.groups[orphan["id"]]  # an admin cleaned it up
    microsoft.graph.unlicensed.clear()
    await finish(service)
    (group,) = microsoft.graph.groups_named(TEAM_NAME)
    assert group["id"] != orphan["id"] and len(microsoft.graph.team_named(TEAM_NAME)) == 1
    assert microsoft.graph.teams_created == 2 and microsoft.graph.teams_from_groups == 0


async def test_a_private_group_found_without_its_team_becomes_the_team(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft
) -> None:
    """Left by a failed creation whose id wasn't kept (before the saga kept it)."""
    group = microsoft.graph.add_group(
        "5b8e2d1c-0000-4e5f-8a9b-0c1d2e3f4a77",
        TEAM_NAME,
        security=False,
        unified=True,
        visibility="Private",
    )
    group["owners"] = {ALEX}
    service = make_service()
    await remember_admin_chat(store)
    await service.request(TENANT, ADMIN)
    await finish(service)
    (team,) = microsoft.graph.team_named(TEAM_NAME)
    assert team.group_id == group["id"] and len(microsoft.graph.groups_named(TEAM_NAME)) == 1
    assert microsoft.graph.teams_created == 0 and microsoft.graph.teams_from_groups == 1


@pytest.mark.parametrize(
    ("permission", "step"),
    [
        ("Team.Create", Step.CREATE_TEAM),
        ("Channel.Create", Step.ENSURE_CHANNEL),
        ("TeamsAppInstallation.ReadWriteAndConsentSelfForTeam.All", Step.INSTALL_APP),
    ],
)
async def test_403_names_the_missing_graph_permissions(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    messenger: FakeMessenger,
    permission: str,
    step: Step,
) -> None:
    microsoft.graph.granted.discard(permission)
    service = make_service()
    result = await stopped(service, store)
    failure = result["failure"]
    assert failure.kind == "missing_permissions"
    assert permission in failure.permissions
    assert result["record"].step is step
    card = messenger.latest_card()
    assert permission in texts(card) and "Grant admin consent" in texts(card)
    assert failure.request_id
    microsoft.graph.granted.add(permission)
    await finish(service)
    assert len(microsoft.graph.groups_named(TEAM_NAME)) == 1


async def test_the_app_missing_from_the_catalog(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft
) -> None:
    microsoft.graph.catalog.clear()
    result = await stopped(make_service(), store)
    assert result["failure"].kind == "app_not_in_catalog"


async def test_a_failed_operation_and_a_slow_one(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft
) -> None:
    microsoft.graph.operation_steps = ("notStarted",) * 50
    service = make_service(max_polls=3)
    result = await stopped(service, store)
    assert result["failure"].kind == "timeout"
    for operation in microsoft.graph.operations.values():  # Teams gets there in the end
        operation.steps = ("notStarted", "inProgress", "succeeded")
        operation.at = 0
    await finish(service)
    assert microsoft.graph.teams_created == 1  # the slow team, not a second one
    assert len(microsoft.graph.groups_named(TEAM_NAME)) == 1


async def test_bad_credentials(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft
) -> None:
    microsoft.login.client_secret = "rotated"
    result = await stopped(make_service(), store)
    assert result["failure"].kind == "credentials"


async def test_a_create_that_couldnt_be_sent_is_retried_without_waiting_for_it(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft, apis: MicrosoftApis
) -> None:
    """No token for the create: nothing was sent, so Retry doesn't spend ten minutes looking
    for a team that can't exist before asking for it."""
    refused = GraphAuthError("Microsoft Entra ID refused the app's credentials", service="login")
    failing = FailOnce(graph_provisioner(apis), "create_team", refused)
    service = make_service(provisioner=failing)
    result = await stopped(service, store)
    assert result["failure"].kind == "credentials" and not result["record"].create_requested_at
    await finish(service)
    assert microsoft.graph.count("GET", r"/v1\.0/groups$") == 2  # one lookup per attempt
    assert microsoft.graph.teams_created == 1


async def test_teams_keeps_throttling(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft
) -> None:
    microsoft.graph.fail("POST", r"/v1\.0/teams$", 429, times=1000, retry_after="1")
    result = await stopped(make_service(), store)
    assert result["failure"].kind == "throttled"


async def test_a_deleted_channel_is_detected_on_the_next_delivery_and_repaired(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    messenger: FakeMessenger,
) -> None:
    service = make_service()
    await provision(service, store)
    (team,) = microsoft.graph.team_named(TEAM_NAME)
    old = await channel_target(store, TENANT)
    assert old is not None
    microsoft.graph.delete_channel(team, old.channel_id)

    assert await service.report_delivery_failure(TENANT, 404)
    await service.wait_idle()
    new = await channel_target(store, TENANT)
    assert new is not None and new.channel_id != old.channel_id
    assert len(microsoft.graph.channels_named(team, CHANNEL_NAME)) == 1
    assert [p.channel_id for p in messenger.of_kind("post")] == [old.channel_id, new.channel_id]
    assert not await service.report_delivery_failure(TENANT, 429)
    assert not await service.report_delivery_failure(TENANT, 403)  # the channel is fine


async def test_an_archived_channel_is_restored(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    messenger: FakeMessenger,
) -> None:
    service = make_service()
    await provision(service, store)
    (team,) = microsoft.graph.team_named(TEAM_NAME)
    target = await channel_target(store, TENANT)
    assert target is not None
    microsoft.graph.archive_channel(team, target.channel_id)

    assert await service.report_delivery_failure(TENANT, 403)
    await service.wait_idle()
    assert team.channels[target.channel_id]["isArchived"] is False
    assert microsoft.graph.count("POST", "/unarchive$") == 1
    assert (await channel_target(store, TENANT)) == target
    assert len(messenger.of_kind("post")) == 1  # same channel: no second welcome


async def test_an_archived_channel_that_cant_be_restored(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    messenger: FakeMessenger,
) -> None:
    service = make_service()
    await provision(service, store)
    (team,) = microsoft.graph.team_named(TEAM_NAME)
    target = await channel_target(store, TENANT)
    assert target is not None
    microsoft.graph.archive_channel(team, target.channel_id)
    microsoft.graph.granted.discard("ChannelSettings.ReadWrite.All")
    assert await service.report_delivery_failure(TENANT, 403)
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None and record.failure is not None
    assert record.failure.kind == "channel_archived"
    assert "Archived" in texts(messenger.latest_card()) and has_retry(messenger.latest_card())


async def test_a_deleted_channel_whose_name_is_still_taken(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft
) -> None:
    microsoft.graph.reserve_deleted_names = True
    service = make_service()
    await provision(service, store)
    (team,) = microsoft.graph.team_named(TEAM_NAME)
    target = await channel_target(store, TENANT)
    assert target is not None
    microsoft.graph.delete_channel(team, target.channel_id)
    assert await service.report_delivery_failure(TENANT, 404)
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None and record.failure is not None
    assert record.failure.kind == "channel_name_taken"
    assert "restore the deleted channel" in record.failure.message


async def test_the_saga_repairs_a_channel_deleted_before_its_welcome_post(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    messenger: FakeMessenger,
) -> None:
    service = make_service()
    await remember_admin_chat(store)
    await service.on_settings(TENANT, TEAMS_ON, ServiceSettings(), ADMIN)
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None
    (team,) = microsoft.graph.team_named(TEAM_NAME)
    microsoft.graph.delete_channel(team, record.channel_id)
    messenger.post_failures.append(DeliveryError("gone", status=404, retry_after=None))
    await service.on_team_installation(installation(record.team_id))
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None and record.status is Status.READY
    (channel,) = microsoft.graph.channels_named(team, CHANNEL_NAME)
    assert record.channel_id == channel["id"]
    assert [p.channel_id for p in messenger.of_kind("post")] == [channel["id"]]


def test_unknown_errors_still_say_what_to_do() -> None:
    verdict = classify(RuntimeError("boom"), 2)
    assert not verdict.retryable
    assert "Retry" in verdict.failure.message
