"""deploy/: the container gets only settings the bot knows, and every setting it requires.

The Bicep CLI and container registries can't be reached here, so the templates are checked by
reading them: names against ``bot/config.py``, values through ``Settings.from_env``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.config import Settings
from bot.notifications.signing import new_secret

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
BICEP = (DEPLOY / "main.bicep").read_text()
CONFIG = (Path(__file__).resolve().parent.parent / "bot" / "config.py").read_text()
PARAMETERS = json.loads((DEPLOY / "main.parameters.json").read_text())["parameters"]

ENV_ENTRY = re.compile(r"\{ name: '([A-Za-z_]+)', (value|secretRef): ([^}]+?) \}")
PARAM = re.compile(r"^param (\w+) (\w+)( = .*)?$", re.MULTILINE)


def container_env() -> dict[str, tuple[str, str]]:
    block = BICEP[BICEP.index("env: [") : BICEP.index("probes: [")]
    return {name: (kind, expr.strip()) for name, kind, expr in ENV_ENTRY.findall(block)}


def secure_params() -> set[str]:
    return set(re.findall(r"@secure\(\)\s*\nparam (\w+)", BICEP))


def resolve(kind: str, expr: str) -> str:
    """The value the container would see, with the parameters file and test secrets."""
    secrets = {
        "microsoft-app-password": "app-password",
        "experts-webhook-secret": new_secret(),
        "storage-url": "postgresql://botadmin:pw@dexteams-pg.postgres.database.azure.com:5432/bot"
        "?sslmode=require",
    }
    if kind == "secretRef":
        return secrets[expr.strip("'")]
    if expr.startswith("'") and expr.endswith("'") and "${" not in expr:
        return expr.strip("'")
    if expr == "tenant().tenantId":
        return "72f988bf-86f1-41af-91ab-2d7cd011db47"
    if expr.startswith("string(") and expr[7:-1] in PARAMETERS:
        return str(PARAMETERS[expr[7:-1]]["value"]).lower()
    if expr in PARAMETERS:
        return str(PARAMETERS[expr]["value"])
    if expr.startswith("'https://"):
        return "https://dexteams-bot.example.azurecontainerapps.io/api/messages"
    raise AssertionError(f"don't know how to resolve {expr}")


def test_every_setting_the_container_gets_exists_in_the_config() -> None:
    env = container_env()
    assert len(env) >= 10
    unknown = [name for name in env if f'"{name}"' not in CONFIG]
    assert unknown == []


def test_the_container_gets_every_required_setting() -> None:
    env = {name: resolve(kind, expr) for name, (kind, expr) in container_env().items()}
    settings = Settings.from_env(env)
    assert not settings.local_mode
    assert settings.tenant_backend == "graph"
    assert settings.resolved_storage_url.startswith("postgresql://")
    assert settings.experts_webhook_secret and settings.log_format == "json"
    assert settings.host == "0.0.0.0"  # noqa: S104 - inside the container


def test_secrets_come_from_key_vault_through_the_managed_identity() -> None:
    env = container_env()
    for name in ("MicrosoftAppPassword", "EXPERTS_WEBHOOK_SECRET", "STORAGE_URL"):
        assert env[name][0] == "secretRef", name
    assert BICEP.count("keyVaultUrl:") == 3
    assert "identity: identity.id" in BICEP and "4633458b-17de-408a-b874-0445c86b69e6" in BICEP


def test_every_parameter_without_a_default_is_given() -> None:
    required = {name for name, _, default in PARAM.findall(BICEP) if not default}
    secure = secure_params()
    assert secure == {"appPassword", "webhookSecret", "postgresAdminPassword"}
    missing = required - set(PARAMETERS) - secure
    assert missing == set()
    readme = (DEPLOY / "README.md").read_text()
    assert "az deployment group create" in readme
    for name in secure:
        assert f"{name}=" in readme


def test_the_platform_runs_at_least_two_replicas_with_the_readiness_probe() -> None:
    assert PARAMETERS["minReplicas"]["value"] >= 2
    assert "@minValue(2)\nparam minReplicas" in BICEP
    assert re.search(r"type: 'Readiness'\s+httpGet: \{ path: '/readyz'", BICEP)
    assert re.search(r"type: 'Liveness'\s+httpGet: \{ path: '/healthz'", BICEP)
    for resource in (
        "Microsoft.BotService/botServices@",
        "channelName: 'MsTeamsChannel'",
        "Microsoft.App/managedEnvironments@",
        "Microsoft.DBforPostgreSQL/flexibleServers@",
        "Microsoft.KeyVault/vaults@",
        "Microsoft.OperationalInsights/workspaces@",
    ):
        assert resource in BICEP


def test_the_dockerfile_is_multi_stage_slim_non_root_with_a_healthcheck() -> None:
    docker = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", docker, re.MULTILINE)
    assert len(stages) == 2 and all(s.endswith("-slim") for s in stages)
    user = re.findall(r"^USER (\S+)", docker, re.MULTILINE)
    assert user and not user[-1].startswith(("0", "root"))
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", docker, re.MULTILINE)
    assert 'ENTRYPOINT ["python", "-m", "bot"]' in docker
