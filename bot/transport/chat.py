"""Teams activities to the chat's plain shapes (``bot.chat.model``): the only place that knows
how a channel thread reply, a mention or a file attachment looks in an activity."""

from __future__ import annotations

from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity

from bot.chat.model import Attachment, Person, TeamsChange, TeamsMessage

MAX_ATTACHMENTS = 20
_CARD_TYPES = ("application/vnd.microsoft.card.", "application/vnd.microsoft.teams.card.")


def _channel_data(activity: Activity) -> dict[str, Any]:
    return activity.channel_data if isinstance(activity.channel_data, dict) else {}


def _id_of(value: Any) -> str:
    return str(value.get("id") or "") if isinstance(value, dict) else ""


def tenant_of(activity: Activity) -> str:
    tenant = _id_of(_channel_data(activity).get("tenant"))
    if not tenant and activity.conversation is not None:
        tenant = str(activity.conversation.tenant_id or "")
    return tenant.lower()


def root_of(conversation_id: str) -> str:
    """The thread's root message id from ``<channel>;messageid=<root>``, or ""."""
    _, found, root = conversation_id.partition(";messageid=")
    return root.strip() if found else ""


def bot_mention_names(activity: Activity) -> frozenset[str]:
    """The names under which the bot itself is mentioned in the text."""
    bot_id = activity.recipient.id if activity.recipient else ""
    names: set[str] = set()
    for entity in activity.entities or []:
        props = entity.additional_properties if hasattr(entity, "additional_properties") else {}
        if getattr(entity, "type", "") != "mention":
            continue
        mentioned = props.get("mentioned") if isinstance(props, dict) else None
        text = props.get("text") if isinstance(props, dict) else None
        if _id_of(mentioned) == bot_id and isinstance(text, str):
            names.add(text.replace("<at>", "").replace("</at>", "").strip())
        if _id_of(mentioned) == bot_id and isinstance(mentioned, dict) and mentioned.get("name"):
            names.add(str(mentioned["name"]))
    return frozenset(names)


def attachments_of(activity: Activity) -> tuple[Attachment, ...]:
    """Files and images the customer attached (cards the client adds are not attachments)."""
    found: list[Attachment] = []
    for attachment in (activity.attachments or [])[:MAX_ATTACHMENTS]:
        kind = str(attachment.content_type or "")
        if kind.startswith(_CARD_TYPES) or kind == "text/html":
            continue
        name = str(attachment.name or "").strip()[:200] or "unnamed file"
        found.append(Attachment(name, kind[:100]))
    return tuple(found)


def _from_bot(activity: Activity) -> bool:
    sender = activity.from_property
    if sender is None:
        return False
    role = str(getattr(sender, "role", "") or "")
    sender_id = str(sender.id or "")
    bot_id = activity.recipient.id if activity.recipient else ""
    return role == "bot" or sender_id.startswith("28:") or bool(bot_id and sender_id == bot_id)


def teams_message(activity: Activity) -> TeamsMessage:
    sender = activity.from_property
    conversation = activity.conversation
    conversation_id = str(conversation.id or "") if conversation else ""
    data = _channel_data(activity)
    team = data.get("team") if isinstance(data.get("team"), dict) else {}
    return TeamsMessage(
        tenant_id=tenant_of(activity),
        activity_id=str(activity.id or ""),
        conversation_id=conversation_id,
        conversation_type=str(conversation.conversation_type or "") if conversation else "",
        sender=Person(
            str((sender.aad_object_id if sender else "") or ""),
            str((sender.name if sender else "") or "")[:128],
        ),
        from_bot=_from_bot(activity),
        text=str(activity.text or ""),
        text_format=str(activity.text_format or "xml"),
        team_id=_id_of(team),
        team_aad_group_id=str(team.get("aadGroupId") or "") if isinstance(team, dict) else "",
        channel_id=_id_of(data.get("channel")),
        root_id=root_of(conversation_id) or str(activity.reply_to_id or ""),
        bot_mention_names=bot_mention_names(activity),
        attachments=attachments_of(activity),
        reference=TurnContext.get_conversation_reference(activity).serialize(),
    )


def teams_change(activity: Activity, *, deleted: bool) -> TeamsChange:
    conversation = activity.conversation
    return TeamsChange(
        tenant_id=tenant_of(activity),
        activity_id=str(activity.id or ""),
        conversation_id=str(conversation.id or "") if conversation else "",
        deleted=deleted,
        text=str(activity.text or ""),
        text_format=str(activity.text_format or "xml"),
        bot_mention_names=bot_mention_names(activity),
        attachments=attachments_of(activity),
    )
