"""One way to write a moment and a phone number on every card and message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cards.text import phone, when


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-03T08:14:59Z",
        "2026-12-03T08:14:00.123456+00:00",
        "2026-12-03T09:14:00+01:00",
        datetime(2026, 12, 3, 8, 14, tzinfo=UTC),
        datetime(2026, 12, 3, 3, 14, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2026, 12, 3, 8, 14, tzinfo=UTC).timestamp(),
    ],
)
def test_every_form_of_a_moment_reads_the_same(value: str | float | datetime) -> None:
    assert when(value) == "3 Dec 2026, 08:14 UTC"


def test_what_is_not_a_moment_is_left_as_it_is() -> None:
    assert when("") == "" and when(None) == ""
    assert when("soon") == "soon"
    assert when(1e20) == "1e+20"


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("+14255550100", "+1 425 555 0100"),
        ("+442079460958", "+44 207 946 0958"),
        ("+4930123456", "+49 3012 3456"),
        ("+35312345678", "+353 1234 5678"),
        ("+33123456789", "+33 12 345 6789"),
        ("", ""),
        ("+12", "+12"),
        ("425 555 0100", "425 555 0100"),
    ],
)
def test_phone_numbers_are_grouped_for_reading(stored: str, shown: str) -> None:
    assert phone(stored) == shown
