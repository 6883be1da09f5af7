"""The Graph settings: names from the issue, defaults from the bot's credentials, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import ConfigError

APP = "9e7b2c41-3f6d-4a8e-b5c2-1d0f7a6e8b93"
TENANT = "4f1c3a2e-7d5b-4e8a-9c21-6b0d8e3f5a17"
GRAPH_APP = "0d6f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
CATALOG = "5d1c8a20-0b7e-4c36-9b61-3e9f2a7c4d11"

GRAPH_BASE = {
    "TENANT_BACKEND": "graph",
    "TEAMS_APP_CATALOG_ID": CATALOG,
    "MAIL_SENDER": "defender-experts@contoso.com",
}


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.graph_endpoint == "https://graph.microsoft.com"
    assert s.authority_host == "https://login.microsoftonline.com"
    assert s.security_api_endpoint == "https://api.security.microsoft.com"
    assert s.teams_operation_poll_seconds == 30.0
    assert s.graph_client_certificate is None


def test_graph_credentials_default_to_the_bots() -> None:
    s = Settings.from_env(
        {
            **GRAPH_BASE,
            "MicrosoftAppId": APP,
            "MicrosoftAppPassword": "bot-secret",
            "MicrosoftAppTenantId": TENANT,
            "MicrosoftAppType": "SingleTenant",
        }
    )
    assert (s.graph_client_id, s.graph_tenant_id, s.graph_client_secret) == (
        APP,
        TENANT,
        "bot-secret",
    )
    assert "bot-secret" not in repr(s)


def test_graph_works_in_anonymous_local_mode() -> None:
    s = Settings.from_env(
        {
            **GRAPH_BASE,
            "GRAPH_TENANT_ID": TENANT,
            "GRAPH_CLIENT_ID": GRAPH_APP,
            "GRAPH_CLIENT_SECRET": "graph-secret",
        }
    )
    assert s.local_mode
    assert s.tenant_backend == "graph"
    assert s.graph_client_id == GRAPH_APP


def test_certificate_wins_over_the_bots_password(tmp_path: Path) -> None:
    pem = tmp_path / "graph.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    s = Settings.from_env(
        {
            **GRAPH_BASE,
            "MicrosoftAppId": APP,
            "MicrosoftAppPassword": "bot-secret",
            "GRAPH_TENANT_ID": TENANT,
            "GRAPH_CLIENT_CERTIFICATE": str(pem),
        }
    )
    assert s.graph_client_certificate == pem
    assert s.graph_client_secret == ""


def test_sovereign_endpoints_and_a_private_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    s = Settings.from_env(
        {
            "GRAPH_ENDPOINT": "https://graph.microsoft.us/",
            "AUTHORITY_HOST": "https://login.microsoftonline.us",
            "SECURITY_API_ENDPOINT": "https://api-gcc.securitycenter.microsoft.us",
            "SSL_CERT_FILE": str(ca),
            "TEAMS_OPERATION_POLL_SECONDS": "0.05",
        }
    )
    assert s.graph_endpoint == "https://graph.microsoft.us"
    assert s.ssl_cert_file == ca
    assert s.teams_operation_poll_seconds == 0.05


@pytest.mark.parametrize(
    ("env", "name"),
    [
        (
            {**GRAPH_BASE, "GRAPH_CLIENT_ID": GRAPH_APP, "GRAPH_CLIENT_SECRET": "s"},
            "GRAPH_TENANT_ID",
        ),
        ({**GRAPH_BASE, "GRAPH_TENANT_ID": TENANT, "GRAPH_CLIENT_SECRET": "s"}, "GRAPH_CLIENT_ID"),
        ({**GRAPH_BASE, "GRAPH_TENANT_ID": TENANT, "GRAPH_CLIENT_ID": GRAPH_APP}, "GRAPH_CLIENT_"),
        ({"GRAPH_TENANT_ID": "contoso"}, "GRAPH_TENANT_ID"),
        ({"GRAPH_CLIENT_ID": "not-a-guid"}, "GRAPH_CLIENT_ID"),
        ({"GRAPH_CLIENT_CERTIFICATE": "/nonexistent/graph.pem"}, "GRAPH_CLIENT_CERTIFICATE"),
        ({"GRAPH_ENDPOINT": "http://graph.microsoft.com"}, "GRAPH_ENDPOINT"),
        ({"AUTHORITY_HOST": "login.microsoftonline.com"}, "AUTHORITY_HOST"),
        ({"SECURITY_API_ENDPOINT": "ftp://x"}, "SECURITY_API_ENDPOINT"),
        ({"SSL_CERT_FILE": "/nonexistent/ca.pem"}, "SSL_CERT_FILE"),
        ({"REQUESTS_CA_BUNDLE": "/nonexistent/ca.pem"}, "REQUESTS_CA_BUNDLE"),
        ({"TEAMS_OPERATION_POLL_SECONDS": "soon"}, "TEAMS_OPERATION_POLL_SECONDS"),
        ({"TEAMS_OPERATION_POLL_SECONDS": "-1"}, "TEAMS_OPERATION_POLL_SECONDS"),
        ({"HIGH_VALUE_USERS_GROUP_ID": "VIPs"}, "HIGH_VALUE_USERS_GROUP_ID"),
        ({"MAIL_SENDER": "not an address"}, "MAIL_SENDER"),
        ({"TEAMS_APP_CATALOG_ID": "a b"}, "TEAMS_APP_CATALOG_ID"),
        (
            {
                "TENANT_BACKEND": "graph",
                "GRAPH_TENANT_ID": TENANT,
                "GRAPH_CLIENT_ID": GRAPH_APP,
                "GRAPH_CLIENT_SECRET": "s",
                "MAIL_SENDER": "a@contoso.com",
            },
            "TEAMS_APP_CATALOG_ID",
        ),
        (
            {
                "TENANT_BACKEND": "graph",
                "GRAPH_TENANT_ID": TENANT,
                "GRAPH_CLIENT_ID": GRAPH_APP,
                "GRAPH_CLIENT_SECRET": "s",
                "TEAMS_APP_CATALOG_ID": CATALOG,
            },
            "MAIL_SENDER",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


def test_secret_and_certificate_together_are_refused(tmp_path: Path) -> None:
    pem = tmp_path / "graph.pem"
    pem.write_text("x")
    with pytest.raises(ConfigError, match="not both"):
        Settings.from_env({"GRAPH_CLIENT_SECRET": "s", "GRAPH_CLIENT_CERTIFICATE": str(pem)})


def test_demo_mode_ignores_a_non_guid_bot_id() -> None:
    s = Settings.from_env({"MicrosoftAppId": "bot", "MicrosoftAppPassword": "pw"})
    assert s.tenant_backend == "demo"
    assert s.graph_client_id == "bot"
