"""Standard Webhooks signatures: ours against the reference ``standardwebhooks`` package."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from bot.notifications.signing import (
    SignatureError,
    WebhookVerifier,
    decode_secret,
    new_secret,
    request_line,
)
from tests.notifications.support import SECRET

NOW = 1_795_000_000


def verifier(now: float = NOW) -> WebhookVerifier:
    return WebhookVerifier.from_secret(SECRET, clock=lambda: now)


# Standard Webhooks doesn't restrict ids: any printable ASCII without spaces, 1-256 of them.
ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=256)


@given(webhook_id=ids, body=st.binary(max_size=2000).map(lambda b: b.hex().encode()))
def test_reference_signatures_verify(webhook_id: str, body: bytes) -> None:
    reference = Webhook(SECRET)
    signature = reference.sign(webhook_id, datetime.fromtimestamp(NOW, UTC), body.decode())
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(NOW),
        "webhook-signature": signature,
    }
    assert verifier().verify(headers, body) == webhook_id
    assert verifier().sign(webhook_id, NOW, body).signature == signature


@given(webhook_id=ids, text=st.text(max_size=300))
def test_our_signatures_verify_with_the_reference(webhook_id: str, text: str) -> None:
    # The reference checks the timestamp against the real clock, so sign for "now".
    signed = WebhookVerifier.from_secret(SECRET).sign(webhook_id, int(time.time()), text.encode())
    Webhook(SECRET).verify(text, signed.headers(), json_parse=False)


def test_rotation_any_listed_signature_may_match() -> None:
    good = verifier().sign("msg_1", NOW, b"{}").signature
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(NOW),
        "webhook-signature": f"v1,{base64.b64encode(b'x' * 32).decode()} v1a,abc {good}",
    }
    assert verifier().verify(headers, b"{}") == "msg_1"


@pytest.mark.parametrize("skew", [-301, 301, 10_000])
def test_timestamp_outside_five_minutes_is_refused(skew: int) -> None:
    signed = verifier().sign("msg_1", NOW + skew, b"{}")
    with pytest.raises(SignatureError, match="5 minutes"):
        verifier().verify(signed.headers(), b"{}")


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_timestamp_within_five_minutes_is_accepted(skew: int) -> None:
    signed = verifier().sign("msg_1", NOW + skew, b"{}")
    assert verifier().verify(signed.headers(), b"{}") == "msg_1"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-id": "a", "webhook-timestamp": str(NOW)},
        {"webhook-id": "a", "webhook-timestamp": "1e9", "webhook-signature": "v1,AA=="},
        {"webhook-id": "a", "webhook-timestamp": str(NOW), "webhook-signature": "v1"},
        {"webhook-id": "a", "webhook-timestamp": str(NOW), "webhook-signature": "v1,%%%"},
        {"webhook-id": "a", "webhook-timestamp": str(NOW), "webhook-signature": "v2,AA=="},
    ],
)
def test_malformed_headers_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        verifier().verify(headers, b"{}")


def test_a_changed_body_or_id_is_refused() -> None:
    signed = verifier().sign("msg_1", NOW, b'{"a":1}')
    with pytest.raises(SignatureError):
        verifier().verify(signed.headers(), b'{"a":2}')
    other = {**signed.headers(), "webhook-id": "msg_2"}
    with pytest.raises(SignatureError):
        verifier().verify(other, b'{"a":1}')


def test_get_requests_sign_their_request_line() -> None:
    line = request_line("get", "/api/events?after=3")
    assert line == b"GET /api/events?after=3"
    signed = verifier().sign("msg_1", NOW, line)
    with pytest.raises(SignatureError):
        verifier().verify(signed.headers(), request_line("GET", "/api/events?after=0"))


def test_secrets_are_checked_and_generated() -> None:
    assert len(decode_secret(new_secret())) == 32
    assert len(decode_secret(SECRET)) == 24
    for bad in ("abc", "whsec_", "whsec_!!!!", "whsec_" + base64.b64encode(b"x" * 8).decode()):
        with pytest.raises(ValueError):
            decode_secret(bad)


@pytest.mark.parametrize(
    "webhook_id", ["msg.1", "msg_2Kx/9+=", "evt~1!", "a" * 256, "x", "{id}.[0]#?&@|"]
)
def test_any_printable_ascii_id_without_spaces_is_accepted(webhook_id: str) -> None:
    reference = Webhook(SECRET)
    signature = reference.sign(webhook_id, datetime.fromtimestamp(NOW, UTC), "{}")
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(NOW),
        "webhook-signature": signature,
    }
    assert verifier().verify(headers, b"{}") == webhook_id


@pytest.mark.parametrize(
    "webhook_id", ["a" * 257, "msg 1", "msg\t1", "msg\x7f", "msg\x00", "msg\n", "é", "msg\u2028"]
)
def test_ids_too_long_or_with_spaces_or_control_characters_are_refused(webhook_id: str) -> None:
    signed = verifier().sign(webhook_id, NOW, b"{}")
    with pytest.raises(SignatureError, match="webhook-id"):
        verifier().verify(signed.headers(), b"{}")
