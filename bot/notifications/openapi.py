"""The OpenAPI 3.1 document of the Experts API, served at ``/api/openapi.json``.

The request body's schema is the one derived from the models in
:mod:`bot.notifications.schema`; the paths, headers and answers are described here.
``python -m bot.notifications.openapi --write api`` writes ``api/notification.schema.json`` and
``api/openapi.json``; a test keeps them equal to the code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.chat.openapi import add_chat_api
from bot.notifications import openapi_readiness as readiness_openapi
from bot.notifications.bounds import INCIDENT_ID, MAX_BODY_BYTES
from bot.notifications.schema import notification_schema

JSON = dict[str, Any]


def _error_schema() -> JSON:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                },
            }
        },
    }


def _signed_headers() -> list[JSON]:
    return [
        {
            "name": "webhook-id",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "pattern": "^[\\x21-\\x7E]{1,256}$"},
            "description": "Unique per message; a repeated id is a duplicate (200, nothing new). "
            "Ids are remembered for 24 hours: a request is refused once its timestamp is 5 "
            "minutes old, so a later repeat must be re-signed, and is then answered by its "
            "revision (202 'ignored', nothing delivered again). "
            "Any printable ASCII characters without spaces, 1 to 256 of them.",
        },
        {
            "name": "webhook-timestamp",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
            "description": "Unix seconds; refused if more than 5 minutes from the server's time.",
        },
        {
            "name": "webhook-signature",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "Space-delimited 'v1,<base64 HMAC-SHA256>' of "
            "'{webhook-id}.{webhook-timestamp}.{body}', keyed by EXPERTS_WEBHOOK_SECRET. For GET "
            "requests the body is the request line, e.g. 'GET /api/events?after=0'.",
        },
    ]


def _error(description: str) -> JSON:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_document() -> JSON:
    """The OpenAPI 3.1 description of the Experts API, served at ``/api/openapi.json``."""
    schema = notification_schema()
    defs = schema.pop("$defs")
    body = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
    body = json.loads(json.dumps(body).replace("#/$defs/", "#/components/schemas/"))
    components = json.loads(json.dumps(defs).replace("#/$defs/", "#/components/schemas/"))
    signed = _signed_headers()
    unauthorized = _error("Missing or bad signature, or a timestamp outside 5 minutes.")
    document: JSON = {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Defender Experts for Teams: Experts API",
            "version": "1.0.0",
            "description": "How the experts send incident notifications to the customer's "
            "Managed response channel, read the delivery state, read the customer's "
            "actions on the incident cards, and chat with the customer in the incidents' "
            "threads and personal chats (/api/chat). Every operation except this document is "
            "signed per Standard Webhooks (https://www.standardwebhooks.com/).",
        },
        "paths": {
            "/api/notifications": {
                "post": {
                    "operationId": "sendIncidentNotification",
                    "summary": "Send an incident notification (a new revision of the incident)",
                    "parameters": signed,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/IncidentNotification"}
                            }
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "Durably stored; it will be delivered. 'ignored' when "
                            "the revision is not above the last one accepted (recorded only).",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Accepted"}
                                }
                            },
                        },
                        "200": {
                            "description": "A repeated webhook-id (within 24 hours): already "
                            "stored, nothing new.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Accepted"}
                                }
                            },
                        },
                        "400": _error(
                            "The body is not JSON: not UTF-8, a NaN, Infinity or a number "
                            "too large for a double, a key repeated in one object, or nested "
                            "more than 32 levels."
                        ),
                        "401": unauthorized,
                        "413": _error(f"The body is over {MAX_BODY_BYTES // 1024} KiB."),
                        "415": _error(
                            "The body is not application/json, or its charset is not UTF-8."
                        ),
                        "422": _error(
                            "The body fails validation, or breaks the customer's settings "
                            "(excluded target, Investigate-only permission). The message names "
                            "the field or the exclusion."
                        ),
                        "503": {
                            **_error(
                                "The customer's directory couldn't be reached to check their "
                                "exclusions, or the incident is changing too fast. Nothing was "
                                "stored: send it again after Retry-After."
                            ),
                            "headers": {
                                "Retry-After": {
                                    "description": "Seconds to wait before sending it again.",
                                    "schema": {"type": "integer", "minimum": 0},
                                }
                            },
                        },
                    },
                }
            },
            "/api/notifications/{incidentId}": {
                "get": {
                    "operationId": "getIncidentDelivery",
                    "summary": "The delivery state of an incident: revisions, post, dead letters",
                    "description": "The incident's record (revisions, post, deliveries, answers) "
                    "is kept, the latest 200 entries of each list. Its outbox messages are shown "
                    "until NOTIFY_RETENTION_DAYS (90 by default) after they finished; a dead "
                    "letter that could not be emailed to anyone is kept.",
                    "parameters": [
                        *signed,
                        {
                            "name": "incidentId",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": INCIDENT_ID},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The delivery state.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/DeliveryState"}
                                }
                            },
                        },
                        "401": unauthorized,
                        "404": _error("No notification was accepted for this incident."),
                    },
                }
            },
            "/api/events": {
                "get": {
                    "operationId": "listCustomerEvents",
                    "summary": "The customer's actions on incident cards, after a cursor",
                    "description": "Events are kept NOTIFY_RETENTION_DAYS (90 by default) after "
                    "they happened, then deleted. Cursors only grow and are never reused, also "
                    "after a deletion: a client holding an older cursor just gets the events "
                    "that remain, oldest first. Read the feed at least once per retention period "
                    "to see every event.",
                    "parameters": [
                        *signed,
                        {
                            "name": "after",
                            "in": "query",
                            "required": False,
                            "description": "The 'next' of the last page read; 0 for the oldest "
                            "event kept.",
                            "schema": {"type": "integer", "minimum": 0, "default": 0},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 500,
                                "default": 100,
                            },
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "Events in order; pass 'next' as 'after' to go on.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/EventPage"}
                                }
                            },
                        },
                        "400": _error("'after' or 'limit' is not a valid integer."),
                        "401": unauthorized,
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "responses": {"200": {"description": "The OpenAPI document."}},
                }
            },
        },
        "components": {
            "schemas": {
                "IncidentNotification": body,
                **components,
                "Accepted": {
                    "type": "object",
                    "required": ["status", "incidentId", "revision"],
                    "properties": {
                        "status": {"enum": ["accepted", "ignored", "duplicate"]},
                        "incidentId": {"type": "string"},
                        "revision": {"type": "integer"},
                        "notificationId": {"type": "string"},
                        "reason": {"type": "string"},
                    },
                },
                "DeliveryState": {
                    "type": "object",
                    "required": ["incidentId", "latestRevision", "revisions"],
                    "properties": {
                        "incidentId": {"type": "string"},
                        "tenantId": {"type": "string"},
                        "latestRevision": {"type": "integer"},
                        "shownRevision": {"type": ["integer", "null"]},
                        "post": {"type": ["object", "null"]},
                        "acknowledged": {"type": ["object", "null"]},
                        "deliveries": {
                            "type": "object",
                            "description": "Per revision (the latest 200): posted, updated, "
                            "sending (an email under way, or sent just before the bot stopped: "
                            "it is sent again under the same messageId), emailed or "
                            "deadLettered.",
                        },
                        "actionResponses": {
                            "type": "object",
                            "description": "The members' answers, per action id: those to the "
                            "actions on the card, and the latest others up to 200.",
                        },
                        "revisions": {
                            "type": "array",
                            "items": {"type": "object"},
                            "description": "The latest 200 revisions accepted or ignored.",
                        },
                        "outbox": {
                            "type": "array",
                            "items": {"type": "object"},
                            "description": "Open messages, and finished ones for "
                            "NOTIFY_RETENTION_DAYS.",
                        },
                        "deadLetters": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "EventPage": {
                    "type": "object",
                    "required": ["events", "next"],
                    "properties": {
                        "events": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["cursor", "type", "incidentId", "at", "by"],
                                "properties": {
                                    "cursor": {"type": "integer"},
                                    "type": {
                                        "enum": [
                                            "pendingAction.completed",
                                            "pendingAction.skipped",
                                            "incident.acknowledged",
                                        ]
                                    },
                                    "incidentId": {"type": "string"},
                                    "tenantId": {"type": "string"},
                                    "actionId": {"type": "string"},
                                    "revision": {"type": "integer"},
                                    "at": {"type": "string", "format": "date-time"},
                                    "by": {"type": "object"},
                                },
                            },
                        },
                        "next": {"type": "integer"},
                    },
                },
                "Error": _error_schema(),
            }
        },
    }
    add_chat_api(document, signed, _error)
    return readiness_openapi.extend(document, signed)


def render(document: JSON) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the Experts API schema and OpenAPI files")
    parser.add_argument("--write", type=Path, metavar="DIR", help="directory to write into")
    args = parser.parse_args(argv)
    files = {
        "notification.schema.json": render(notification_schema()),
        "openapi.json": render(openapi_document()),
    }
    if args.write is None:
        sys.stdout.write(files["openapi.json"])
        return 0
    args.write.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.write / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
