"""The customer's settings, enforced where the experts' notifications come in.

* With only "Investigate incidents and guide my responses", the experts can't take response
  actions: every completed action is refused. Pending actions are guidance and pass.
* A completed action on an excluded target is refused, naming the exclusion: a device in an
  excluded device group, a high-value device with "Exclude all high-value devices" on, a user in an
  excluded user group, a high-value user with "Exclude all high-value users" on. Every status
  counts (inProgress, completed, failed, cancelled): the experts started an action the customer
  excluded, whatever came of it.
* The checks fail closed. While an exclusion of devices (or users) is on, a device (user) target
  the directory can't resolve is refused too, naming it: "can't verify that … isn't excluded". A
  device is resolved when Defender for Endpoint knows its group; a user when its id is the
  object id of a user the directory knows (the directory port has no lookup by UPN, so a UPN
  is refused, not guessed). If the directory fails, ``DirectoryUnavailable`` is raised: the
  webhook answers 503 with Retry-After and stores nothing, never lets the action through.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from bot.errors import DependencyError, ValidationError
from bot.notifications.model import CompletedAction, Notification
from bot.onboarding.model import ServiceSettings
from bot.tenant import TenantDirectory

INVESTIGATE_LABEL = "Investigate incidents and guide my responses"
RESPOND_LABEL = "Respond directly to active threats"
RETRY_AFTER_SECONDS = 30

T = TypeVar("T")


class DirectoryUnavailable(DependencyError):
    """The tenant directory (Graph, Defender for Endpoint) failed while checking exclusions."""

    def advice(self) -> str:
        return (
            "The customer's directory couldn't be reached to check their exclusions, so "
            "nothing was stored. Try again in a moment."
        )


class _Unverified(Exception):
    """The directory doesn't know the target: it can't be shown not to be excluded."""


def _where(index: int) -> str:
    return f"managedResponse.completedActions[{index}]"


async def _ask(call: Awaitable[T]) -> T:
    """A directory call; any failure of it is DirectoryUnavailable, never a pass."""
    try:
        return await call
    except Exception as exc:
        raise DirectoryUnavailable(f"tenant directory failed: {type(exc).__name__}") from exc


async def _device_exclusion(
    device_id: str, label: str, settings: ServiceSettings, directory: TenantDirectory
) -> str | None:
    exclusions = settings.exclusions
    if not exclusions.device_groups and not exclusions.high_value_devices:
        return None  # no device can be excluded: nothing to verify
    group = await _ask(directory.device_group_of(device_id))
    if group is None:
        raise _Unverified(
            f"can't verify that {label} isn't excluded: Microsoft Defender for Endpoint doesn't "
            f"know the device {device_id!r}"
        )
    excluded = {g.id: g.name for g in exclusions.device_groups}
    if group in excluded:
        return f'device {label} is in the excluded device group "{excluded[group]}"'
    if exclusions.high_value_devices and await _ask(directory.is_high_value_device(device_id)):
        return f'device {label} is a high-value device, and "Exclude all high-value devices" is on'
    return None


async def _user_exclusion(
    user_id: str, label: str, settings: ServiceSettings, directory: TenantDirectory
) -> str | None:
    exclusions = settings.exclusions
    if not exclusions.user_groups and not exclusions.high_value_users:
        return None  # no user can be excluded: nothing to verify
    entry = await _ask(directory.get_contact(user_id))
    if entry is None or entry.kind != "user" or entry.id.lower() != user_id.lower():
        raise _Unverified(
            f"can't verify that {label} isn't excluded: the directory doesn't know a user with "
            f"the object id {user_id!r} (a user target's id must be its Microsoft Entra object "
            "id)"
        )
    excluded = {g.id: g.name for g in exclusions.user_groups}
    if excluded:
        groups = await _ask(directory.user_group_ids(user_id))
        hit = sorted(excluded[g] for g in groups if g in excluded)
        if hit:
            return f'user {label} is in the excluded user group "{hit[0]}"'
    if exclusions.high_value_users and await _ask(directory.is_high_value_user(user_id)):
        return f'user {label} is a high-value user, and "Exclude all high-value users" is on'
    return None


async def exclusion_of(
    action: CompletedAction, settings: ServiceSettings, directory: TenantDirectory
) -> str | None:
    """Why the action's target is excluded from remediation, or None.

    Raises _Unverified if a target that could be excluded isn't known to the directory, and
    DirectoryUnavailable if the directory fails."""
    target = action.target
    devices = [target.id] if target.kind == "device" else []
    users = [target.id] if target.kind == "user" else []
    if target.device_id:
        devices.append(target.device_id)
    if target.user_id:
        users.append(target.user_id)
    for device_id in devices:
        label = target.label if device_id == target.id else device_id
        reason = await _device_exclusion(device_id, label, settings, directory)
        if reason:
            return reason
    for user_id in users:
        label = target.label if user_id == target.id else user_id
        reason = await _user_exclusion(user_id, label, settings, directory)
        if reason:
            return reason
    return None


async def enforce_settings(
    notification: Notification, settings: ServiceSettings, directory: TenantDirectory
) -> None:
    """Raise ValidationError (422) if a completed action breaks the customer's settings, or
    its target can't be verified; DirectoryUnavailable (503) if the directory fails."""
    if notification.completed and not settings.respond:
        first = notification.completed[0]
        raise ValidationError(
            f'{_where(0)}: the customer granted only "{INVESTIGATE_LABEL}", not '
            f'"{RESPOND_LABEL}", so the experts can\'t take response actions. Send '
            f"{first.label} on {first.target.label} as a pending action instead.",
            field=_where(0),
        )
    for index, action in enumerate(notification.completed):
        try:
            reason = await exclusion_of(action, settings, directory)
        except _Unverified as unverified:
            raise ValidationError(
                f"{_where(index)}: {action.label} refused: {unverified}. Send it as a pending "
                "action instead, or name the target as the directory knows it.",
                field=_where(index),
            ) from None
        if reason:
            raise ValidationError(
                f"{_where(index)}: {action.label} refused: {reason}. Excluded targets get "
                "guidance only: send it as a pending action instead.",
                field=_where(index),
            )
