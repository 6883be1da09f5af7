"""The shape of an incoming Bot Framework activity, checked before botbuilder deserializes it.

botbuilder's msrest deserializer raises on a ``timestamp`` that isn't a date and hands the
handler a string where it expects an account; both used to end in a 500. :func:`check_activity`
refuses such bodies with a short reason (answered as 400). Only the fields the SDK parses or the
handler reads are typed; anything else passes through untouched, as the Bot Framework schema
allows extension data. Nesting and the number of values are bounded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, ValidationError

MAX_DEPTH = 32
MAX_NODES = 20_000
_SHORT = 2_048


class ActivityShapeError(ValueError):
    """The activity is malformed; ``str(error)`` is a short reason naming the field."""


def _iso_datetime(value: str) -> str:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO 8601 date and time") from None
    return value


Text = Annotated[str, Field(strict=True)]
Short = Annotated[str, Field(strict=True, max_length=_SHORT)]
IsoDate = Annotated[str, Field(strict=True, max_length=64), AfterValidator(_iso_datetime)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Account(_Open):
    id: Short | None = None
    name: Short | None = None
    aadObjectId: Short | None = None
    role: Short | None = None


class Conversation(Account):
    isGroup: StrictBool | None = None
    conversationType: Short | None = None
    tenantId: Short | None = None


class IdOnly(_Open):
    id: Short | None = None


class TeamsChannelData(_Open):
    tenant: IdOnly | None = None
    team: Account | None = None
    channel: Account | None = None
    eventType: Short | None = None


class Attachment(_Open):
    contentType: Short | None = None
    contentUrl: Text | None = None
    name: Short | None = None
    thumbnailUrl: Text | None = None


class Entity(_Open):
    type: Short | None = None


class ConversationReference(_Open):
    activityId: Short | None = None
    user: Account | None = None
    bot: Account | None = None
    conversation: Conversation | None = None
    channelId: Short | None = None
    serviceUrl: Short | None = None
    locale: Short | None = None


class ActivityShape(_Open):
    type: Annotated[str, Field(strict=True, min_length=1, max_length=64)]
    id: Short | None = None
    timestamp: IsoDate | None = None
    localTimestamp: IsoDate | None = None
    localTimezone: Short | None = None
    expiration: IsoDate | None = None
    serviceUrl: Short | None = None
    channelId: Short | None = None
    from_: Account | None = Field(default=None, alias="from")
    recipient: Account | None = None
    conversation: Conversation | None = None
    replyToId: Short | None = None
    action: Short | None = None
    name: Short | None = None
    text: Text | None = None
    textFormat: Short | None = None
    locale: Short | None = None
    speak: Text | None = None
    inputHint: Short | None = None
    summary: Text | None = None
    attachmentLayout: Short | None = None
    attachments: list[Attachment] | None = None
    entities: list[Entity] | None = None
    membersAdded: list[Account] | None = None
    membersRemoved: list[Account] | None = None
    channelData: TeamsChannelData | None = None
    relatesTo: ConversationReference | None = None
    topicName: Short | None = None
    historyDisclosed: StrictBool | None = None
    valueType: Short | None = None
    label: Short | None = None
    code: Short | None = None
    importance: Short | None = None
    deliveryMode: Short | None = None
    listenFor: list[Short] | None = None
    callerId: Short | None = None


def _bounded(body: Any) -> None:
    """Refuse bodies nested deeper than MAX_DEPTH or holding more than MAX_NODES values."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ActivityShapeError(f"the activity holds more than {MAX_NODES} values")
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise ActivityShapeError(f"the activity is nested deeper than {MAX_DEPTH} levels")
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


def _reason(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "activity"
    message = str(first["msg"])
    if first["type"] in ("model_type", "dict_type"):
        message = "must be an object"
    elif first["type"] == "list_type":
        message = "must be a list"
    elif first["type"] in ("string_type", "bool_type"):
        message = f"must be a {'string' if first['type'] == 'string_type' else 'boolean'}"
    elif first["type"] == "missing":
        message = "is required"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return f"{where[:80]}: {message[:120]}"


def check_activity(body: Any) -> None:
    """Raise :class:`ActivityShapeError` when ``body`` is not an activity botbuilder can take."""
    if not isinstance(body, dict):
        raise ActivityShapeError("the body must be a JSON object")
    _bounded(body)
    try:
        ActivityShape.model_validate(body)
    except ValidationError as exc:
        raise ActivityShapeError(_reason(exc)) from None
