"""What the activity handler hands to services: card actions and team installation events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from microsoft_teams.cards.core import AdaptiveCard

from bot.onboarding import Actor


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


@dataclass(frozen=True)
class TeamInstallation:
    """The bot was added to (or removed from) a team."""

    tenant_id: str
    team_id: str
    aad_group_id: str
    team_name: str
    reference: dict[str, Any]
    added: bool


class TeamInstallationListener(Protocol):
    async def __call__(self, event: TeamInstallation) -> None: ...
