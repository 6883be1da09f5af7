"""Shared test helpers for the setup guide: the demo tenant's people and a card-driving flow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bot.actions import ActionRouter, Actor, CardAction, Routes
from bot.app import build_router
from bot.onboarding import OnboardingService
from bot.storage.memory import MemoryStore
from bot.tenant import TenantDirectory
from cards import to_json

TENANT = "4f1c3a2e-7d5b-4e8a-9c21-6b0d8e3f5a17"
ALEX = Actor("1a2b3c4d-0001-4e5f-8a9b-0c1d2e3f4a01", "Alex Wilber", TENANT)  # Global admin
MEGAN = Actor("1a2b3c4d-0002-4e5f-8a9b-0c1d2e3f4a02", "Megan Bowen", TENANT)  # Security admin
ADELE = Actor("1a2b3c4d-0003-4e5f-8a9b-0c1d2e3f4a03", "Adele Vance", TENANT)  # no admin role
SECOPS_GROUP = "6c1e0b7a-1001-4c3d-9e8f-2a1b0c9d8e01"
FINANCE_DEVICES = "101"
DOMAIN_CONTROLLERS = "102"
EXECUTIVES = "8d2f1c0b-2002-4d4e-8f9a-3b2c1d0e9f02"


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def texts(card: dict[str, Any]) -> str:
    """Every visible string on a card, joined: for asserting what a user reads."""
    parts = []
    for n in walk(card):
        for key in ("text", "title", "value", "label", "placeholder"):
            if isinstance(n.get(key), str):
                parts.append(n[key])
    return "\n".join(parts)


def actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in walk(card) if n.get("type") == "Action.Execute"]


def action(card: dict[str, Any], title: str) -> dict[str, Any]:
    found = [a for a in actions(card) if a.get("title") == title]
    assert found, f"no action titled {title!r}; have {[a.get('title') for a in actions(card)]}"
    return found[0]


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in walk(card) if str(n.get("type", "")).startswith("Input.")}


def press_data(
    card: dict[str, Any], title: str, values: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The verb and data the Teams client sends when the button ``title`` is pressed.

    Like the client, inputs are included unless the action says ``associatedInputs: none``;
    ``values`` stand for what the user typed or chose.
    """
    act = action(card, title)
    data = dict(act.get("data") or {})
    if act.get("associatedInputs", "auto") != "none":
        for input_id, node in inputs(card).items():
            if "value" in node:
                data[input_id] = node["value"]
        data.update(values)
    return str(act["verb"]), data


@dataclass
class Flow:
    """Drives the guide the way the Teams client does: press a button, with the card's inputs.

    Everything goes through the router the composition root builds, so the guard runs first.
    """

    service: OnboardingService
    actor: Actor
    card: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.router = build_router(self.service.directory, self.service)

    async def _command(self, text: str) -> dict[str, Any]:
        card = await self.router.command(self.actor, text)
        assert card is not None, f"{text!r} is no command"
        self.card = to_json(card)
        return self.card

    async def start(self) -> dict[str, Any]:
        return await self._command("setup")

    async def settings(self) -> dict[str, Any]:
        return await self._command("settings")

    async def press(self, title: str, **values: Any) -> dict[str, Any]:
        """Press the button titled ``title``; ``values`` override the card's input values."""
        verb, data = press_data(self.card, title, values)
        return await self.raw(verb, data)

    async def raw(self, verb: str, data: dict[str, Any]) -> dict[str, Any]:
        action = CardAction(self.actor, verb, data, conversation_id="", message_id="")
        self.card = to_json(await self.router.card_action(action))
        return self.card

    def text(self) -> str:
        return texts(self.card)

    def dump(self) -> str:
        return json.dumps(self.card, indent=1)


def routed(directory: TenantDirectory, *routes: Routes) -> ActionRouter:
    """The router the composition root builds (with the guide), plus the given services' routes."""
    router = build_router(directory, OnboardingService(MemoryStore(), directory))
    for r in routes:
        router.add(r)
    return router
