"""Permissions as Graph asks for them: installing the app in the team with resource-specific
consent (RSC), as "Add app to team" requires (``TeamsAppInstallation.ReadWriteAndConsent(Self)
ForTeam.All`` and a ``consentedPermissionSet`` naming the manifest's RSC permissions); an
unlicensed owner; reading directory roles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.graph.clients import MicrosoftApis
from bot.graph.directory import GraphTenantDirectory
from bot.graph.errors import GraphForbidden
from bot.graph.teams import INSTALL_ANY, INSTALL_SELF, GraphTeamsProvisioner
from bot.onboarding.model import ServiceSettings
from bot.provisioning.model import TEAM_NAME, Status, Step
from bot.storage.memory import MemoryStore
from bot.teamsapp import MANIFEST
from cards import to_json
from cards.provisioning import RETRY
from tests.messenger import FakeMessenger
from tests.provisioning.conftest import ServiceFactory, graph_provisioner
from tests.provisioning.support import (
    ADMIN,
    TEAMS_ON,
    card_action,
    remember_admin_chat,
)
from tests.provisioning.test_failures import finish, stopped
from tests.standins.microsoft import ALEX, CATALOG_APP, TENANT, Microsoft
from tests.support import routed, texts

OLD_INSTALL = "TeamsAppInstallation.ReadWriteSelfForTeam.All"


def manifest_rsc() -> set[tuple[str, str]]:
    """What the manifest file asks for, read here on its own (not through bot.teamsapp)."""
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    listed = manifest["authorization"]["permissions"]["resourceSpecific"]
    return {(p["name"], p["type"].lower()) for p in listed}


def consented(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (p["permissionValue"], p["permissionType"])
        for p in body["consentedPermissionSet"]["resourceSpecificPermissions"]
    }


def test_the_install_body_consents_to_exactly_the_manifests_rsc_permissions(
    apis: MicrosoftApis,
) -> None:
    body = graph_provisioner(apis).install_body()
    assert manifest_rsc(), "the manifest asks for RSC permissions (the chat needs them)"
    assert consented(body) == manifest_rsc()
    assert body["teamsApp@odata.bind"].endswith(f"/appCatalogs/teamsApps/{CATALOG_APP}")


async def test_provisioning_installs_with_consent_and_graph_answers_200(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft
) -> None:
    microsoft.graph.granted.discard(OLD_INSTALL)
    result = await stopped_or_waiting(make_service(), store)
    assert result.step is Step.AWAIT_INSTALLATION
    (call,) = [c for c in microsoft.graph.calls if c.method == "POST" and "installedApps" in c.path]
    assert call.status == 200
    assert consented(call.body) == manifest_rsc()
    assert microsoft.graph.apps_installed == 1


async def stopped_or_waiting(service: Any, store: MemoryStore) -> Any:
    await remember_admin_chat(store)
    await service.on_settings(TENANT, TEAMS_ON, ServiceSettings(), ADMIN)
    await service.wait_idle()
    return await service.record(TENANT)


async def test_the_old_install_permission_is_refused_and_the_right_one_named(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft
) -> None:
    """TeamsAppInstallation.ReadWriteSelfForTeam.All can't install an app that needs RSC
    consent: Graph answers 403, and the admin is told which permission can."""
    microsoft.graph.granted.discard(INSTALL_SELF)
    microsoft.graph.granted.add(OLD_INSTALL)
    service = make_service()
    result = await stopped(service, store)
    failure = result["failure"]
    assert result["record"].step is Step.INSTALL_APP
    assert failure.kind == "missing_permissions"
    assert failure.permissions == (INSTALL_SELF,)
    assert INSTALL_SELF in failure.message
    assert microsoft.graph.apps_installed == 0
    microsoft.graph.granted.add(INSTALL_SELF)
    await finish(service)
    assert microsoft.graph.apps_installed == 1


async def test_a_separate_graph_app_needs_the_non_self_consent_permission(
    make_service: ServiceFactory,
    store: MemoryStore,
    microsoft: Microsoft,
    apis: MicrosoftApis,
    messenger: FakeMessenger,
) -> None:
    """When GRAPH_CLIENT_ID isn't the bot's app, the Teams app isn't the caller's own: only
    TeamsAppInstallation.ReadWriteAndConsentForTeam.All installs it."""
    microsoft.graph.self_apps.clear()
    provisioner = GraphTeamsProvisioner(
        apis.graph, catalog_app_id=CATALOG_APP, tenant_id=TENANT, self_install=False
    )
    service = make_service(provisioner=provisioner)
    result = await stopped(service, store)
    assert result["failure"].permissions == (INSTALL_ANY,)
    assert INSTALL_ANY in texts(messenger.latest_card())
    microsoft.graph.granted.add(INSTALL_ANY)
    await finish(service)
    assert microsoft.graph.apps_installed == 1


@pytest.mark.parametrize("body", ["no consent", "other permissions"])
async def test_the_standin_refuses_an_rsc_install_without_the_right_consent(
    microsoft: Microsoft, apis: MicrosoftApis, body: str
) -> None:
    team = microsoft.graph.add_team(TEAM_NAME, visibility="Private")
    sent: dict[str, Any] = {
        "teamsApp@odata.bind": f"{apis.graph.base_url}/appCatalogs/teamsApps/{CATALOG_APP}"
    }
    if body == "other permissions":
        sent["consentedPermissionSet"] = {
            "resourceSpecificPermissions": [
                {"permissionValue": "TeamSettings.Read.Group", "permissionType": "application"}
            ]
        }
    with pytest.raises(GraphForbidden):
        await apis.graph.request(
            "POST", f"teams/{team.group_id}/installedApps", json=sent, creates=True
        )
    assert microsoft.graph.apps_installed == 0


async def test_an_unlicensed_owner_refused_at_once_is_explained(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft
) -> None:
    """POST /teams answers 403 "...GetApplicableSkuCategoriesForUserFailed" for an owner
    without a Teams license: not a missing Team.Create."""
    microsoft.graph.unlicensed.add(ALEX)
    microsoft.graph.unlicensed_mode = "refused"
    service = make_service()
    result = await stopped(service, store)
    failure = result["failure"]
    assert failure.kind == "no_teams_license"
    assert "GetApplicableSkuCategoriesForUserFailed" in failure.message
    assert "Teams license" in failure.message and "Team.Create" not in failure.message
    assert not microsoft.graph.groups_named(TEAM_NAME)
    microsoft.graph.unlicensed.clear()
    await finish(service)
    record = await service.record(TENANT)
    assert record is not None and record.status is Status.READY


async def test_retry_without_a_permission_to_read_roles_names_it(
    make_service: ServiceFactory, store: MemoryStore, microsoft: Microsoft, apis: MicrosoftApis
) -> None:
    """The progress card's Retry checks the admin role: without RoleManagement.Read.Directory
    it says so, instead of "only a Global Administrator can"."""
    service = make_service()
    await stopped_or_waiting(service, store)
    microsoft.graph.granted -= {"RoleManagement.Read.Directory", "Directory.Read.All"}
    router = routed(GraphTenantDirectory(apis.graph, apis.defender, tenant_id=TENANT))
    router.add(service.routes())
    card = texts(to_json(await router.card_action(card_action(RETRY))))
    assert "RoleManagement.Read.Directory" in card and "Nothing was changed" in card
    assert "Only a Global Administrator" not in card
