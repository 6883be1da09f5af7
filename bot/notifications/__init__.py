"""Managed response notifications: the Experts webhook, the outbox and the delivery worker."""
