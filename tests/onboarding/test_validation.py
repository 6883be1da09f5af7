from __future__ import annotations

import pytest

from bot.errors import ValidationError
from bot.onboarding import validation as v


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 425 555 0100", "+14255550100"),
        ("+44 (20) 7946-0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+91.98765.43210", "+919876543210"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_phone_accepts_e164_like(raw: str, expected: str) -> None:
    assert v.phone({"contact_phone": raw}) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "4255550100",
        "+0 425 555 0100",
        "+1 425",
        "+1234567890123456",
        "call me",
        "+1\u0660425555",
        "+1 425 555 0100\x07",
        42,
        "+" + "1" * 40,
    ],
)
def test_phone_refuses_the_rest(raw: object) -> None:
    with pytest.raises(ValidationError):
        v.phone({"contact_phone": raw})


def test_text_limits_and_controls() -> None:
    assert v.text({"q": "  fin  "}, "q", "Search") == "fin"
    assert v.text({}, "q", "Search") == ""
    for bad in ("x" * 101, "a\tb", "a\u200bb", ["list"], {"d": 1}):
        with pytest.raises(ValidationError):
            v.text({"q": bad}, "q", "Search")


def test_flags() -> None:
    assert v.flag({"f": "true"}, "f", "F", default=False) is True
    assert v.flag({"f": "FALSE"}, "f", "F", default=True) is False
    assert v.flag({}, "f", "F", default=True) is True
    assert v.flag({"f": True}, "f", "F", default=False) is True
    for bad in ("yes", 1, None.__class__.__name__, [True]):
        with pytest.raises(ValidationError):
            v.flag({"f": bad}, "f", "F", default=False)


def test_ident_lists() -> None:
    assert v.ident_list({"p": "101, 102,101"}, "p", "group") == ["101", "102"]
    assert v.ident_list({"p": ""}, "p", "group") == []
    for bad in ("1;drop", ",".join(str(n) for n in range(51)), 5, "a" * 200):
        with pytest.raises(ValidationError):
            v.ident_list({"p": bad}, "p", "group")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(3, 3), ("7", 7), (True, None), ("x", None), (None, None), (2.5, None), ("9" * 20, None)],
)
def test_revision(raw: object, expected: int | None) -> None:
    assert v.revision({"rev": raw}) == expected
