"""Who may use the guide and the settings, and what a refused user sees.

The router's guard checks the tenant and the role before any handler of the guide runs; this
module says which routes need a tenant administrator and renders the refusals.
"""

from __future__ import annotations

from bot.actions import Access, Actor, CardAction, Refusal
from bot.onboarding import rendering
from cards import verbs
from cards.elements import AdaptiveCard

SETUP_PREFIX = "setup."
SETTINGS_PREFIX = "settings."

CARD_ACCESS: dict[str, Access] = {
    SETUP_PREFIX: Access.ADMIN,
    SETTINGS_PREFIX: Access.ADMIN,
    verbs.HELP: Access.ANYONE,
}
"""Card verbs (a prefix ending in a dot, or one verb) and who may use them. ``readiness.*``
belongs to :mod:`bot.readiness`."""

START_COMMANDS = ("setup", "get started")
SETTINGS_COMMANDS = ("settings",)
HELP_COMMANDS = ("help",)


async def refused(actor: Actor, refusal: Refusal, action: CardAction | None) -> AdaptiveCard:
    """Only tenant administrators may use the guide: say so, or that the directory is down."""
    if refusal.reason == "unavailable":
        return rendering.unavailable(refusal.advice)
    return rendering.not_authorized(actor.name)
