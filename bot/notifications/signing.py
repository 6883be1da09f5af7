"""Standard Webhooks signatures (symmetric, ``v1``): sign and verify, with an injected clock.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the signature header is a
space-delimited list of ``v1,<base64 HMAC-SHA256>``. For signed GET requests the "body" is the
request line: ``GET /api/events?after=42``. See https://www.standardwebhooks.com/.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.webhook_secret import decode_secret as decode_secret
from bot.webhook_secret import new_secret as new_secret

TOLERANCE_SECONDS = 5 * 60
MAX_ID_LENGTH = 256
MAX_SIGNATURES = 10

# Standard Webhooks leaves the id's format to the sender; we take any printable ASCII without
# spaces (so the id can be logged and stored as it is), at most 256 characters.
_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_ID_LENGTH}}}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureError(Exception):
    """The request is not signed, or not signed by the experts. The message is safe to return."""


@dataclass(frozen=True)
class Signed:
    """The three headers of a signed request."""

    webhook_id: str
    timestamp: int
    signature: str

    def headers(self) -> dict[str, str]:
        return {
            "webhook-id": self.webhook_id,
            "webhook-timestamp": str(self.timestamp),
            "webhook-signature": self.signature,
        }


def request_line(method: str, target: str) -> bytes:
    """What is signed for a request without a body: ``GET /path?query``."""
    return f"{method.upper()} {target}".encode()


@dataclass(frozen=True)
class WebhookVerifier:
    """Verifies (and, for the experts' side and tests, produces) Standard Webhooks signatures."""

    key: bytes = field(repr=False)
    clock: Callable[[], float] = time.time
    tolerance: int = TOLERANCE_SECONDS
    _keyed: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The key schedule is computed once; each signature copies it.
        object.__setattr__(self, "_keyed", hmac.new(self.key, digestmod=hashlib.sha256))

    @classmethod
    def from_secret(cls, secret: str, clock: Callable[[], float] = time.time) -> WebhookVerifier:
        return cls(decode_secret(secret), clock)

    def _mac(self, webhook_id: str, timestamp: str, body: bytes) -> bytes:
        mac = self._keyed.copy()
        mac.update(f"{webhook_id}.{timestamp}.".encode())
        mac.update(body)
        return mac.digest()

    def sign(self, webhook_id: str, timestamp: int, body: bytes) -> Signed:
        mac = self._mac(webhook_id, str(timestamp), body)
        return Signed(webhook_id, timestamp, "v1," + base64.b64encode(mac).decode("ascii"))

    def verify(self, headers: Mapping[str, str], body: bytes) -> str:
        """Check the headers against the raw body; returns the webhook id or raises."""
        webhook_id = headers.get("webhook-id", "")
        timestamp = headers.get("webhook-timestamp", "")
        signatures = headers.get("webhook-signature", "")
        if not (webhook_id and timestamp and signatures):
            raise SignatureError(
                "The request must carry webhook-id, webhook-timestamp and webhook-signature"
            )
        if not _ID.fullmatch(webhook_id):
            raise SignatureError(
                "webhook-id must be 1-256 printable ASCII characters, without spaces"
            )
        if not _TIMESTAMP.fullmatch(timestamp):
            raise SignatureError("webhook-timestamp must be integer Unix seconds")
        if abs(self.clock() - int(timestamp)) > self.tolerance:
            raise SignatureError("webhook-timestamp is more than 5 minutes from the server's time")
        expected = self._mac(webhook_id, timestamp, body)
        for candidate in signatures.split(" ")[:MAX_SIGNATURES]:
            version, _, encoded = candidate.partition(",")
            if version != "v1" or not encoded:
                continue
            try:
                given = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                continue
            if hmac.compare_digest(expected, given):
                return webhook_id
        raise SignatureError("No valid webhook-signature for this request")
