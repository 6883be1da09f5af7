"""``python -m bot notify``: play the experts' side of the Experts API, signed like they sign.

    python -m bot notify --example                 # revision 1 of the example incident
    python -m bot notify --example --revision 2    # an update: a new completed action
    python -m bot notify --file body.json          # any body
    python -m bot notify --status 2972395          # the delivery state of an incident
    python -m bot notify --events --after 0        # the customer's actions on the cards
    python -m bot notify --new-secret              # a fresh EXPERTS_WEBHOOK_SECRET

The secret comes from EXPERTS_WEBHOOK_SECRET or, in local mode with the demo tenant, from the
file the bot keeps in BOT_DATA_DIR; the bot's address from PORT (or --url).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import Settings
from bot.errors import ConfigError
from bot.notifications.local_secret import applies, read_local_secret, secret_path
from bot.notifications.signing import WebhookVerifier, new_secret, request_line

EXAMPLE: dict[str, Any] = {
    "type": "incident.notification",
    "incident": {
        "id": "2972395",
        "displayName": "Multi-stage incident on one endpoint",
        "severity": "high",
        "status": "inProgress",
        "assignedTo": "Defender Experts",
        "classification": "truePositive",
        "determination": "malware",
        "incidentWebUrl": "https://security.microsoft.com/incidents/2972395",
        "createdDateTime": "",
        "lastUpdateDateTime": "",
        "alerts": [
            {
                "id": "da1",
                "title": "Suspicious connection",
                "category": "CommandAndControl",
                "serviceSource": "microsoftDefenderForEndpoint",
                "mitreTechniques": ["T1071"],
                "evidence": [
                    {
                        "@odata.type": "#microsoft.graph.security.deviceEvidence",
                        "deviceDnsName": "fin-ws-042.contoso.com",
                        "mdeDeviceId": "d-042",
                        "rbacGroupName": "Finance workstations",
                    },
                    {
                        "@odata.type": "#microsoft.graph.security.userEvidence",
                        "userAccount": {
                            "accountName": "jdoe",
                            "userPrincipalName": "jdoe@contoso.com",
                            "azureAdUserId": "u-17",
                        },
                    },
                ],
            }
        ],
    },
    "managedResponse": {
        "revision": 1,
        "summary": "A workstation in Finance connected to a known command-and-control server "
        "after a user opened a malicious attachment. We isolated the device. Please reset the "
        "user's password and revoke their sessions.",
        "completedActions": [
            {
                "id": "a1",
                "type": "isolateDevice",
                "target": {"kind": "device", "id": "d-042", "name": "fin-ws-042.contoso.com"},
                "status": "completed",
                "time": "",
            }
        ],
        "pendingActions": [
            {
                "id": "a2",
                "type": "forcePasswordReset",
                "target": {"kind": "user", "id": "u-17", "name": "jdoe@contoso.com"},
                "instructions": "Reset the password and revoke sessions.",
            }
        ],
        "analyst": "Defender Experts",
    },
}


EXAMPLE_CREATED = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
"""When the example incident was created. The example describes one incident, so its times
are the same on every call: each revision adds its own later moments and keeps the earlier."""
EXAMPLE_UPDATED = {1: timedelta(minutes=15), 2: timedelta(minutes=31), 3: timedelta(minutes=52)}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _at(minutes: int) -> str:
    return _iso(EXAMPLE_CREATED + timedelta(minutes=minutes))


def example_notification(
    revision: int = 1,
    incident_id: str = "2972395",
    *,
    guidance_only: bool = False,
) -> dict[str, Any]:
    """The example incident at ``revision``: 2 adds a completed action, 3 resolves it."""
    body = copy.deepcopy(EXAMPLE)
    incident, managed = body["incident"], body["managedResponse"]
    incident["id"] = incident_id
    incident["incidentWebUrl"] = f"https://security.microsoft.com/incidents/{incident_id}"
    incident["createdDateTime"] = _iso(EXAMPLE_CREATED)
    updated = EXAMPLE_UPDATED.get(revision, EXAMPLE_UPDATED[3] + timedelta(minutes=revision))
    incident["lastUpdateDateTime"] = _iso(EXAMPLE_CREATED + updated)
    managed["revision"] = revision
    managed["completedActions"][0]["time"] = _at(13)
    if revision >= 2:
        managed["completedActions"].append(
            {
                "id": "a3",
                "type": "quarantineFile",
                "target": {"kind": "file", "id": "5d41402abc4b2a76", "name": "invoice.pdf.exe"},
                "status": "completed",
                "time": _at(29),
            }
        )
    if revision >= 3:
        incident["status"] = "resolved"
        managed["summary"] += " The threat is contained and the incident is resolved."
    if guidance_only:
        managed["pendingActions"] = [
            {
                "id": f"g-{a['id']}",
                "type": a["type"],
                "target": a["target"],
                "instructions": "The experts recommend this action.",
            }
            for a in managed["completedActions"]
        ] + managed["pendingActions"]
        managed["completedActions"] = []
    return body


def _hint(status: int, body: Any, method: str) -> str:
    message = json.dumps(body)
    if status == 422 and "Investigate incidents" in message:
        return (
            "Hint: the customer granted only Investigate, so completed actions are refused. "
            "Turn on 'Respond directly to active threats' in the setup guide, or add "
            "--guidance-only."
        )
    if status == 422 and "excluded" in message:
        return "Hint: the target is excluded in the settings; try --guidance-only."
    if status == 401:
        return "Hint: the bot and this command must share EXPERTS_WEBHOOK_SECRET."
    if status == 404 and method == "GET" and isinstance(body, dict):
        return "Hint: no notification of that incident has been accepted."
    if status == 404:
        return (
            "Hint: the bot's Experts API is off: it has no EXPERTS_WEBHOOK_SECRET (in local "
            "mode with the demo tenant it keeps one in BOT_DATA_DIR; this command needs the "
            "same BOT_DATA_DIR)."
        )
    return ""


async def _call(
    method: str, url: str, target: str, verifier: WebhookVerifier, body: bytes | None
) -> tuple[int, Any]:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    signed = verifier.sign(
        webhook_id, int(time.time()), body if body is not None else request_line(method, target)
    )
    headers = signed.headers()
    if body is not None:
        headers["Content-Type"] = "application/json"
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.request(method, url + target, data=body, headers=headers) as response,
    ):
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot notify", description="Send signed requests to the Experts API."
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--example", action="store_true", help="send the example notification")
    what.add_argument("--file", type=Path, help="send this JSON body")
    what.add_argument("--status", metavar="INCIDENT_ID", help="show an incident's delivery state")
    what.add_argument("--events", action="store_true", help="read the customer's card actions")
    what.add_argument("--new-secret", action="store_true", help="print a new whsec_ secret")
    parser.add_argument("--revision", type=int, default=1, help="the example's revision")
    parser.add_argument("--incident", default="2972395", help="the example's incident id")
    parser.add_argument(
        "--guidance-only", action="store_true", help="send completed actions as pending ones"
    )
    parser.add_argument("--after", type=int, default=0, help="event cursor for --events")
    parser.add_argument("--url", help="the bot's base URL (default http://127.0.0.1:$PORT)")
    args = parser.parse_args(argv)
    if args.new_secret:
        print(new_secret())
        return 0
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        secret = settings.experts_webhook_secret or read_local_secret(settings)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    if not secret:
        where = (
            f" and the bot hasn't made {secret_path(settings)} yet (start it once with "
            "'python -m bot')"
            if applies(settings)
            else ""
        )
        print(
            f"Configuration error: EXPERTS_WEBHOOK_SECRET is not set{where}. Make one with "
            "'python -m bot notify --new-secret' and give the bot the same value.",
            file=sys.stderr,
        )
        return 2
    verifier = WebhookVerifier.from_secret(secret)
    url = (args.url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    if args.status:
        request = ("GET", f"/api/notifications/{args.status}", None)
    elif args.events:
        request = ("GET", f"/api/events?after={max(0, args.after)}", None)
    else:
        if args.file:
            raw = args.file.read_bytes()
        else:
            body = example_notification(
                args.revision, args.incident, guidance_only=args.guidance_only
            )
            raw = json.dumps(body).encode()
        request = ("POST", "/api/notifications", raw)
    try:
        status, answer = asyncio.run(_call(request[0], url, request[1], verifier, request[2]))
    except (aiohttp.ClientError, OSError) as exc:
        print(f"Could not reach the bot at {url}: {exc}", file=sys.stderr)
        return 1
    print(f"HTTP {status}")
    print(json.dumps(answer, indent=2) if not isinstance(answer, str) else answer)
    hint = _hint(status, answer, request[0])
    if hint:
        print(hint, file=sys.stderr)
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
