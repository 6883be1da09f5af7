"""The Experts API secret: the Standard Webhooks ``whsec_`` format (base64 of random bytes).

Below the services so that settings can check it when they are read (a bad secret is a
configuration error at start-up); :mod:`bot.notifications.signing` signs and verifies with it.
"""

from __future__ import annotations

import base64
import binascii
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format prefix, not a secret
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret; ValueError (without the secret) if malformed."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX}")
    raw = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be whsec_ followed by base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"must encode between {MIN_SECRET_BYTES} and {MAX_SECRET_BYTES} random bytes, "
            f"got {len(key)}"
        )
    return key


def new_secret(nbytes: int = 32) -> str:
    """A fresh random secret in the ``whsec_`` format."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")
