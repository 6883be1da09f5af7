"""Microsoft Graph and Defender for Endpoint adapters: tokens, HTTP, directory, Teams, mail.

``bot.graph.clients.build_apis`` wires them; ``bot.graph.errors`` holds the typed errors the
services may catch (it imports nothing from the HTTP stack).
"""
