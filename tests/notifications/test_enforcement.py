"""The customer's settings, enforced on the experts' notifications."""

from __future__ import annotations

from typing import Any

import pytest

from bot.errors import ValidationError
from bot.notifications.enforcement import DirectoryUnavailable, enforce_settings
from bot.notifications.model import validate_notification
from bot.onboarding.model import Exclusions, Group, ServiceSettings
from bot.tenant.demo import DemoTenantDirectory
from tests.notifications.support import (
    FINANCE_EXCLUDED,
    FINANCE_TEAM,
    ISAIAH,
    PATTI,
    FailingDirectory,
    example,
)

DIRECTORY = DemoTenantDirectory.load()
RESPOND = ServiceSettings(investigate=True, respond=True)


def with_completed(*actions: dict[str, Any], pending: bool = True) -> dict[str, Any]:
    body = example()
    body["managedResponse"]["completedActions"] = [
        {"id": f"c{i}", "status": "completed", **a} for i, a in enumerate(actions)
    ]
    if not pending:
        body["managedResponse"]["pendingActions"] = []
    return body


def device(device_id: str, name: str = "") -> dict[str, Any]:
    return {"type": "isolateDevice", "target": {"kind": "device", "id": device_id, "name": name}}


def user(user_id: str, action: str = "disableUser") -> dict[str, Any]:
    return {"type": action, "target": {"kind": "user", "id": user_id}}


async def check(body: dict[str, Any], settings: ServiceSettings) -> None:
    await enforce_settings(validate_notification(body), settings, DIRECTORY)


async def test_allowed_actions_pass() -> None:
    await check(example(), RESPOND)
    await check(with_completed(device("d-042"), user(ISAIAH)), RESPOND)


async def test_a_device_in_an_excluded_group_is_refused_naming_the_group() -> None:
    settings = ServiceSettings(respond=True, exclusions=FINANCE_EXCLUDED)
    with pytest.raises(ValidationError) as info:
        await check(with_completed(device("d-dc1"), device("d-042", "fin-ws-042")), settings)
    assert info.value.field == "managedResponse.completedActions[1]"
    assert 'excluded device group "Finance workstations"' in info.value.message
    assert "fin-ws-042" in info.value.message


async def test_high_value_devices_only_when_the_toggle_is_on() -> None:
    await check(with_completed(device("d-dc1")), RESPOND)
    settings = ServiceSettings(respond=True, exclusions=Exclusions(high_value_devices=True))
    with pytest.raises(ValidationError, match='"Exclude all high-value devices" is on'):
        await check(with_completed(device("d-dc1")), settings)


async def test_a_user_in_an_excluded_group_is_refused_naming_the_group() -> None:
    settings = ServiceSettings(
        respond=True, exclusions=Exclusions(user_groups=(Group(FINANCE_TEAM, "Finance team"),))
    )
    with pytest.raises(ValidationError, match='excluded user group "Finance team"'):
        await check(with_completed(user(ISAIAH, "forcePasswordReset")), settings)


async def test_high_value_users_only_when_the_toggle_is_on() -> None:
    await check(with_completed(user(PATTI)), RESPOND)
    settings = ServiceSettings(respond=True, exclusions=Exclusions(high_value_users=True))
    with pytest.raises(ValidationError, match='"Exclude all high-value users" is on'):
        await check(with_completed(user(PATTI)), settings)


async def test_a_file_on_an_excluded_device_is_refused() -> None:
    quarantine = {
        "type": "quarantineFile",
        "target": {"kind": "file", "id": "sha", "name": "evil.exe", "deviceId": "d-043"},
    }
    settings = ServiceSettings(respond=True, exclusions=FINANCE_EXCLUDED)
    with pytest.raises(ValidationError, match="Finance workstations"):
        await check(with_completed(quarantine), settings)


async def test_pending_actions_on_excluded_targets_are_guidance_and_pass() -> None:
    body = example()
    body["managedResponse"]["completedActions"] = []
    body["managedResponse"]["pendingActions"] = [
        {"id": "p1", "type": "isolateDevice", "target": {"kind": "device", "id": "d-042"}},
        {"id": "p2", "type": "disableUser", "target": {"kind": "user", "id": PATTI}},
    ]
    settings = ServiceSettings(
        respond=True,
        exclusions=Exclusions(FINANCE_EXCLUDED.device_groups, (), True, True),
    )
    await check(body, settings)


async def test_investigate_only_refuses_every_completed_action() -> None:
    investigate = ServiceSettings(investigate=True, respond=False)
    with pytest.raises(ValidationError) as info:
        await check(example(), investigate)
    assert "Investigate incidents and guide my responses" in info.value.message
    assert info.value.field == "managedResponse.completedActions[0]"
    body = example()
    body["managedResponse"]["completedActions"] = []
    await check(body, investigate)


# ---- failing closed: targets the directory can't resolve, and a directory that fails ----------

USER_EXCLUSIONS = ServiceSettings(
    respond=True, exclusions=Exclusions(user_groups=(Group(FINANCE_TEAM, "Finance team"),))
)
DEVICE_EXCLUSIONS = ServiceSettings(
    respond=True, exclusions=Exclusions(device_groups=FINANCE_EXCLUDED.device_groups)
)
EVERY_EXCLUSION = ServiceSettings(
    respond=True,
    exclusions=Exclusions(FINANCE_EXCLUDED.device_groups, FINANCE_EXCLUDED.user_groups, True, True),
)
ADELE_ID = "1a2b3c4d-0003-4e5f-8a9b-0c1d2e3f4a03"  # SOC analysts: neither excluded nor high-value


async def check_with(body: dict[str, Any], settings: ServiceSettings, directory: Any) -> None:
    await enforce_settings(validate_notification(body), settings, directory)


async def test_a_device_defender_does_not_know_is_refused_while_device_exclusions_are_on() -> None:
    with pytest.raises(ValidationError) as info:
        await check(with_completed(device("d-sql"), device("d-999", "ghost-ws")), DEVICE_EXCLUSIONS)
    assert info.value.field == "managedResponse.completedActions[1]"
    assert "can't verify that ghost-ws isn't excluded" in info.value.message
    high_value_only = ServiceSettings(respond=True, exclusions=Exclusions(high_value_devices=True))
    with pytest.raises(ValidationError, match="can't verify that d-999 isn't excluded"):
        await check(with_completed(device("d-999")), high_value_only)


async def test_a_file_on_a_device_defender_does_not_know_is_refused() -> None:
    quarantine = {
        "type": "quarantineFile",
        "target": {"kind": "file", "id": "sha", "name": "evil.exe", "deviceId": "d-999"},
    }
    with pytest.raises(ValidationError, match="can't verify that d-999 isn't excluded"):
        await check(with_completed(quarantine), DEVICE_EXCLUSIONS)


@pytest.mark.parametrize(
    ("user_id", "name"),
    [
        ("jdoe@contoso.com", "jdoe@contoso.com"),  # a UPN: the directory port can't resolve one
        ("u-17", "jdoe@contoso.com"),
        ("00000000-0000-4000-8000-000000000000", "ghost@contoso.com"),  # no such object
        ("6c1e0b7a-1001-4c3d-9e8f-2a1b0c9d8e01", "Security Operations"),  # a group, not a user
    ],
)
async def test_a_user_target_that_is_not_a_known_user_object_id_is_refused(
    user_id: str, name: str
) -> None:
    action = {"type": "disableUser", "target": {"kind": "user", "id": user_id, "name": name}}
    for settings in (
        USER_EXCLUSIONS,
        ServiceSettings(respond=True, exclusions=Exclusions(high_value_users=True)),
    ):
        with pytest.raises(ValidationError) as info:
            await check(with_completed(action), settings)
        assert f"can't verify that {name} isn't excluded" in info.value.message
        assert info.value.field == "managedResponse.completedActions[0]"


async def test_an_email_of_an_unknown_user_is_refused() -> None:
    delete = {
        "type": "softDeleteEmail",
        "target": {
            "kind": "email",
            "id": "<m1@x>",
            "name": "Invoice",
            "userId": "jdoe@contoso.com",
        },
    }
    with pytest.raises(ValidationError) as info:
        await check(with_completed(delete), USER_EXCLUSIONS)
    assert "can't verify that jdoe@contoso.com isn't excluded" in info.value.message


async def test_known_targets_still_pass_when_every_exclusion_is_on() -> None:
    await check(with_completed(device("d-sql"), user(ADELE_ID)), EVERY_EXCLUSION)


async def test_without_exclusions_of_that_kind_there_is_nothing_to_verify() -> None:
    """No excluded device groups and high-value devices not excluded: no device can be excluded,
    so an unknown device is not a reason to refuse (likewise for users)."""
    await check(with_completed(device("d-999"), user("jdoe@contoso.com")), RESPOND)
    await check(with_completed(user("jdoe@contoso.com")), DEVICE_EXCLUSIONS)
    await check(with_completed(device("d-999")), USER_EXCLUSIONS)


@pytest.mark.parametrize("status", ["failed", "cancelled", "inProgress", "completed"])
async def test_every_status_of_a_completed_action_on_an_excluded_target_is_refused(
    status: str,
) -> None:
    body = with_completed(device("d-042", "fin-ws-042"))
    body["managedResponse"]["completedActions"][0]["status"] = status
    with pytest.raises(ValidationError, match='excluded device group "Finance workstations"'):
        await check(body, DEVICE_EXCLUSIONS)


@pytest.mark.parametrize(
    "failing",
    [
        "device_group_of",
        "is_high_value_device",
        "user_group_ids",
        "is_high_value_user",
        "get_contact",
    ],
)
async def test_a_directory_error_is_a_dependency_error_not_a_pass(failing: str) -> None:
    directory = FailingDirectory(failing)
    with pytest.raises(DirectoryUnavailable) as info:
        await check_with(
            with_completed(device("d-sql"), user(ADELE_ID)), EVERY_EXCLUSION, directory
        )
    assert "try again" in info.value.advice().lower()
    assert "timed out" not in str(info.value.advice())


async def test_a_directory_error_does_not_matter_for_pending_actions_only() -> None:
    body = with_completed()
    await check_with(body, EVERY_EXCLUSION, FailingDirectory("device_group_of", "get_contact"))
