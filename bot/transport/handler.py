"""The Teams activity handler: parses activities and hands them to the router. Nothing else."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import Activity, ActivityTypes, Attachment, ChannelAccount

from bot.actions import ActionRouter, Actor, CardAction, TeamInstallation
from bot.chat.model import TeamsChange, TeamsMessage
from bot.conversations import ConversationService
from bot.logsafe import safe
from bot.notifications.ratelimit import RateLimiter, thread_of
from bot.transport.answers import answer
from bot.transport.chat import root_of, teams_change, teams_message
from cards import CARD_CONTENT_TYPE, to_json
from cards.elements import AdaptiveCard
from cards.messages import message_card
from cards.views import MessageView, Notice

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
MAX_TEXT = 2000


class ConversationListener(Protocol):
    """Takes the conversational messages (chat with the experts): ``receive`` returns False if
    the message isn't for it, so the handler shows help."""

    async def receive(self, message: TeamsMessage) -> bool: ...

    async def change(self, change: TeamsChange) -> None: ...


def card_attachment(card: AdaptiveCard) -> Attachment:
    return CardFactory.adaptive_card(to_json(card))


def card_invoke_response(card: AdaptiveCard) -> InvokeResponse:
    """The Universal Actions answer: a card that replaces the one acted on, in place."""
    return InvokeResponse(
        status=200,
        body={"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": to_json(card)},
    )


def apology_card(correlation_id: str) -> AdaptiveCard:
    return message_card(
        MessageView(
            title="Something went wrong",
            text="Sorry, something went wrong on our side and nothing was changed. Try again in "
            "a moment. If it keeps happening, contact your service delivery manager with this "
            f"reference: {correlation_id}.",
            notice=Notice(f"Reference: {correlation_id}", "error"),
        )
    )


def actor_of(activity: Activity) -> Actor:
    sender: ChannelAccount = activity.from_property or ChannelAccount()
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = channel_data.get("tenant") or {}
    tenant_id = (
        (tenant.get("id") if isinstance(tenant, dict) else None)
        or (activity.conversation.tenant_id if activity.conversation else None)
        or ""
    )
    return Actor(
        user_id=str(sender.aad_object_id or ""),
        name=str(sender.name or "")[:128],
        tenant_id=str(tenant_id),
    )


class DefenderExpertsBot(TeamsActivityHandler):  # type: ignore[misc]
    """Parses activities and hands them to the router and the conversation service."""

    def __init__(
        self,
        router: ActionRouter,
        conversations: ConversationService,
        *,
        allowed_tenants: Sequence[str] = (),
        chat: ConversationListener | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        super().__init__()
        self._chat = chat
        self._limiter = limiter
        self._conversations = conversations
        self._allowed_tenants = frozenset(t.lower() for t in allowed_tenants)
        self._router = router
        self._conversations = conversations

    async def on_turn(self, turn_context: TurnContext) -> None:
        tenant = actor_of(turn_context.activity).tenant_id.lower()
        if self._allowed_tenants and tenant not in self._allowed_tenants:
            log.warning(
                "dropped an activity from tenant %s: not in TENANT_ALLOW_LIST", safe(tenant)
            )
            return
        await super().on_turn(turn_context)

    async def on_turn_error(self, turn_context: TurnContext, error: Exception) -> None:
        """The adapter's error handler: the apology takes the conversation's slot too."""
        await on_turn_error(turn_context, error, lambda reply: self._reply(turn_context, reply))

    async def _reply(self, turn_context: TurnContext, activity: Activity) -> None:
        """Send into the turn's conversation: a connector call like any other as the bot, so it
        takes its slot of Teams' limits on the conversation's thread (shared with the progress
        card and the posts that the limiter already paces)."""
        if self._limiter is None:
            await turn_context.send_activity(activity)
            return
        incoming = turn_context.activity
        thread = thread_of(str(incoming.conversation.id if incoming.conversation else ""))
        async with self._limiter.slot(actor_of(incoming).tenant_id, thread):
            await turn_context.send_activity(activity)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        actor = actor_of(activity)
        await self._remember(turn_context)
        text = _MENTION.sub("", activity.text or "")[:MAX_TEXT].strip()
        text = " ".join(text.split())
        is_command = self._router.is_command(text)
        in_channel = _conversation_type(activity) == "channel"
        root = root_of(str(activity.conversation.id if activity.conversation else ""))
        top_level_command = is_command and root in ("", activity.id)
        if (
            self._chat is not None
            and ((in_channel and not top_level_command) or (not in_channel and not is_command))
            and await self._chat.receive(teams_message(activity))
        ):
            return
        if in_channel and not is_command:
            return
        card = await self._router.command(actor, text) if is_command else None
        if card is None:
            card = await self._router.unknown_text(actor, text)
        await self._reply(turn_context, MessageFactory.attachment(card_attachment(card)))

    async def on_teams_message_edit(self, turn_context: TurnContext) -> None:
        if self._chat is not None:
            await self._chat.change(teams_change(turn_context.activity, deleted=False))

    async def on_teams_message_soft_delete(self, turn_context: TurnContext) -> None:
        if self._chat is not None:
            await self._chat.change(teams_change(turn_context.activity, deleted=True))

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        activity = turn_context.activity
        if activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        value: dict[str, Any] = activity.value if isinstance(activity.value, dict) else {}
        raw_action = value.get("action")
        action: dict[str, Any] = raw_action if isinstance(raw_action, dict) else {}
        raw_verb, raw_data = action.get("verb"), action.get("data")
        verb = raw_verb if isinstance(raw_verb, str) else ""
        data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
        actor = actor_of(activity)
        log.info("card action %s by %s", safe(verb), safe(actor.user_id))
        card = await self._router.card_action(
            CardAction(
                actor=actor,
                verb=verb,
                data=data,
                conversation_id=str(activity.conversation.id if activity.conversation else ""),
                message_id=str(activity.reply_to_id or ""),
            )
        )
        return await answer(card, data, lambda new: self._reply(turn_context, new))

    async def on_teams_members_added_dispatch(
        self, members_added: list[ChannelAccount], _team_info: Any, turn_context: TurnContext
    ) -> None:
        """botbuilder would fetch each added member from the connector (``GET .../members/{id}``,
        outside Teams' limits) only to pass on richer accounts, and fail the turn when the
        connector doesn't know the member. The bot only needs to know whether it was added, so
        the activity's own accounts are used: no connector call per member."""
        await self.on_members_added_activity(members_added, turn_context)

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        activity = turn_context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        if (
            activity.conversation
            and activity.conversation.conversation_type == "personal"
            and any(m.id == bot_id for m in members_added)
        ):
            await self._welcome(turn_context)

        elif _team_of(activity) and any(m.id == bot_id for m in members_added):
            await self._team_installed(turn_context, added=True)

    async def on_members_removed_activity(
        self, members_removed: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        activity = turn_context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        if _team_of(activity) and any(m.id == bot_id for m in members_removed):
            await self._team_installed(turn_context, added=False)

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if activity.conversation and activity.conversation.conversation_type == "personal":
            await self._welcome(turn_context)
        elif _team_of(activity):
            await self._team_installed(turn_context, added=True)

    async def _team_installed(self, turn_context: TurnContext, *, added: bool) -> None:
        activity = turn_context.activity
        team = _team_of(activity)
        reference = TurnContext.get_conversation_reference(activity).serialize()
        event = TeamInstallation(
            tenant_id=actor_of(activity).tenant_id,
            team_id=str(team.get("id", "")),
            aad_group_id=str(team.get("aadGroupId", "")),
            team_name=str(team.get("name", ""))[:256],
            reference=reference,
            added=added,
        )
        log.info("bot %s team %s", "added to" if added else "removed from", safe(event.team_id))
        await self._router.team_installation(event)

    async def _welcome(self, turn_context: TurnContext) -> None:
        """Send the welcome card once per conversation, however many install events arrive."""
        activity = turn_context.activity
        at = str(activity.timestamp) if activity.timestamp else None
        if not await self._conversations.first_welcome(str(activity.conversation.id), at):
            return
        await self._remember(turn_context)
        card = await self._router.welcome(actor_of(activity))
        if card is not None:
            await self._reply(turn_context, MessageFactory.attachment(card_attachment(card)))

    async def _remember(self, turn_context: TurnContext) -> None:
        """Hand the conversation reference over, so that the bot can write to this chat later."""
        activity = turn_context.activity
        if not activity.conversation or not activity.conversation.id:
            return
        await self._conversations.remember(
            actor_of(activity),
            str(activity.conversation.id),
            _conversation_type(activity),
            TurnContext.get_conversation_reference(activity).serialize(),
        )


def _conversation_type(activity: Activity) -> str:
    return str(activity.conversation.conversation_type or "") if activity.conversation else ""


def _team_of(activity: Activity) -> dict[str, Any]:
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    team = channel_data.get("team")
    return team if isinstance(team, dict) and team.get("id") else {}


async def on_turn_error(
    turn_context: TurnContext,
    error: Exception,
    send: Callable[[Activity], Awaitable[None]],
) -> None:
    """Log once, with a correlation id; tell the user something useful and nothing internal.
    ``send`` posts the apology into the conversation (the bot's, through Teams' limits)."""
    correlation_id = uuid.uuid4().hex[:12]
    activity = turn_context.activity
    log.error(
        "turn failed [%s] type=%s name=%s conversation=%s",
        correlation_id,
        safe(activity.type),
        safe(activity.name),
        safe(activity.conversation.id if activity.conversation else ""),
        exc_info=error,
    )
    card = apology_card(correlation_id)
    try:
        if activity.type == ActivityTypes.invoke and activity.name == "adaptiveCard/action":
            # The invoke's HTTP answer, not a connector call: no slot of Teams' limits.
            await turn_context.send_activity(
                Activity(type=ActivityTypes.invoke_response, value=card_invoke_response(card))
            )
        elif activity.type == ActivityTypes.message:
            await send(MessageFactory.attachment(card_attachment(card)))
    except Exception:
        log.warning("could not tell the user about failure [%s]", correlation_id)
