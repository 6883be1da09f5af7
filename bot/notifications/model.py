"""The incident notification, parsed from a validated body, and the labels shown for it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match

from bot.errors import ValidationError
from bot.notifications.schema import ACTION_ID, INCIDENT_ID, notification_schema

JSON = dict[str, Any]

MAX_DEPTH = 32
_INCIDENT_ID = re.compile(INCIDENT_ID.strip("^$"))
_ACTION_ID = re.compile(ACTION_ID.strip("^$"))

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


def load_json(body: bytes) -> Any:
    """Parse a request body: strict UTF-8, standard JSON only, bounded nesting."""
    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise BodyError("The body is not UTF-8") from None
    except (ValueError, RecursionError):
        raise BodyError("The body is not valid JSON") from None
    if _depth(value) > MAX_DEPTH:
        raise BodyError(f"The body is nested more than {MAX_DEPTH} levels deep")
    return value


def _depth(value: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


# ---- validation ----------------------------------------------------------------------------


def _inline(node: Any, defs: JSON) -> Any:
    """The schema without ``$ref``s (the published one keeps them); faster to validate with."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    """The reference validator: slow, and precise about what is wrong."""
    schema = notification_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(_inline(schema, schema["$defs"]))


def _assertions_only(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _assertions_only(v)
            for k, v in node.items()
            if k not in ("format", "$schema", "$id", "title", "description")
        }
    if isinstance(node, list):
        return [_assertions_only(v) for v in node]
    return node


@lru_cache(maxsize=1)
def _fast() -> Callable[[Any], Any]:
    """The same schema compiled to Python (about 25 times faster): the path every valid body
    takes. Only keywords that draft-07 shares with 2020-12 are used, and "format" is an
    annotation in both. It reads "$" in patterns as ECMA-262 does (no match before a final
    newline), so it is, if anything, stricter than the reference; ``test_schema.py`` checks
    that it never accepts what the reference refuses."""
    schema = notification_schema()
    flat = _assertions_only(_inline(schema, schema["$defs"]))
    compiled: Callable[[Any], Any] = fastjsonschema.compile(
        {"$schema": "http://json-schema.org/draft-07/schema#", **flat}
    )
    return compiled


def schema_valid(document: Any) -> bool:
    """Fast check against the published schema."""
    try:
        _fast()(document)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def field_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(body)"


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _describe(error: SchemaError) -> tuple[str, str]:
    path = list(error.absolute_path)
    validator = error.validator
    value: Any = error.validator_value
    where = field_path(path)
    if validator == "required":
        missing = next(
            (str(p) for p in value if isinstance(error.instance, dict) and p not in error.instance),
            "?",
        )
        where = field_path([*path, missing])
        return where, f"{where} is required"
    if validator == "type":
        expected = error.validator_value
        names = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return where, f"{where} must be {names}"
    if validator == "enum":
        allowed = ", ".join(str(v) for v in value if v is not None)
        return where, f"{where} must be one of: {allowed} (got {_short(error.instance)})"
    if validator == "const":
        return where, f"{where} must be {json.dumps(error.validator_value)}"
    if validator == "maxLength":
        return where, f"{where} must be at most {error.validator_value} characters"
    if validator == "minLength":
        return where, f"{where} must not be empty"
    if validator == "maxItems":
        return where, f"{where} must have at most {error.validator_value} items"
    if validator in ("minimum", "maximum"):
        return where, f"{where} must be {'at least' if validator == 'minimum' else 'at most'} " + (
            f"{error.validator_value}"
        )
    if validator == "pattern":
        hint = {
            "createdDateTime": "an ISO 8601 date-time with a time zone",
            "lastUpdateDateTime": "an ISO 8601 date-time with a time zone",
            "time": "an ISO 8601 date-time with a time zone",
            "incidentWebUrl": "an https URL",
        }.get(str(path[-1]) if path else "", "")
        return where, f"{where} must be {hint}" if hint else f"{where} has an invalid format"
    return where, f"{where} is invalid ({validator})"


def _schema_errors(document: Any) -> Iterator[SchemaError]:
    yield from _validator().iter_errors(document)


def validate_notification(document: Any) -> Notification:
    """Validate an untrusted body and parse it; ValidationError names the field."""
    if not schema_valid(document):
        error = best_match(_schema_errors(document))
        if error is not None:
            where, message = _describe(error)
            raise ValidationError(message, field=where)
    notification = parse_notification(document)
    _check_semantics(notification)
    return notification


def _check_date(value: str, where: str) -> None:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{where} is not a valid date-time", field=where) from None


def _check_semantics(n: Notification) -> None:
    # Schema patterns use "$", which Python's re (and so both validators) let match before a
    # final newline; ids become storage keys and card data, so check them exactly here.
    if not _INCIDENT_ID.fullmatch(n.incident_id):
        raise ValidationError("incident.id has an invalid format", field="incident.id")
    _check_date(n.created, "incident.createdDateTime")
    _check_date(n.last_update, "incident.lastUpdateDateTime")
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
            if not _ACTION_ID.fullmatch(action.id):
                raise ValidationError(f"{at}.id has an invalid format", field=f"{at}.id")
            seen[action.id] = at
            kind = TARGET_KIND_OF_ACTION.get(action.type)
            if kind is not None and action.target.kind != kind:
                raise ValidationError(
                    f"{at}.target.kind must be {kind} for {action.type}", field=f"{at}.target.kind"
                )
            if isinstance(action, CompletedAction) and action.time:
                _check_date(action.time, f"{at}.time")


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
