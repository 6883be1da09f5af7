"""Shared building blocks and the one serializer for every card."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from cards.elements import (
    Action,
    ActionSet,
    ActionStyle,
    AdaptiveCard,
    CardElement,
    Container,
    ContainerStyle,
    ExecuteAction,
    Fact,
    FactSet,
    Spacing,
    TextBlock,
    TextSize,
    TextWeight,
    dump,
)
from cards.views import Notice

CARD_VERSION: Literal["1.5"] = "1.5"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SERVICE_NAME = "Defender Experts"
THREAD_REPLIES = (
    "Reply in the thread of an incident's post (or of the welcome post) to talk to our experts "
    "in real time. They see replies to their own posts, not new posts, and can't view "
    "attachments."
)
"""What a reply in an incident post's thread does today, said wherever the product mentions it
(the Teams step, the channel's welcome post). Live chat with the experts changes this one
sentence."""

Style = ContainerStyle
ButtonStyle = ActionStyle

_NOTICE_STYLE: dict[str, Style] = {
    "error": "attention",
    "warning": "warning",
    "info": "accent",
    "good": "good",
}


def to_json(card: AdaptiveCard) -> dict[str, Any]:
    """Serialize a typed card once, the way Teams expects it."""
    data: dict[str, Any] = dump(card)
    data["$schema"] = "http://adaptivecards.io/schemas/adaptive-card.json"
    return data


def card(body: Sequence[CardElement], actions: Sequence[Action] = ()) -> AdaptiveCard:
    return AdaptiveCard(
        version=CARD_VERSION,
        body=list(body),
        actions=list(actions) or None,
    )


def execute(
    title: str,
    verb: str,
    data: dict[str, Any] | None = None,
    *,
    inputs: bool = True,
    style: ButtonStyle | None = None,
) -> ExecuteAction:
    """An Action.Execute; ``inputs=False`` sends no input values (Back, Skip, Remove)."""
    return ExecuteAction(
        title=title,
        verb=verb,
        data=dict(data or {}),
        associated_inputs="auto" if inputs else "none",
        style=style,
    )


def header(title: str, subtitle: str = "") -> Container:
    items: list[CardElement] = [
        TextBlock(text=SERVICE_NAME, size="Small", weight="Bolder", wrap=True),
        TextBlock(text=title, size="Large", weight="Bolder", wrap=True, spacing="None"),
    ]
    if subtitle:
        items.append(TextBlock(text=subtitle, is_subtle=True, wrap=True, spacing="None"))
    return Container(items=items)


def notice(n: Notice | None) -> list[CardElement]:
    """A message in a box whose style says what kind it is; the text keeps the default colour,
    which every host config sets readable on its own styled boxes."""
    if n is None:
        return []
    return [styled_box(n.text, _NOTICE_STYLE[n.kind], strong=n.kind in ("error", "good"))]


def styled_box(text: str, style: Style, *, strong: bool = False) -> Container:
    return Container(
        style=style,
        items=[TextBlock(text=text, wrap=True, weight="Bolder" if strong else None)],
    )


def para(
    text: str,
    *,
    size: TextSize | None = None,
    weight: TextWeight | None = None,
    is_subtle: bool | None = None,
    spacing: Spacing | None = None,
    separator: bool | None = None,
) -> TextBlock:
    return TextBlock(
        text=text,
        wrap=True,
        size=size,
        weight=weight,
        is_subtle=is_subtle,
        spacing=spacing,
        separator=separator,
    )


def facts(pairs: Sequence[tuple[str, str]]) -> FactSet:
    return FactSet(facts=[Fact(title=k, value=v or "None") for k, v in pairs])


def buttons(*actions: Action) -> ActionSet:
    return ActionSet(actions=list(actions))
