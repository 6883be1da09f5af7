"""The service report: figures for a range (Teams card, Experts API JSON) and the monthly email
to the Service review contacts. Plain async Python behind ports."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.actions import Access, Actor, CardAction, CardRoute, CommandRoute, Routes
from bot.errors import ValidationError
from bot.mail.ports import Attachment, Mailer, MailMessage
from bot.report import charts
from bot.report.intent import Claim, MonthlyIntents
from bot.report.model import (
    ACTION_LABEL,
    DEFAULT_DAYS,
    SEVERITY_LABEL,
    SEVERITY_ORDER,
    TREND_MONTHS,
    ReportRange,
    custom_range,
    duration,
    last_days,
    month_range,
    month_start,
    preset,
    words,
)
from bot.report.ports import ACTION_STATES, IncidentRow, ReportFigures, ReportQuery
from bot.storage import Store
from cards.elements import AdaptiveCard
from cards.messages import message_card
from cards.report import VERB_PREFIX, VIEW, ReportView, report_card
from cards.views import MessageView, Notice

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Clock = Callable[[], float]
CATCH_UP_DAYS = 7
"""The monthly email is sent on the first day of the month, or within this many days if the
bot wasn't running then."""


@dataclass(frozen=True)
class Recipient:
    id: str
    name: str
    address: str


class ReviewContacts(Protocol):
    async def service_review_contacts(self, tenant_id: str) -> list[Recipient]: ...

    async def service_started(self, tenant_id: str) -> float | None:
        """When the service was set up (None if it wasn't)."""
        ...


def _pairs(
    counts: Mapping[str, int], label: Callable[[str], str] = words
) -> tuple[tuple[str, int], ...]:
    return tuple((label(k), v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _severity_pairs(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    order = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    return tuple(
        (SEVERITY_LABEL.get(k, words(k)), v)
        for k, v in sorted(counts.items(), key=lambda kv: order.get(kv[0], 99))
    )


def months_of(r: ReportRange) -> list[str]:
    """The six months the trends show, ending with the month of the range's last instant."""
    last = month_start(r.end - timedelta(microseconds=1))
    return [f"{month_start(last, -i):%Y-%m}" for i in reversed(range(TREND_MONTHS))]


def trend_series(
    figures: ReportFigures, months: Sequence[str]
) -> tuple[tuple[str, tuple[int, ...]], ...]:
    present = {s for per in figures.trends.values() for s in per}
    ordered = [s for s in SEVERITY_ORDER if s in present] + sorted(present - set(SEVERITY_ORDER))
    return tuple(
        (
            SEVERITY_LABEL.get(s, words(s)),
            tuple(figures.trends.get(m, {}).get(s, 0) for m in months),
        )
        for s in ordered
    )


class ReportService:
    def __init__(
        self,
        query: ReportQuery,
        *,
        tenant_id: str,
        store: Store,
        mailer: Mailer | None = None,
        contacts: ReviewContacts | None = None,
        clock: Clock = time.time,
        render: Callable[[Callable[[], Any]], Awaitable[Any]] | None = None,
    ) -> None:
        self._query = query
        self._tenant = tenant_id.lower()
        self._store = store
        self._mailer = mailer
        self._contacts = contacts
        self._clock = clock
        self._render = render or (lambda fn: asyncio.to_thread(fn))
        self._intents = MonthlyIntents(store, tenant_id)
        self._sending = asyncio.Lock()  # one monthly send at a time in this process

    @property
    def tenant_id(self) -> str:
        return self._tenant

    def routes(self) -> Routes:
        return Routes(
            cards=(CardRoute(VERB_PREFIX, self.on_card_action, Access.MEMBER),),
            commands=(CommandRoute(("report",), self.command, Access.MEMBER),),
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def figures(self, r: ReportRange) -> ReportFigures:
        return await self._query.figures(r.query(self._tenant))

    # ---- Teams -------------------------------------------------------------------------

    def _view(self, r: ReportRange, f: ReportFigures, notice: Notice | None = None) -> ReportView:
        months = months_of(r)
        custom = r.key == "custom"
        return ReportView(
            range_label=r.label,
            range_key=r.key,
            investigated=f.investigated,
            resolved=f.resolved,
            resolved_percent=f.resolved_percent,
            resolved_directly=f.resolved_directly,
            resolved_with_help=f.resolved_with_help,
            avg_resolve=duration(f.avg_resolve_seconds),
            avg_experts=duration(f.avg_experts_seconds),
            avg_customer=duration(f.avg_customer_seconds),
            experts_hours=None if f.avg_experts_seconds is None else f.avg_experts_seconds / 3600,
            customer_hours=None
            if f.avg_customer_seconds is None
            else f.avg_customer_seconds / 3600,
            by_severity=_severity_pairs(f.by_severity),
            by_category=_pairs(f.by_category),
            by_source=_pairs(f.by_source),
            by_tactic=_pairs(f.by_tactic),
            top_devices=f.top_devices,
            top_users=f.top_users,
            actions=tuple(
                (ACTION_LABEL[s], f.actions[s]) for s in ACTION_STATES if f.actions.get(s)
            ),
            trend_months=tuple(months),
            trend_series=trend_series(f, months),
            custom_from=f"{r.start:%Y-%m-%d}" if custom else "",
            custom_to=f"{r.end.timestamp() - 1:.0f}"
            and (
                f"{datetime.fromtimestamp(r.end.timestamp() - 1, UTC):%Y-%m-%d}" if custom else ""
            ),
            notice=notice,
        )

    async def card(self, r: ReportRange, notice: Notice | None = None) -> AdaptiveCard:
        return report_card(self._view(r, await self.figures(r), notice))

    async def command(self, actor: Actor, args: str = "") -> AdaptiveCard:
        """``report``, ``report 7|30|90``, or ``report YYYY-MM-DD YYYY-MM-DD``."""
        now = self._now()
        parts = args.split()
        try:
            if not parts:
                r = last_days(DEFAULT_DAYS, now)
            elif len(parts) == 1:
                r = preset(parts[0], now)
            elif len(parts) == 2:
                r = custom_range(parts[0], parts[1], now)
            else:
                raise ValidationError("Type report, report 7, 30 or 90, or report FROM TO.")
        except ValidationError as exc:
            return await self.card(
                last_days(DEFAULT_DAYS, now),
                Notice(f"{exc.message} Showing the last 30 days.", "error"),
            )
        return await self.card(r)

    async def on_card_action(self, action: CardAction) -> AdaptiveCard:
        actor = action.actor
        if not actor.user_id or actor.tenant_id.lower() != self._tenant:
            text = "Only members of your organization can see the service report."
            return message_card(MessageView(title="Service report", text=text))
        now = self._now()
        fallback = last_days(DEFAULT_DAYS, now)
        if action.verb != VIEW:
            return await self.card(
                fallback, Notice("That action isn't recognized. Showing the last 30 days.", "error")
            )
        data = action.data
        try:
            if data.get("range") == "custom":
                r = custom_range(data.get("from"), data.get("to"), now)
            else:
                r = preset(data.get("range", str(DEFAULT_DAYS)), now)
        except ValidationError as exc:
            log.info("refused a report range: %s", exc.field)
            return await self.card(fallback, Notice(f"{exc.message} Nothing changed.", "error"))
        return await self.card(r)

    # ---- the experts ---------------------------------------------------------------------

    async def to_json(self, start: object = None, end: object = None, days: object = None) -> JSON:
        """The report as JSON for the Experts API; raises ValidationError on a bad range."""
        now = self._now()
        if start is not None or end is not None:
            r = custom_range(start, end, now)
        elif days is not None:
            r = preset(days, now)
        else:
            r = last_days(DEFAULT_DAYS, now)
        f = await self.figures(r)
        months = months_of(r)
        return {
            "tenantId": self._tenant,
            "range": {"start": _iso(r.start), "end": _iso(r.end), "label": r.label},
            "incidentsInvestigated": f.investigated,
            "incidentsResolved": f.resolved,
            "resolvedDirectly": f.resolved_directly,
            "resolvedWithYourHelp": f.resolved_with_help,
            "resolvedPercent": f.resolved_percent,
            "averageTimeToResolveMinutes": _minutes(f.avg_resolve_seconds),
            "averageExpertsTimeMinutes": _minutes(f.avg_experts_seconds),
            "averageCustomerTimeMinutes": _minutes(f.avg_customer_seconds),
            "bySeverity": f.by_severity,
            "byCategory": f.by_category,
            "byServiceSource": f.by_source,
            "byMitreTactic": f.by_tactic,
            "mostImpactedDevices": [{"name": k, "incidents": n} for k, n in f.top_devices],
            "mostImpactedUsers": [{"name": k, "incidents": n} for k, n in f.top_users],
            "customerActions": {s: f.actions.get(s, 0) for s in ACTION_STATES},
            "trends": [{"month": m, "bySeverity": f.trends.get(m, {})} for m in months],
        }

    # ---- the monthly email -----------------------------------------------------------------

    async def run_due(self) -> float:
        """On the first days of a month, email last month's report to the Service review
        contacts, once per month (:mod:`bot.report.intent`); the seconds until this should run
        again (sooner when another holder's unfinished send may need taking over)."""
        now = self._now()
        this_month = month_start(now)
        last_month = month_start(now, -1)
        started = (
            None if self._contacts is None else await self._contacts.service_started(self._tenant)
        )
        next_month = month_start(now, 1)
        wait = min(3600.0, max(1.0, (next_month - now).total_seconds()))
        # Only for a month the service ran in, and only in the first days of the next one.
        if (
            (now - this_month).days < CATCH_UP_DAYS
            and started is not None
            and started < this_month.timestamp()
        ):
            await self.send_monthly(last_month)
            retry_at = await self._intents.retry_at(f"{last_month:%Y-%m}")
            if retry_at is not None:
                wait = min(wait, max(1.0, retry_at - self._clock() + 1.0))
        return wait

    def _message(
        self, r: ReportRange, f: ReportFigures, recipient: Recipient, attachments: Any
    ) -> MailMessage:
        return MailMessage(
            message_id=f"report/{self._tenant}/{r.start:%Y-%m}/{recipient.id}",
            to=(recipient.address,),
            names=(recipient.name,),
            subject=f"Defender Experts service report: {r.label}",
            text=self._text(r, f),
            html=self._html(r, f, recipient),
            attachments=attachments,
        )

    async def send_monthly(self, month: datetime, *, once: bool = True) -> int:
        """Email the report of ``month`` to the Service review contacts, once per month: the
        intent is recorded before the first email, each email is marked after it is sent, and
        only the holder of the month's record sends (``once=False``: to every contact, now,
        without recording it: an operator's resend)."""
        if self._mailer is None or self._contacts is None:
            return 0
        label = f"{month:%Y-%m}"
        contacts = await self._contacts.service_review_contacts(self._tenant)
        if once:
            async with self._sending:
                return await self._send_once(month, label, contacts)
        return await self._send(month, label, contacts, None)

    async def _send_once(self, month: datetime, label: str, contacts: list[Recipient]) -> int:
        claim = await self._intents.claim(
            label,
            [{"id": c.id, "name": c.name, "address": c.address} for c in contacts],
            self._clock(),
        )
        if claim is None:
            return 0
        todo = [Recipient(str(c["id"]), str(c["name"]), str(c["address"])) for c in claim.todo()]
        if not todo:
            await self._intents.finish(claim)
            return 0
        return await self._send(month, label, todo, claim)

    async def _send(
        self, month: datetime, label: str, todo: list[Recipient], claim: Claim | None
    ) -> int:
        if not todo or self._mailer is None:
            return 0
        r = month_range(month)
        figures = await self.figures(r)
        rows = await self._query.incidents(r.query(self._tenant))
        attachments = await self._render(lambda: self._attachments(r, figures, rows))
        sent = 0
        for recipient in todo:
            await self._mailer.send(self._message(r, figures, recipient, attachments))
            sent += 1
            if claim is not None and not await self._intents.mark_sent(
                claim, recipient.id, _iso(self._now()), self._clock()
            ):
                log.warning("monthly report for %s: another instance took the send over", label)
                break
        log.info("monthly report for %s sent to %d contacts", label, sent)
        return sent

    def _attachments(
        self, r: ReportRange, f: ReportFigures, rows: list[IncidentRow]
    ) -> tuple[Attachment, ...]:
        months = months_of(r)
        images = [
            Attachment(
                "severity.png",
                "image/png",
                charts.bar_chart("Incidents by severity", _severity_pairs(f.by_severity)),
                "severity",
            ),
            Attachment(
                "trends.png",
                "image/png",
                charts.trend_chart(months, trend_series(f, months)),
                "trends",
            ),
        ]
        if f.avg_experts_seconds is not None and f.avg_customer_seconds is not None:
            images.insert(
                0,
                Attachment(
                    "time-to-resolve.png",
                    "image/png",
                    charts.time_chart(f.avg_experts_seconds / 3600, f.avg_customer_seconds / 3600),
                    "time",
                ),
            )
        return (*images, Attachment(f"incidents-{r.start:%Y-%m}.csv", "text/csv", _csv(rows)))

    @staticmethod
    def _facts(f: ReportFigures) -> list[tuple[str, str]]:
        return [
            ("Incidents investigated", str(f.investigated)),
            ("Incidents resolved", f"{f.resolved} ({f.resolved_percent}%)"),
            ("Resolved directly by the experts", str(f.resolved_directly)),
            ("Resolved with your help", str(f.resolved_with_help)),
            ("Average time to resolve", duration(f.avg_resolve_seconds)),
            ("Experts' time", duration(f.avg_experts_seconds)),
            ("Your time (awaiting your action)", duration(f.avg_customer_seconds)),
            *(
                (f"Your actions: {ACTION_LABEL[s].lower()}", str(f.actions.get(s, 0)))
                for s in ACTION_STATES
            ),
        ]

    def _text(self, r: ReportRange, f: ReportFigures) -> str:
        lines = [f"Defender Experts service report: {r.label}", ""]
        lines += [f"{k}: {v}" for k, v in self._facts(f)]
        lines += ["", "The incidents are in the attached CSV file."]
        return "\n".join(lines)

    def _html(self, r: ReportRange, f: ReportFigures, recipient: Recipient) -> str:
        e = html.escape
        rows = "".join(
            f"<tr><th scope='row' style='text-align:left;padding:4px 12px 4px 0'>{e(k)}</th>"
            f"<td style='padding:4px 0'>{e(v)}</td></tr>"
            for k, v in self._facts(f)
        )
        lists = ""
        for title, pairs in (
            ("By category", _pairs(f.by_category)),
            ("By service source", _pairs(f.by_source)),
            ("By MITRE ATT&CK tactic", _pairs(f.by_tactic)),
            ("Most impacted devices", f.top_devices),
            ("Most impacted users", f.top_users),
        ):
            items = "".join(f"<li>{e(k)}: {n}</li>" for k, n in pairs) or "<li>None</li>"
            lists += f"<h3>{e(title)}</h3><ul>{items}</ul>"
        images = "".join(
            f"<p><img src='cid:{cid}' alt='{e(alt)}' style='max-width:100%'></p>"
            for cid, alt in (
                ("time", "Average time to resolve, experts' time and your time"),
                ("severity", "Incidents by severity"),
                ("trends", "Incidents per month by severity, last six months"),
            )
            if cid != "time" or f.avg_experts_seconds is not None
        )
        return (
            "<html><body style='font-family:Segoe UI,Arial,sans-serif;color:#1F1F1F;"
            "background:#FFFFFF'>"
            f"<p>Hello {e(recipient.name)},</p>"
            f"<h2>Defender Experts service report: {e(r.label)}</h2>"
            f"<table>{rows}</table>{images}{lists}"
            "<p>The incidents of the month are in the attached CSV file.</p>"
            "</body></html>"
        )


def _csv(rows: list[IncidentRow]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "Incident ID",
            "Title",
            "Severity",
            "Status",
            "Category",
            "Created (UTC)",
            "Resolved (UTC)",
            "Experts' time (minutes)",
            "Your time (minutes)",
            "Needed your help",
        ]
    )
    for row in rows:
        writer.writerow(
            [
                row.incident_id,
                _cell(row.title),
                row.severity,
                row.status,
                row.category,
                row.created,
                row.resolved_at,
                "" if row.experts_seconds is None else round(row.experts_seconds / 60),
                "" if row.customer_seconds is None else round(row.customer_seconds / 60),
                "yes" if row.helped else "no",
            ]
        )
    return out.getvalue().encode("utf-8")


def _cell(text: str) -> str:
    """Keep a spreadsheet from running a title as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)
