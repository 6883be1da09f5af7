"""The report in Teams (command, range buttons, bad input), for the experts, and by email."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from bot.actions import CardAction
from bot.errors import ValidationError
from bot.mail.local import EmlMailer
from bot.report.service import Recipient, ReportService
from cards import to_json
from cards.report import VIEW
from tests.report.support import T0, Ledger, body
from tests.support import ADELE, ALEX, action, texts

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


class Contacts:
    def __init__(self, started: float | None = T0.timestamp()) -> None:
        self.started = started

    async def service_review_contacts(self, tenant_id: str) -> list[Recipient]:
        return [Recipient("u2", "Megan Bowen", "meganb@contoso.com")]

    async def service_started(self, tenant_id: str) -> float | None:
        return self.started


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now.timestamp()

    def __call__(self) -> float:
        return self.now


async def direct(fn: Any) -> Any:
    return fn()


def service(ledger: Ledger, tmp_path: Path, contacts: Contacts | None = None) -> ReportService:
    return ReportService(
        ledger.query,
        tenant_id=ledger.service.tenant_id,
        store=ledger.store,
        mailer=EmlMailer(tmp_path / "mail"),
        contacts=contacts or Contacts(),
        clock=Clock(),
        render=direct,
    )


async def history(ledger: Ledger) -> None:
    await ledger.send(
        body("100", 1, "inProgress", 1),
        body("100", 2, "awaitingAction", 3, pending=("p1",)),
        body("100", 3, "resolved", 7, completed={"p1": "completed"}),
        body("101", 1, "resolved", 2, created=1, severity="low"),
        body("102", 1, "active", 2, created=2, severity="medium", determination="phishing"),
    )


def press(card: dict[str, Any], title: str, **data: Any) -> CardAction:
    a = action(card, title)
    return CardAction(ALEX, a["verb"], {**a["data"], **data}, "conv", "msg")


async def test_the_report_command_shows_the_last_30_days_with_charts_and_fallbacks(
    ledger: Ledger, tmp_path: Path
) -> None:
    await history(ledger)
    card = to_json(await service(ledger, tmp_path).command(ADELE, ""))
    text = texts(card)
    assert "Last 30 days" in text
    assert "Incidents investigated" in text and "67%" in text
    charts = [n for n in _walk(card) if str(n.get("type", "")).startswith("Chart.")]
    assert {c["type"] for c in charts} >= {
        "Chart.Donut",
        "Chart.HorizontalBar",
        "Chart.VerticalBar.Grouped",
        "Chart.Line",
    }
    assert all(
        c.get("fallback", {}).get("type") in ("FactSet", "Table", "Container") for c in charts
    )


async def test_range_buttons_answer_with_that_range(ledger: Ledger, tmp_path: Path) -> None:
    await history(ledger)
    svc = service(ledger, tmp_path)
    card = to_json(await svc.command(ALEX, ""))
    week = to_json(await svc.on_card_action(press(card, "Last 7 days")))
    assert "Last 7 days" in texts(week)
    assert "Incidents investigated" in texts(week)
    custom = to_json(
        await svc.on_card_action(
            press(card, "Show this range", **{"from": "2026-11-01", "to": "2026-11-30"})
        )
    )
    assert "1 Nov 2026 to 30 Nov 2026" in texts(custom)


@pytest.mark.parametrize(
    "data",
    [
        {"range": "365"},
        {"range": ["30"]},
        {"range": "custom", "from": "2026-11-31", "to": "2026-11-30"},
        {"range": "custom", "from": "2026-11-20", "to": "2026-11-01"},
        {"range": "custom", "from": "2026-11-01", "to": "2027-01-01"},
        {"range": "custom", "from": "2024-01-01", "to": "2026-11-01"},
        {"range": "custom", "from": "<script>", "to": None},
    ],
)
async def test_bad_ranges_are_refused_on_the_card(
    ledger: Ledger, tmp_path: Path, data: dict[str, Any]
) -> None:
    card = to_json(
        await service(ledger, tmp_path).on_card_action(CardAction(ALEX, VIEW, data, "c", "m"))
    )
    text = texts(card)
    assert "Nothing changed" in text and "Last 30 days" in text


async def test_forged_verbs_and_outsiders_are_refused(ledger: Ledger, tmp_path: Path) -> None:
    svc = service(ledger, tmp_path)
    forged = to_json(await svc.on_card_action(CardAction(ALEX, "report.delete", {}, "c", "m")))
    assert "isn't recognized" in texts(forged)
    outsider = ALEX.__class__(ALEX.user_id, "Eve", "another-tenant")
    refused = to_json(await svc.on_card_action(CardAction(outsider, VIEW, {}, "c", "m")))
    assert "Only members of your organization" in texts(refused)


async def test_the_experts_get_the_report_as_json(ledger: Ledger, tmp_path: Path) -> None:
    await history(ledger)
    svc = service(ledger, tmp_path)
    report = await svc.to_json("2026-11-01", "2026-11-30")
    assert report["incidentsInvestigated"] == 3
    assert report["incidentsResolved"] == 2
    assert report["averageCustomerTimeMinutes"] == 120.0  # (4 h + 0 h) / 2
    assert report["customerActions"] == {"completed": 1, "pending": 0, "skipped": 0, "failed": 0}
    assert [t["month"] for t in report["trends"]][-1] == "2026-11"
    with pytest.raises(ValidationError):
        await svc.to_json("2026-11-01", None)
    with pytest.raises(ValidationError):
        await svc.to_json(days="12")


async def test_the_monthly_email_goes_once_to_the_service_review_contacts(
    ledger: Ledger, tmp_path: Path
) -> None:
    await history(ledger)
    svc = service(ledger, tmp_path)
    await svc.run_due()
    await svc.run_due()
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes())
    assert message["To"] == "Megan Bowen <meganb@contoso.com>"
    assert message["Subject"] == "Defender Experts service report: November 2026"
    parts = {p.get_content_type(): p for p in message.walk()}
    html = _text(parts["text/html"])
    assert "cid:severity" in html and "cid:trends" in html and "cid:time" in html
    images = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert {p["Content-ID"] for p in images} == {"<severity>", "<trends>", "<time>"}
    assert all(_bytes(p).startswith(b"\x89PNG") for p in images)
    csv_part = parts["text/csv"]
    assert csv_part.get_filename() == "incidents-2026-11.csv"
    rows = _bytes(csv_part).decode().splitlines()
    assert rows[0].startswith("Incident ID,Title,Severity") and len(rows) == 4


async def test_no_monthly_email_for_a_month_before_the_service_started(
    ledger: Ledger, tmp_path: Path
) -> None:
    svc = service(ledger, tmp_path, Contacts(started=NOW.timestamp() - 3600))
    await svc.run_due()
    assert not (tmp_path / "mail").exists()


def _walk(node: Any) -> list[dict[str, Any]]:
    from tests.support import walk

    return list(walk(node))


def _bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def _text(part: Message) -> str:
    return _bytes(part).decode()
