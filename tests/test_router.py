"""The action router's one guard: access levels, a route's permit, and whose refusal card shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.actions import (
    Access,
    ActionRouter,
    Actor,
    CardAction,
    CardRoute,
    CommandRoute,
    Refusal,
    Routes,
)
from cards import to_json
from cards.elements import AdaptiveCard
from cards.messages import message_card
from cards.views import MessageView
from tests.support import ADELE, ALEX, MEGAN, TENANT, texts


def say(text: str) -> AdaptiveCard:
    return message_card(MessageView(title="t", text=text))


@dataclass
class Directory:
    tenant_id: str = TENANT
    admins: frozenset[str] = frozenset({ALEX.user_id})

    async def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins


@dataclass
class Service:
    """Asking is for whoever ``permitted`` lists; its refusal card says so, the rest is the
    router's."""

    permitted: set[str] = field(default_factory=lambda: {ALEX.user_id, MEGAN.user_id})
    handled: list[str] = field(default_factory=list)

    async def may(self, actor: Actor) -> bool:
        return actor.user_id in self.permitted

    async def ask(self, action: CardAction) -> AdaptiveCard:
        self.handled.append(action.verb)
        return say("asked")

    async def ask_command(self, actor: Actor, args: str) -> AdaptiveCard:
        self.handled.append("ask")
        return say("asked")

    async def admin_only(self, action: CardAction) -> AdaptiveCard:
        self.handled.append(action.verb)
        return say("done")

    async def refused(
        self, actor: Actor, refusal: Refusal, action: CardAction | None
    ) -> AdaptiveCard | None:
        return say("only contacts may ask") if refusal.reason == "not_permitted" else None

    def routes(self) -> Routes:
        return Routes(
            cards=(
                CardRoute("svc.ask", self.ask, Access.MEMBER, permit=self.may),
                CardRoute("svc.admin", self.admin_only, Access.ADMIN),
            ),
            commands=(CommandRoute(("ask",), self.ask_command, Access.MEMBER, permit=self.may),),
            refused=self.refused,
        )


async def default_refusal(
    actor: Actor, refusal: Refusal, action: CardAction | None
) -> AdaptiveCard:
    return say(f"router refused: {refusal.reason}")


async def unknown_card(action: CardAction) -> AdaptiveCard:
    return say("unknown verb")


async def unknown_text(actor: Actor, text: str) -> AdaptiveCard:
    return say("unknown text")


def router(service: Service) -> ActionRouter:
    r = ActionRouter(
        Directory(),
        refused=default_refusal,
        unknown_card=unknown_card,
        unknown_text=unknown_text,
    )
    r.add(service.routes())
    return r


def act(actor: Actor, verb: str) -> CardAction:
    return CardAction(actor, verb, {}, "conv", "msg")


async def test_the_permit_runs_in_the_guard_before_the_handler() -> None:
    service = Service()
    r = router(service)
    assert "asked" in texts(to_json(await r.card_action(act(MEGAN, "svc.ask"))))
    refused = texts(to_json(await r.card_action(act(ADELE, "svc.ask"))))
    assert "only contacts may ask" in refused
    command = await r.command(ADELE, "ask")
    assert command is not None and "only contacts may ask" in texts(to_json(command))
    assert service.handled == ["svc.ask"]


async def test_the_level_is_checked_before_the_permit_and_other_refusals_are_the_routers() -> None:
    service = Service(permitted={ALEX.user_id, ADELE.user_id, "x"})
    r = router(service)
    outsider = Actor("x", "Eve", "another-tenant")
    assert "router refused: outside" in texts(
        to_json(await r.card_action(act(outsider, "svc.ask")))
    )
    admin_only = texts(to_json(await r.card_action(act(MEGAN, "svc.admin"))))
    assert "router refused: not_admin" in admin_only
    assert "done" in texts(to_json(await r.card_action(act(ALEX, "svc.admin"))))
    assert "unknown verb" in texts(to_json(await r.card_action(act(ALEX, "svc.other"))))
    assert service.handled == ["svc.admin"]
