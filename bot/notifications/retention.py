"""Retention: what the notifications ledger keeps, for how long, and the pruning that enforces it.

* **Webhook receipts** (the ``webhook-id`` dedup) are kept 24 hours. A replay of a signed request
  is refused by the timestamp check once it is 5 minutes old, so a receipt only has to outlive
  that window, with a wide margin (clock skew, a slow retry). A sender that re-signs an old
  webhook id with a fresh timestamp after the receipt is gone is still not delivered twice: the
  incident document's latest revision answers it ``ignored``.
* **Finished outbox messages** (done; dead letters that were emailed, and dead card refreshes,
  which have nothing to email) are deleted ``NOTIFY_RETENTION_DAYS`` after they finished. Open
  messages (pending, leased, waiting for a retry) are never deleted, and neither is a dead
  letter that reached no one (not emailed): it is the record of a notification nobody got.
  Nothing decides "already delivered" from the outbox: the service compares revisions with the
  incident document's ``latest``, and the worker resumes from its ``post``, ``shown`` and
  ``deliveries``, all of which are kept.
* **Events** for the experts are deleted ``NOTIFY_RETENTION_DAYS`` after they happened. Cursors
  never go back (SQLite ``AUTOINCREMENT``): a client holding an older cursor gets what remains.
* **Incident documents** are kept; their lists are bounded by :func:`bound_incident`.

The delivery worker runs a :class:`Pruner` from its loop, at most once per
``interval_seconds`` (an hour), deleting at most ``batch`` rows per transaction so that the
SQLite write lock is never held for long. If the database was switched to incremental
auto-vacuum, the freed pages are then given back to the file system in bounded steps too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.notifications.ports import Ledger, PruneTarget
from bot.notifications.signing import TOLERANCE_SECONDS

log = logging.getLogger(__name__)

DAY = 86_400.0
RECEIPT_RETENTION_SECONDS = 24 * 3600.0
"""How long a webhook id is remembered: the ±5 minute signature window with a wide margin."""
DEFAULT_RETENTION_DAYS = 90
MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650
PRUNE_INTERVAL_SECONDS = 3600.0
PRUNE_BATCH = 500
VACUUM_PAGES = 1000
"""Pages given back per transaction by ``PRAGMA incremental_vacuum`` (4 MB at 4 KiB pages)."""
INCIDENT_LIST_KEEP = 200
"""Entries kept in each list of an incident document: revisions (history), deliveries, lost
posts and the members' answers to actions no longer shown (see :func:`bound_incident`)."""

if RECEIPT_RETENTION_SECONDS <= 2 * TOLERANCE_SECONDS:  # pragma: no cover - a constant
    raise RuntimeError("receipts must outlive the signature tolerance")


@dataclass(frozen=True)
class RetentionPolicy:
    finished_seconds: float = DEFAULT_RETENTION_DAYS * DAY
    """Finished outbox messages and events older than this are deleted."""
    receipt_seconds: float = RECEIPT_RETENTION_SECONDS
    interval_seconds: float = PRUNE_INTERVAL_SECONDS
    batch: int = PRUNE_BATCH
    vacuum_pages: int = VACUUM_PAGES

    @classmethod
    def of_days(cls, days: int) -> RetentionPolicy:
        return cls(finished_seconds=days * DAY)


@dataclass(frozen=True)
class PruneReport:
    receipts: int = 0
    messages: int = 0
    events: int = 0
    pages: int = 0
    transactions: int = 0

    @property
    def rows(self) -> int:
        return self.receipts + self.messages + self.events


class Pruner:
    """Deletes what the policy no longer keeps, in small transactions, at most once an interval."""

    def __init__(
        self,
        ledger: Ledger,
        policy: RetentionPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ledger = ledger
        self._policy = policy or RetentionPolicy()
        self._clock = clock
        self._last: float | None = None

    @property
    def policy(self) -> RetentionPolicy:
        return self._policy

    def due(self) -> bool:
        """True if the last run is an interval ago (or the clock went back past it)."""
        if self._last is None:
            return True
        now = self._clock()
        return now < self._last or now >= self._last + self._policy.interval_seconds

    def skip(self) -> PruneReport:
        """Another instance prunes this interval: wait for the next one."""
        self._last = self._clock()
        return PruneReport(receipts=0, messages=0, events=0, pages=0, transactions=0)

    async def run(self) -> PruneReport:
        """Prune now. A failure is logged and waits for the next interval; it never stops
        delivery."""
        policy = self._policy
        now = self._clock()
        self._last = now
        counts: dict[PruneTarget, int] = {"receipts": 0, "messages": 0, "events": 0}
        cutoffs: dict[PruneTarget, float] = {
            "receipts": now - policy.receipt_seconds,
            "messages": now - policy.finished_seconds,
            "events": now - policy.finished_seconds,
        }
        transactions = pages = 0
        try:
            for target, before in cutoffs.items():
                while True:
                    deleted = await self._ledger.prune(target, before, policy.batch)
                    transactions += 1
                    counts[target] += deleted
                    if deleted < policy.batch:
                        break
                    await asyncio.sleep(0)  # let other writers take the lock between batches
            while True:
                freed = await self._ledger.vacuum(policy.vacuum_pages)
                transactions += 1
                pages += freed
                if freed < policy.vacuum_pages:
                    break
                await asyncio.sleep(0)
        except Exception:
            log.exception("pruning the notifications ledger failed; trying again in an hour")
        report = PruneReport(
            counts["receipts"], counts["messages"], counts["events"], pages, transactions
        )
        if report.rows:
            log.info(
                "pruned %d webhook receipt(s), %d finished outbox message(s), %d event(s); "
                "%d page(s) given back",
                report.receipts,
                report.messages,
                report.events,
                report.pages,
            )
        return report


def _pending_ids(doc: dict[str, Any], which: str) -> set[str]:
    source = doc.get(which)
    notification = source.get("notification") if isinstance(source, dict) else None
    response = notification.get("managedResponse") if isinstance(notification, dict) else None
    actions = response.get("pendingActions") if isinstance(response, dict) else None
    if not isinstance(actions, list):
        return set()
    return {str(a["id"]) for a in actions if isinstance(a, dict) and "id" in a}


def _answered_at(response: Any) -> str:
    """An answer's time (ISO 8601 UTC, so it sorts as text)."""
    return str(response.get("at", "")) if isinstance(response, dict) else ""


def _revision_key(key: str) -> int:
    try:
        return int(key)
    except ValueError:
        return -1


def bound_incident(doc: dict[str, Any], keep: int = INCIDENT_LIST_KEEP) -> dict[str, Any]:
    """Bound the lists an incident document would otherwise grow forever, in place.

    * ``history`` (every accepted or ignored revision) and ``lostPosts``: the latest ``keep``.
    * ``deliveries`` (per revision): the ``keep`` highest revisions. The message being delivered
      is always the highest (revisions are accepted rising and delivered in order), so its
      record, which a restart resumes from, is never dropped.
    * ``responses`` (the members' answers, per action id): the answers to the pending actions of
      the latest and the shown revision are always kept (they are on the card, and they refuse
      a second answer); others, the most recent first, up to ``keep`` in all.

    ``latest``, ``shown``, ``post`` and ``acknowledged`` are single values and are always kept:
    they decide what is old, what is shown and where.
    """
    history = doc.get("history")
    if isinstance(history, list) and len(history) > keep:
        doc["history"] = history[-keep:]
    lost = doc.get("lostPosts")
    if isinstance(lost, list) and len(lost) > keep:
        doc["lostPosts"] = lost[-keep:]
    deliveries = doc.get("deliveries")
    if isinstance(deliveries, dict) and len(deliveries) > keep:
        kept = sorted(deliveries, key=_revision_key)[-keep:]
        doc["deliveries"] = {k: deliveries[k] for k in sorted(kept, key=_revision_key)}
    responses = doc.get("responses")
    if isinstance(responses, dict) and len(responses) > keep:
        needed = _pending_ids(doc, "latest") | _pending_ids(doc, "shown")
        others = sorted(
            (k for k in responses if k not in needed),
            key=lambda k: _answered_at(responses[k]),
            reverse=True,
        )
        room = max(0, keep - sum(1 for k in responses if k in needed))
        kept_ids = {k for k in responses if k in needed} | set(others[:room])
        doc["responses"] = {k: v for k, v in responses.items() if k in kept_ids}
    return doc


__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "INCIDENT_LIST_KEEP",
    "MAX_RETENTION_DAYS",
    "MIN_RETENTION_DAYS",
    "RECEIPT_RETENTION_SECONDS",
    "PruneReport",
    "Pruner",
    "RetentionPolicy",
    "bound_incident",
]
