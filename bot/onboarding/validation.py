"""Parsing of untrusted card submissions. Every failure is a ValidationError with a safe message."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from bot.errors import ValidationError

MAX_QUERY = 100
MAX_ID = 128
MAX_IDS = 50
MAX_PHONE = 32

_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_ID = re.compile(r"^[A-Za-z0-9._:@\-]+$")


def _has_control(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in value)


def text(data: Mapping[str, Any], key: str, label: str, *, max_len: int = MAX_QUERY) -> str:
    """An optional free-text input; empty when absent."""
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{label} must be text.", field=key)
    if len(value) > max_len:
        raise ValidationError(f"{label} is too long: use at most {max_len} characters.", field=key)
    if _has_control(value):
        raise ValidationError(f"{label} contains characters that aren't allowed.", field=key)
    return value.strip()


def flag(data: Mapping[str, Any], key: str, label: str, *, default: bool) -> bool:
    """A toggle: Adaptive Cards submit "true"/"false" strings."""
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValidationError(f"{label} must be on or off.", field=key)


def ident(data: Mapping[str, Any], key: str, label: str) -> str:
    """A required identifier carried in action data."""
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValidationError(f"Choose a {label} first.", field=key)
    if len(value) > MAX_ID or not _ID.match(value):
        raise ValidationError(f"That {label} isn't valid.", field=key)
    return value


def ident_list(data: Mapping[str, Any], key: str, label: str) -> list[str]:
    """A multi-select ChoiceSet value: comma-separated ids."""
    value = data.get(key)
    if value is None or value == "":
        return []
    if not isinstance(value, str) or len(value) > MAX_IDS * (MAX_ID + 1):
        raise ValidationError(f"The {label} selection isn't valid.", field=key)
    ids = [v.strip() for v in value.split(",") if v.strip()]
    if len(ids) > MAX_IDS:
        raise ValidationError(f"Choose at most {MAX_IDS} {label}s at a time.", field=key)
    for v in ids:
        if len(v) > MAX_ID or not _ID.match(v):
            raise ValidationError(f"The {label} selection isn't valid.", field=key)
    return list(dict.fromkeys(ids))


def phone(data: Mapping[str, Any], key: str = "contact_phone") -> str:
    """An optional phone number in international (E.164) form, normalized to +digits."""
    raw = text(data, key, "Phone number", max_len=MAX_PHONE)
    if not raw:
        return ""
    compact = _PHONE_SEPARATORS.sub("", raw)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not _E164.match(compact):
        raise ValidationError(
            "Phone number must be in international format, for example +1 425 555 0100.",
            field=key,
        )
    return compact


def revision(data: Mapping[str, Any]) -> int | None:
    """The draft revision a card was rendered from, or None if absent or malformed."""
    value = data.get("rev")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 12:
        return int(value)
    return None
