"""What the edge hands to services, and the one router (with one guard) that dispatches it.

Every service may import this module; it imports nothing of the bot but its errors. A service
registers its card-verb prefixes and its text commands, each with an :class:`Access` level, in
a :class:`Routes`; the composition root adds those to the :class:`ActionRouter`. The router
checks the tenant and the role once, before any handler runs.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from bot.errors import DependencyError
from cards.elements import AdaptiveCard

log = logging.getLogger(__name__)

JSON = dict[str, Any]


@dataclass(frozen=True)
class Actor:
    """Who is acting: their Microsoft Entra object id, display name and tenant."""

    user_id: str
    name: str
    tenant_id: str


@dataclass(frozen=True)
class CardAction:
    """A Universal Action (Action.Execute) from a card. Everything in it is untrusted."""

    actor: Actor
    verb: str
    data: Mapping[str, Any]
    conversation_id: str
    message_id: str


class CardActionHandler(Protocol):
    async def __call__(self, action: CardAction) -> AdaptiveCard: ...


class CommandHandler(Protocol):
    """A text command: ``args`` is what the user typed after the command's name (lower case)."""

    async def __call__(self, actor: Actor, args: str) -> AdaptiveCard: ...


@dataclass(frozen=True)
class TeamInstallation:
    """The bot was added to (or removed from) a team."""

    tenant_id: str
    team_id: str
    aad_group_id: str
    team_name: str
    reference: JSON
    added: bool


class TeamInstallationListener(Protocol):
    async def __call__(self, event: TeamInstallation) -> None: ...


class Access(enum.Enum):
    """Who may use a route."""

    ANYONE = "anyone"
    """No check (help)."""
    MEMBER = "member"
    """Any signed-in user of the served tenant."""
    ADMIN = "admin"
    """A tenant administrator (Global or Security Administrator)."""


@dataclass(frozen=True)
class Refusal:
    """Why the guard refused: outside the served tenant, not an administrator, or the directory
    couldn't say (``advice`` is then safe to show)."""

    reason: Literal["outside", "not_admin", "not_permitted", "unavailable"]
    advice: str = ""


class RefusalHandler(Protocol):
    """The card that answers a refused action. ``action`` is None for a text command. A
    service's handler may return None for the router's default card."""

    async def __call__(
        self, actor: Actor, refusal: Refusal, action: CardAction | None
    ) -> AdaptiveCard | None: ...


class DefaultRefusal(Protocol):
    """The router's own refusal card, for the services that leave it to the router."""

    async def __call__(
        self, actor: Actor, refusal: Refusal, action: CardAction | None
    ) -> AdaptiveCard: ...


Permit = Callable[[Actor], Awaitable[bool]]
"""A rule beyond the access level (who may ask the experts), checked by the guard after it."""


class AccessDirectory(Protocol):
    """What the guard needs from the tenant directory."""

    @property
    def tenant_id(self) -> str: ...

    async def is_admin(self, user_id: str) -> bool: ...


@dataclass(frozen=True)
class CardRoute:
    """Card verbs starting with ``prefix`` (or equal to it) go to ``handler``."""

    prefix: str
    handler: CardActionHandler
    access: Access
    permit: Permit | None = None


@dataclass(frozen=True)
class CommandRoute:
    """A text command; ``names`` are what the user types (lower case, single spaces)."""

    names: tuple[str, ...]
    handler: CommandHandler
    access: Access
    permit: Permit | None = None


Welcome = Callable[[Actor], Awaitable[AdaptiveCard]]


@dataclass(frozen=True)
class Routes:
    """Everything one service takes from the edge. ``refused`` renders that service's refusals
    (the router's default otherwise)."""

    cards: Sequence[CardRoute] = ()
    commands: Sequence[CommandRoute] = ()
    team_listeners: Sequence[TeamInstallationListener] = ()
    welcome: Welcome | None = None
    refused: RefusalHandler | None = None


UnknownCard = Callable[[CardAction], Awaitable[AdaptiveCard]]
UnknownText = Callable[[Actor, str], Awaitable[AdaptiveCard]]


class ActionRouter:
    """Dispatches card actions, commands and messages to the services that registered them."""

    def __init__(
        self,
        directory: AccessDirectory,
        *,
        refused: DefaultRefusal,
        unknown_card: UnknownCard,
        unknown_text: UnknownText,
    ) -> None:
        self._directory = directory
        self._refused = refused
        self._unknown_card = unknown_card
        self._unknown_text = unknown_text
        self._cards: list[tuple[CardRoute, RefusalHandler]] = []
        self._commands: dict[str, tuple[CommandRoute, RefusalHandler]] = {}
        self._team_listeners: list[TeamInstallationListener] = []
        self._welcome: Welcome | None = None

    def add(self, routes: Routes) -> None:
        """Register one service's routes. A verb prefix or command name is taken only once."""
        refused = routes.refused or self._refused
        for card in routes.cards:
            if any(card.prefix == known.prefix for known, _ in self._cards):
                raise ValueError(f"card verb prefix {card.prefix!r} is registered twice")
            self._cards.append((card, refused))
        self._cards.sort(key=lambda entry: len(entry[0].prefix), reverse=True)
        for command in routes.commands:
            for name in command.names:
                if name in self._commands:
                    raise ValueError(f"command {name!r} is registered twice")
                self._commands[name] = (command, refused)
        self._team_listeners.extend(routes.team_listeners)
        if routes.welcome is not None:
            if self._welcome is not None:
                raise ValueError("the welcome card is registered twice")
            self._welcome = routes.welcome

    async def check(
        self, actor: Actor, access: Access, permit: Permit | None = None
    ) -> Refusal | None:
        """The guard: None if ``actor`` may use a route of this access level (and its permit)."""
        refusal = await self._level(actor, access)
        if refusal is None and permit is not None and not await permit(actor):
            log.info("refused an action its route's permit doesn't allow")
            return Refusal("not_permitted")
        return refusal

    async def _level(self, actor: Actor, access: Access) -> Refusal | None:
        if access is Access.ANYONE:
            return None
        served = self._directory.tenant_id.lower()
        if not actor.user_id or actor.tenant_id.lower() != served:
            log.warning("refused an action from a user outside the served tenant")
            return Refusal("outside")
        if access is Access.MEMBER:
            return None
        try:
            admin = await self._directory.is_admin(actor.user_id)
        except DependencyError as exc:
            log.warning("directory unavailable while checking a role: %s", exc)
            return Refusal("unavailable", exc.advice())
        return None if admin else Refusal("not_admin")

    async def _refusal(
        self, refused: RefusalHandler, actor: Actor, refusal: Refusal, action: CardAction | None
    ) -> AdaptiveCard:
        card = await refused(actor, refusal, action)
        return card if card is not None else await self._refused(actor, refusal, action)

    async def card_action(self, action: CardAction) -> AdaptiveCard:
        """Handle one Universal Action: the card that replaces the one acted on."""
        found = next(
            (
                entry
                for entry in self._cards
                if action.verb == entry[0].prefix
                or (entry[0].prefix.endswith(".") and action.verb.startswith(entry[0].prefix))
            ),
            None,
        )
        if found is None:
            log.warning("refused unknown card verb %r", action.verb[:64].encode("unicode_escape"))
            return await self._unknown_card(action)
        route, refused = found
        refusal = await self.check(action.actor, route.access, route.permit)
        if refusal is not None:
            return await self._refusal(refused, action.actor, refusal, action)
        return await route.handler(action)

    def _command_name(self, text: str) -> str | None:
        text = " ".join(text.lower().split())
        names = sorted(self._commands, key=len, reverse=True)
        return next((n for n in names if text == n or text.startswith(n + " ")), None)

    def is_command(self, text: str) -> bool:
        return self._command_name(text) is not None

    async def command(self, actor: Actor, text: str) -> AdaptiveCard | None:
        """Run the command ``text`` names (``name`` or ``name args``), or None if none does."""
        name = self._command_name(text)
        if name is None:
            return None
        text = " ".join(text.lower().split())
        route, refused = self._commands[name]
        refusal = await self.check(actor, route.access, route.permit)
        if refusal is not None:
            return await self._refusal(refused, actor, refusal, None)
        return await route.handler(actor, text[len(name) :].strip())

    async def unknown_text(self, actor: Actor, text: str) -> AdaptiveCard:
        """The answer to text that is neither a command nor taken by a message listener."""
        return await self._unknown_text(actor, text)

    async def team_installation(self, event: TeamInstallation) -> None:
        for listener in self._team_listeners:
            await listener(event)

    async def welcome(self, actor: Actor) -> AdaptiveCard | None:
        return None if self._welcome is None else await self._welcome(actor)
