"""The Experts chat API in the OpenAPI document (``bot.notifications.openapi`` adds it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]


def _json(ref: str) -> JSON:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _query(name: str, description: str, schema: JSON) -> JSON:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def add_chat_api(document: JSON, signed: list[JSON], error: Callable[[str], JSON]) -> None:
    """Add the chat paths and schemas to the Experts API's document."""
    unauthorized = error("Missing or bad signature, or a timestamp outside 5 minutes.")
    conversation_id = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": 64},
        "description": "The conversation's id, from the list or the event stream.",
    }
    not_found = error("No such conversation in the tenants this bot serves.")
    bad_query = error("A query parameter has a value that isn't allowed.")
    cursor = {"type": "integer", "minimum": 0, "default": 0}
    document["paths"].update(
        {
            "/api/chat/conversations": {
                "get": {
                    "operationId": "listChatConversations",
                    "summary": "The customers' conversations, newest activity first",
                    "parameters": [
                        *signed,
                        _query("tenantId", "Only this customer tenant.", {"type": "string"}),
                        _query(
                            "waiting",
                            "Only conversations whose last message is the customer's.",
                            {"type": "boolean"},
                        ),
                        _query(
                            "limit",
                            "At most this many.",
                            {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                        ),
                    ],
                    "responses": {
                        "200": {"description": "The conversations.", "content": _json("ChatList")},
                        "400": bad_query,
                        "401": unauthorized,
                    },
                }
            },
            "/api/chat/conversations/{id}": {
                "get": {
                    "operationId": "getChatTranscript",
                    "summary": "A conversation, its incident's summary and its messages after "
                    "a cursor",
                    "parameters": [
                        *signed,
                        conversation_id,
                        _query("after", "Messages with a seq above this one.", cursor),
                        _query(
                            "limit",
                            "At most this many messages.",
                            {"type": "integer", "minimum": 1, "maximum": 500, "default": 200},
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "Pass 'next' as 'after' to read on.",
                            "content": _json("ChatTranscript"),
                        },
                        "400": bad_query,
                        "401": unauthorized,
                        "404": not_found,
                    },
                }
            },
            "/api/chat/conversations/{id}/messages": {
                "post": {
                    "operationId": "postChatAnswer",
                    "summary": "Answer the customer: posted in the conversation's Teams thread "
                    "(or personal chat) as the bot, with the author's name",
                    "parameters": [*signed, conversation_id],
                    "requestBody": {"required": True, "content": _json("ChatAnswer")},
                    "responses": {
                        "202": {
                            "description": "Durably stored; it will be posted once. Follow its "
                            "delivery in the event stream (message.delivery).",
                            "content": _json("ChatAccepted"),
                        },
                        "200": {
                            "description": "A repeated webhook-id: the answer it created, "
                            "nothing new.",
                            "content": _json("ChatAccepted"),
                        },
                        "400": error("The body is not a JSON object."),
                        "401": unauthorized,
                        "404": not_found,
                        "413": error("The body is over 128 KiB."),
                        "415": error("The body is not application/json."),
                        "422": error(
                            "The text is empty, has control characters, or is over 20,000 "
                            "bytes (Teams' message size); or the author is missing."
                        ),
                    },
                }
            },
            "/api/chat/events": {
                "get": {
                    "operationId": "getChatEvents",
                    "summary": "The chat's events in order: the console's live stream",
                    "parameters": [
                        *signed,
                        _query("after", "Events with an id above this one.", cursor),
                        _query(
                            "limit",
                            "At most this many.",
                            {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "Pass 'next' as 'after' to go on.",
                            "content": _json("ChatEventPage"),
                        },
                        "400": bad_query,
                        "401": unauthorized,
                    },
                }
            },
        }
    )
    message = {
        "type": "object",
        "required": ["id", "seq", "conversationId", "role", "author", "text", "at", "delivery"],
        "properties": {
            "id": {"type": "string"},
            "seq": {"type": "integer"},
            "conversationId": {"type": "string"},
            "role": {"enum": ["customer", "expert", "assistant"]},
            "author": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
            },
            "text": {
                "type": "string",
                "description": "Plain text: a customer's Teams HTML made inert (mentions as "
                "@Name, no markup). Empty once deleted.",
            },
            "at": {"type": "number", "description": "Unix seconds."},
            "attachments": {
                "type": "array",
                "description": "What the customer attached (not forwarded: names only).",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "contentType": {"type": "string"}},
                },
            },
            "editedAt": {"type": ["number", "null"]},
            "deletedAt": {"type": ["number", "null"]},
            "delivery": {"enum": ["received", "sending", "posted", "failed"]},
            "deliveryError": {"type": ["string", "null"]},
        },
    }
    conversation = {
        "type": "object",
        "required": ["id", "tenantId", "kind", "title", "lastAt", "unread", "waiting"],
        "properties": {
            "id": {"type": "string"},
            "tenantId": {"type": "string"},
            "tenantName": {"type": "string"},
            "kind": {"enum": ["incident", "general", "personal"]},
            "title": {"type": "string"},
            "incidentId": {"type": ["string", "null"]},
            "severity": {"type": ["string", "null"]},
            "status": {"type": ["string", "null"]},
            "lastAt": {"type": "number"},
            "lastText": {"type": "string"},
            "lastRole": {"type": "string"},
            "unread": {"type": "integer"},
            "waiting": {"type": "boolean"},
            "open": {"type": "boolean"},
        },
    }
    document["components"]["schemas"].update(
        {
            "ChatConversation": conversation,
            "ChatMessage": message,
            "ChatList": {
                "type": "object",
                "properties": {
                    "conversations": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/ChatConversation"},
                    }
                },
            },
            "ChatTranscript": {
                "type": "object",
                "properties": {
                    "conversation": {"$ref": "#/components/schemas/ChatConversation"},
                    "incident": {"type": ["object", "null"]},
                    "messages": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/ChatMessage"},
                    },
                    "next": {"type": "integer"},
                },
            },
            "ChatAnswer": {
                "type": "object",
                "required": ["text", "author"],
                "properties": {
                    "text": {"type": "string", "minLength": 1},
                    "author": {
                        "type": "object",
                        "required": ["id", "name"],
                        "properties": {
                            "id": {"type": "string", "minLength": 1, "maxLength": 128},
                            "name": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": 128,
                                "description": "Shown on the message in Teams.",
                            },
                        },
                    },
                },
            },
            "ChatAccepted": {
                "type": "object",
                "required": ["status", "webhookId", "message"],
                "properties": {
                    "status": {"enum": ["accepted", "duplicate"]},
                    "webhookId": {"type": "string"},
                    "message": {"$ref": "#/components/schemas/ChatMessage"},
                },
            },
            "ChatEventPage": {
                "type": "object",
                "required": ["events", "next"],
                "properties": {
                    "events": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id", "type", "conversationId", "at"],
                            "properties": {
                                "id": {"type": "integer"},
                                "type": {
                                    "enum": [
                                        "message",
                                        "message.edited",
                                        "message.deleted",
                                        "message.delivery",
                                        "conversation",
                                        "incident.action",
                                    ]
                                },
                                "conversationId": {"type": "string"},
                                "at": {"type": "number"},
                                "message": {"$ref": "#/components/schemas/ChatMessage"},
                                "conversation": {"$ref": "#/components/schemas/ChatConversation"},
                                "action": {"type": "object"},
                            },
                        },
                    },
                    "next": {"type": "integer"},
                },
            },
        }
    )
