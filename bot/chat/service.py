"""The chat use cases: customer messages in, experts' answers out, the virtual assistant.

No HTTP, no Bot Framework, no storage driver: the transport hands in parsed Teams messages,
the console and the Experts chat API call the same methods, and every write is one store
transaction whose events are then published to the live subscribers.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.actions import Access, Actor, CardAction, CardRoute, CommandRoute, Refusal, Routes
from bot.chat.model import (
    ASSISTANT_NAME,
    JSON,
    Attachment,
    ChatEvent,
    ChatMessage,
    Conversation,
    Expert,
    Outgoing,
    Person,
    Place,
    TeamsChange,
    TeamsMessage,
    conversation_key,
)
from bot.chat.ports import (
    Askers,
    BotMessage,
    ChatNotFound,
    ChatStore,
    ConversationFilter,
    ConversationSeed,
    Fanout,
    IncidentSummary,
    NewMessage,
    Places,
    Presence,
    Subscription,
    TeamRef,
    Written,
)
from bot.chat.text import answer_text, customer_text
from bot.logsafe import safe
from bot.notifications.ratelimit import thread_of
from cards import to_json
from cards.chat import (
    ASK_VERB,
    ATTACHMENTS_NOTICE,
    STOP_VERB,
    TOP_LEVEL_NOTICE,
    AnswerView,
    AskView,
    acknowledgement_text,
    answer_card,
    ask_card,
)
from cards.elements import AdaptiveCard

log = logging.getLogger(__name__)

ACK_QUIET_SECONDS = 1800.0
"""At most one acknowledgement per thread in this many seconds."""
EXPECTED_ANSWER_MINUTES = 30
ASSISTANT = Person("virtual-assistant", ASSISTANT_NAME)


@dataclass(frozen=True)
class ChatOptions:
    ack_seconds: float = 120.0
    expected_answer_minutes: int = EXPECTED_ANSWER_MINUTES


class ChatService:
    def __init__(
        self,
        store: ChatStore,
        places: Places,
        fanout: Fanout,
        *,
        served: Callable[[str], bool],
        askers: Askers | None = None,
        options: ChatOptions | None = None,
        presence: Presence | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._places = places
        self._fanout = fanout
        self._served = served
        self._askers = askers
        self._options = options or ChatOptions()
        self._clock = clock
        self._sleep = sleep
        self._experts_online = 0
        self._presence = presence
        self._wake_sender: Callable[[], None] = lambda: None
        self._ack_wake = asyncio.Event()
        self._ack_idle = asyncio.Event()

    @property
    def store(self) -> ChatStore:
        return self._store

    def set_on_enqueued(self, callback: Callable[[], None]) -> None:
        """Who to wake when a send is enqueued (the delivery worker)."""
        self._wake_sender = callback

    def published(self, written: Written) -> None:
        """Tell live subscribers about what a write committed."""
        if written.events:
            self._fanout.publish(written.events)

    # ---- presence ---------------------------------------------------------------------------

    def console_opened(self) -> None:
        self._experts_online += 1
        if self._presence is not None:
            self._presence.changed(self._experts_online)

    def console_closed(self) -> None:
        self._experts_online = max(0, self._experts_online - 1)
        if self._presence is not None:
            self._presence.changed(self._experts_online)

    @property
    def experts_online(self) -> int:
        """Consoles open on this instance and, with several instances, on the others."""
        elsewhere = self._presence.elsewhere if self._presence is not None else 0
        return self._experts_online + elsewhere

    # ---- from Teams -------------------------------------------------------------------------

    async def receive(self, message: TeamsMessage) -> bool:
        """A message activity from Teams. Returns True if chat took it (stored, or answered
        with a notice); False lets the caller treat it as a command or show help."""
        tenant = message.tenant_id.lower()
        if message.from_bot or not self._served(tenant):
            return message.from_bot
        if message.conversation_type == "channel":
            return await self._channel_message(tenant, message)
        if message.conversation_type == "personal":
            return await self._personal_message(tenant, message)
        return False

    async def _personal_message(self, tenant: str, message: TeamsMessage) -> bool:
        """Free text in personal chat goes to the experts only after ``ask``."""
        cid = conversation_key(tenant, message.conversation_id)
        conversation = await self._store.conversation(cid)
        if conversation is None or not conversation.open:
            return False
        place = Place(kind="personal", title=conversation.title)
        await self._record(tenant, message, place)
        return True

    # ---- ask / stop in personal chat --------------------------------------------------------

    def routes(self) -> Routes:
        """Ask and Stop, as buttons and as commands: any member of the served tenant; the
        router's guard lets only an administrator or a contact ask (:meth:`may_ask`)."""
        return Routes(
            cards=(
                CardRoute(ASK_VERB, self._ask_action, Access.MEMBER, permit=self.may_ask),
                CardRoute(STOP_VERB, self._stop_action, Access.MEMBER),
            ),
            commands=(
                CommandRoute(("ask",), self._ask_command, Access.MEMBER, permit=self.may_ask),
                CommandRoute(("stop",), self._stop_command, Access.MEMBER),
            ),
            refused=self.refused,
        )

    async def may_ask(self, actor: Actor) -> bool:
        """Who may open a chat with the experts: an administrator or a notification contact
        of a served tenant."""
        tenant = actor.tenant_id.lower()
        return (
            self._served(tenant)
            and self._askers is not None
            and await self._askers.may_ask(tenant, actor.user_id)
        )

    async def refused(
        self, actor: Actor, refusal: Refusal, action: CardAction | None
    ) -> AdaptiveCard | None:
        """Someone who may not ask is told who may; other refusals are the router's."""
        if refusal.reason == "not_permitted":
            log.info("refused ask from a user who isn't an admin or a contact")
            return ask_card(AskView(actor.name, allowed=False))
        return None

    async def _ask_command(self, actor: Actor, args: str) -> AdaptiveCard:
        return await self.ask(actor)

    async def _stop_command(self, actor: Actor, args: str) -> AdaptiveCard:
        return await self.stop(actor)

    async def _ask_action(self, action: CardAction) -> AdaptiveCard:
        return await self.ask(action.actor)

    async def _stop_action(self, action: CardAction) -> AdaptiveCard:
        return await self.stop(action.actor)

    async def ask(self, actor: Actor) -> AdaptiveCard:
        """Open the personal chat to the experts. The router's guard has checked that the
        actor may ask (:meth:`may_ask`)."""
        tenant = actor.tenant_id.lower()
        reference = await self._places.personal_reference(tenant, actor.user_id)
        conversation = (reference or {}).get("conversation") or {}
        if not conversation.get("id"):
            log.info("refused ask from a user with no personal chat with the bot")
            return ask_card(AskView(actor.name, allowed=False))
        teams_id = str(conversation["id"])
        written = await self._store.open_conversation(
            ConversationSeed(
                id=conversation_key(tenant, teams_id),
                tenant_id=tenant,
                tenant_name=await self._places.tenant_name(tenant),
                place=Place(kind="personal", title=actor.name or "A personal chat"),
                teams_conversation_id=teams_id,
                thread_id=teams_id,
                reference=dict(reference or {}),
            )
        )
        self.published(written)
        return ask_card(AskView(actor.name, allowed=True))

    async def stop(self, actor: Actor) -> AdaptiveCard:
        tenant = actor.tenant_id.lower()
        reference = await self._places.personal_reference(tenant, actor.user_id)
        teams_id = str(((reference or {}).get("conversation") or {}).get("id") or "")
        if teams_id:
            written = await self._store.close_conversation(conversation_key(tenant, teams_id))
            if written is not None:
                self.published(written)
        return ask_card(AskView(actor.name, allowed=True, open=False))

    async def _channel_message(self, tenant: str, message: TeamsMessage) -> bool:
        team = TeamRef(message.team_id, message.team_aad_group_id, message.channel_id)
        if not await self._places.is_our_team(tenant, team):
            log.info("ignored a channel message from a team that isn't the Defender Experts team")
            return True
        if not message.is_thread_reply:
            await self._top_level(tenant, message)
            return True
        place = await self._places.place_of_thread(tenant, team, message.root_id)
        if place is None:
            return True  # a reply under someone else's post: the experts don't see it
        await self._record(tenant, message, place)
        return True

    async def _top_level(self, tenant: str, message: TeamsMessage) -> None:
        thread = (
            message.conversation_id
            if ";messageid=" in message.conversation_id
            else f"{message.conversation_id};messageid={message.activity_id}"
        )
        reference = _with_conversation(message.reference, thread)
        send = Outgoing(
            id=uuid.uuid4().hex,
            tenant_id=tenant,
            thread_id=thread_of(thread),
            partition=thread,
            reference=reference,
            text=TOP_LEVEL_NOTICE,
        )
        if await self._store.add_notice(_receipt(tenant, message.activity_id), send):
            self._wake_sender()

    async def _record(self, tenant: str, message: TeamsMessage, place: Place) -> None:
        parsed = customer_text(
            message.text, message.text_format, bot_names=message.bot_mention_names
        )
        attachments = list(message.attachments)
        attachments += [Attachment("inline image", "image")] * parsed.inline_images
        known = {a.name for a in attachments}
        attachments += [
            Attachment(f"attachment {i}", "reference")
            for i in parsed.attachment_ids
            if f"attachment {i}" not in known and not message.attachments
        ]
        cid = conversation_key(tenant, message.conversation_id)
        now = self._clock()
        ack_at = now + (self._options.ack_seconds if self.experts_online else 0.0)
        seed = ConversationSeed(
            id=cid,
            tenant_id=tenant,
            tenant_name=await self._places.tenant_name(tenant),
            place=place,
            teams_conversation_id=message.conversation_id,
            thread_id=thread_of(message.conversation_id),
            reference=message.reference,
        )
        written = await self._store.add_customer_message(
            _receipt(tenant, message.activity_id),
            seed,
            NewMessage(
                id=uuid.uuid4().hex,
                role="customer",
                author=Person(message.sender.id, message.sender.name or "A team member"),
                text=parsed.text,
                teams_activity_id=message.activity_id,
                attachments=tuple(attachments),
            ),
            ack_at=ack_at,
        )
        if written is None:
            log.info("activity %s was already recorded", safe(message.activity_id))
            return
        self.published(written)
        self._ack_idle.clear()
        self._ack_wake.set()
        log.info("customer message in conversation %s", cid)
        if attachments and written.conversation is not None:
            await self._assistant(written.conversation, ATTACHMENTS_NOTICE, mark="attachments")

    async def on_incident_event(self, event: JSON) -> None:
        """A card action on an incident ("Alex acknowledged"): shown live in its conversations."""
        tenant = str(event.get("tenantId", "")).lower()
        incident_id = str(event.get("incidentId", ""))
        if not incident_id or not self._served(tenant):
            return
        by = event.get("by") if isinstance(event.get("by"), dict) else {}
        body = {
            "type": str(event.get("type", "")),
            "incidentId": incident_id,
            "actionId": event.get("actionId"),
            "by": str((by or {}).get("name") or "A team member"),
            "at": event.get("at"),
        }
        self.published(await self._store.incident_event(tenant, incident_id, body))

    async def change(self, change: TeamsChange) -> None:
        """Teams' messageUpdate / messageDelete of a customer's message."""
        tenant = change.tenant_id.lower()
        if not self._served(tenant):
            return
        text: str | None = None
        attachments: tuple[Attachment, ...] | None = None
        if not change.deleted:
            parsed = customer_text(
                change.text, change.text_format, bot_names=change.bot_mention_names
            )
            text = parsed.text
            extra = (Attachment("inline image", "image"),) * parsed.inline_images
            attachments = (*change.attachments, *extra) or None
        written = await self._store.change_customer_message(
            tenant, change.activity_id, text=text, attachments=attachments
        )
        if written is not None:
            self.published(written)

    # ---- the experts ------------------------------------------------------------------------

    async def answer(
        self, expert: Expert, conversation_id: str, text: Any, *, request_id: str = ""
    ) -> ChatMessage:
        """Post an expert's answer in the conversation's thread. Raises ValidationError,
        ChatNotFound or DuplicateAnswer; returns once the answer and its send are committed."""
        checked = answer_text(text)
        conversation = await self.conversation(conversation_id)
        card = to_json(answer_card(AnswerView(expert.name, checked)))
        written = await self._bot_message(
            conversation,
            NewMessage(uuid.uuid4().hex, "expert", Person(expert.id, expert.name), checked),
            card,
            request_id=request_id,
            answered=True,
        )
        assert written is not None and written.message is not None
        log.info("expert answer %s in conversation %s", written.message.id, conversation.id)
        return written.message

    async def _bot_message(
        self,
        conversation: Conversation,
        message: NewMessage,
        card: JSON,
        **unit: Any,
    ) -> Written | None:
        send = Outgoing(
            id=uuid.uuid4().hex,
            tenant_id=conversation.tenant_id,
            thread_id=conversation.thread_id,
            partition=conversation.teams_conversation_id,
            reference=conversation.reference,
            card=card,
            message_id=message.id,
        )
        written = await self._store.add_bot_message(
            BotMessage(conversation.id, message, send, ack_quiet=ACK_QUIET_SECONDS, **unit)
        )
        if written is not None:
            self.published(written)
            self._wake_sender()
        return written

    async def _assistant(
        self, conversation: Conversation, text: str, *, mark: Any
    ) -> Written | None:
        card = to_json(answer_card(AnswerView(ASSISTANT_NAME, text, assistant=True)))
        return await self._bot_message(
            conversation,
            NewMessage(uuid.uuid4().hex, "assistant", ASSISTANT, text),
            card,
            mark=mark,
        )

    async def conversation(self, conversation_id: str) -> Conversation:
        found = (
            await self._store.conversation(conversation_id)
            if isinstance(conversation_id, str) and len(conversation_id) <= 64
            else None
        )
        if found is None or not self._served(found.tenant_id):
            raise ChatNotFound(conversation_id)
        return found

    async def conversations(
        self, *, tenant_id: str = "", waiting: bool = False, limit: int = 100
    ) -> list[JSON]:
        found = await self._store.conversations(
            ConversationFilter(tenant_id=tenant_id, waiting=waiting, limit=max(1, min(limit, 500)))
        )
        return [c.summary() for c in found if self._served(c.tenant_id)]

    async def transcript(self, conversation_id: str, *, after: int = 0, limit: int = 200) -> JSON:
        conversation = await self.conversation(conversation_id)
        messages = await self._store.messages(conversation.id, after, max(1, min(limit, 500)))
        incident: IncidentSummary | None = None
        if conversation.incident_id:
            incident = await self._places.incident(conversation.tenant_id, conversation.incident_id)
        return {
            "conversation": conversation.summary(),
            "incident": incident.to_json() if incident else None,
            "messages": [m.to_json() for m in messages],
            "next": messages[-1].seq if messages else after,
        }

    async def mark_read(self, conversation_id: str) -> None:
        conversation = await self.conversation(conversation_id)
        written = await self._store.mark_read(conversation.id)
        if written is not None:
            self.published(written)

    async def events(self, after: int, limit: int = 100) -> list[ChatEvent]:
        return await self._store.events_after(max(0, after), max(1, min(limit, 500)))

    def subscribe(self) -> Subscription:
        return self._fanout.subscribe()

    async def stream(self, after: int) -> tuple[list[ChatEvent], Subscription]:
        """Resume after ``after``: the stored events since, and a subscription for what comes
        next. The subscription is taken first, so nothing falls in between; the caller skips
        live events at or below the last stored one."""
        subscription = self._fanout.subscribe()
        backlog: list[ChatEvent] = []
        cursor = max(0, after)
        while True:
            page = await self._store.events_after(cursor, 500)
            backlog += page
            if len(page) < 500:
                return backlog, subscription
            cursor = page[-1].cursor

    # ---- the virtual assistant --------------------------------------------------------------

    async def acknowledge_due(self) -> int:
        """Post the acknowledgements that are due now; returns how many were posted."""
        posted = 0
        for conversation in await self._store.due_acks(self._clock()):
            text = acknowledgement_text(
                self._options.expected_answer_minutes, personal=conversation.kind == "personal"
            )
            if await self._assistant(conversation, text, mark="ack") is not None:
                posted += 1
        return posted

    async def wait_assistant_idle(self) -> None:
        """Return once the assistant loop has posted every acknowledgement due and none is due
        now: its public idle signal. A new customer message clears it until the loop has
        looked again."""
        await self._ack_idle.wait()

    async def run_assistant(self) -> None:
        """Acknowledge due conversations until cancelled."""
        while True:
            self._ack_wake.clear()
            await self.acknowledge_due()
            due = await self._store.next_ack_due()
            wait = 3600.0 if due is None else max(0.0, due - self._clock())
            if wait > 0 and not self._ack_wake.is_set():
                self._ack_idle.set()
            sleeper = asyncio.ensure_future(self._sleep(wait))
            waker = asyncio.ensure_future(self._ack_wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()


def _receipt(tenant: str, activity_id: str) -> str:
    return f"teams:{tenant}:{activity_id[:200]}"


def _with_conversation(reference: JSON, conversation_id: str) -> JSON:
    conversation = dict(reference.get("conversation") or {})
    conversation["id"] = conversation_id
    return {**reference, "conversation": conversation}


__all__ = ["ChatOptions", "ChatService"]
