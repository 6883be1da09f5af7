"""ChannelMessenger on botbuilder: proactive posts, thread replies and in-place card updates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity, ConversationReference
from msrest.exceptions import HttpOperationError

from bot.config import Settings
from bot.messaging import JSON, DeliveryError, Posted
from bot.transport.adapter import (
    CONNECTION_ERRORS,
    RetryingCloudAdapter,
    build_adapter,
    connector_answer,
)
from bot.transport.botauth import BotAuthenticator, BotTokenVerifier

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
        status, retry_after = connector_answer(exc)
        return DeliveryError(f"connector answered {status}", status=status, retry_after=retry_after)
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
        except (HttpOperationError, *CONNECTION_ERRORS) as exc:
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


class BotFrameworkEdge:
    """The messengers the composition root asks for, on botbuilder adapters it closes at the end.

    ``adapter`` serves the bot's turns (behind ``authenticator``) and retries within bounds; the
    outbox's messenger uses a second adapter that makes exactly one HTTP attempt per call (the
    outbox honours Retry-After, counts every attempt against Teams' rate limits, and never
    re-sends a post whose answer it didn't record).
    """

    def __init__(
        self,
        settings: Settings,
        adapter: RetryingCloudAdapter | None = None,
        *,
        verifier: BotTokenVerifier | None = None,
    ) -> None:
        self._settings = settings
        self.adapter = adapter or build_adapter(settings)
        self.authenticator = BotAuthenticator(self.adapter.bot_framework_authentication, verifier)
        self._single: RetryingCloudAdapter | None = None

    def messenger(self, bot_app_id: str) -> BotMessenger:
        return BotMessenger(self.adapter, bot_app_id)

    def outbox_messenger(self, bot_app_id: str) -> BotMessenger:
        if self._single is None:
            self._single = build_adapter(replace(self._settings, connector_retry_attempts=1))
        return BotMessenger(self._single, bot_app_id)

    async def close(self) -> None:
        await self.authenticator.close()
        await self.adapter.close()
        if self._single is not None:
            await self._single.close()
