"""The monthly report email's send record: once per (tenant, month), across crashes and
instances.

Before anything is sent, the sender records its intent in one document per tenant and month
(``tenants/{tenant}/report-mail/{YYYY-MM}``), created only if it doesn't exist yet (an ETag
create): the recipients of that month (the Service review contacts at that moment), those
already sent, the holder and a lease. Of two schedulers that find the month due, only one
creates it; the other sees it and sends nothing. After each email the holder marks that
recipient sent (an ETag write that also renews the lease), and the month ``done`` after the
last one.

A holder that dies leaves the record ``sending`` with its lease: once the lease has expired,
the next run (on any instance) takes the record over with an ETag write and sends to the
recipients not yet marked, under the same message ids (``report/{tenant}/{month}/{contact}``).
So a crash between the intent and the send sends once after the restart; a crash between a
send and its mark sends that email again under the same id (the local mailer keeps one
``.eml`` per id; Graph's ``sendMail`` has no idempotency key, as for the contact emails).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import ConcurrencyError
from bot.storage import Store

JSON = dict[str, Any]
LEASE_SECONDS = 600.0


def intent_key(tenant_id: str, month: str) -> str:
    return f"tenants/{tenant_id.lower()}/report-mail/{month}"


@dataclass
class Claim:
    """The right to send a month's emails, held until the lease ends."""

    key: str
    etag: str
    value: JSON

    def todo(self) -> list[JSON]:
        sent = self.value.get("sent") or {}
        return [r for r in self.value.get("recipients") or [] if r.get("id") not in sent]


class MonthlyIntents:
    def __init__(self, store: Store, tenant_id: str) -> None:
        self._store = store
        self._tenant = tenant_id.lower()
        self._holder = uuid.uuid4().hex

    async def claim(self, month: str, recipients: Sequence[JSON], now: float) -> Claim | None:
        """Record the intent to send ``month`` to ``recipients`` and hold it, or take over an
        unfinished one whose lease expired; None if the month is done or another holder's lease
        runs."""
        key = intent_key(self._tenant, month)
        fresh: JSON = {
            "month": month,
            "state": "sending",
            "recipients": [dict(r) for r in recipients],
            "sent": {},
            "holder": self._holder,
            "leaseUntil": now + LEASE_SECONDS,
            "since": now,
        }
        try:
            etag = await self._store.write(key, fresh, etag=None)
            return Claim(key, etag, fresh)
        except ConcurrencyError:
            pass
        item = await self._store.read(key)
        if item is None or item.value.get("state") == "done":
            return None
        value = dict(item.value)
        if value.get("holder") != self._holder and float(value.get("leaseUntil", 0)) > now:
            return None
        value.update(holder=self._holder, leaseUntil=now + LEASE_SECONDS)
        try:
            etag = await self._store.write(key, value, etag=item.etag)
        except ConcurrencyError:
            return None
        return Claim(key, etag, value)

    async def mark_sent(self, claim: Claim, recipient_id: str, at: str, now: float) -> bool:
        """Record one email sent and renew the lease; False if the claim was taken over (this
        holder's lease ran out), and then it must stop sending."""
        claim.value = {
            **claim.value,
            "sent": {**(claim.value.get("sent") or {}), recipient_id: at},
            "leaseUntil": now + LEASE_SECONDS,
        }
        if not claim.todo():
            claim.value["state"] = "done"
        try:
            claim.etag = await self._store.write(claim.key, claim.value, etag=claim.etag)
        except ConcurrencyError:
            return False
        return True

    async def finish(self, claim: Claim) -> None:
        """Nothing was left to send (no recipients): the month is done."""
        if claim.value.get("state") != "done":
            claim.value = {**claim.value, "state": "done"}
            claim.etag = await self._store.write(claim.key, claim.value, etag=claim.etag)

    async def retry_at(self, month: str) -> float | None:
        """When an unfinished month's lease ends (the time to look again), or None."""
        item = await self._store.read(intent_key(self._tenant, month))
        if item is None or item.value.get("state") == "done":
            return None
        return float(item.value.get("leaseUntil", 0))
