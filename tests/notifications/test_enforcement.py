"""The customer's settings, enforced on the experts' notifications."""

from __future__ import annotations

from typing import Any

import pytest

from bot.errors import ValidationError
from bot.notifications.enforcement import enforce_settings
from bot.notifications.model import validate_notification
from bot.onboarding.model import Exclusions, Group, ServiceSettings
from bot.tenant.demo import DemoTenantDirectory
from tests.notifications.support import FINANCE_EXCLUDED, FINANCE_TEAM, ISAIAH, PATTI, example

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
