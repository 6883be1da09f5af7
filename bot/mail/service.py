"""Contact emails through a durable outbox.

A settings listener queues one email per newly added contact (key
``mail/outbox/{tenant}/{version}-{purpose}-{contact}``; queuing the same contact twice is a
no-op), and returns at once: sending never blocks, or undoes, the settings change. A background
worker sends due emails and deletes them from the outbox, and resumes queued emails after a
restart.

An email is sent at least once, always under the same message id (``contact/{key}``, stored
with it). Before each send the outbox records it (``state: sending``); only after the mailer
returns is the email removed (done). A crash in between leaves it ``sending``, and the next
start sends it again under the same id: the local mailer then replaces its ``.eml`` file, while
Graph's ``sendMail`` (no idempotency key) may deliver it twice; that window is logged and
documented in docs/graph.md.

Failures: a retryable one (the Mailer port's ``retryable`` errors: throttling, 5xx, no answer;
connection errors) is tried again with capped exponential backoff, each email at its own
next-attempt time; while it waits, :meth:`ContactMailService.kick` (a new email) wakes the
worker at once. Any other failure (a 403 for a missing Mail.Send permission, a refused
recipient) isn't retried: the email stays in the outbox with ``state: failed``, the error and
the permissions the port names, and is logged once at error level. So does an email that kept
failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.actions import Actor
from bot.errors import ConcurrencyError
from bot.logsafe import safe
from bot.mail.ports import Forbidden, Mailer, MailMessage, PortError
from bot.mail.templates import contact_added
from bot.onboarding.model import ServiceSettings, SettingsRecord
from bot.retry import RetryPolicy, Sleep, stop_task
from bot.storage import Store

log = logging.getLogger(__name__)

OUTBOX = "mail/outbox/"
DEFAULT_POLICY = RetryPolicy(attempts=8, base_delay=30.0, max_delay=3600.0)


def _now() -> datetime:
    return datetime.now(UTC)


class ContactMailService:
    """Queues and sends the "you are now a contact" emails."""

    def __init__(
        self,
        store: Store,
        mailer: Mailer,
        *,
        clock: Callable[[], datetime] = _now,
        sleep: Sleep = asyncio.sleep,
        policy: RetryPolicy = DEFAULT_POLICY,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._mailer = mailer
        self._clock = clock
        self._sleep = sleep
        self._policy = policy
        self._rand = rand
        self._worker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def on_settings(
        self, tenant_id: str, record: SettingsRecord, previous: ServiceSettings, actor: Actor
    ) -> None:
        """Settings listener: queue an email for every contact the change added."""
        before = {c.key for c in previous.contacts}
        queued = 0
        for contact in record.settings.contacts:
            if contact.key in before or not contact.mail:
                continue
            key = (
                f"{OUTBOX}{tenant_id.lower()}/{record.version:08d}-{contact.purpose.value}-"
                f"{contact.id}"
            )
            message = contact_added(contact, actor.name, message_id=message_id_of(key))
            try:
                await self._store.write(key, self._item(message, tenant_id), etag=None)
                queued += 1
            except ConcurrencyError:
                continue
        if queued:
            log.info("queued %d contact email(s)", queued)
            self.kick()

    def _item(self, message: MailMessage, tenant_id: str) -> dict[str, Any]:
        now = self._clock().isoformat()
        return {
            "tenantId": tenant_id.lower(),
            "message": message.to_json(),
            "state": "pending",
            "attempts": 0,
            "nextAttemptAt": now,
            "createdAt": now,
            "lastError": "",
        }

    def kick(self) -> None:
        """A new email is queued: send it now. Starts the worker, or wakes it from waiting for
        a retry (or makes it look again right after its current pass)."""
        if self._worker is not None and not self._worker.done():
            self._wake.set()
            return
        self._wake.clear()
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def start(self) -> None:
        self.kick()

    async def close(self) -> None:
        """Shut down: stop the worker (queued emails are sent after the next start)."""
        if self._worker is not None:
            await stop_task(self._worker)
        await self.wait_idle()

    async def wait_idle(self) -> None:
        """Wait until no worker runs: every queued email is sent or has failed for good, or
        :meth:`close` stopped the worker."""
        while self._worker is not None and not self._worker.done():
            await asyncio.wait({self._worker})

    async def _work(self) -> None:
        try:
            while True:
                self._wake.clear()
                wait = await self.drain()
                if self._wake.is_set():
                    continue  # kicked during the pass: look again at once
                if wait is None:
                    return  # nothing pending; the next kick() starts a worker again
                await self._pause(wait)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("contact email worker stopped")

    async def _pause(self, seconds: float) -> None:
        """Wait until the next retry is due, or until kick() says a new email is queued."""
        woken = asyncio.ensure_future(self._wake.wait())
        timer = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait({woken, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (woken, timer):
                waiter.cancel()
            await asyncio.gather(woken, timer, return_exceptions=True)

    async def drain(self) -> float | None:
        """Send every due email once. Returns seconds until the next retry, or None if done."""
        next_wait: float | None = None
        for key in sorted(await self._store.list_keys(OUTBOX)):
            item = await self._store.read(key)
            if item is None or item.value.get("state") not in ("pending", "sending"):
                continue
            due = datetime.fromisoformat(str(item.value["nextAttemptAt"]))
            now = self._clock()
            if due > now:
                left = (due - now).total_seconds()
                next_wait = left if next_wait is None else min(next_wait, left)
                continue
            value = dict(item.value)
            message = MailMessage.from_json(value["message"], message_id=message_id_of(key))
            if value.get("state") == "sending":
                log.warning(
                    "a contact email may have been sent before the bot stopped; sending it "
                    "again under the same message id %s",
                    safe(message.message_id),
                )
            try:
                # Record the send first: a crash after it leaves the email "sending", and the
                # next start sends it again under the same id (see the module's docstring).
                etag = await self._store.write(
                    key,
                    {**value, "state": "sending", "sendingAt": now.isoformat()},
                    etag=item.etag,
                )
            except ConcurrencyError:
                continue  # another worker has it
            try:
                await self._mailer.send(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempts = int(value.get("attempts", 0)) + 1
                value["attempts"] = attempts
                value["lastError"] = safe(f"{type(exc).__name__}: {exc}", 300)
                if not retryable(exc):
                    permissions = _missing_permissions(exc)
                    value.update(
                        state="failed",
                        failedAt=self._clock().isoformat(),
                        missingPermissions=list(permissions),
                    )
                    log.error(
                        "a contact email can't be sent, and won't be retried: %s%s",
                        value["lastError"],
                        _what_to_do(exc, permissions),
                    )
                elif attempts >= self._policy.attempts:
                    value.update(state="failed", failedAt=self._clock().isoformat())
                    log.error(
                        "gave up sending a contact email after %d attempts: %s",
                        attempts,
                        value["lastError"],
                    )
                else:
                    delay = self._policy.delay(attempts, None, self._rand)
                    value["nextAttemptAt"] = (self._clock() + timedelta(seconds=delay)).isoformat()
                    next_wait = delay if next_wait is None else min(next_wait, delay)
                    log.warning(
                        "contact email failed (attempt %d), retrying in %.0fs: %s",
                        attempts,
                        delay,
                        value["lastError"],
                    )
            else:
                with contextlib.suppress(ConcurrencyError):
                    await self._store.delete(key, etag=etag)
                continue
            if value["state"] == "sending":
                value["state"] = "pending"
            with contextlib.suppress(ConcurrencyError):
                await self._store.write(key, value, etag=etag)
        return next_wait


def message_id_of(key: str) -> str:
    """The email's id for good: its outbox key, which names the tenant, the settings version,
    the purpose and the contact."""
    return "contact/" + key.removeprefix(OUTBOX)


def retryable(exc: BaseException) -> bool:
    """Whether trying again later may help: the port says so (429, 5xx, no answer), or the
    connection failed. A refusal (403, 400) or an unexpected error won't go away by itself."""
    if isinstance(exc, PortError):
        return exc.retryable
    return isinstance(exc, ConnectionError | TimeoutError)


def _missing_permissions(exc: BaseException) -> tuple[str, ...]:
    if isinstance(exc, Forbidden):
        return exc.permissions or ("Mail.Send",)
    return ()


def _what_to_do(exc: BaseException, permissions: tuple[str, ...]) -> str:
    if not isinstance(exc, Forbidden):
        return ""
    return (
        f". Grant the app the Microsoft Graph application permission {' or '.join(permissions)} "
        "(with admin consent), and check that the Exchange application access policy lets it "
        "send as MAIL_SENDER"
    )
