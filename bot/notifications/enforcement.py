"""The customer's settings, enforced where the experts' notifications come in.

* With only "Investigate incidents and guide my responses", the experts can't take response
  actions: every completed action is refused. Pending actions are guidance and pass.
* A completed action on an excluded target is refused, naming the exclusion: a device in an
  excluded device group, a high-value device with "Exclude all high-value devices" on, a user in an
  excluded user group, a high-value user with "Exclude all high-value users" on.
"""

from __future__ import annotations

from bot.errors import ValidationError
from bot.notifications.model import CompletedAction, Notification
from bot.onboarding.model import ServiceSettings
from bot.tenant import TenantDirectory

INVESTIGATE_LABEL = "Investigate incidents and guide my responses"
RESPOND_LABEL = "Respond directly to active threats"


def _where(index: int) -> str:
    return f"managedResponse.completedActions[{index}]"


async def _device_exclusion(
    device_id: str, label: str, settings: ServiceSettings, directory: TenantDirectory
) -> str | None:
    excluded = {g.id: g.name for g in settings.exclusions.device_groups}
    group = await directory.device_group_of(device_id)
    if group is not None and group in excluded:
        return f'device {label} is in the excluded device group "{excluded[group]}"'
    if settings.exclusions.high_value_devices and await directory.is_high_value_device(device_id):
        return f'device {label} is a high-value device, and "Exclude all high-value devices" is on'
    return None


async def _user_exclusion(
    user_id: str, label: str, settings: ServiceSettings, directory: TenantDirectory
) -> str | None:
    excluded = {g.id: g.name for g in settings.exclusions.user_groups}
    groups = await directory.user_group_ids(user_id)
    hit = sorted(excluded[g] for g in groups if g in excluded)
    if hit:
        return f'user {label} is in the excluded user group "{hit[0]}"'
    if settings.exclusions.high_value_users and await directory.is_high_value_user(user_id):
        return f'user {label} is a high-value user, and "Exclude all high-value users" is on'
    return None


async def exclusion_of(
    action: CompletedAction, settings: ServiceSettings, directory: TenantDirectory
) -> str | None:
    """Why the action's target is excluded from remediation, or None."""
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
    """Raise ValidationError (422) if a completed action breaks the customer's settings."""
    if notification.completed and not settings.respond:
        first = notification.completed[0]
        raise ValidationError(
            f'{_where(0)}: the customer granted only "{INVESTIGATE_LABEL}", not '
            f'"{RESPOND_LABEL}", so the experts can\'t take response actions. Send '
            f"{first.label} on {first.target.label} as a pending action instead.",
            field=_where(0),
        )
    for index, action in enumerate(notification.completed):
        reason = await exclusion_of(action, settings, directory)
        if reason:
            raise ValidationError(
                f"{_where(index)}: {action.label} refused: {reason}. Excluded targets get "
                "guidance only: send it as a pending action instead.",
                field=_where(index),
            )
