"""Hypothesis strategies for hostile input to the bot's three endpoints, and a storage snapshot.

Shared by ``tests/edge/test_fuzz.py`` and ``bench/fuzz.py``. Activities are mutations of real
Teams activities (a message, a card action, an install), or arbitrary JSON, or arbitrary bytes.
``serviceUrl`` is never mutated: the bot replies there, and it must stay the loopback
connector stand-in.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

import cards.verbs
from cards.incident_views import ACKNOWLEDGE, ACTION_COMPLETE, ACTION_SKIP
from tests.notifications.support import example
from tests.standins.openid import OpenIdStandIn, new_key, tamper

TENANT = "4f1c3a2e-7d5b-4e8a-9c21-6b0d8e3f5a17"
ALEX = ("1a2b3c4d-0001-4e5f-8a9b-0c1d2e3f4a01", "Alex Wilber")  # admin
ADELE = ("1a2b3c4d-0003-4e5f-8a9b-0c1d2e3f4a03", "Adele Vance")  # not an admin
OUTSIDER = ("99999999-0003-4e5f-8a9b-0c1d2e3f4a03", "Mallory")
BOT_ID = "28:9e7b2c41-3f6d-4a8e-b5c2-1d0f7a6e8b93"
INCIDENT = "2972395"

# The setup guide's verbs (tenant admins only) and the incident card's (only on that card's
# post). Verbs any member may use (the readiness assessment's views) may legitimately store
# something, so they are left out here.
VERBS = sorted(
    {
        v
        for k, v in vars(cards.verbs).items()
        if k.isupper() and isinstance(v, str) and v.startswith("setup.")
    }
    | {ACKNOWLEDGE, ACTION_COMPLETE, ACTION_SKIP}
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "x\n", "2026-11-27T09:00:00Z", "yesterday", "msteams", "\u0000", "é"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)

ACTIVITY_PATHS: list[tuple[str, ...]] = [
    ("type",),
    ("id",),
    ("name",),
    ("text",),
    ("timestamp",),
    ("localTimestamp",),
    ("expiration",),
    ("channelId",),
    ("locale",),
    ("replyToId",),
    ("action",),
    ("from",),
    ("from", "id"),
    ("from", "aadObjectId"),
    ("from", "name"),
    ("recipient",),
    ("recipient", "id"),
    ("conversation",),
    ("conversation", "id"),
    ("conversation", "conversationType"),
    ("conversation", "tenantId"),
    ("conversation", "isGroup"),
    ("channelData",),
    ("channelData", "tenant"),
    ("channelData", "tenant", "id"),
    ("channelData", "team"),
    ("channelData", "eventType"),
    ("entities",),
    ("attachments",),
    ("membersAdded",),
    ("membersRemoved",),
    ("value",),
    ("value", "action"),
    ("value", "action", "verb"),
    ("value", "action", "data"),
    ("relatesTo",),
    ("extraField",),
]


def base_activity(kind: str, service_url: str, actor: tuple[str, str] = ALEX) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "message",
        "id": "act-1",
        "timestamp": "2026-11-27T09:00:00.123Z",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": "29:user", "aadObjectId": actor[0], "name": actor[1]},
        "recipient": {"id": BOT_ID, "name": "Defender Experts"},
        "conversation": {"id": "a:personal-1", "conversationType": "personal", "tenantId": TENANT},
        "channelData": {"tenant": {"id": TENANT}},
        "text": "help",
    }
    if kind == "invoke":
        body.update(
            type="invoke",
            name="adaptiveCard/action",
            text=None,
            value={"action": {"type": "Action.Execute", "verb": "setup.start", "data": {}}},
        )
    elif kind == "install":
        body.update(type="installationUpdate", action="add", text=None)
    elif kind == "members":
        body.update(type="conversationUpdate", membersAdded=[{"id": BOT_ID}], text=None)
    return body


def _apply(body: dict[str, Any], path: tuple[str, ...], value: Any, delete: bool) -> None:
    node: Any = body
    for key in path[:-1]:
        if not isinstance(node, dict):
            return
        node = node.setdefault(key, {})
    if not isinstance(node, dict):
        return
    if delete:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


@st.composite
def activities(draw: st.DrawFn, service_url: str) -> bytes:
    """A request body for /api/messages: mostly mutated real activities."""
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(st.binary(max_size=300))
    if shape == 1:
        return json.dumps(draw(json_values)).encode()
    kind = draw(st.sampled_from(["message", "invoke", "install", "members"]))
    body = base_activity(kind, service_url, draw(st.sampled_from([ALEX, ADELE, OUTSIDER])))
    mutations = st.tuples(st.sampled_from(ACTIVITY_PATHS), json_values, st.booleans())
    for path, value, delete in draw(st.lists(mutations, min_size=1, max_size=4)):
        _apply(body, path, value, delete)
    text = json.dumps(body)
    if draw(st.integers(0, 19)) == 0:  # something json.dumps can't write
        text = text[:-1] + draw(
            st.sampled_from(
                [', "v": NaN}', ', "v": 1e400}', ', "v": ' + "[" * 40 + "]" * 40 + "}", "}}"]
            )
        )
    return text.encode()


@st.composite
def card_actions(draw: st.DrawFn, service_url: str) -> bytes:
    """An Action.Execute invoke that must change nothing: a non-admin or an outsider on the
    setup verbs, anyone on incident verbs naming an incident or post that isn't theirs."""
    actor = draw(st.sampled_from([ADELE, OUTSIDER, ALEX]))
    verb = draw(st.sampled_from(VERBS) | st.text(max_size=30).filter(lambda v: "." not in v))
    if actor == ALEX and not verb.startswith("incident."):
        actor = ADELE  # the admin's own setup actions legitimately save drafts
    data = draw(st.dictionaries(st.text(max_size=12), json_values, max_size=5))
    if draw(st.booleans()):
        data["incidentId"] = draw(st.text(max_size=20) | st.just(INCIDENT))
        data["actionId"] = draw(st.text(max_size=12) | st.just("a2"))
    body = base_activity("invoke", service_url, actor)
    tenant = TENANT if actor != OUTSIDER else "11111111-2222-3333-4444-555555555555"
    body["conversation"] = {
        "id": draw(st.sampled_from(["a:personal-1", "19:other@thread.tacv2;messageid=9"])),
        "conversationType": draw(st.sampled_from(["personal", "channel"])),
        "tenantId": tenant,
    }
    body["channelData"] = {"tenant": {"id": tenant}}
    body["replyToId"] = draw(st.just("") | st.text(max_size=20).map("fuzz-".__add__))
    body["value"] = {
        "action": {"type": "Action.Execute", "verb": verb, "data": data},
        "trigger": draw(st.sampled_from(["manual", "automatic", 3])),
    }
    return json.dumps(body).encode()


@functools.cache
def _stranger() -> Any:
    """A key the provider never published (made once: RSA key generation is slow)."""
    return new_key()


@st.composite
def tokens(draw: st.DrawFn, openid: OpenIdStandIn, app_id: str, service_url: str) -> str:
    """An Authorization header value that must be refused: garbage, or a JWT from the stand-in
    that is forged or wrong in at least one claim. (A valid token would let the turn reply,
    and botbuilder would fetch an outgoing token from the real login service: the end-to-end
    acceptance is tested with a card action, which replies in the HTTP answer.)"""
    kind = draw(st.integers(0, 6))
    if kind == 0:  # anything a client can put in a header
        return draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80))
    if kind == 1:
        return "Bearer " + draw(
            st.from_regex(r"[A-Za-z0-9_\-]{0,40}(\.[A-Za-z0-9_\-]{0,40}){2}", fullmatch=True)
        )
    now = int(time.time())
    audience = draw(st.sampled_from([app_id, "other-app", ""]))
    url = draw(st.sampled_from([service_url, "https://evil.example/", ""]))
    expiry = draw(st.sampled_from([now + 600, now - 600, now - 86_400]))
    issuer = draw(st.sampled_from([openid.issuer, "https://sts.example/"]))
    if (audience, url, expiry, issuer) == (app_id, service_url, now + 600, openid.issuer):
        expiry = now - 86_400
    claims = openid.claims(audience, url, exp=expiry, iss=issuer)
    if kind == 2:
        token = openid.mint(claims, key=_stranger(), headers={"kid": openid.current.kid})
    elif kind == 3:
        token = openid.mint(claims, algorithm="HS256", key=b"x" * 32)
    elif kind == 4:
        token = tamper(openid.mint(claims), aud=app_id, serviceurl=service_url, exp=now + 600)
    else:
        token = openid.mint(claims)
    return "Bearer " + token


@st.composite
def webhook_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """A notification body and its Content-Type: mutated examples, JSON oddities, charsets."""
    body = example()
    paths = [
        ("type",),
        ("incident", "id"),
        ("incident", "severity"),
        ("incident", "incidentWebUrl"),
        ("incident", "createdDateTime"),
        ("incident", "alerts"),
        ("incident", "extra"),
        ("managedResponse", "revision"),
        ("managedResponse", "completedActions"),
        ("managedResponse", "pendingActions"),
    ]
    for path, value in draw(st.lists(st.tuples(st.sampled_from(paths), json_values), max_size=3)):
        _apply(body, path, value, False)
    text = json.dumps(body)
    odd = draw(st.integers(0, 7))
    if odd == 1:
        text = text[:-1] + ', "x": 1e400}'
    elif odd == 2:
        text = text[:-1] + ', "type": "incident.notification"}'
    elif odd == 3:
        text = text[:-1] + ', "incident": {"id": "1"}}'
    charset = draw(
        st.sampled_from(["", "; charset=utf-8", "; charset=utf-16", "; charset=latin-1"])
    )
    encoding = {"; charset=utf-16": "utf-16", "; charset=latin-1": "latin-1"}.get(charset, "utf-8")
    raw = text.encode(encoding, errors="replace")
    content_type = draw(st.sampled_from(["application/json", "application/json", "text/plain"]))
    return raw, content_type + charset


def snapshot(database: Path) -> list[tuple[str, list[str]]]:
    """Every row of every table, in a stable order: what "unchanged storage" compares."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"
            )
        ]
        return [
            (table, sorted(repr(row) for row in connection.execute(f'SELECT * FROM "{table}"')))  # noqa: S608
            for table in tables
        ]
    finally:
        connection.close()
