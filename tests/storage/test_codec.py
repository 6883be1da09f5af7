"""The stored documents' JSON text: orjson where it writes what the standard library would."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.storage.codec import dumps


@pytest.mark.parametrize(
    "value",
    [
        {"incident": {"id": "42", "revision": 3, "at": 1.795e9, "tags": ["a", "b"]}},
        {"é": "ü \u2013 🛡", "nested": [[], {}, None, True, False, -0.0, 1e16, 2**63]},
        {"lone surrogate": "\ud800"},  # a body's "\ud800" parses to one; orjson refuses it
        {"big": 10**30},  # beyond 64 bits: orjson refuses it
        {1: "an integer key"},  # json writes it as "1"; orjson refuses it
    ],
)
def test_the_text_parses_to_what_the_standard_library_writes(value: Any) -> None:
    text = dumps(value)
    assert json.loads(text) == json.loads(json.dumps(value))
    assert '": ' not in text and '", "' not in text  # compact, as stored before


@dataclasses.dataclass
class _Record:
    name: str = "x"


@pytest.mark.parametrize("value", [_Record(), datetime(2026, 1, 1, tzinfo=UTC), {"s": {1, 2}}])
def test_what_the_standard_library_refuses_is_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        dumps(value)
