"""Report ranges and the labels the report shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.errors import ValidationError
from bot.report.ports import ReportQueryRange

DAY = 86_400.0
PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 366
TREND_MONTHS = 6
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

SEVERITY_LABEL = {
    "high": "High",
    "medium": "Medium",
    "low": "Low",
    "informational": "Informational",
    "unknown": "Unknown",
}
SEVERITY_ORDER = ("high", "medium", "low", "informational", "unknown")
ACTION_LABEL = {
    "completed": "Completed",
    "pending": "Pending",
    "skipped": "Skipped",
    "failed": "Failed",
}


@dataclass(frozen=True)
class ReportRange:
    start: datetime
    end: datetime
    """Exclusive."""
    label: str
    key: str
    """``7``, ``30``, ``90`` or ``custom``."""

    def query(self, tenant_id: str) -> ReportQueryRange:
        return ReportQueryRange(
            tenant_id=tenant_id,
            start=self.start.timestamp(),
            end=self.end.timestamp(),
            trend_start=month_start(
                self.end - timedelta(microseconds=1), -(TREND_MONTHS - 1)
            ).timestamp(),
        )


def month_start(when: datetime, months: int = 0) -> datetime:
    """The first instant of ``when``'s month, moved by ``months``."""
    index = when.year * 12 + when.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def last_days(days: int, now: datetime) -> ReportRange:
    return ReportRange(now - timedelta(days=days), now, f"Last {days} days", str(days))


def month_range(month_start_at: datetime) -> ReportRange:
    end = month_start(month_start_at, 1)
    return ReportRange(month_start_at, end, f"{month_start_at:%B %Y}", "month")


def parse_date(value: object, field: str) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value.strip()):
        raise ValidationError(f"{field} must be a date (YYYY-MM-DD).", field=field)
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(f"{field} isn't a real date.", field=field) from None


def custom_range(start: object, end: object, now: datetime) -> ReportRange:
    """From the first day to the last day, both included; validated as untrusted input."""
    first = parse_date(start, "From")
    last = parse_date(end, "To")
    if first > last:
        raise ValidationError("From must be on or before To.", field="From")
    if last > now.date():
        raise ValidationError("To can't be in the future.", field="To")
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationError(f"Choose at most {MAX_DAYS} days.", field="To")
    begin = datetime(first.year, first.month, first.day, tzinfo=UTC)
    stop = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    label = f"{first.day} {first:%b %Y} to {last.day} {last:%b %Y}"
    return ReportRange(begin, stop, label, "custom")


def preset(value: object, now: datetime) -> ReportRange:
    if isinstance(value, str) and value.isdigit() and int(value) in PRESETS:
        return last_days(int(value), now)
    if isinstance(value, int) and not isinstance(value, bool) and value in PRESETS:
        return last_days(value, now)
    raise ValidationError("Choose 7, 30 or 90 days, or a custom range.", field="range")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "No resolved incidents"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def words(identifier: str) -> str:
    """``microsoftDefenderForEndpoint`` -> ``Microsoft Defender For Endpoint``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", identifier).replace("_", " ")
    return spaced[:1].upper() + spaced[1:] if spaced else "Unknown"
