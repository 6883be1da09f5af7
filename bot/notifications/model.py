"""The incident notification, parsed from a validated body, and the labels shown for it."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.errors import ValidationError

JSON = dict[str, Any]

MAX_DEPTH = 32

ACTION_LABELS = {
    "isolateDevice": "Isolate device",
    "releaseFromIsolation": "Release from isolation",
    "quarantineFile": "Quarantine file",
    "restrictAppExecution": "Restrict app execution",
    "removeAppRestriction": "Remove app restriction",
    "disableUser": "Disable user",
    "enableUser": "Enable user",
    "forcePasswordReset": "Force password reset",
    "softDeleteEmail": "Soft delete email",
    "manual": "Manual action",
}
TARGET_KIND_OF_ACTION = {
    "isolateDevice": "device",
    "releaseFromIsolation": "device",
    "restrictAppExecution": "device",
    "removeAppRestriction": "device",
    "disableUser": "user",
    "enableUser": "user",
    "forcePasswordReset": "user",
    "quarantineFile": "file",
    "softDeleteEmail": "email",
}
# One readable label for every value the schema accepts (a test keeps them in step).
SEVERITY_LABELS = {
    "unknown": "Unknown",
    "informational": "Informational",
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "unknownFutureValue": "Unknown",
}
STATUS_LABELS = {
    "active": "Active",
    "resolved": "Resolved",
    "inProgress": "In progress",
    "redirected": "Redirected",
    "unknownFutureValue": "Unknown",
    "awaitingAction": "Awaiting your action",
}
CLASSIFICATION_LABELS = {
    "unknown": "Not classified yet",
    "falsePositive": "False positive",
    "truePositive": "True positive",
    "informationalExpectedActivity": "Informational, expected activity",
    "unknownFutureValue": "Unknown",
}
DETERMINATION_LABELS = {
    "unknown": "Not determined yet",
    "apt": "Advanced persistent threat",
    "malware": "Malware",
    "securityPersonnel": "Security personnel",
    "securityTesting": "Security testing",
    "unwantedSoftware": "Unwanted software",
    "other": "Other",
    "multiStagedAttack": "Multi-staged attack",
    "compromisedAccount": "Compromised account",
    "phishing": "Phishing",
    "maliciousUserActivity": "Malicious user activity",
    "notMalicious": "Not malicious",
    "notEnoughDataToValidate": "Not enough data to validate",
    "confirmedActivity": "Confirmed activity",
    "confirmedUserActivity": "Confirmed activity",
    "lineOfBusinessApplication": "Line-of-business application",
    "unknownFutureValue": "Unknown",
}
COMPLETED_STATUS_LABELS = {
    "inProgress": "In progress",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


class BodyError(Exception):
    """The body is not UTF-8 JSON (400). The message is safe to return."""


@dataclass(frozen=True)
class Target:
    kind: str
    id: str
    name: str = ""
    device_id: str = ""
    user_id: str = ""

    @property
    def label(self) -> str:
        return self.name or self.id


@dataclass(frozen=True)
class CompletedAction:
    id: str
    type: str
    target: Target
    status: str
    time: str = ""

    @property
    def label(self) -> str:
        return ACTION_LABELS[self.type]


@dataclass(frozen=True)
class PendingAction:
    id: str
    type: str
    target: Target
    instructions: str = ""

    @property
    def label(self) -> str:
        return ACTION_LABELS[self.type]


@dataclass(frozen=True)
class Entity:
    """An affected device or user, from the alerts' evidence and the actions' targets."""

    kind: str
    id: str
    name: str


@dataclass(frozen=True)
class Notification:
    """One revision of an incident, as the experts sent it. ``raw`` keeps every field."""

    raw: JSON
    incident_id: str
    tenant_id: str
    display_name: str
    severity: str
    status: str
    assigned_to: str
    classification: str
    determination: str
    web_url: str
    created: str
    last_update: str
    revision: int
    summary: str
    analyst: str
    completed: tuple[CompletedAction, ...]
    pending: tuple[PendingAction, ...]
    devices: tuple[Entity, ...]
    users: tuple[Entity, ...]

    def pending_action(self, action_id: str) -> PendingAction | None:
        return next((a for a in self.pending if a.id == action_id), None)


# ---- parsing untrusted bytes ---------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> JSON:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return out


class DuplicateKeyError(ValueError):
    pass


_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite, object_pairs_hook=_unique_keys
)
"""Made once: ``json.loads`` with these hooks builds a new decoder for every body."""


def load_json(body: bytes) -> Any:
    """Parse a request body: strict UTF-8, standard JSON only (no NaN or Infinity, no number
    that overflows to infinity, no repeated key in an object), bounded nesting."""
    try:
        value = _DECODER.decode(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BodyError("The body is not UTF-8") from None
    except DuplicateKeyError as exc:
        raise BodyError(f"The body repeats the key {_short(str(exc))} in one object") from None
    except (ValueError, RecursionError):
        raise BodyError("The body is not valid JSON (or has a non-finite number)") from None
    # Nesting needs an opening bracket per level: a body with few of them is shallow enough
    # without walking it.
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise BodyError(f"The body is nested more than {MAX_DEPTH} levels deep")
    return value


def _depth(value: Any) -> int:
    """How deeply ``value`` (as json.loads returns it: only dicts and lists nest) is nested,
    counted up to just over MAX_DEPTH. Only containers are visited."""
    deepest = 1 if type(value) is dict or type(value) is list else 0
    stack: list[tuple[Any, int]] = [(value, 1)] if deepest else []
    while stack:
        item, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                return deepest
        for child in item.values() if type(item) is dict else item:
            if type(child) is dict or type(child) is list:  # what json.loads makes, exactly
                stack.append((child, depth + 1))
    return deepest


# ---- validation: the models in bot.notifications.schema --------------------------------------


def field_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(body)"


def _short(value: Any, limit: int = 40) -> str:
    if isinstance(value, str):
        text = repr(value[: limit * 2])
    else:
        try:
            text = json.dumps(value, ensure_ascii=True)[: limit * 2]
        except (TypeError, ValueError):
            text = type(value).__name__
    return text if len(text) <= limit else text[:limit] + "…"


_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "a boolean",
    "model_type": "an object",
    "dict_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
}
_PATTERN_HINTS = {
    "createdDateTime": "an ISO 8601 date-time with a time zone",
    "lastUpdateDateTime": "an ISO 8601 date-time with a time zone",
    "time": "an ISO 8601 date-time with a time zone",
    "incidentWebUrl": "an https URL (one line, no spaces)",
}


def _describe(error: Any) -> tuple[str, str]:
    """One pydantic error as (field, message); the message names the field, never echoes
    more than a short part of the value."""
    loc = list(error["loc"])
    where = field_path(loc)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    last = str(loc[-1]) if loc else ""
    if kind == "missing":
        return where, f"{where} is required"
    if kind in _TYPE_NAMES:
        return where, f"{where} must be {_TYPE_NAMES[kind]}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))[:600]
        return where, f"{where} must be one of: {expected} (got {_short(error.get('input'))})"
    if kind == "string_too_long":
        return where, f"{where} must be at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return where, f"{where} must not be empty"
    if kind == "too_long":
        return where, f"{where} must have at most {ctx.get('max_length')} items"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("le"))
        word = "at least" if kind == "greater_than_equal" else "at most"
        return where, f"{where} must be {word} {bound}"
    if kind == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(last)
        return where, f"{where} must be {hint}" if hint else f"{where} has an invalid format"
    if kind == "value_error":
        return where, f"{where} is not a valid date-time"
    return where, f"{where} is invalid ({kind})"


def validate_notification(document: Any) -> Notification:
    """Validate an untrusted body and parse it; ValidationError names the field."""
    # pydantic and the schema's models load with the first notification, not at start-up.
    from pydantic import ValidationError as PydanticError

    from bot.notifications.schema import IncidentNotification

    try:
        IncidentNotification.model_validate(document)
    except PydanticError as exc:
        errors = exc.errors(include_url=False)
        where, message = _describe(errors[0])
        raise ValidationError(message, field=where) from None
    notification = parse_notification(document)
    _check_relations(notification)
    return notification


def _check_relations(n: Notification) -> None:
    """What one field's type can't say: action ids are unique across both lists, and an
    action's target is of the kind its type acts on."""
    seen: dict[str, str] = {}
    groups: list[tuple[str, Iterable[CompletedAction | PendingAction]]] = [
        ("managedResponse.completedActions", n.completed),
        ("managedResponse.pendingActions", n.pending),
    ]
    for where, actions in groups:
        for i, action in enumerate(actions):
            at = f"{where}[{i}]"
            if action.id in seen:
                raise ValidationError(
                    f"{at}.id {action.id!r} is already used by {seen[action.id]}", field=f"{at}.id"
                )
            seen[action.id] = at
            kind = TARGET_KIND_OF_ACTION.get(action.type)
            if kind is not None and action.target.kind != kind:
                raise ValidationError(
                    f"{at}.target.kind must be {kind} for {action.type}", field=f"{at}.target.kind"
                )


# ---- typed view of a (validated or stored) body ------------------------------------------


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _target(d: JSON) -> Target:
    return Target(
        kind=_s(d.get("kind")),
        id=_s(d.get("id")),
        name=_s(d.get("name")),
        device_id=_s(d.get("deviceId")),
        user_id=_s(d.get("userId")),
    )


def _entities(
    incident: JSON, actions: Iterable[CompletedAction | PendingAction]
) -> tuple[tuple[Entity, ...], tuple[Entity, ...]]:
    devices: dict[str, Entity] = {}
    users: dict[str, Entity] = {}
    for alert in incident.get("alerts") or []:
        for ev in alert.get("evidence") or []:
            kind = _s(ev.get("@odata.type")).rsplit(".", 1)[-1]
            if kind == "deviceEvidence":
                name = _s(ev.get("deviceDnsName"))
                key = _s(ev.get("mdeDeviceId")) or name
                if key and key not in devices:
                    devices[key] = Entity("device", key, name or key)
            elif kind == "userEvidence":
                account = ev.get("userAccount") or {}
                name = _s(account.get("userPrincipalName")) or _s(account.get("accountName"))
                key = _s(account.get("azureAdUserId")) or name
                if key and key not in users:
                    users[key] = Entity("user", key, name or key)
    for action in actions:
        t = action.target
        if t.kind == "device" and t.id not in devices:
            devices[t.id] = Entity("device", t.id, t.label)
        elif t.kind == "user" and t.id not in users:
            users[t.id] = Entity("user", t.id, t.label)
    return tuple(devices.values()), tuple(users.values())


def parse_notification(document: JSON) -> Notification:
    """The typed view of a body that passed the schema (or was stored after passing it)."""
    incident: JSON = document["incident"]
    managed: JSON = document["managedResponse"]
    completed = tuple(
        CompletedAction(
            id=a["id"],
            type=a["type"],
            target=_target(a["target"]),
            status=a["status"],
            time=_s(a.get("time")),
        )
        for a in managed["completedActions"]
    )
    pending = tuple(
        PendingAction(
            id=a["id"],
            type=a["type"],
            target=_target(a["target"]),
            instructions=_s(a.get("instructions")),
        )
        for a in managed["pendingActions"]
    )
    devices, users = _entities(incident, (*completed, *pending))
    revision = managed["revision"]
    return Notification(
        raw=document,
        incident_id=incident["id"],
        tenant_id=_s(incident.get("tenantId")),
        display_name=incident["displayName"],
        severity=incident["severity"],
        status=incident["status"],
        assigned_to=_s(incident.get("assignedTo")),
        classification=_s(incident.get("classification")),
        determination=_s(incident.get("determination")),
        web_url=incident["incidentWebUrl"],
        created=incident["createdDateTime"],
        last_update=incident["lastUpdateDateTime"],
        revision=int(revision),
        summary=_s(managed.get("summary")),
        analyst=_s(managed.get("analyst")),
        completed=completed,
        pending=pending,
        devices=devices,
        users=users,
    )
