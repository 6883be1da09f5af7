"""What a log line concerns (correlation id, tenant, incident), carried by context variables, and
JSON lines for ``LOG_FORMAT=json``.

``set_fields(correlation_id=..., tenant=..., incident=...)`` sets the fields for the rest of the
current task (and tasks it starts); every record logged meanwhile carries them. The JSON
formatter writes one object per line: time, level, logger, message, those fields, and the
bounded traceback. Values come from the same bounded, escaped message as the text format:
never a secret (messages never include one) and never unbounded request data.
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime

from bot.logsafe import BoundedFormatter, RepeatFilter

FIELDS = ("correlation_id", "tenant", "incident")

_CONTEXT: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"log_{name}", default=None) for name in FIELDS
}


def set_fields(**fields: str | None) -> None:
    """Set log fields for the rest of the current task (a task's context is its own)."""
    for name, value in fields.items():
        if value:
            _CONTEXT[name].set(str(value)[:200])


class ContextFilter(logging.Filter):
    """Copies the bound fields onto every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True


class JsonFormatter(BoundedFormatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.formatMessage(record),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Root logging for the server: one bounded line per record (tracebacks bounded too),
    repeated lines rate-limited; as text or, with ``log_format="json"``, one JSON object per
    line with the correlation id, tenant and incident the line concerns."""
    logging.basicConfig(level=level)
    formatter: logging.Formatter = (
        JsonFormatter()
        if log_format == "json"
        else BoundedFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    repeats = RepeatFilter()
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
        handler.addFilter(repeats)
        handler.addFilter(ContextFilter())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
