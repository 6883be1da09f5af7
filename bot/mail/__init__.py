"""Contact emails: the Mailer port, its Graph and local (.eml) adapters, and the outbox service."""
