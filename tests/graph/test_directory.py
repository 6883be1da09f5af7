"""The Graph + Defender directory behind the TenantDirectory port, against the stand-ins."""

from __future__ import annotations

import pytest

from bot.actions import Actor
from bot.graph.clients import MicrosoftApis
from bot.graph.directory import GraphTenantDirectory, search_phrase
from bot.tenant import TenantDirectory
from bot.tenant.ports import Forbidden
from cards import to_json
from tests.standins.microsoft import (
    ADELE,
    ALEX,
    EXECUTIVES,
    FINANCE,
    HIGH_VALUE,
    ISAIAH,
    MEGAN,
    PATTI,
    ROOM,
    SECOPS,
    SECURITY_ADMINS,
    TENANT,
    FakeSleep,
    Microsoft,
)
from tests.support import routed, texts

UNKNOWN = "00000000-0000-4000-8000-000000000000"
ROLE_READERS = ["RoleManagement.Read.Directory", "Directory.Read.All"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def directory(apis: MicrosoftApis, clock: Clock) -> GraphTenantDirectory:
    return GraphTenantDirectory(
        apis.graph,
        apis.defender,
        tenant_id=TENANT,
        high_value_group_id=HIGH_VALUE,
        clock=clock,
    )


def test_it_implements_the_port(directory: GraphTenantDirectory) -> None:
    port: TenantDirectory = directory
    assert port.tenant_id == TENANT


async def test_admin_check_by_role_template(
    directory: GraphTenantDirectory, microsoft: Microsoft
) -> None:
    assert await directory.is_admin(ALEX)  # Global Administrator
    assert await directory.is_admin(MEGAN)  # Security Administrator
    assert not await directory.is_admin(ADELE)  # Helpdesk Administrator only
    assert not await directory.is_admin(ISAIAH)
    assert not await directory.is_admin(UNKNOWN)
    calls = len(microsoft.graph.calls)
    assert not await directory.is_admin("' or 1 eq 1")
    assert len(microsoft.graph.calls) == calls
    role_calls = [c for c in microsoft.graph.calls if "directoryRole" in c.path]
    assert all(c.headers.get("consistencylevel") == "eventual" for c in role_calls)
    assert all(c.query.get("$count") == "true" for c in role_calls)


async def test_a_role_held_through_a_role_assignable_group_counts(
    apis: MicrosoftApis, microsoft: Microsoft
) -> None:
    assert not microsoft.graph.roles.get(MEGAN)  # no direct assignment
    assert await GraphTenantDirectory(apis.graph, apis.defender, tenant_id=TENANT).is_admin(MEGAN)
    microsoft.graph.groups[SECURITY_ADMINS]["members"].discard(MEGAN)
    fresh = GraphTenantDirectory(apis.graph, apis.defender, tenant_id=TENANT)
    assert not await fresh.is_admin(MEGAN)


async def test_admin_answers_are_cached_briefly(
    directory: GraphTenantDirectory, microsoft: Microsoft, clock: Clock
) -> None:
    assert await directory.is_admin(ALEX)
    microsoft.graph.roles[ALEX] = set()
    assert await directory.is_admin(ALEX)
    clock.now += 61
    assert not await directory.is_admin(ALEX)
    assert microsoft.graph.count("GET", "directoryRole") == 2


async def test_the_guide_refuses_a_non_admin(directory: GraphTenantDirectory) -> None:
    router = routed(directory)
    refused = to_json(await router.command(Actor(ADELE, "Adele Vance", TENANT), "setup"))
    assert "Global Administrator" in texts(refused)
    assert "Nothing was changed" in texts(refused)
    allowed = to_json(await router.command(Actor(MEGAN, "Megan Bowen", TENANT), "setup"))
    assert "Grant permissions to our experts" in texts(allowed)


@pytest.mark.parametrize(
    "roles_permission", ["RoleManagement.Read.Directory", "Directory.Read.All"]
)
async def test_without_a_permission_to_read_roles_the_missing_permission_is_named(
    directory: GraphTenantDirectory, microsoft: Microsoft, roles_permission: str
) -> None:
    """Graph answers 200 with limited role objects (roleTemplateId null), not 403: the
    directory says what's missing rather than that nobody is an administrator."""
    microsoft.graph.granted -= {"RoleManagement.Read.Directory", "Directory.Read.All"}
    with pytest.raises(Forbidden) as refused:
        await directory.is_admin(ALEX)
    assert refused.value.permissions == ("RoleManagement.Read.Directory",)
    assert "RoleManagement.Read.Directory" in refused.value.advice()
    (call,) = [c for c in microsoft.graph.calls if c.path.endswith("directoryRole")]
    assert call.status == 200
    assert not await directory.is_admin(ISAIAH)  # no role at all: nothing hidden, no admin
    microsoft.graph.granted.add(roles_permission)
    assert await directory.is_admin(ALEX)


async def test_the_guide_names_the_permission_it_needs_to_check_roles(
    directory: GraphTenantDirectory, microsoft: Microsoft
) -> None:
    microsoft.graph.granted.discard("RoleManagement.Read.Directory")
    card = texts(
        to_json(await routed(directory).command(Actor(ALEX, "Alex Wilber", TENANT), "setup"))
    )
    assert "RoleManagement.Read.Directory" in card
    assert "Only a Global Administrator" not in card and "Nothing was changed" in card


async def test_users_need_user_read_all(
    directory: GraphTenantDirectory, microsoft: Microsoft
) -> None:
    microsoft.graph.granted.discard("User.Read.All")
    microsoft.graph.granted.add("User.ReadBasic.All")
    with pytest.raises(Forbidden) as refused:
        await directory.get_contact(PATTI)
    assert "User.Read.All" in refused.value.permissions
    assert "User.ReadBasic.All" not in refused.value.permissions


async def test_device_value_is_compared_without_case(
    directory: GraphTenantDirectory, microsoft: Microsoft
) -> None:
    microsoft.defender.add_machine("d-lc", "lab-01.contoso.com", 104, "Production servers", "high")
    assert await directory.is_high_value_device("d-lc")
    assert not await directory.is_high_value_device("d-sql")


async def test_device_groups_are_the_distinct_rbac_groups_of_the_machines(
    directory: GraphTenantDirectory,
) -> None:
    groups = await directory.search_device_groups("", 10)
    assert [g.name for g in groups] == [
        "Developer workstations",
        "Domain controllers",
        "Executive laptops",
        "Finance workstations",
        "Production servers",
    ]
    assert [g.id for g in await directory.search_device_groups("fin", 10)] == ["101"]
    assert await directory.get_device_group("102") is not None
    assert await directory.get_device_group("999") is None


@pytest.mark.parametrize("next_links", [True, False])
async def test_machines_are_paged(
    apis: MicrosoftApis, microsoft: Microsoft, next_links: bool
) -> None:
    microsoft.defender.next_links = next_links
    for n in range(20):
        microsoft.defender.add_machine(f"x-{n}", f"ws-{n}", 200 + n % 4, f"Branch {n % 4}")
    directory = GraphTenantDirectory(
        apis.graph, apis.defender, tenant_id=TENANT, machines_page_size=7
    )
    groups = await directory.search_device_groups("branch", 10)
    assert len(groups) == 4
    machine_pages = [c for c in microsoft.defender.calls if c.path == "/api/machines"]
    assert len(machine_pages) == 4  # 26 machines, 7 a page
    assert all(int(c.query["$top"]) == 7 for c in machine_pages)


async def test_no_machines_is_a_404_and_means_no_groups(
    directory: GraphTenantDirectory, microsoft: Microsoft
) -> None:
    microsoft.defender.machines.clear()
    assert await directory.search_device_groups("", 10) == []
    assert await directory.device_group_of("d-042") is None


async def test_the_page_size_never_exceeds_10000(apis: MicrosoftApis) -> None:
    directory = GraphTenantDirectory(
        apis.graph, apis.defender, tenant_id=TENANT, machines_page_size=50_000
    )
    assert len(await directory.search_device_groups("", 10)) == 5


async def test_devices(directory: GraphTenantDirectory, microsoft: Microsoft) -> None:
    assert await directory.device_group_of("d-042") == "101"
    assert await directory.is_high_value_device("d-dc1")
    assert not await directory.is_high_value_device("d-042")
    microsoft.defender.add_machine("d-new", "new.contoso.com", 104, "Production servers", "High")
    assert await directory.device_group_of("d-new") == "104"  # newer than the cached inventory
    assert await directory.is_high_value_device("d-new")
    assert await directory.device_group_of("d-missing") is None
    assert not await directory.is_high_value_device("../../etc")


async def test_user_groups_are_security_groups_found_with_search(
    directory: GraphTenantDirectory, microsoft: Microsoft
) -> None:
    found = await directory.search_user_groups("fin", 20)
    assert found[0].name == "Finance team"
    assert len(found) == 6
    assert all(g.id != SECOPS for g in await directory.search_user_groups("sec", 20))
    assert len(await directory.search_user_groups("fin", 2)) == 2
    everything = await directory.search_user_groups("", 50)
    assert [g.name for g in everything] == sorted(g.name for g in everything)
    search = [c for c in microsoft.graph.calls if "$search" in c.query]
    assert search and all(c.headers.get("consistencylevel") == "eventual" for c in search)
    assert search[0].query["$search"] == '"displayName:fin"'


async def test_get_user_group(directory: GraphTenantDirectory) -> None:
    group = await directory.get_user_group(FINANCE)
    assert group is not None and group.name == "Finance team"
    assert await directory.get_user_group(SECOPS) is None  # not a security group
    assert await directory.get_user_group(UNKNOWN) is None
    assert await directory.get_user_group("101") is None


async def test_contacts_are_users_and_mail_enabled_groups(
    directory: GraphTenantDirectory,
) -> None:
    people = await directory.search_contacts("alex", 10)
    assert [(e.name, e.kind) for e in people] == [("Alex Wilber", "user")]
    teams = await directory.search_contacts("secops", 10)
    assert [(e.name, e.mail, e.kind) for e in teams] == [
        ("Security Operations", "secops@contoso.com", "group")
    ]
    assert await directory.search_contacts("room", 10) == []  # no mailbox
    assert await directory.search_contacts("  ", 10) == []
    contact = await directory.get_contact(PATTI)
    assert contact is not None and contact.mail == "pattif@contoso.com"
    group = await directory.get_contact(SECOPS)
    assert group is not None and group.kind == "group"
    assert await directory.get_contact(FINANCE) is None  # security group without mail
    assert await directory.get_contact(ROOM) is None
    assert await directory.get_contact(UNKNOWN) is None


async def test_search_text_is_escaped(
    directory: GraphTenantDirectory, microsoft: Microsoft
) -> None:
    assert await directory.search_contacts('al"ex\\', 5) == []
    (call,) = [c for c in microsoft.graph.calls if c.path == "/v1.0/users"]
    assert call.query["$search"] == '"displayName:al\\"ex\\\\" OR "mail:al\\"ex\\\\"'
    assert search_phrase("x" * 500, "displayName").count("x") == 100


async def test_user_group_ids_are_transitive(directory: GraphTenantDirectory) -> None:
    assert await directory.user_group_ids(PATTI) == {FINANCE, EXECUTIVES, HIGH_VALUE}
    assert await directory.user_group_ids(UNKNOWN) == set()


async def test_high_value_users_are_the_members_of_the_configured_group(
    directory: GraphTenantDirectory, microsoft: Microsoft
) -> None:
    assert await directory.is_high_value_user(PATTI)  # through Executives
    assert await directory.is_high_value_user(ALEX.upper())
    assert not await directory.is_high_value_user(ISAIAH)
    assert microsoft.graph.count("GET", "transitiveMembers") == 1


async def test_without_a_high_value_group_nobody_is_high_value(apis: MicrosoftApis) -> None:
    directory = GraphTenantDirectory(apis.graph, apis.defender, tenant_id=TENANT)
    assert not await directory.is_high_value_user(PATTI)


async def test_every_directory_call_survives_throttling(
    directory: GraphTenantDirectory, microsoft: Microsoft, sleep: FakeSleep
) -> None:
    checks = {
        "is_admin": lambda: directory.is_admin(ALEX),
        "search_device_groups": lambda: directory.search_device_groups("", 5),
        "device_group_of": lambda: directory.device_group_of("d-unknown"),
        "search_user_groups": lambda: directory.search_user_groups("fin", 5),
        "get_user_group": lambda: directory.get_user_group(FINANCE),
        "search_contacts": lambda: directory.search_contacts("alex", 5),
        "get_contact": lambda: directory.get_contact(PATTI),
        "user_group_ids": lambda: directory.user_group_ids(PATTI),
        "is_high_value_user": lambda: directory.is_high_value_user(PATTI),
    }
    for name, check in checks.items():
        before = len(microsoft.graph.calls) + len(microsoft.defender.calls)
        microsoft.graph.fail("GET", ".*", 429, retry_after="3")
        microsoft.defender.fail("GET", ".*", 429, retry_after="4")
        await check()
        calls = (microsoft.graph.calls + microsoft.defender.calls)[before:]
        assert any(c.status == 429 for c in calls), name
        microsoft.graph.faults.clear()
        microsoft.defender.faults.clear()
    assert set(sleep.waits) == {3.0, 4.0}
