"""The readiness and report operations of the Experts API, for its OpenAPI document."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
PHASES = ("onboarding", "readiness", "monitoring", "active")
"""The service phases (bot.readiness.assessment.PHASES; a test keeps them equal)."""
EVENT_TYPES = ("readiness.readyForMonitoring", "readiness.phaseChanged")


def _json(ref: str, description: str) -> JSON:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _error(description: str) -> JSON:
    return _json("Error", description)


def extend(document: JSON, signed: list[JSON]) -> JSON:
    """Add the readiness and report paths, their schemas, and the readiness events."""
    unauthorized = _error("Missing or bad signature, or a timestamp outside 5 minutes.")
    count = {"type": "object", "additionalProperties": {"type": "integer"}}
    date = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    document["paths"].update(
        {
            "/api/readiness": {
                "get": {
                    "operationId": "getReadiness",
                    "summary": "The customer's readiness assessment (Service status)",
                    "parameters": signed,
                    "responses": {
                        "200": _json("Readiness", "The latest assessment."),
                        "401": unauthorized,
                    },
                }
            },
            "/api/readiness/phase": {
                "post": {
                    "operationId": "moveServicePhase",
                    "summary": "Move the service phase (the service delivery manager)",
                    "description": "Onboarding, readiness, monitoring, active: one step forward "
                    "or back at a time. The move is kept with who, when and why, and appears "
                    "in the event feed as readiness.phaseChanged.",
                    "parameters": signed,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/PhaseChange"}
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "Moved, or a repeated webhook-id (duplicate)."},
                        "400": _error("The body is not valid JSON."),
                        "401": unauthorized,
                        "413": _error("The body is over 4 KB."),
                        "415": _error("Not application/json in UTF-8."),
                        "422": _error("Not a phase, not the next or previous one, or no 'by'."),
                    },
                }
            },
            "/api/report": {
                "get": {
                    "operationId": "getServiceReport",
                    "summary": "The service report for a range (the last 30 days by default)",
                    "parameters": [
                        *signed,
                        {"name": "days", "in": "query", "schema": {"enum": ["7", "30", "90"]}},
                        {"name": "from", "in": "query", "schema": date},
                        {"name": "to", "in": "query", "schema": date},
                    ],
                    "responses": {
                        "200": _json("ServiceReport", "The report's figures."),
                        "400": _error(
                            "A bad range: from/to both dates, from <= to <= today, "
                            "at most 366 days; or days not 7, 30 or 90."
                        ),
                        "401": unauthorized,
                    },
                }
            },
        }
    )
    schemas = document["components"]["schemas"]
    schemas["PhaseChange"] = {
        "type": "object",
        "required": ["phase", "by"],
        "additionalProperties": False,
        "properties": {
            "phase": {"enum": list(PHASES)},
            "by": {"type": "string", "minLength": 1, "maxLength": 128},
            "reason": {"type": "string", "maxLength": 1000},
        },
    }
    schemas["Readiness"] = {
        "type": "object",
        "required": ["tenantId", "phase", "protectedAssets", "actions"],
        "properties": {
            "tenantId": {"type": "string"},
            "phase": {"enum": list(PHASES)},
            "phaseLabel": {"type": "string"},
            "assessedAt": {"type": ["string", "null"], "format": "date-time"},
            "readyForMonitoring": {"type": "boolean"},
            "protectedAssets": {"type": "object"},
            "counts": count,
            "actions": {"type": "array", "items": {"type": "object"}},
            "staleSignals": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "signal": {"type": "string"},
                        "reason": {"type": "string"},
                        "lastGood": {"type": ["string", "null"]},
                    },
                },
            },
            "phaseHistory": {"type": "array", "items": {"type": "object"}},
        },
    }
    schemas["ServiceReport"] = {
        "type": "object",
        "required": ["range", "incidentsInvestigated", "incidentsResolved"],
        "properties": {
            "tenantId": {"type": "string"},
            "range": {"type": "object"},
            "incidentsInvestigated": {"type": "integer"},
            "incidentsResolved": {"type": "integer"},
            "resolvedDirectly": {"type": "integer"},
            "resolvedWithYourHelp": {"type": "integer"},
            "resolvedPercent": {"type": "integer"},
            "averageTimeToResolveMinutes": {"type": ["number", "null"]},
            "averageExpertsTimeMinutes": {"type": ["number", "null"]},
            "averageCustomerTimeMinutes": {"type": ["number", "null"]},
            "bySeverity": count,
            "byCategory": count,
            "byServiceSource": count,
            "byMitreTactic": count,
            "mostImpactedDevices": {"type": "array", "items": {"type": "object"}},
            "mostImpactedUsers": {"type": "array", "items": {"type": "object"}},
            "customerActions": count,
            "trends": {"type": "array", "items": {"type": "object"}},
        },
    }
    event = schemas.get("EventPage", {}).get("properties", {}).get("events", {}).get("items")
    if isinstance(event, dict):
        types = event["properties"]["type"]["enum"]
        types.extend(t for t in EVENT_TYPES if t not in types)
        event["required"] = ["cursor", "type", "at"]
        event["description"] = (
            "Incident events carry incidentId and by; readiness events carry tenantId (and "
            "from, to and by for a phase change)."
        )
    return document
