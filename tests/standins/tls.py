"""A throwaway certificate authority for the https stand-ins (msal requires an https authority)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class StandInCA:
    ca_file: Path
    server_context: ssl.SSLContext

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_ca(folder: Path, hosts: tuple[str, ...] = ("api.security.microsoft.com",)) -> StandInCA:
    """A CA, and a server certificate for 127.0.0.1, localhost and ``hosts`` (names a test
    resolves to 127.0.0.1, such as the Defender API host) signed by it."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost", *hosts)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.configure_cert(context)
    ca_file = folder / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return StandInCA(ca_file=ca_file, server_context=context)
