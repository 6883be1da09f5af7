"""Delivering one leased outbox message: a new post, an update in place with its thread reply,
an email when Teams is off or there is no channel, a retry or a dead letter. The run loop
(:mod:`bot.notifications.worker`) leases messages and hands each to :class:`MessageDelivery`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.errors import ConcurrencyError
from bot.logcontext import set_fields
from bot.logsafe import safe
from bot.mail.ports import Mailer
from bot.messaging import ChannelMessenger, DeliveryError
from bot.notifications.mail import incident_email
from bot.notifications.model import parse_notification
from bot.notifications.ports import (
    ChannelDirectory,
    DocWrite,
    Leased,
    Ledger,
    ManagedChannel,
    SettingsSource,
    UnitOfWork,
)
from bot.notifications.ratelimit import RateLimiter, thread_of
from bot.notifications.render import card_json, what_changed
from bot.notifications.retention import RetentionPolicy, bound_incident
from bot.notifications.service import CONFLICT_RETRIES, iso, post_key
from bot.retry import RetryPolicy

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

_CURRENT: contextvars.ContextVar[Leased | None] = contextvars.ContextVar("delivering", default=None)


def _incident_fields(partition: str) -> dict[str, str]:
    """``tenants/<tenant>/incidents/<id>`` as log fields."""
    parts = partition.split("/")
    if len(parts) == 4 and parts[0] == "tenants" and parts[2] == "incidents":
        return {"tenant": parts[1], "incident": parts[3]}
    return {}


@dataclass
class DeliveryStats:
    """Counters for /metrics: results by kind, 429s, and acceptance-to-done latency."""

    results: dict[str, int] = field(default_factory=dict)
    throttled: int = 0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    latency_count: int = 0
    latency_sum: float = 0.0

    def count(self, result: str) -> None:
        self.results[result] = self.results.get(result, 0) + 1

    def observe(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.latency_count += 1
        self.latency_sum += seconds
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.latency_buckets[i] += 1


@dataclass(frozen=True)
class WorkerOptions:
    max_attempts: int = 10
    concurrency: int = 16
    lease_seconds: float = 600.0
    poll_seconds: float = 5.0
    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(
            attempts=10, base_delay=1.0, max_delay=300.0, max_retry_after=3600.0
        )
    )
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)


class LeaseLost(Exception):
    """Another instance took the message over (this one's lease expired): leave it to them."""


class _GiveUp(Exception):
    """Not worth retrying: dead-letter now."""


class MessageDelivery:
    """Delivers one leased message at a time (many run concurrently); ``touched`` holds the
    leases whose message may already have reached Teams or a mailbox."""

    def __init__(
        self,
        ledger: Ledger,
        messenger: ChannelMessenger,
        channels: ChannelDirectory,
        settings: SettingsSource,
        mailer: Mailer,
        limiter: RateLimiter,
        options: WorkerOptions,
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float],
    ) -> None:
        self._ledger = ledger
        self._messenger = messenger
        self._channels = channels
        self._settings = settings
        self._mailer = mailer
        self._limiter = limiter
        self._options = options
        self._clock = clock
        self._rand = rand
        self.touched: set[int] = set()
        self.stats = DeliveryStats()

    @contextlib.asynccontextmanager
    async def _slot(self, tenant_id: str, thread_id: str) -> AsyncIterator[None]:
        """Wait for Teams' limits and hold the slot while the block makes its one call; from
        here on this message may reach Teams. With a shared ledger, the lease is renewed first:
        if it expired meanwhile (another instance has the message now), nothing is sent.
        (Renewed before the wait for a slot, not after, so that the call leaves as soon as the
        slot is taken.)"""
        leased = _CURRENT.get()
        extend = getattr(self._ledger, "extend", None)
        if (
            leased is not None
            and extend is not None
            and leased.seq not in await extend([leased], self._options.lease_seconds)
        ):
            raise LeaseLost(leased.message.id)
        async with self._limiter.slot(tenant_id, thread_id):
            self._mark_touched()
            yield

    def _mark_touched(self) -> None:
        leased = _CURRENT.get()
        if leased is not None:
            self.touched.add(leased.seq)

    async def process(self, leased: Leased) -> None:
        """Deliver one leased message. It ends done, waiting for a retry, or a dead letter; only
        cancellation propagates. The run loop calls this for each message it leases."""
        _CURRENT.set(leased)
        set_fields(correlation_id=leased.message.id, **_incident_fields(leased.message.partition))
        try:
            if leased.message.kind == "notification":
                await self._deliver(leased)
            else:
                await self._refresh(leased)
            self.stats.count("delivered")
            self.stats.observe(self._clock() - leased.enqueued_at)
        except asyncio.CancelledError:
            raise
        except LeaseLost:
            log.warning(
                "the lease of %s expired; another instance delivers it", safe(leased.message.id)
            )
        except DeliveryError as exc:
            if exc.status == 429:
                self.stats.throttled += 1
            await self._failed(leased, exc, exc.status, exc.retry_after, exc.retryable)
        except _GiveUp as exc:
            await self._dead(leased, str(exc))
        except Exception as exc:
            log.exception("delivering %s failed", safe(leased.message.id))
            await self._failed(leased, exc, None, None, True)

    async def _failed(
        self,
        leased: Leased,
        exc: BaseException,
        status: int | None,
        retry_after: float | None,
        retryable: bool,
    ) -> None:
        attempts = leased.attempts + 1
        error = f"{type(exc).__name__}: {exc}" if status is None else f"HTTP {status}: {exc}"
        if status in (403, 404) and attempts < self._options.max_attempts:
            retryable = await self._channel_gone(leased, status)
        if not retryable or attempts >= self._options.max_attempts:
            await self._dead(leased, f"{error} (after {attempts} attempt(s))")
            return
        self.stats.count("retried")
        delay = self._options.retry.delay(attempts, retry_after, self._rand)
        if status == 429:
            thread = await self._thread_of(leased)
            if thread:
                await self._limiter.back_off(thread, delay)
        log.info(
            "delivery of %s failed (%s); retry %d in %.1fs",
            safe(leased.message.id),
            safe(error),
            attempts,
            delay,
        )
        await self._ledger.retry(leased, delay=delay, error=error)

    async def _channel_gone(self, leased: Leased, status: int) -> bool:
        """Teams refused the channel or the post. If provisioning finds the channel (or team)
        deleted or archived, it repairs it and the notification waits (meanwhile it goes by
        email, as when there is no channel). If only the post is gone, the next attempt starts
        a new post. Otherwise it is a dead letter."""
        item = await self._ledger.read(leased.message.partition)
        if item is None:
            return False
        tenant = str(item.value.get("tenantId", ""))
        if await self._channels.report_failure(tenant, status):
            log.warning("the Managed response channel is being repaired; delivery will wait")
            return True
        post = item.value.get("post")
        if status == 404 and post and leased.message.kind == "notification":

            def forget(d: dict[str, Any]) -> list[DocWrite]:
                gone = d.pop("post", None)
                d["post"] = None
                d.setdefault("lostPosts", []).append(gone)
                return []

            await self._update(leased, forget)
            log.warning("the incident's post is gone; the next attempt starts a new one")
            return True
        return False

    async def _thread_of(self, leased: Leased) -> str:
        item = await self._ledger.read(leased.message.partition)
        post = (item.value.get("post") or {}) if item else {}
        if post.get("conversationId"):
            return thread_of(str(post["conversationId"]))
        tenant = str(item.value.get("tenantId", "")) if item else ""
        channel = await self._channels.managed_response_channel(tenant) if tenant else None
        return channel.channel_id if channel else ""

    async def _update(
        self,
        leased: Leased,
        mutate: Callable[[dict[str, Any]], list[DocWrite]],
        *,
        complete: bool = False,
        dead_letter_error: str | None = None,
        dead_letter_emailed: bool = False,
    ) -> dict[str, Any]:
        """Read-modify-write the incident document, optionally finishing the message with it."""
        key = leased.message.partition
        for _ in range(CONFLICT_RETRIES):
            item = await self._ledger.read(key)
            if item is None:
                raise _GiveUp(f"incident document {key} is missing")
            doc = item.value
            extra = mutate(doc)
            bound_incident(doc)
            unit = UnitOfWork(
                writes=(DocWrite(key, doc, item.etag), *extra),
                complete=leased if complete else None,
                dead_letter_error=dead_letter_error,
                dead_letter_emailed=dead_letter_emailed,
            )
            try:
                await self._ledger.commit(unit)
            except ConcurrencyError:
                continue
            return doc
        raise ConcurrencyError(f"{key} is changing too fast")

    async def _route(self, tenant_id: str) -> tuple[ManagedChannel | None, str]:
        """The channel to post in, or None and why not (said in the email)."""
        record = await self._settings.current(tenant_id)
        if not record.settings.communicate_on_teams:
            return None, "Teams notifications are off in your Defender Experts settings"
        channel = await self._channels.managed_response_channel(tenant_id)
        if channel is None:
            return None, (
                "the Managed response channel of the Defender Experts team isn't ready yet"
            )
        return channel, ""

    async def _deliver(self, leased: Leased) -> None:
        message = leased.message
        item = await self._ledger.read(message.partition)
        if item is None:
            raise _GiveUp("incident document is missing")
        doc = item.value
        tenant = str(doc["tenantId"])
        post = doc.get("post")
        channel, reason = await self._route(tenant)
        if channel is None:
            await self._email(leased, tenant, reason)
            return
        if not post:
            await self._post(leased, tenant, channel)
            return
        if post.get("revision") == message.revision:
            # Posted by this message before a restart: the activity id is recorded.
            await self._update(leased, lambda d: [], complete=True)
            return
        await self._update_in_place(leased, tenant, post)

    async def _post(self, leased: Leased, tenant: str, channel: ManagedChannel) -> None:
        message = leased.message
        n = parse_notification(message.payload["notification"])
        item = await self._ledger.read(message.partition)
        card = card_json(n, item.value if item else {})
        async with self._slot(tenant, channel.channel_id):
            posted = await self._messenger.post_to_channel(
                channel.team_reference, channel.channel_id, card=card
            )
        now = iso(self._clock())

        def record(doc: dict[str, Any]) -> list[DocWrite]:
            doc["post"] = {
                "conversationId": posted.conversation_id,
                "activityId": posted.activity_id,
                "reference": posted.reference,
                "revision": message.revision,
                "postedAt": now,
                "channelId": channel.channel_id,
            }
            doc["shown"] = {"revision": message.revision, "notification": n.raw}
            doc.setdefault("deliveries", {})[str(message.revision)] = {
                "state": "posted",
                "activityId": posted.activity_id,
                "at": now,
            }
            index = {"incidentId": doc["incidentId"], "revision": message.revision}
            return [DocWrite(post_key(tenant, posted.activity_id), index, "*")]

        await self._update(leased, record)
        log.info(
            "posted incident %s revision %d as activity %s",
            safe(n.incident_id),
            message.revision,
            safe(posted.activity_id),
        )
        await self._update(leased, lambda d: [], complete=True)

    async def _update_in_place(self, leased: Leased, tenant: str, post: dict[str, Any]) -> None:
        message = leased.message
        key = str(message.revision)
        n = parse_notification(message.payload["notification"])
        thread = thread_of(str(post["conversationId"]))
        item = await self._ledger.read(message.partition)
        doc = item.value if item else {}
        delivery = (doc.get("deliveries") or {}).get(key) or {}
        if not delivery.get("updated"):
            shown = doc.get("shown")
            before = parse_notification(shown["notification"]) if shown else None
            reply = what_changed(before, n)
            async with self._slot(tenant, thread):
                await self._messenger.update(
                    post["reference"], str(post["activityId"]), card=card_json(n, doc)
                )
            now = iso(self._clock())

            def updated(d: dict[str, Any]) -> list[DocWrite]:
                d["shown"] = {"revision": message.revision, "notification": n.raw}
                d.setdefault("deliveries", {})[key] = {
                    "state": "updated",
                    "updated": True,
                    "reply": reply,
                    "at": now,
                }
                return []

            doc = await self._update(leased, updated)
            delivery = doc["deliveries"][key]
        if not delivery.get("replyId"):
            async with self._slot(tenant, thread):
                reply_id = await self._messenger.send(
                    post["reference"], text=str(delivery["reply"])
                )

            def replied(d: dict[str, Any]) -> list[DocWrite]:
                d["deliveries"][key]["replyId"] = reply_id or "sent"
                return []

            await self._update(leased, replied, complete=True)
        else:
            await self._update(leased, lambda d: [], complete=True)
        log.info("updated incident %s to revision %d", safe(n.incident_id), message.revision)

    async def _refresh(self, leased: Leased) -> None:
        """Show the customer's answers on the card for everyone."""
        item = await self._ledger.read(leased.message.partition)
        doc = item.value if item else {}
        post, shown = doc.get("post"), doc.get("shown")
        if post and shown:
            n = parse_notification(shown["notification"])
            thread = thread_of(str(post["conversationId"]))
            async with self._slot(str(doc["tenantId"]), thread):
                await self._messenger.update(
                    post["reference"], str(post["activityId"]), card=card_json(n, doc)
                )
        await self._update(leased, lambda d: [], complete=True)

    async def _contacts(self, tenant: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The incident notification contacts: addresses, and their names in the same order."""
        record = await self._settings.current(tenant)
        contacts = [c for c in record.settings.incident_contacts() if c.mail]
        return tuple(c.mail for c in contacts), tuple(c.name for c in contacts)

    async def _email(self, leased: Leased, tenant: str, reason: str) -> None:
        message = leased.message
        to, names = await self._contacts(tenant)
        if not to:
            raise _GiveUp(
                f"{reason[0].upper()}{reason[1:]}, and there are no incident "
                "notification contacts to email"
            )
        n = parse_notification(message.payload["notification"])
        intro = f"You're getting this by email because {reason}."
        self._mark_touched()
        await self._record_sending(leased, message.id)
        await self._mailer.send(
            incident_email(n, message_id=message.id, to=to, reason=intro, names=names)
        )
        now = iso(self._clock())

        def emailed(d: dict[str, Any]) -> list[DocWrite]:
            d.setdefault("deliveries", {})[str(message.revision)] = {
                "state": "emailed",
                "emailedTo": list(to),
                "reason": intro,
                "at": now,
            }
            return []

        await self._update(leased, emailed, complete=True)
        log.info("emailed incident %s revision %d", safe(n.incident_id), message.revision)

    async def _record_sending(self, leased: Leased, message_id: str) -> None:
        """Record the email's send, under its message id, before it happens: a crash between
        the send and the revision's ``emailed`` leaves ``sending``, and the next attempt sends
        the same message id again (the local mailer replaces its file; Graph may deliver it
        twice, docs/notifications.md)."""
        message = leased.message
        earlier: list[str] = []

        def sending(d: dict[str, Any]) -> list[DocWrite]:
            entry = d.setdefault("deliveries", {}).setdefault(str(message.revision), {})
            if entry.get("state") == "sending" and entry.get("messageId") == message_id:
                earlier.append(str(entry.get("at", "")))
            entry.update(state="sending", messageId=message_id, at=iso(self._clock()))
            return []

        await self._update(leased, sending)
        if earlier:
            log.warning(
                "email %s may have been sent before the bot stopped (sending since %s); "
                "sending it again under the same message id",
                safe(message_id),
                safe(earlier[0]),
            )

    async def _dead(self, leased: Leased, error: str) -> None:
        message = leased.message
        self.stats.count("dead_letter")
        log.warning("dead letter %s: %s", safe(message.id), safe(error, 300))
        emailed: list[str] = []
        if message.kind == "notification":
            item = await self._ledger.read(message.partition)
            tenant = str(item.value.get("tenantId", "")) if item else ""
            to, names = await self._contacts(tenant) if tenant else ((), ())
            if to:
                n = parse_notification(message.payload["notification"])
                reason = (
                    "We couldn't post this update to the Managed response channel in Teams "
                    f"({error}), so here it is by email."
                )
                try:
                    self._mark_touched()
                    await self._record_sending(leased, f"{message.id}.dead")
                    await self._mailer.send(
                        incident_email(
                            n,
                            message_id=f"{message.id}.dead",
                            to=to,
                            reason=reason,
                            names=names,
                        )
                    )
                    emailed = list(to)
                except Exception:
                    log.exception("emailing dead letter %s failed", safe(message.id))
        now = iso(self._clock())

        def dead(d: dict[str, Any]) -> list[DocWrite]:
            if message.kind == "notification":
                entry = d.setdefault("deliveries", {}).setdefault(str(message.revision), {})
                entry.update(state="deadLettered", error=error, emailedTo=emailed, at=now)
            return []

        try:
            await self._update(
                leased,
                dead,
                complete=True,
                dead_letter_error=error,
                dead_letter_emailed=bool(emailed),
            )
        except _GiveUp:
            await self._ledger.dead_letter(leased, error=error)
