"""Scenario tests: the provisioning saga against the Graph stand-in (https, real HTTP)."""

from __future__ import annotations

import contextlib

import pytest

from bot.graph.clients import MicrosoftApis
from bot.graph.directory import GraphTenantDirectory
from bot.messaging import DeliveryError
from bot.onboarding.model import ServiceSettings
from bot.provisioning.model import CHANNEL_NAME, TEAM_NAME, Status, Step, teams_key
from bot.provisioning.target import channel_target
from bot.storage.memory import MemoryStore
from cards.provisioning import REFRESH, RETRY
from tests.messenger import FakeMessenger
from tests.provisioning.conftest import ServiceFactory, graph_provisioner
from tests.provisioning.support import (
    ADMIN,
    ADMIN_CHAT,
    NOT_ADMIN,
    TEAMS_OFF,
    TEAMS_ON,
    Crash,
    CrashAfter,
    CrashingStore,
    card_action,
    installation,
    open_urls,
    remember_admin_chat,
)
from tests.standins.microsoft import ALEX, CATALOG_APP, TENANT, FakeSleep, Microsoft
from tests.support import actions, routed, texts

# Graph calls of a full provisioning: look the team up, POST /teams, 3 polls of the
# operation (notStarted, inProgress, succeeded), look the channel up, create it, look the
# installation up, install the app.
FULL_PROVISIONING_GRAPH_CALLS = 9


async def provision(service_factory: ServiceFactory, store: MemoryStore) -> None:
    service = service_factory()
    await remember_admin_chat(store)
    await service.on_settings(TENANT, TEAMS_ON, ServiceSettings(), ADMIN)
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None and record.status is Status.WAITING
    await service.on_team_installation(installation(record.team_id))
    await service.wait_idle()


async def test_a_full_provisioning(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    messenger: FakeMessenger,
    sleep: FakeSleep,
) -> None:
    await remember_admin_chat(store)
    service = make_service()
    await service.on_settings(TENANT, TEAMS_ON, ServiceSettings(), ADMIN)
    await service.wait_idle()

    record = await service.record(TENANT)
    assert record is not None
    assert (record.status, record.step) == (Status.WAITING, Step.AWAIT_INSTALLATION)
    (team,) = microsoft.graph.team_named(TEAM_NAME)
    group = microsoft.graph.groups[team.group_id]
    assert group["visibility"] == "Private"
    create = next(
        c for c in microsoft.graph.calls if c.method == "POST" and c.path == "/v1.0/teams"
    )
    assert create.body["template@odata.bind"].endswith("/teamsTemplates('standard')")
    (owner,) = create.body["members"]
    assert owner["roles"] == ["owner"] and ALEX in owner["user@odata.bind"]
    (channel,) = microsoft.graph.channels_named(team, CHANNEL_NAME)
    assert channel["membershipType"] == "standard"
    assert list(team.apps.values()) == [CATALOG_APP]
    assert sleep.waits == [30.0, 30.0, 30.0]  # one operation poll every 30 s, not waited out
    waiting = texts(messenger.latest_card())
    assert "Step 4 of 5" in waiting and "Wait for Teams to add the bot" in waiting
    assert messenger.of_kind("reply")[0].conversation_id == ADMIN_CHAT

    await service.on_team_installation(installation(team.group_id, team.thread_id))
    await service.wait_idle()

    record = await service.record(TENANT)
    assert record is not None and record.status is Status.READY
    (post,) = messenger.of_kind("post")
    assert post.channel_id == channel["id"]
    assert post.reference["conversation"]["id"] == team.thread_id
    welcome = texts(post.card)
    assert "Manage team" in welcome and "Add member" in welcome
    assert "managed response notifications" in welcome
    final = messenger.latest_card()
    assert "Step 5 of 5" in texts(final) and "Microsoft Teams is ready" in texts(final)
    (link,) = open_urls(final)
    assert link["title"] == "Open Teams channel" and link["url"] == channel["webUrl"]
    assert len(microsoft.graph.calls) == FULL_PROVISIONING_GRAPH_CALLS
    assert microsoft.login.token_requests() == 1
    target = await channel_target(store, TENANT)
    assert target is not None and target.channel_id == channel["id"]
    assert target.channel_reference["conversation"]["id"] == channel["id"]
    stored = await store.read(teams_key(TENANT))
    assert stored is not None
    assert {
        "teamId",
        "aadGroupId",
        "channelId",
        "teamReference",
        "channelReference",
        "welcomePostId",
        "state",
        "enabled",
    } <= set(stored.value)


async def test_progress_is_shown_step_by_step(
    make_service: ServiceFactory, store: MemoryStore, messenger: FakeMessenger
) -> None:
    await provision(make_service, store)
    (progress,) = messenger.of_kind("reply")
    cards = [texts(s.card) for s in messenger.sent if s.kind in ("reply", "update")]
    for n in range(1, 6):
        assert any(f"Step {n} of 5" in text for text in cards), n
    assert {u.activity_id for u in messenger.of_kind("update")} == {progress.activity_id}


# How many times a full provisioning writes the saga record (tenants/{id}/teams): the crash
# tests below kill the process at each of these writes.
SAGA_WRITES = 13


async def test_the_crash_tests_cover_every_write_of_the_saga(
    make_service: ServiceFactory, store: MemoryStore
) -> None:
    counting = CrashingStore(store, teams_key(TENANT), at=0)
    await provision(lambda: make_service(counting), store)
    record = await store.read(teams_key(TENANT))
    assert record is not None and record.value["state"] == "ready"
    assert counting.writes == SAGA_WRITES, "update SAGA_WRITES: the crash tests must cover each"


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("at", range(1, SAGA_WRITES + 1))
async def test_a_crash_at_any_write_resumes_without_duplicates(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    messenger: FakeMessenger,
    at: int,
    when: str,
) -> None:
    """The process dies at the at-th write of the saga record, before or after it is stored:
    the step's work is done but not recorded, or recorded and the next step not started."""
    await remember_admin_chat(store)
    crashing = CrashingStore(store, teams_key(TENANT), at=at, when=when)
    first = make_service(crashing)
    with contextlib.suppress(Crash):
        await first.request(TENANT, ADMIN)
    await first.wait_idle()
    record = await first.record(TENANT)
    if not crashing.crashed:  # not reached yet: the saga waits for the installation event
        assert record is not None and record.status is Status.WAITING
        with contextlib.suppress(Crash):
            await first.on_team_installation(installation(record.team_id))
        await first.wait_idle()
    assert crashing.crashed
    await first.close()

    restarted = make_service()
    await restarted.start()
    await restarted.wait_idle()
    record = await restarted.record(TENANT)
    if record is None:  # the process died before the saga was first stored: the admin retries
        await restarted.request(TENANT, ADMIN)
        await restarted.wait_idle()
        record = await restarted.record(TENANT)
    assert record is not None
    if record.status is Status.WAITING:
        await restarted.on_team_installation(installation(record.team_id))
        await restarted.wait_idle()
        record = await restarted.record(TENANT)
        assert record is not None

    assert record.status is Status.READY, record
    (team,) = microsoft.graph.team_named(TEAM_NAME)
    assert microsoft.graph.teams_created == 1
    assert len(microsoft.graph.channels_named(team, CHANNEL_NAME)) == 1
    assert microsoft.graph.channels_created == 1
    assert microsoft.graph.apps_installed == 1 and len(team.apps) == 1
    # The welcome post is at least once: only a crash between posting it and recording it
    # posts it again.
    reposted = crashing.lost is not None and bool(crashing.lost.get("welcomePostId"))
    assert len(messenger.of_kind("post")) == (2 if reposted else 1)


async def test_a_private_team_found_by_name_is_used_and_a_public_namesake_is_not(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft
) -> None:
    """A private Defender Experts team whose record was lost (say, the store was reset) is
    taken over; a public team by the same name is left alone."""
    microsoft.graph.add_team(TEAM_NAME, visibility="Public")
    ours = microsoft.graph.add_team(TEAM_NAME, visibility="Private")
    await provision(make_service, store)
    record = await make_service().record(TENANT)
    assert record is not None and record.status is Status.READY
    assert record.team_id == ours.group_id
    assert microsoft.graph.count("POST", r"/v1\.0/teams$") == 0
    assert len(microsoft.graph.channels_named(ours, CHANNEL_NAME)) == 1


async def test_throttling_on_every_call_type(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    messenger: FakeMessenger,
    sleep: FakeSleep,
) -> None:
    routes = {
        ("GET", r"/v1\.0/groups$"): "11",
        ("POST", r"/v1\.0/teams$"): "12",
        ("GET", r"/operations"): "13",
        ("GET", r"/channels$"): "14",
        ("POST", r"/channels$"): "15",
        ("GET", r"/installedApps$"): "16",
        ("POST", r"/installedApps$"): "17",
    }
    for (method, path), wait in routes.items():
        microsoft.graph.fail(method, path, 429, retry_after=wait)
    messenger.post_failures.append(DeliveryError("busy", status=429, retry_after=18.0))
    await provision(make_service, store)
    record = await make_service().record(TENANT)
    assert record is not None and record.status is Status.READY
    for wait in routes.values():
        assert float(wait) in sleep.waits
    assert 18.0 in sleep.waits
    assert all(fault.times == 0 for fault in microsoft.graph.faults)
    assert microsoft.graph.teams_created == 1 and microsoft.graph.channels_created == 1


@pytest.mark.parametrize("status", [500, 503, 504])
async def test_a_lost_answer_to_the_create_never_makes_a_second_team(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft, status: int
) -> None:
    microsoft.graph.fail("POST", r"/v1\.0/teams$", status, after=True)
    await provision(make_service, store)
    assert microsoft.graph.count("POST", r"/v1\.0/teams$") == 1
    assert microsoft.graph.teams_created == 1


async def test_a_lost_answer_and_a_lagging_directory_still_make_one_team(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft, sleep: FakeSleep
) -> None:
    """The create's answer is lost and the new group isn't listed by name for a while: the
    saga keeps looking it up, at the poll interval, instead of creating a second team."""
    microsoft.graph.listing_lag = 3
    microsoft.graph.fail("POST", r"/v1\.0/teams$", 504, after=True)
    await provision(make_service, store)
    assert microsoft.graph.teams_created == 1
    assert len(microsoft.graph.groups_named(TEAM_NAME)) == 1
    assert microsoft.graph.count("GET", r"/v1\.0/groups$") == 1 + 4  # before, then until listed
    assert sleep.waits.count(30.0) >= 3


async def test_a_crash_after_the_create_with_a_lagging_directory_makes_one_team(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    apis: MicrosoftApis,
) -> None:
    microsoft.graph.listing_lag = 5
    await remember_admin_chat(store)
    first = make_service(provisioner=CrashAfter(graph_provisioner(apis), "create_team"))
    await first.request(TENANT, ADMIN)
    await first.wait_idle()
    await first.close()
    assert microsoft.graph.teams_created == 1

    restarted = make_service()
    await restarted.start()
    await restarted.wait_idle()
    record = await restarted.record(TENANT)
    assert record is not None and record.status is Status.WAITING
    await restarted.on_team_installation(installation(record.team_id))
    await restarted.wait_idle()
    record = await restarted.record(TENANT)
    assert record is not None and record.status is Status.READY
    assert microsoft.graph.teams_created == 1
    assert len(microsoft.graph.groups_named(TEAM_NAME)) == 1


async def test_a_lagging_directory_listing_only_a_public_namesake_makes_no_second_team(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft
) -> None:
    """A public team by the same name appears while ours isn't listed yet: ours is waited for,
    rather than the saga stopping (or creating another)."""
    microsoft.graph.listing_lag = 3
    fault = microsoft.graph.fail("POST", r"/v1\.0/teams$", 504, after=True)
    theirs = microsoft.graph.add_team(TEAM_NAME, visibility="Public")
    microsoft.graph.unlisted[theirs.group_id] = 1  # listed from the second lookup on
    await remember_admin_chat(store)
    service = make_service()
    await service.request(TENANT, ADMIN)
    await service.wait_idle()
    assert fault.times == 0
    record = await service.record(TENANT)
    assert record is not None and record.status is Status.WAITING, record.failure
    assert record.team_id != theirs.group_id and microsoft.graph.teams_created == 1
    assert microsoft.graph.groups[record.team_id]["visibility"] == "Private"


async def test_a_create_that_never_happened_is_made_again_after_the_lookups(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft, sleep: FakeSleep
) -> None:
    """The request went out but Teams never made the group: after 10 minutes of lookups (20
    at 30 s), the saga asks again."""
    microsoft.graph.fail("POST", r"/v1\.0/teams$", 504)  # lost before Teams did anything
    await provision(make_service, store)
    assert microsoft.graph.count("POST", r"/v1\.0/teams$") == 2
    assert microsoft.graph.teams_created == 1
    assert microsoft.graph.count("GET", r"/v1\.0/groups$") == 1 + 21
    assert sum(sleep.waits) >= 600


async def test_5xx_before_the_create_are_retried(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft
) -> None:
    microsoft.graph.fail("POST", r"/v1\.0/teams$", 503)
    microsoft.graph.fail("GET", r"/operations", 503, times=2)
    microsoft.graph.fail("POST", r"/channels$", 502)
    await provision(make_service, store)
    assert microsoft.graph.teams_created == 1 and microsoft.graph.channels_created == 1


async def test_turning_teams_off_keeps_the_team_and_stops_posting(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    messenger: FakeMessenger,
) -> None:
    await provision(make_service, store)
    service = make_service()
    await service.on_settings(TENANT, TEAMS_OFF, ServiceSettings(communicate_on_teams=True), ADMIN)
    assert await channel_target(store, TENANT) is None
    assert len(microsoft.graph.team_named(TEAM_NAME)) == 1
    assert "Teams communication is off" in texts(messenger.latest_card())

    calls = len(microsoft.graph.calls)
    await service.on_settings(TENANT, TEAMS_ON, ServiceSettings(), ADMIN)
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None and record.status is Status.READY
    assert microsoft.graph.teams_created == 1 and microsoft.graph.channels_created == 1
    assert len(messenger.of_kind("post")) == 1  # no second welcome post
    # Turning it on again checks the stored team, channel and installation: three reads.
    assert len(microsoft.graph.calls) - calls == 3
    assert await channel_target(store, TENANT) is not None


async def test_the_bot_removed_from_the_team(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft
) -> None:
    await provision(make_service, store)
    service = make_service()
    record = await service.record(TENANT)
    assert record is not None
    await service.on_team_installation(installation(record.team_id, added=False))
    record = await service.record(TENANT)
    assert record is not None and record.status is Status.REMOVED
    assert await channel_target(store, TENANT) is None
    card = await service.on_card_action(card_action(RETRY))
    assert "Wait for Teams to add the bot" in texts(to_card(card))
    await service.wait_idle()
    await service.on_team_installation(installation(record.team_id))
    await service.wait_idle()
    record = await service.record(TENANT)
    assert record is not None and record.status is Status.READY


async def test_refresh_and_retry_are_for_admins_only(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft, apis: MicrosoftApis
) -> None:
    microsoft.graph.app_blocked = True
    await remember_admin_chat(store)
    service = make_service()
    await service.request(TENANT, ADMIN)
    await service.wait_idle()
    before = await store.read(teams_key(TENANT))
    router = routed(GraphTenantDirectory(apis.graph, apis.defender, tenant_id=TENANT))
    router.add(service.routes())
    card = to_card(await router.card_action(card_action(RETRY, NOT_ADMIN)))
    assert "Only a Global Administrator or Security Administrator" in texts(card)
    after = await store.read(teams_key(TENANT))
    assert before == after
    refreshed = to_card(await router.card_action(card_action(REFRESH)))
    assert "Teams setup needs your attention" in texts(refreshed)


async def test_card_actions_without_a_saga(make_service: ServiceFactory) -> None:
    card = to_card(await make_service().on_card_action(card_action(RETRY)))
    assert "Communicate on Teams" in texts(card)
    assert [a["verb"] for a in actions(card)] == ["settings.show"]


def to_card(card: object) -> dict[str, object]:
    from cards import to_json

    return to_json(card)  # type: ignore[arg-type]
