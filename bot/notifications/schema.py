"""The Experts webhook body, defined once: typed pydantic models.

Everything else is derived from these models: the validation of ``POST /api/notifications``
(:func:`bot.notifications.model.validate_notification`), the JSON Schema published as
``api/notification.schema.json`` (:func:`notification_schema`) and the OpenAPI document
(:mod:`bot.notifications.openapi`). ``python -m bot.notifications.openapi --write api``
regenerates the published files; a test keeps them equal to the code.

Every object keeps unknown fields (Microsoft Graph adds properties over time). Types are strict:
no string is taken for a number, no number for a boolean, no ``1.0`` for an integer. Patterns
are anchored at the very end of the text (a final newline doesn't match ``$``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode
from pydantic_core import CoreSchema

from bot.notifications.bounds import INCIDENT_ID

JSON = dict[str, Any]

SCHEMA_ID = "urn:defender-experts:schema:incident-notification:1"

# Microsoft Graph v1.0, namespace microsoft.graph.security: the enum types alertSeverity,
# incidentStatus, alertClassification and alertDetermination, in Graph's order. The incident
# resource's prose says "confirmedUserActivity" where the enum type has "confirmedActivity":
# both are accepted.
Severity = Literal["unknown", "informational", "low", "medium", "high", "unknownFutureValue"]
Status = Literal[
    "active", "resolved", "inProgress", "redirected", "unknownFutureValue", "awaitingAction"
]
Classification = Literal[
    "unknown", "falsePositive", "truePositive", "informationalExpectedActivity",
    "unknownFutureValue",
]  # fmt: skip
Determination = Literal[
    "unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware",
    "other", "multiStagedAttack", "compromisedAccount", "phishing", "maliciousUserActivity",
    "notMalicious", "notEnoughDataToValidate", "confirmedActivity", "confirmedUserActivity",
    "lineOfBusinessApplication", "unknownFutureValue",
]  # fmt: skip
ActionType = Literal[
    "isolateDevice", "releaseFromIsolation", "quarantineFile", "restrictAppExecution",
    "removeAppRestriction", "disableUser", "enableUser", "forcePasswordReset", "softDeleteEmail",
    "manual",
]  # fmt: skip
TargetKind = Literal["device", "user", "file", "email", "other"]
CompletedStatus = Literal["inProgress", "completed", "failed", "cancelled"]


def values(literal: Any) -> tuple[str, ...]:
    """The strings a ``Literal`` allows, in order."""
    return tuple(literal.__args__)


SEVERITIES = values(Severity)
STATUSES = values(Status)
CLASSIFICATIONS = values(Classification)
DETERMINATIONS = values(Determination)
ACTION_TYPES = values(ActionType)
TARGET_KINDS = values(TargetKind)
COMPLETED_STATUSES = values(CompletedStatus)

DATE_TIME = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,7})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
ACTION_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
HTTPS_URL = r"^https://[^\s]+$"


def _real_date(value: str) -> str:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("not a valid date-time") from None
    return value


def _text(max_length: int, min_length: int | None = None) -> Any:
    return Field(max_length=max_length, min_length=min_length)


Str32 = Annotated[str, _text(32)]
Str64 = Annotated[str, _text(64)]
Str128 = Annotated[str, _text(128)]
Str256 = Annotated[str, _text(256)]
Str512 = Annotated[str, _text(512)]
Str2000 = Annotated[str, _text(2000)]
Str8000 = Annotated[str, _text(8000)]
Id256 = Annotated[str, _text(256, 1)]
Name512 = Annotated[str, _text(512, 1)]
DateTimeStr = Annotated[
    str,
    Field(pattern=DATE_TIME, json_schema_extra={"format": "date-time"}),
    AfterValidator(_real_date),
]
IncidentId = Annotated[str, Field(pattern=INCIDENT_ID)]
ActionId = Annotated[str, Field(pattern=ACTION_ID)]
HttpsUrl = Annotated[str, Field(pattern=HTTPS_URL, max_length=2048)]


class _Body(BaseModel):
    """Strict types; unknown fields kept (they are stored with the body, never dropped)."""

    model_config = ConfigDict(strict=True, extra="allow", populate_by_name=True)


class Target(_Body):
    """What the action applies to. Exclusions are checked for devices and users, and for the
    deviceId/userId a file or email target names."""

    kind: TargetKind
    id: Id256
    name: Str256 = ""
    deviceId: Id256 = ""
    userId: Id256 = ""


class CompletedAction(_Body):
    """A response action the experts took."""

    id: ActionId
    type: ActionType
    target: Target
    status: CompletedStatus
    time: DateTimeStr = Field("", description="When the action reached its status.")
    comment: Str2000 = ""


class PendingAction(_Body):
    """A response action the experts ask the customer to take."""

    id: ActionId
    type: ActionType
    target: Target
    instructions: Str2000 = ""


class UserAccount(_Body):
    accountName: Str256 | None = None
    userPrincipalName: Str256 | None = None
    azureAdUserId: Str256 | None = None
    displayName: Str256 | None = None
    domainName: Str256 | None = None


class Evidence(_Body):
    """A microsoft.graph.security.alertEvidence. deviceEvidence and userEvidence are shown on
    the card; other kinds are kept."""

    odata_type: Str128 = Field(alias="@odata.type")
    deviceDnsName: Str256 | None = None
    mdeDeviceId: Str256 | None = None
    rbacGroupName: Str256 | None = None
    userAccount: UserAccount | None = None


class Alert(_Body):
    """A microsoft.graph.security.alert of the incident."""

    id: Id256
    title: Str512
    category: Str128 | None = None
    serviceSource: Str128 | None = None
    severity: Str32 | None = None
    mitreTechniques: Annotated[list[Str32], Field(max_length=50)] = []
    evidence: Annotated[list[Evidence], Field(max_length=200)] = []


class Incident(_Body):
    """A microsoft.graph.security.incident. Unknown extra fields are kept."""

    id: IncidentId
    tenantId: Str64 = ""
    displayName: Name512
    severity: Severity
    status: Status
    assignedTo: Str256 | None = None
    classification: Classification | None = None
    determination: Determination | None = None
    incidentWebUrl: HttpsUrl
    redirectIncidentId: Str128 | None = None
    createdDateTime: DateTimeStr = Field(description="Time when the incident was first created.")
    lastUpdateDateTime: DateTimeStr = Field(description="Time when the incident was last updated.")
    alerts: Annotated[list[Alert], Field(max_length=100)] = []


class ManagedResponse(_Body):
    """What the experts found and did. One revision per update of the incident."""

    revision: Annotated[
        int,
        Field(
            ge=1,
            le=1_000_000_000,
            description="Grows with every update of the same incident. Revision 1 is a new "
            "post; later ones update it. Revisions not above the last one accepted are "
            "recorded and ignored.",
        ),
    ]
    summary: Str8000
    completedActions: Annotated[list[CompletedAction], Field(max_length=50)]
    pendingActions: Annotated[list[PendingAction], Field(max_length=50)]
    analyst: Str128 = ""


class IncidentNotification(_Body):
    """Defender Experts incident notification"""

    type: Literal["incident.notification"]
    incident: Incident
    managedResponse: ManagedResponse


class _Published(GenerateJsonSchema):
    """The JSON Schema as published: no generated titles and no defaults (an optional field
    may be left out; it may be null only where its type says so)."""

    def generate(self, schema: CoreSchema, mode: JsonSchemaMode = "validation") -> JSON:
        tidy: JSON = _tidy(super().generate(schema, mode))
        return tidy


def _tidy(node: Any, key: str = "") -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "title" and isinstance(v, str) and key != "properties":
                continue
            if k == "default":
                continue
            out[k] = _tidy(v, k)
        return out
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    return node


def notification_schema() -> JSON:
    """The JSON Schema (2020-12) of the body of ``POST /api/notifications``."""
    schema = IncidentNotification.model_json_schema(schema_generator=_Published)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Defender Experts incident notification",
        **schema,
    }
