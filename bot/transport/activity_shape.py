"""The shape of an incoming Bot Framework activity, checked before botbuilder deserializes it.

botbuilder's msrest deserializer raises on a ``timestamp`` that isn't a date and hands the
handler a string where it expects an account; both used to end in a 500. :func:`check_activity`
refuses such bodies with a short reason (answered as 400). Only the fields the SDK parses or the
handler reads are typed; anything else passes through untouched, as the Bot Framework schema
allows extension data. Nesting and the number of values are bounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

MAX_DEPTH = 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_NODES = 20_000
_SHORT = 2_048


class ActivityShapeError(ValueError):
    """The activity is malformed; ``str(error)`` is a short reason naming the field."""


class _Invalid(Exception):
    def __init__(self, where: str, message: str) -> None:
        self.where, self.message = where, message


Check = Callable[[Any, str], None]
"""Checks the value found at ``where`` (a field's check never sees ``None``: every field may
be null or absent; an item of a list may not be null)."""


def _string(most: int | None = None, least: int = 0) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, str):
            raise _Invalid(where, "must be a string")
        if len(value) < least:
            raise _Invalid(where, f"must have at least {least} character")
        if most is not None and len(value) > most:
            raise _Invalid(where, f"must have at most {most} characters")

    return check


_text = _string()
_short = _string(_SHORT)
_date = _string(64)


def _iso_date(value: Any, where: str) -> None:
    _date(value, where)
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _Invalid(where, "must be an ISO 8601 date and time") from None


def _bool(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise _Invalid(where, "must be a boolean")


def _object(fields: Mapping[str, Check]) -> Check:
    """An object whose listed fields, when present and not null, pass their checks; any other
    field passes untouched (the Bot Framework schema allows extension data)."""

    def check(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _Invalid(where, "must be an object")
        for name, field in fields.items():
            item = value.get(name)
            if item is not None:
                field(item, f"{where}.{name}" if where else name)

    return check


def _list(item: Check) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, list):
            raise _Invalid(where, "must be a list")
        for i, element in enumerate(value):
            item(element, f"{where}.{i}")

    return check


_ACCOUNT_FIELDS = {"id": _short, "name": _short, "aadObjectId": _short, "role": _short}
_account = _object(_ACCOUNT_FIELDS)
_conversation = _object(
    {**_ACCOUNT_FIELDS, "isGroup": _bool, "conversationType": _short, "tenantId": _short}
)
_channel_data = _object(
    {
        "tenant": _object({"id": _short}),
        "team": _account,
        "channel": _account,
        "eventType": _short,
    }
)
_attachment = _object(
    {"contentType": _short, "contentUrl": _text, "name": _short, "thumbnailUrl": _text}
)
_entity = _object({"type": _short})
_reference = _object(
    {
        "activityId": _short,
        "user": _account,
        "bot": _account,
        "conversation": _conversation,
        "channelId": _short,
        "serviceUrl": _short,
        "locale": _short,
    }
)
_TYPE = _string(64, least=1)
_activity = _object(
    {
        "id": _short,
        "timestamp": _iso_date,
        "localTimestamp": _iso_date,
        "localTimezone": _short,
        "expiration": _iso_date,
        "serviceUrl": _short,
        "channelId": _short,
        "from": _account,
        "recipient": _account,
        "conversation": _conversation,
        "replyToId": _short,
        "action": _short,
        "name": _short,
        "text": _text,
        "textFormat": _short,
        "locale": _short,
        "speak": _text,
        "inputHint": _short,
        "summary": _text,
        "attachmentLayout": _short,
        "attachments": _list(_attachment),
        "entities": _list(_entity),
        "membersAdded": _list(_account),
        "membersRemoved": _list(_account),
        "channelData": _channel_data,
        "relatesTo": _reference,
        "topicName": _short,
        "historyDisclosed": _bool,
        "valueType": _short,
        "label": _short,
        "code": _short,
        "importance": _short,
        "deliveryMode": _short,
        "listenFor": _list(_short),
        "callerId": _short,
    }
)


def _answerable(body: dict[str, Any]) -> None:
    """What the Teams channel always sends and botbuilder dereferences: the conversation's id
    (every reply and update is addressed by it), and on a ``conversationUpdate`` from Teams the
    channel data (botbuilder reads the team from it)."""
    conversation = body.get("conversation")
    if not isinstance(conversation, dict) or not conversation.get("id"):
        raise _Invalid("conversation.id", "is required")
    # Teams' ids never hold a control character, and the stored keys are made of these.
    for where, value in (
        ("conversation.id", conversation["id"]),
        ("conversation.tenantId", conversation.get("tenantId")),
        ("from.id", (body.get("from") or {}).get("id")),
        ("from.aadObjectId", (body.get("from") or {}).get("aadObjectId")),
        ("channelData.tenant.id", ((body.get("channelData") or {}).get("tenant") or {}).get("id")),
    ):
        if isinstance(value, str) and _CONTROL.search(value):
            raise _Invalid(where, "must have no control characters")
    if (
        body["type"] == "conversationUpdate"
        and body.get("channelId") == "msteams"
        and not isinstance(body.get("channelData"), dict)
    ):
        raise _Invalid("channelData", "is required on a conversationUpdate from Teams")


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


def check_activity(body: Any) -> None:
    """Raise :class:`ActivityShapeError` when ``body`` is not an activity botbuilder can take."""
    if not isinstance(body, dict):
        raise ActivityShapeError("the body must be a JSON object")
    _bounded(body)
    try:
        if "type" not in body:
            raise _Invalid("type", "is required")
        _TYPE(body["type"], "type")
        _activity(body, "")
        _answerable(body)
    except _Invalid as invalid:
        raise ActivityShapeError(f"{invalid.where[:80]}: {invalid.message[:120]}") from None
