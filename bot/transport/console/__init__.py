"""The chat's HTTP edge: the expert console (``/console``) and the signed Experts chat API
(``/api/chat/...``). Both call the one chat service; neither reaches into the other."""

from bot.transport.console.routes import add_routes, serving

__all__ = ["add_routes", "serving"]
