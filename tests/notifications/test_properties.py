"""Property tests over the webhook: malformed, oversized and mis-signed bodies.

Whatever arrives: the answer is 4xx, never 5xx, and nothing is stored.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.app import Storage
from bot.config import Settings
from bot.errors import ValidationError
from bot.notifications.model import BodyError, load_json, validate_notification
from bot.notifications.signing import WebhookVerifier, new_secret
from bot.storage.sqlite import SqliteStore
from bot.storage.sqlite_ledger import SqliteLedger
from bot.transport.notifications_api import NOTIFICATIONS
from bot.transport.web import create_app
from tests.notifications.support import SECRET, example, seed_channel, seed_settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
SIGNER = WebhookVerifier.from_secret(SECRET)
OTHER = WebhookVerifier.from_secret(new_secret())
LIMIT = 256 * 1024

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
PATHS = [
    ("type",),
    ("incident",),
    ("incident", "id"),
    ("incident", "severity"),
    ("incident", "status"),
    ("incident", "classification"),
    ("incident", "incidentWebUrl"),
    ("incident", "createdDateTime"),
    ("incident", "alerts"),
    ("managedResponse",),
    ("managedResponse", "revision"),
    ("managedResponse", "summary"),
    ("managedResponse", "completedActions"),
    ("managedResponse", "pendingActions"),
]


@st.composite
def mutated_examples(draw: st.DrawFn) -> bytes:
    body = example()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        node: Any = body
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        if draw(st.booleans()):
            node.pop(path[-1], None)
        else:
            node[path[-1]] = draw(json_values)
    return json.dumps(body).encode()


malformed = st.one_of(
    st.binary(max_size=2000),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_examples(),
    st.just(b"[" * 5000),
    st.just(b'{"type": "incident.notification", "incident": NaN}'),
)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient[Any, Any]:
    store = SqliteStore(tmp_path / "bot.sqlite3")
    await seed_settings(store)
    await seed_channel(store)
    app = create_app(
        Settings(data_dir=tmp_path, experts_webhook_secret=SECRET),
        storage=Storage(store, SqliteLedger(store)),
    )
    return await aiohttp_client(app)


async def post(client: TestClient[Any, Any], body: bytes, headers: dict[str, str]) -> int:
    response = await client.post(
        "/api/notifications",
        data=io.BytesIO(body),
        headers={"Content-Type": "application/json", **headers},
    )
    await response.read()
    return response.status


async def nothing_stored(client: TestClient[Any, Any], webhook_id: str) -> None:
    service = client.app[NOTIFICATIONS]  # type: ignore[union-attr]
    assert (await service.ledger.outbox_stats()).open == 0
    assert not await service.is_duplicate(webhook_id)
    assert await service.delivery_state("2972395") is None
    assert await service.events(0, 10) == {"events": [], "next": 0}


def invalid(body: bytes) -> bool:
    try:
        validate_notification(load_json(body))
    except (BodyError, ValidationError):
        return True
    return False


SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=150, deadline=None, suppress_health_check=SUPPRESS)
@given(body=malformed, n=st.integers(0, 10**9))
async def test_malformed_bodies_are_4xx_and_store_nothing(
    client: TestClient[Any, Any], body: bytes, n: int
) -> None:
    assume(invalid(body))
    webhook_id = f"msg_p{n}"
    status = await post(client, body, SIGNER.sign(webhook_id, int(time.time()), body).headers())
    assert 400 <= status < 500
    await nothing_stored(client, webhook_id)


@settings(max_examples=25, deadline=None, suppress_health_check=SUPPRESS)
@given(extra=st.integers(1, 64 * 1024), filler=st.sampled_from(["x", "é", " "]), n=st.integers())
async def test_oversized_bodies_are_413_and_store_nothing(
    client: TestClient[Any, Any], extra: int, filler: str, n: int
) -> None:
    body = example()
    body["incident"]["padding"] = filler * (LIMIT + extra)
    raw = json.dumps(body).encode()
    webhook_id = f"msg_o{abs(n)}"
    status = await post(client, raw, SIGNER.sign(webhook_id, int(time.time()), raw).headers())
    assert status == 413
    await nothing_stored(client, webhook_id)


@st.composite
def bad_signatures(draw: st.DrawFn) -> dict[str, str]:
    now = int(time.time())
    raw = json.dumps(example()).encode()
    webhook_id = draw(st.from_regex(r"msg_[A-Za-z0-9]{1,20}", fullmatch=True))
    kind = draw(st.sampled_from(["other-secret", "stale", "future", "garbage", "missing", "body"]))
    if kind == "other-secret":
        return OTHER.sign(webhook_id, now, raw).headers()
    if kind == "stale":
        return SIGNER.sign(webhook_id, now - draw(st.integers(301, 10**6)), raw).headers()
    if kind == "future":
        # 60 s of slack: the example is drawn before the request is sent (and replayed later
        # when hypothesis shrinks), so a timestamp just past the tolerance could fall back in.
        return SIGNER.sign(webhook_id, now + draw(st.integers(361, 10**6)), raw).headers()
    if kind == "body":
        return SIGNER.sign(webhook_id, now, raw + b" ").headers()
    headers = SIGNER.sign(webhook_id, now, raw).headers()
    if kind == "missing":
        headers.pop(draw(st.sampled_from(sorted(headers))))
        return headers
    text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
    name = draw(st.sampled_from(sorted(headers)))
    value = draw(text)
    assume(value != headers[name])
    headers[name] = value
    return headers


@settings(max_examples=120, deadline=None, suppress_health_check=SUPPRESS)
@given(headers=bad_signatures())
async def test_mis_signed_bodies_are_401_and_store_nothing(
    client: TestClient[Any, Any], headers: dict[str, str]
) -> None:
    raw = json.dumps(example()).encode()
    status = await post(client, raw, headers)
    assert status == 401
    await nothing_stored(client, headers.get("webhook-id", "x"))
