"""The delivery worker: reads the outbox and delivers each incident's revisions in order.

* The first delivered revision of an incident is a new post in the Managed response channel; a
  later one updates that card in place, then replies in its thread with what changed.
* Teams off, or no channel yet: the revision is emailed to the incident notification contacts.
* Every connector call waits for Teams' per-thread and per-tenant limits. 412/429/5xx and
  connection errors are retried with backoff and jitter, honouring Retry-After, from the outbox
  (so retries survive restarts). After ``max_attempts`` the message is a dead letter and is
  emailed.
* Crash safety: the new post's activity id is committed before the message is marked done, and
  each later step checks what is already recorded, so a restart resumes without posting twice.
* Retention: the loop also runs the ledger's :class:`~bot.notifications.retention.Pruner`, at
  most once an hour, beside delivery (never in its way), and every document it writes is
  bounded (:func:`~bot.notifications.retention.bound_incident`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.errors import ConcurrencyError
from bot.logcontext import set_fields
from bot.logsafe import safe
from bot.mail.ports import Mailer, MailMessage
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
from bot.notifications.retention import Pruner, PruneReport, RetentionPolicy, bound_incident
from bot.notifications.service import iso, post_key
from bot.retry import RetryPolicy

log = logging.getLogger(__name__)

STORE_RETRY_MAX_SECONDS = 30.0

CONFLICT_RETRIES = 8
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


class DeliveryWorker:
    def __init__(
        self,
        ledger: Ledger,
        messenger: ChannelMessenger,
        channels: ChannelDirectory,
        settings: SettingsSource,
        mailer: Mailer,
        limiter: RateLimiter,
        *,
        options: WorkerOptions | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        claim: Callable[[str, str], Awaitable[bool]] | None = None,
    ) -> None:
        self._ledger = ledger
        self._messenger = messenger
        self._channels = channels
        self._settings = settings
        self._mailer = mailer
        self._limiter = limiter
        self._options = options or WorkerOptions()
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._pruner = Pruner(ledger, self._options.retention, clock)
        self._pruning: asyncio.Task[PruneReport] | None = None
        self._claim = claim
        self._leases: dict[asyncio.Task[None], Leased] = {}
        self._touched: set[int] = set()
        self._draining = False
        self.stats = DeliveryStats()

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    # ---- loop -------------------------------------------------------------------------------

    def wake(self) -> None:
        """New work was enqueued: look now instead of at the next poll."""
        self._idle.clear()
        self._wake.set()

    async def wait_idle(self) -> None:
        """Return once the run loop has found nothing in flight, nothing due now and no pruning
        running: the worker's public idle signal. :meth:`wake` (which every enqueue calls)
        clears it until the loop has looked again."""
        await self._idle.wait()

    async def recover(self) -> int:
        """Give back the leases a killed process held; their progress is in the documents."""
        count = await self._ledger.reclaim()
        if count:
            log.warning("recovered %d notification(s) that were in flight at the last stop", count)
        return count

    async def _renew_leases(
        self, extend: Callable[[list[Leased], float], Awaitable[set[int]]]
    ) -> None:
        """While deliveries wait (on Teams' limits, on retries of a call), keep their leases:
        a short lease lets another instance take over soon after this one dies, never while it
        is alive."""
        seconds = self._options.lease_seconds
        while True:
            await self._sleep(seconds / 3)
            held = list(self._leases.values())
            try:
                kept = await extend(held, seconds)
            except Exception:
                log.exception("renewing delivery leases failed")
                continue
            running = {item.seq for item in self._leases.values()}  # some finished meanwhile
            lost = [item for item in held if item.seq not in kept and item.seq in running]
            if lost:
                log.warning("lost the lease of %d delivery(ies) to another instance", len(lost))

    async def run(self) -> None:
        """Deliver until cancelled."""
        await self.recover()
        extend = getattr(self._ledger, "extend", None)
        renewing = (
            asyncio.create_task(self._renew_leases(extend), name="lease-renewal")
            if extend is not None
            else None
        )
        failures = 0
        try:
            while True:
                self._wake.clear()
                self._prune_if_due()
                try:
                    leased = await self._fill()
                    timeout, due_now = await self._idle_timeout(leased)
                    failures = 0
                except Exception as error:  # the store failed: keep the worker, back off, retry
                    failures += 1
                    timeout = min(STORE_RETRY_MAX_SECONDS, 2.0 ** min(failures - 1, 5))
                    log.warning(
                        "delivery: the store failed (%s); retrying in %.0f s",
                        type(error).__name__,
                        timeout,
                    )
                    leased, due_now = 0, False
                busy = [self._pruning] if self._pruning and not self._pruning.done() else []
                if not leased and not self._inflight and not due_now and not busy and not failures:
                    self._idle.set()
                waiter = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait(
                        {waiter, *self._inflight, *busy},
                        timeout=timeout,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    waiter.cancel()
        finally:
            pruning: list[asyncio.Task[Any]] = [self._pruning] if self._pruning else []
            pruning += [renewing] if renewing is not None else []
            for task in [*self._inflight, *pruning]:
                task.cancel()
            await asyncio.gather(*self._inflight, *pruning, return_exceptions=True)

    def _prune_if_due(self) -> None:
        """Start pruning if the last run is an hour old and none is running. It runs beside
        delivery, in small transactions, so the loop keeps leasing meanwhile."""
        if (self._pruning is None or self._pruning.done()) and self._pruner.due():
            self._pruning = asyncio.create_task(self._prune())

    async def _prune(self) -> PruneReport:
        """Prune, unless another instance claimed this interval (``claim``, several instances)."""
        if self._claim is not None:
            interval = self._pruner.policy.interval_seconds
            period = str(int(self._clock() // interval))
            if not await self._claim("notifications-retention", period):
                return self._pruner.skip()
        return await self._pruner.run()

    async def _fill(self) -> int:
        free = self._options.concurrency - len(self._inflight)
        if free <= 0 or self._draining:
            return 0
        leased = await self._ledger.lease(free, self._options.lease_seconds)
        for item in leased:
            task = asyncio.create_task(self.process(item))
            self._inflight.add(task)
            self._leases[task] = item
            task.add_done_callback(self._forget)
        return len(leased)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        item = self._leases.pop(task, None)
        if item is not None:
            self._touched.discard(item.seq)

    async def drain(self, grace: float) -> tuple[int, int]:
        """Stop leasing; let deliveries in flight finish for up to ``grace`` seconds; then stop
        the rest and give back the leases of those that hadn't sent anything yet (another
        instance delivers them now; on SQLite the restart takes them back). A message whose send
        had started keeps its lease until it expires: its recorded progress decides, so nothing
        is posted twice. Returns (finished, given back)."""
        self._draining = True
        self.wake()
        running = set(self._inflight)
        if not running:
            return 0, 0
        log.info(
            "stopping: waiting up to %.0f s for %d delivery(ies) in flight", grace, len(running)
        )
        done, pending = await asyncio.wait(running, timeout=grace)
        leases = {task: self._leases.get(task) for task in pending}
        untouched = [
            item for item in leases.values() if item is not None and item.seq not in self._touched
        ]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # Only a shared ledger gives leases back; one instance's own reclaims them at start-up.
        release: Callable[[Leased], Awaitable[None]] | None = getattr(self._ledger, "release", None)
        if release is not None:
            for item in untouched:
                await release(item)
        else:
            untouched = []
        if pending:
            log.warning(
                "stopping: %d delivery(ies) finished, %d given back, %d left to their lease",
                len(done),
                len(untouched),
                len(pending) - len(untouched),
            )
        return len(done), len(untouched)

    async def _acquire(self, tenant_id: str, thread_id: str) -> None:
        """Wait for Teams' limits; from here on this message may reach Teams. With a shared
        ledger, the lease is renewed first: if it expired meanwhile (another instance has the
        message now), nothing is sent. (Renewed before the wait for a slot, not after, so that
        the call leaves as soon as the slot is taken.)"""
        leased = _CURRENT.get()
        extend = getattr(self._ledger, "extend", None)
        if (
            leased is not None
            and extend is not None
            and leased.seq not in await extend([leased], self._options.lease_seconds)
        ):
            raise LeaseLost(leased.message.id)
        await self._limiter.acquire(tenant_id, thread_id)
        self._mark_touched()

    async def _send_mail(self, message: MailMessage) -> None:
        self._mark_touched()
        await self._mailer.send(message)

    def _mark_touched(self) -> None:
        leased = _CURRENT.get()
        if leased is not None:
            self._touched.add(leased.seq)

    async def _idle_timeout(self, leased: int) -> tuple[float, bool]:
        """How long to wait for, and whether a message is due now."""
        poll = self._options.poll_seconds
        if len(self._inflight) >= self._options.concurrency:
            return poll, False  # full: the loop wakes when a delivery ends, not by polling
        due = await self._ledger.next_due()
        if due is None:
            return poll, False
        wait = min(poll, max(0.0, due - self._clock()))
        return (wait if leased or wait > 0 else 0.01), wait <= 0

    # ---- one message ------------------------------------------------------------------------

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
                self._limiter.back_off(thread, delay)
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
        await self._acquire(tenant, channel.channel_id)
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
            await self._acquire(tenant, thread)
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
            await self._acquire(tenant, thread)
            reply_id = await self._messenger.send(post["reference"], text=str(delivery["reply"]))

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
            await self._acquire(str(doc["tenantId"]), thread)
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
