"""Bounds of the Experts webhook that the transport and the service check before the schema
(``bot/notifications/schema.py``, which builds pydantic models: it is imported when the first
notification is validated, not at start-up)."""

MAX_BODY_BYTES = 256 * 1024
INCIDENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
