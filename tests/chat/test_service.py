"""Unit tests of the chat service: Teams HTML to text, the virtual assistant on an injected
clock, and delivery on the limiter the incident posts share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.chat.delivery import ChatDelivery
from bot.chat.fanout import InProcessFanout
from bot.chat.model import Expert, Person, Place, TeamsMessage
from bot.chat.ports import IncidentSummary, TeamRef
from bot.chat.service import ChatOptions, ChatService
from bot.chat.text import MAX_CUSTOMER_CHARS, answer_text, customer_text
from bot.errors import ValidationError
from bot.messaging import DeliveryError
from bot.notifications.ratelimit import TeamsRateLimiter
from bot.storage.sqlite import SqliteStore
from bot.storage.sqlite_chat import SqliteChatStore
from tests.messenger import FakeMessenger
from tests.notifications.support import FakeClock

TENANT = "4f1c3a2e-7d5b-4e8a-9c21-6b0d8e3f5a17"
THREAD = "19:channel@thread.tacv2;messageid=100"


# ---- Teams HTML ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello <b>there</b></p>", "Hello there"),
        ("<div>one</div><div>two<br>three</div>", "one\n\ntwo\nthree"),
        ("<script>alert(1)</script>safe", "safe"),
        ("<img src=x onerror=alert(1)>after", "after"),
        ('<at id="0">Defender Experts</at> hi', "hi"),
        ('<at id="1">Megan Bowen</at> look', "@Megan Bowen look"),
        ('<a href="https://evil.example/x">click</a>', "click [https://evil.example/x]"),
        ('<a href="https://a.example/">https://a.example/</a>', "https://a.example/"),
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        ("bidi \u202eevil\u202c and\x00 nul", "bidi evil and nul"),
        ("<style>p{}</style><p>x</p>", "x"),
    ],
)
def test_teams_html_becomes_inert_text(html: str, text: str) -> None:
    parsed = customer_text(html, bot_names=frozenset({"Defender Experts"}))
    assert parsed.text == text


def test_plain_text_is_kept_as_typed_with_mentions_as_names() -> None:
    parsed = customer_text(
        "<at>Defender Experts</at> look: <img src=x onerror=alert(1)> <at>Megan</at>",
        "plain",
        bot_names=frozenset({"Defender Experts"}),
    )
    assert parsed.text == "look: <img src=x onerror=alert(1)> @Megan"
    assert parsed.inline_images == 0


def test_images_and_attachments_are_counted_and_huge_text_truncated() -> None:
    parsed = customer_text('<img src="a"><attachment id="f1"></attachment>x')
    assert parsed.inline_images == 1 and parsed.attachment_ids == ("f1",)
    huge = customer_text("<p>" + "a" * (MAX_CUSTOMER_CHARS + 50) + "</p>")
    assert len(huge.text) < MAX_CUSTOMER_CHARS + 100 and huge.text.endswith(
        "(truncated: the message was longer than the experts' console shows)"
    )


@pytest.mark.parametrize("raw", ["", "  \n ", "a\x1bb", None, 5, "x" * 20_001])
def test_bad_answers_are_refused_with_a_reason(raw: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        answer_text(raw)
    assert refused.value.field == "text" and refused.value.message


def test_an_answer_keeps_what_the_expert_wrote() -> None:
    assert answer_text("  <b>Reset</b> the password\r\nnow.  ") == "<b>Reset</b> the password\nnow."


# ---- the service on an injected clock -----------------------------------------------------


class Places:
    async def is_our_team(self, tenant_id: str, team: TeamRef) -> bool:
        return team.team_id == "19:team@thread.tacv2"

    async def place_of_thread(self, tenant_id: str, team: TeamRef, root_id: str) -> Place | None:
        return Place("incident", "Incident", "2972395", "High", "Active") if root_id else None

    async def incident(self, tenant_id: str, incident_id: str) -> IncidentSummary | None:
        return None

    async def tenant_name(self, tenant_id: str) -> str:
        return "Contoso"

    async def personal_reference(self, tenant_id: str, user_id: str) -> dict[str, Any] | None:
        return None


@dataclass
class World:
    clock: FakeClock
    service: ChatService
    store: SqliteChatStore
    messenger: FakeMessenger
    delivery: ChatDelivery
    limiter: TeamsRateLimiter
    _n: int = 0

    def message(self, text: str = "help") -> TeamsMessage:
        self._n += 1
        return TeamsMessage(
            tenant_id=TENANT,
            activity_id=f"a{self._n}",
            conversation_id=THREAD,
            conversation_type="channel",
            sender=Person("u1", "Adele Vance"),
            from_bot=False,
            text=text,
            team_id="19:team@thread.tacv2",
            channel_id="19:channel@thread.tacv2",
            root_id="100",
            reference={"conversation": {"id": THREAD}, "serviceUrl": "http://x/"},
        )

    async def deliver(self) -> None:
        for leased in await self.store.lease(self.clock(), 100, 600.0):
            await self.delivery.process(leased)

    async def assistant_messages(self) -> list[str]:
        (conversation,) = await self.store.conversations(_filter())
        messages = await self.store.messages(conversation.id)
        return [m.text for m in messages if m.role == "assistant"]


def _filter() -> Any:
    from bot.chat.ports import ConversationFilter

    return ConversationFilter()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = FakeClock()
    sqlite = SqliteStore(tmp_path / "bot.sqlite3")
    store = SqliteChatStore(sqlite, clock)
    service = ChatService(
        store,
        Places(),
        InProcessFanout(),
        served=lambda t: t == TENANT,
        options=ChatOptions(ack_seconds=120.0),
        clock=clock,
        sleep=clock.sleep,
    )
    messenger = FakeMessenger()
    limiter = TeamsRateLimiter(clock=clock, sleep=clock.sleep)
    delivery = ChatDelivery(
        store,
        messenger,
        limiter,
        on_written=service.published,
        clock=clock,
        sleep=clock.sleep,
        rand=lambda: 0.5,
    )
    yield World(clock, service, store, messenger, delivery, limiter)
    await sqlite.close()


async def test_with_an_expert_online_the_acknowledgement_waits_chat_ack_seconds(
    world: World,
) -> None:
    world.service.console_opened()
    await world.service.receive(world.message())
    await world.clock.sleep(119)
    assert await world.service.acknowledge_due() == 0
    await world.clock.sleep(1)
    assert await world.service.acknowledge_due() == 1
    await world.deliver()
    (ack,) = await world.assistant_messages()
    assert "reached Defender Experts" in ack
    card = str(world.messenger.sent[-1].card)
    assert "Defender Experts virtual assistant" in card


async def test_with_no_expert_signed_in_it_acknowledges_at_once_then_not_for_30_minutes(
    world: World,
) -> None:
    await world.service.receive(world.message("first"))
    assert await world.service.acknowledge_due() == 1
    await world.clock.sleep(60)
    await world.service.receive(world.message("second"))
    await world.clock.sleep(600)
    assert await world.service.acknowledge_due() == 0
    await world.clock.sleep(1200)
    await world.service.receive(world.message("third, 31 minutes later"))
    assert await world.service.acknowledge_due() == 1
    assert len(await world.assistant_messages()) == 2


async def test_an_experts_answer_cancels_the_pending_acknowledgement(world: World) -> None:
    world.service.console_opened()
    await world.service.receive(world.message())
    (conversation,) = await world.store.conversations(_filter())
    await world.clock.sleep(30)
    await world.service.answer(Expert("e1", "Jordan Avery"), conversation.id, "Looking now.")
    await world.clock.sleep(600)
    assert await world.service.acknowledge_due() == 0
    assert await world.assistant_messages() == []


async def test_sends_wait_for_the_threads_limit_shared_with_incident_posts(world: World) -> None:
    """Seven incident posts/updates just went to this channel: the answer waits its turn."""
    await world.service.receive(world.message())
    (conversation,) = await world.store.conversations(_filter())
    for _ in range(7):
        async with world.limiter.slot(TENANT, "19:channel@thread.tacv2"):
            pass  # an incident post, answered at once
    before = world.clock()
    await world.service.answer(Expert("e1", "Jordan Avery"), conversation.id, "Hi")
    await world.deliver()
    assert world.clock() - before >= 1.0
    (sent,) = world.messenger.sent
    assert "Hi" in str(sent.card)


async def test_a_429_is_retried_after_retry_after_and_a_403_fails_with_the_reason(
    world: World,
) -> None:
    await world.service.receive(world.message())
    (conversation,) = await world.store.conversations(_filter())
    await world.deliver()  # the acknowledgement, if any
    world.messenger.failures = [DeliveryError("throttled", status=429, retry_after=3.0)]
    message = await world.service.answer(Expert("e1", "J"), conversation.id, "one")
    await world.deliver()
    due = await world.store.next_send_due()  # kept, due again once Retry-After has passed
    assert due is not None and world.clock() < due <= world.clock() + 3.0
    assert await world.store.lease(world.clock(), 10, 600.0) == []
    await world.clock.sleep(3.0)
    await world.deliver()
    (done,) = [m for m in await world.store.messages(conversation.id) if m.id == message.id]
    assert done.delivery == "posted"
    world.messenger.failures = [DeliveryError("forbidden", status=403, retry_after=None)]
    failed = await world.service.answer(Expert("e1", "J"), conversation.id, "two")
    await world.deliver()
    (gone,) = [m for m in await world.store.messages(conversation.id) if m.id == failed.id]
    assert gone.delivery == "failed" and "HTTP 403" in gone.delivery_error
