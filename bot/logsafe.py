"""Sanitizing untrusted values before they reach a log line."""

from __future__ import annotations

from typing import Any


def safe(value: Any, limit: int = 80) -> str:
    """A single-line, bounded, escaped rendering of an untrusted value."""
    text = "" if value is None else str(value)
    text = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "…"
