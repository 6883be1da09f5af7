"""Incident notifications: accept the experts' revisions, answer the cards' actions, report state.

Every change is one ledger unit of work: the incident document, the webhook receipt, the outbox
message and the experts' event go together or not at all. Concurrent writers are resolved with
ETags: the loser reads again and re-applies its change.
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from bot.actions import Access, Actor, CardAction, CardRoute, Refusal, Routes
from bot.errors import ConcurrencyError, ValidationError
from bot.logsafe import safe
from bot.notifications.bounds import INCIDENT_ID
from bot.notifications.enforcement import enforce_settings
from bot.notifications.model import (
    Notification,
    PendingAction,
    parse_notification,
    validate_notification,
)
from bot.notifications.ports import (
    DocWrite,
    DuplicateError,
    Ledger,
    OutboxMessage,
    SettingsSource,
    UnitOfWork,
)
from bot.notifications.render import incident_view
from bot.notifications.retention import INCIDENT_LIST_KEEP, bound_incident
from bot.notifications.revisions import fold, report_key
from bot.storage import Item
from bot.storage.base import ANY_ETAG
from bot.tenant import TenantDirectory
from cards.elements import AdaptiveCard
from cards.incident import incident_card
from cards.incident_views import ACKNOWLEDGE, ACTION_COMPLETE, ACTION_SKIP, VERB_PREFIX
from cards.messages import message_card
from cards.text import when
from cards.views import MessageView, Notice

log = logging.getLogger(__name__)

HISTORY_KEEP = INCIDENT_LIST_KEEP
CONFLICT_RETRIES = 8
ACCEPT_RETRIES = 32
"""Revisions of one incident accepted concurrently (and the delivery worker writing it) each
win a round: a webhook retries more rounds than a card action before answering 503."""
EVENTS_MAX = 500

_INCIDENT_ID = re.compile(INCIDENT_ID)
_MESSAGE_ID = re.compile(r"[\x21-\x2e\x30-\x7e]{1,200}")
"""An activity id a card action can name (Teams': digits, or letters, digits and punctuation):
printable ASCII without spaces or ``/``, at most 200 characters. Anything else names no post."""

Outcome = Literal["accepted", "ignored", "duplicate"]


def incident_key(tenant_id: str, incident_id: str) -> str:
    return f"tenants/{tenant_id.lower()}/incidents/{incident_id}"


def post_key(tenant_id: str, activity_id: str) -> str:
    return f"tenants/{tenant_id.lower()}/incident-posts/{activity_id[:200]}"


@lru_cache(maxsize=4)
def _iso_second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso(seconds: float) -> str:
    """UTC to the second (the same string for every request of that second: cached)."""
    return _iso_second(math.floor(seconds))


@dataclass(frozen=True)
class Acceptance:
    outcome: Outcome
    incident_id: str
    revision: int
    notification_id: str = ""
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": self.outcome,
            "incidentId": self.incident_id,
            "revision": self.revision,
        }
        if self.notification_id:
            body["notificationId"] = self.notification_id
        if self.reason:
            body["reason"] = self.reason
        return body


def new_incident_doc(tenant_id: str, incident_id: str) -> dict[str, Any]:
    return {
        "incidentId": incident_id,
        "tenantId": tenant_id,
        "latest": None,
        "shown": None,
        "post": None,
        "deliveries": {},
        "history": [],
        "responses": {},
        "acknowledged": None,
    }


class _Refused(Exception):
    """A card action that changes nothing; carries the card to answer with."""

    def __init__(self, card: AdaptiveCard) -> None:
        super().__init__("refused")
        self.card = card


class NotificationService:
    """The notifications use cases; no HTTP and no Bot Framework here."""

    def __init__(
        self,
        ledger: Ledger,
        directory: TenantDirectory,
        settings: SettingsSource,
        *,
        clock: Callable[[], float] = time.time,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._ledger = ledger
        self._directory = directory
        self._settings = settings
        self._clock = clock
        self._on_enqueued = on_enqueued
        self._event_listeners: list[Callable[[dict[str, Any]], Awaitable[None]]] = []
        self._card_verbs: dict[
            str, Callable[[CardAction, dict[str, Any], Item], Awaitable[AdaptiveCard]]
        ] = {
            ACTION_COMPLETE: self._respond,
            ACTION_SKIP: self._respond,
            ACKNOWLEDGE: self._acknowledge,
        }

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    def add_event_listener(self, listener: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Told about each customer event (a card action) after it is committed."""
        self._event_listeners.append(listener)

    def set_on_enqueued(self, callback: Callable[[], None]) -> None:
        """Who to wake when there is new work (the delivery worker)."""
        self._on_enqueued = callback

    @property
    def tenant_id(self) -> str:
        return self._directory.tenant_id.lower()

    # ---- the webhook ------------------------------------------------------------------------

    async def is_duplicate(self, webhook_id: str) -> bool:
        return await self._ledger.has_receipt(webhook_id)

    def _tenant_of(self, n: Notification) -> str:
        if n.tenant_id and n.tenant_id.lower() != self.tenant_id:
            raise ValidationError(
                "incident.tenantId names a tenant this bot doesn't serve", field="incident.tenantId"
            )
        return self.tenant_id

    async def accept(self, webhook_id: str, document: Any) -> Acceptance:
        """Validate, enforce the settings, then store and enqueue in one transaction.

        Raises ValidationError (422) and stores nothing if the body is refused.
        """
        notification = validate_notification(document)
        tenant = self._tenant_of(notification)
        record = await self._settings.current(tenant)
        await enforce_settings(notification, record.settings, self._directory)
        key = incident_key(tenant, notification.incident_id)
        revision = notification.revision
        for _ in range(ACCEPT_RETRIES):
            item = await self._ledger.read(key)
            doc = item.value if item else new_incident_doc(tenant, notification.incident_id)
            latest = (doc.get("latest") or {}).get("revision", 0)
            now = self._clock()
            entry: dict[str, Any] = {"revision": revision, "webhookId": webhook_id, "at": iso(now)}
            enqueue: tuple[OutboxMessage, ...] = ()
            if revision <= latest:
                reason = (
                    f"revision {revision} is not above revision {latest}, the last one accepted"
                    if revision < latest
                    else f"revision {revision} was already accepted"
                )
                entry.update(outcome="ignored", reason=reason)
                result = Acceptance("ignored", notification.incident_id, revision, reason=reason)
            else:
                message_id = uuid.uuid4().hex
                entry.update(outcome="accepted", notificationId=message_id)
                doc["latest"] = {
                    "revision": revision,
                    "notification": notification.raw,
                    "acceptedAt": iso(now),
                }
                enqueue = (
                    OutboxMessage(
                        id=message_id,
                        partition=key,
                        kind="notification",
                        payload={"notification": notification.raw},
                        revision=revision,
                    ),
                )
                result = Acceptance("accepted", notification.incident_id, revision, message_id)
            doc["history"] = [*doc.get("history", []), entry][-HISTORY_KEEP:]
            # The report's record of the incident (an older revision that arrives late too),
            # kept in the incident document and copied to its own key for the report's SQL.
            # Only a writer of this incident document writes it, so the incident's ETag guards
            # both.
            folded = fold(doc.get("report"), notification, now) if revision != latest else None
            if folded is not None:
                doc["report"] = folded
            bound_incident(doc)
            writes = [DocWrite(key, doc, item.etag if item else None)]
            if folded is not None:
                writes.append(
                    DocWrite(report_key(tenant, notification.incident_id), folded, ANY_ETAG)
                )
            unit = UnitOfWork(
                writes=tuple(writes),
                enqueue=enqueue,
                receipt=webhook_id,
            )
            try:
                await self._ledger.commit(unit)
            except ConcurrencyError:
                continue
            except DuplicateError:
                return Acceptance("duplicate", notification.incident_id, revision)
            if enqueue:
                self._on_enqueued()
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "notification %s for incident %s revision %d: %s",
                    safe(webhook_id),
                    safe(notification.incident_id),
                    revision,
                    result.outcome,
                )
            return result
        raise ConcurrencyError(f"incident {notification.incident_id} is changing too fast")

    # ---- what the experts can read ----------------------------------------------------------

    async def delivery_state(self, incident_id: str) -> dict[str, Any] | None:
        if not _INCIDENT_ID.fullmatch(incident_id):
            return None
        key = incident_key(self.tenant_id, incident_id)
        item = await self._ledger.read(key)
        if item is None:
            return None
        doc = item.value
        post = doc.get("post")
        messages = await self._ledger.messages(key)
        return {
            "incidentId": incident_id,
            "tenantId": doc.get("tenantId", ""),
            "latestRevision": (doc.get("latest") or {}).get("revision", 0),
            "shownRevision": (doc.get("shown") or {}).get("revision"),
            "post": None
            if not post
            else {
                "conversationId": post.get("conversationId"),
                "activityId": post.get("activityId"),
                "revision": post.get("revision"),
                "postedAt": post.get("postedAt"),
            },
            "deliveries": doc.get("deliveries", {}),
            "acknowledged": doc.get("acknowledged"),
            "actionResponses": doc.get("responses", {}),
            "revisions": doc.get("history", []),
            "outbox": [m.to_json() for m in messages],
            "deadLetters": [m.to_json() for m in messages if m.state == "dead"],
        }

    async def events(self, after: int, limit: int) -> dict[str, Any]:
        limit = max(1, min(limit, EVENTS_MAX))
        page = await self._ledger.events_after(max(0, after), limit)
        return {
            "events": [{"cursor": e.cursor, **e.body} for e in page],
            "next": page[-1].cursor if page else max(0, after),
        }

    # ---- the card's Universal Actions -------------------------------------------------------

    def routes(self) -> Routes:
        """Incident card verbs: any member of the served tenant may act on an incident card."""
        return Routes(
            cards=(CardRoute(VERB_PREFIX, self.handle_card_action, Access.MEMBER),),
            refused=self.refused,
        )

    async def refused(
        self, actor: Actor, refusal: Refusal, action: CardAction | None
    ) -> AdaptiveCard:
        log.info("refused a card action by %s: %s", safe(actor.user_id), refusal.reason)
        return _refusal("Only members of your organization can act on incident cards.")

    async def handle_card_action(self, action: CardAction) -> AdaptiveCard:
        """Acknowledge, or answer a pending action. Forged or stale actions change nothing.
        The router's guard has checked that the actor is a member of the served tenant."""
        try:
            handler = self._card_verbs.get(action.verb)
            if handler is None:
                raise _Refused(_refusal("That action isn't recognized. Nothing was changed."))
            raw_id = action.data.get("incidentId")
            incident_id = raw_id if isinstance(raw_id, str) else ""
            for _ in range(CONFLICT_RETRIES):
                item = await self._card_incident(action, incident_id)
                try:
                    return await handler(action, dict(action.data), item)
                except ConcurrencyError:
                    continue
            raise _Refused(_refusal("The incident is changing right now. Try again in a moment."))
        except _Refused as refused:
            log.info("refused card action %s by %s", safe(action.verb), safe(action.actor.user_id))
            return refused.card

    async def _card_incident(self, action: CardAction, incident_id: str) -> Item:
        """The incident the card belongs to; refuse if the action names another one."""
        clicked = await self._incident_of_message(action.message_id)
        if not _INCIDENT_ID.fullmatch(incident_id):
            raise _Refused(self._with_notice(clicked, "That action is malformed. Nothing changed."))
        item = await self._ledger.read(incident_key(self.tenant_id, incident_id))
        post = (item.value.get("post") or {}) if item else {}
        same = bool(post) and (
            action.message_id == post.get("activityId")
            if action.message_id
            else action.conversation_id == post.get("conversationId")
        )
        if item is None or not same:
            raise _Refused(
                self._with_notice(
                    clicked,
                    "That action doesn't belong to the incident on this card. Nothing was changed.",
                )
            )
        return item

    async def _incident_of_message(self, message_id: str) -> Item | None:
        if not _MESSAGE_ID.fullmatch(message_id):  # none, or not an id Teams gives a post
            return None
        index = await self._ledger.read(post_key(self.tenant_id, message_id))
        if index is None:
            return None
        incident_id = str(index.value.get("incidentId", ""))
        return await self._ledger.read(incident_key(self.tenant_id, incident_id))

    def _with_notice(self, item: Item | None, text: str) -> AdaptiveCard:
        if item is None:
            return _refusal(text)
        return self._card(item.value, Notice(text, "error"))

    def _card(self, doc: dict[str, Any], notice: Notice | None = None) -> AdaptiveCard:
        source = doc.get("shown") or doc.get("latest")
        if not source:
            return _refusal(notice.text if notice else "This incident has no card yet.")
        return incident_card(incident_view(parse_notification(source["notification"]), doc, notice))

    async def _commit_action(self, item: Item, doc: dict[str, Any], event: dict[str, Any]) -> None:
        key = incident_key(self.tenant_id, str(doc["incidentId"]))
        refresh = OutboxMessage(
            id=uuid.uuid4().hex,
            partition=key,
            kind="refresh",
            payload={},
            revision=(doc.get("shown") or {}).get("revision", 0),
        )
        bound_incident(doc)
        await self._ledger.commit(
            UnitOfWork(writes=(DocWrite(key, doc, item.etag),), enqueue=(refresh,), events=(event,))
        )
        self._on_enqueued()
        for listener in self._event_listeners:
            try:
                await listener(event)
            except Exception:
                log.exception("an event listener failed on %s", safe(event.get("type")))

    async def _respond(self, action: CardAction, data: dict[str, Any], item: Item) -> AdaptiveCard:
        doc = item.value
        latest = parse_notification(doc["latest"]["notification"])
        raw_action = data.get("actionId")
        action_id = raw_action if isinstance(raw_action, str) else ""
        clicked = self._clicked(doc, data, action_id)
        pending = latest.pending_action(action_id)
        if pending is None:
            raise _Refused(
                self._card(
                    doc,
                    Notice(
                        "That action is no longer pending: the experts have updated the "
                        "incident. Nothing was changed.",
                        "error",
                    ),
                )
            )
        if (pending.type, pending.target.kind, pending.target.id) != (
            clicked.type,
            clicked.target.kind,
            clicked.target.id,
        ):
            raise _Refused(
                self._card(
                    doc,
                    Notice(
                        "The experts have changed this action since this card was shown: it is "
                        f"now {pending.label} on {pending.target.label}. The card will show it "
                        "in a moment. Nothing was changed.",
                        "error",
                    ),
                )
            )
        responses: dict[str, Any] = doc.setdefault("responses", {})
        done = responses.get(action_id)
        if isinstance(done, dict):
            by = (done.get("by") or {}).get("name") or "someone"
            raise _Refused(
                self._card(
                    doc,
                    Notice(
                        f"{pending.label} was already marked as {done.get('state')} by {by} on "
                        f"{when(str(done.get('at', '')))}. Nothing was changed.",
                        "error",
                    ),
                )
            )
        now = iso(self._clock())
        state = "completed" if action.verb == ACTION_COMPLETE else "skipped"
        by = {"id": action.actor.user_id, "name": action.actor.name or "A team member"}
        responses[action_id] = {
            "state": state,
            "by": by,
            "at": now,
            "revision": latest.revision,
        }
        event = {
            "type": f"pendingAction.{state}",
            "tenantId": self.tenant_id,
            "incidentId": latest.incident_id,
            "actionId": action_id,
            "actionType": pending.type,
            "target": {"kind": pending.target.kind, "id": pending.target.id},
            "revision": latest.revision,
            "by": by,
            "at": now,
        }
        await self._commit_action(item, doc, event)
        verb = "completed" if state == "completed" else "skipped"
        return self._card(
            doc,
            Notice(
                f"Thanks, {by['name']}. You {verb}: {pending.label} on {pending.target.label}. "
                "The experts have been told.",
                "good",
            ),
        )

    def _clicked(self, doc: dict[str, Any], data: dict[str, Any], action_id: str) -> PendingAction:
        """The pending action as the card clicked on showed it; refuse a click on an older card.

        The card's buttons carry the revision it showed. Only the revision currently shown in the
        channel is taken: an older card (not yet refreshed for this member, or a copy) may show
        an action id that now names something else, or an answer that no longer applies.
        """
        shown = doc.get("shown") or {}
        current = shown.get("revision")
        revision = data.get("revision")
        if not shown or isinstance(revision, bool) or revision != current:
            seen = f" (revision {revision})" if isinstance(revision, int) else ""
            raise _Refused(
                self._card(
                    doc,
                    Notice(
                        f"The card you used was out of date{seen}. This is the current card, "
                        f"revision {current}: check the action and try again. Nothing was "
                        "changed.",
                        "error",
                    ),
                )
            )
        clicked = parse_notification(shown["notification"]).pending_action(action_id)
        if clicked is None:
            raise _Refused(
                self._card(
                    doc,
                    Notice(
                        "That action isn't a pending action on this card. Nothing was changed.",
                        "error",
                    ),
                )
            )
        return clicked

    async def _acknowledge(
        self, action: CardAction, data: dict[str, Any], item: Item
    ) -> AdaptiveCard:
        doc = item.value
        ack = doc.get("acknowledged")
        if isinstance(ack, dict):
            by = (ack.get("by") or {}).get("name") or "someone"
            raise _Refused(
                self._card(
                    doc,
                    Notice(
                        f"Already acknowledged by {by} on {when(str(ack.get('at', '')))}.",
                        "info",
                    ),
                )
            )
        now = iso(self._clock())
        by = {"id": action.actor.user_id, "name": action.actor.name or "A team member"}
        doc["acknowledged"] = {"by": by, "at": now}
        event = {
            "type": "incident.acknowledged",
            "tenantId": self.tenant_id,
            "incidentId": doc["incidentId"],
            "revision": (doc.get("latest") or {}).get("revision", 0),
            "by": by,
            "at": now,
        }
        await self._commit_action(item, doc, event)
        return self._card(
            doc, Notice(f"Thanks, {by['name']}. The experts can see you acknowledged it.", "good")
        )


def _refusal(text: str) -> AdaptiveCard:
    return message_card(MessageView(title="Nothing was changed", text=text))
