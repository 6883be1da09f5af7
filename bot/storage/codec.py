"""JSON text of the documents the stores keep (our own, trusted values), fast.

Storing a notification encodes three documents (the incident, its report record and the outbox
payload): with the standard library that was the largest share of the webhook's CPU. ``orjson``
writes the same JSON about ten times faster. What it can't write the way :mod:`json` does falls
back to :mod:`json`, so every value is stored exactly as before or refused the same way:

* a string with a lone surrogate (``"\\ud800"`` in a body parses to one), an integer beyond 64
  bits, a key that isn't a string: orjson refuses them, the standard library writes them;
* a dataclass or a datetime: orjson would write them, the standard library refuses them
  (``TypeError``), as before.

The text differs only in spelling (non-ASCII characters as UTF-8 rather than ``\\u`` escapes,
``1e+16`` for ``1e16``): both parse to the same value. One difference is left: orjson writes a
non-finite float as ``null`` where the standard library writes ``NaN``, which isn't JSON; no
stored value has one (request bodies with one are refused by
:func:`bot.notifications.model.load_json`, and the bot's own times are finite).

Stored text is read back with :func:`json.loads`, not orjson: orjson reads an integer beyond 64
bits as a float, and a body may carry one in a field the schema keeps without knowing it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``, as ``json.dumps(value, separators=(",", ":"))`` parses."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, separators=(",", ":"))
