"""A bot process whose expert console signs in through the OpenID Connect stand-in (https,
discovery, JWKS, RS256, the authorization code flow with PKCE and form_post), with the settings
and the Managed response team of a finished setup: for the console's browser tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp.test_utils import TestServer

from tests.e2e.harness import BotProcess, free_port
from tests.e2e.test_notifications_e2e import seed
from tests.notifications.support import SECRET
from tests.standins.openid import OpenIdStandIn
from tests.standins.tls import make_ca

PROVIDER_TENANT = "72f988bf-0000-4a6f-9c0e-7d1b2a3c4e99"
EXPERTS_GROUP = "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a55"


@asynccontextmanager
async def console_bot(tmp_path: Path) -> AsyncIterator[BotProcess]:
    """The bot started (and stopped after), its console signing in Riley Chen, an expert."""
    ca = make_ca(tmp_path)
    provider = OpenIdStandIn(
        client_id="console-app",
        client_secret="console-secret",
        user={
            "sub": "s-1",
            "oid": "3f5b8c2a-1111-4d6e-9f0a-1b2c3d4e5f60",
            "tid": PROVIDER_TENANT,
            "name": "Riley Chen",
            "groups": [EXPERTS_GROUP],
        },
    )
    server = TestServer(provider.app(), host="127.0.0.1")
    await server.start_server(ssl=ca.server_context)
    provider.base_url = str(server.make_url("")).rstrip("/").replace("http://", "https://")
    provider.issuer = f"{provider.base_url}/{PROVIDER_TENANT}/v2.0"
    data = tmp_path / "data"
    await seed(data)
    port = free_port()
    bot = BotProcess(
        {
            "PORT": str(port),
            "BOT_DATA_DIR": str(data),
            "EXPERTS_WEBHOOK_SECRET": SECRET,
            "CONSOLE_CLIENT_ID": "console-app",
            "CONSOLE_CLIENT_SECRET": "console-secret",
            "CONSOLE_AUTHORITY": f"{provider.base_url}/{PROVIDER_TENANT}",
            "CONSOLE_EXPERTS_GROUP_ID": EXPERTS_GROUP,
            "CONSOLE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "REQUESTS_CA_BUNDLE": str(ca.ca_file),
        },
        tmp_path / "logs",
    )
    try:
        await asyncio.to_thread(bot.start)
        yield bot
    finally:
        await asyncio.to_thread(bot.stop)
        await server.close()
