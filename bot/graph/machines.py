"""Paging the Defender for Endpoint machines list, shared by the directory and readiness."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from bot.graph.errors import GraphNotFound
from bot.graph.http import ApiClient


async def defender_machines(defender: ApiClient, page_size: int) -> AsyncIterator[dict[str, Any]]:
    """Every machine: ``$top``/``$skip`` pages, following ``@odata.nextLink`` if given."""
    url = "api/machines"
    params: dict[str, str | int] | None = {"$top": page_size}
    skip = 0
    while True:
        try:
            page = await defender.get(url, params=params)
        except GraphNotFound:
            return  # Defender answers 404 when there are no machines
        items = [m for m in page.get("value") or [] if isinstance(m, dict)]
        for machine in items:
            yield machine
        next_link = page.get("@odata.nextLink")
        if isinstance(next_link, str) and next_link:
            url, params = next_link, None
        elif len(items) >= page_size:
            skip += len(items)
            url, params = "api/machines", {"$top": page_size, "$skip": skip}
        else:
            return
