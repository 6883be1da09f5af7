"""Email: the one Mailer port, its local (.eml) adapter, and the contact-email outbox service.
The Graph adapter is :mod:`bot.graph.mail`."""
