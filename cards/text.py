"""How every card and message writes a moment and a phone number, so they read the same
everywhere."""

from __future__ import annotations

from datetime import UTC, datetime

# ITU-T E.164 country codes of one and two digits; every other code has three.
_ONE_DIGIT = frozenset({"1", "7"})
_TWO_DIGITS = frozenset(
    {
        "20",
        "27",
        "30",
        "31",
        "32",
        "33",
        "34",
        "36",
        "39",
        "40",
        "41",
        "43",
        "44",
        "45",
        "46",
        "47",
        "48",
        "49",
        "51",
        "52",
        "53",
        "54",
        "55",
        "56",
        "57",
        "58",
        "60",
        "61",
        "62",
        "63",
        "64",
        "65",
        "66",
        "81",
        "82",
        "84",
        "86",
        "90",
        "91",
        "92",
        "93",
        "94",
        "95",
        "98",
    }
)


def when(value: str | float | datetime | None) -> str:
    """A moment as people read it, in UTC: ``3 Dec 2026, 08:15 UTC``.

    Takes an aware ``datetime``, ISO 8601 text (``Z`` or an offset) or epoch seconds; text that
    isn't a moment comes back as it is, and nothing gives ``""``.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float):
        try:
            moment = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return str(value)
    else:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def phone(number: str) -> str:
    """An international (E.164) number grouped for reading: ``+1 425 555 0100``,
    ``+44 207 946 0958``. Anything else comes back as it is."""
    digits = number[1:]
    if not number.startswith("+") or not digits.isdigit() or len(digits) < 6:
        return number
    if digits[0] in _ONE_DIGIT:
        code, rest = digits[:1], digits[1:]
    elif digits[:2] in _TWO_DIGITS:
        code, rest = digits[:2], digits[2:]
    else:
        code, rest = digits[:3], digits[3:]
    groups = [rest[-4:]] if len(rest) > 4 else [rest]
    head = rest[: -len(groups[0])]
    while head:
        groups.insert(0, head[-3:])
        head = head[:-3]
    if len(groups) > 1 and len(groups[0]) == 1:
        groups[:2] = [groups[0] + groups[1]]
    return " ".join([f"+{code}", *groups])
