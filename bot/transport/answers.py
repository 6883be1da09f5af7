"""How a card action's answer reaches the user: in place of the card, or as a new card.

A Universal Action's invoke response normally replaces the card that was acted on. A button whose
data asks for a new card (``cards.verbs.ANSWER_WITH_NEW_CARD``) keeps that card as it was: the
answer is sent as a new message in the conversation, and the invoke response is a short message
(``application/vnd.microsoft.activity.message``), which Teams and the Agents Playground show
under the card without changing it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from botbuilder.core import CardFactory, MessageFactory
from botbuilder.core.invoke_response import InvokeResponse
from botbuilder.schema import Activity

from cards import CARD_CONTENT_TYPE, to_json
from cards.elements import AdaptiveCard
from cards.verbs import ANSWER_WITH_NEW_CARD

MESSAGE_CONTENT_TYPE = "application/vnd.microsoft.activity.message"
NEW_CARD_NOTE = "The answer is in a new card below."


def wants_new_card(data: Mapping[str, Any]) -> bool:
    return all(data.get(k) == v for k, v in ANSWER_WITH_NEW_CARD.items())


async def answer(
    card: AdaptiveCard, data: Mapping[str, Any], send: Callable[[Activity], Awaitable[None]]
) -> InvokeResponse:
    """The invoke response to a card action whose handler returned ``card`` (``send`` posts a
    new card into the conversation, when the action asks for one)."""
    if wants_new_card(data):
        await send(MessageFactory.attachment(CardFactory.adaptive_card(to_json(card))))
        return InvokeResponse(
            status=200,
            body={"statusCode": 200, "type": MESSAGE_CONTENT_TYPE, "value": NEW_CARD_NOTE},
        )
    return InvokeResponse(
        status=200, body={"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": to_json(card)}
    )
