"""ChannelMessenger on botbuilder: proactive posts, thread replies and in-place card updates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity, ConversationReference
from msrest.exceptions import ClientRequestError, HttpOperationError

from bot.messaging import JSON, DeliveryError, Posted
from bot.retry import parse_retry_after
from bot.transport.adapter import RetryingCloudAdapter

T = TypeVar("T")


def _activity(card: JSON | None, text: str) -> Activity:
    if card is not None:
        activity: Activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
        if text:
            activity.text = text
        return activity
    return MessageFactory.text(text)


def _delivery_error(exc: BaseException) -> DeliveryError:
    if isinstance(exc, HttpOperationError):
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        headers = getattr(response, "headers", None) or {}
        return DeliveryError(
            f"connector answered {status}",
            status=status if isinstance(status, int) else None,
            retry_after=parse_retry_after(headers.get("Retry-After")),
        )
    return DeliveryError(
        f"connector unreachable: {type(exc).__name__}", status=None, retry_after=None
    )


class BotMessenger:
    """Uses ``continue_conversation`` on stored references. ``bot_app_id`` must be non-empty."""

    def __init__(self, adapter: RetryingCloudAdapter, bot_app_id: str) -> None:
        self._adapter = adapter
        self._bot_app_id = bot_app_id

    async def _continue(self, reference: JSON, fn: Callable[[TurnContext], Awaitable[T]]) -> T:
        ref = ConversationReference().deserialize(reference)
        box: list[T] = []

        async def callback(turn_context: TurnContext) -> None:
            box.append(await fn(turn_context))

        try:
            await self._adapter.continue_conversation(ref, callback, self._bot_app_id)
        except (HttpOperationError, ClientRequestError, aiohttp.ClientError, TimeoutError) as exc:
            raise _delivery_error(exc) from exc
        return box[0]

    async def post_to_channel(
        self, team_reference: JSON, channel_id: str, *, card: JSON | None = None, text: str = ""
    ) -> Posted:
        async def post(turn_context: TurnContext) -> Posted:
            reference, activity_id = await TeamsInfo.send_message_to_teams_channel(
                turn_context, _activity(card, text), channel_id, bot_app_id=self._bot_app_id
            )
            ref_json: dict[str, Any] = reference.serialize()
            return Posted(
                conversation_id=str(reference.conversation.id),
                activity_id=str(activity_id),
                reference=ref_json,
            )

        return await self._continue(team_reference, post)

    async def send(self, reference: JSON, *, card: JSON | None = None, text: str = "") -> str:
        async def send(turn_context: TurnContext) -> str:
            response = await turn_context.send_activity(_activity(card, text))
            return str(response.id) if response and response.id else ""

        return await self._continue(reference, send)

    async def update(self, reference: JSON, activity_id: str, *, card: JSON) -> None:
        async def update(turn_context: TurnContext) -> None:
            activity = _activity(card, "")
            activity.id = activity_id
            await turn_context.update_activity(activity)

        await self._continue(reference, update)
