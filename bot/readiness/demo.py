"""The demo tenant's readiness signals, from ``demo_signals.json`` (Microsoft's payload shapes),
counted by the same rules as the Graph/Defender adapter."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from bot.readiness import rules
from bot.readiness.ports import Controls, DeviceCoverage, IdentityCoverage, Licences


def load_demo_signals(path: Path | None = None) -> dict[str, Any]:
    if path is not None:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    else:
        text = resources.files("bot.tenant").joinpath("demo_signals.json").read_text("utf-8")
        data = json.loads(text)
    return data


class DemoReadinessSignals:
    """Answers from the bundled demo data; no network."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @classmethod
    def load(cls, path: Path | None = None) -> DemoReadinessSignals:
        return cls(load_demo_signals(path))

    async def licences(self) -> Licences:
        return rules.licences(self._data.get("subscribedSkus", []))

    async def devices(self) -> DeviceCoverage:
        return rules.devices(self._data.get("machines", []))

    def _users(self) -> Iterator[dict[str, Any]]:
        for group in self._data.get("onPremisesUsers", []):
            domain = group.get("domain", "")
            for _ in range(int(group.get("enabled", 0))):
                yield {"accountEnabled": True, "onPremisesDomainName": domain}
            for _ in range(int(group.get("disabled", 0))):
                yield {"accountEnabled": False, "onPremisesDomainName": domain}

    async def identities(self) -> IdentityCoverage:
        return rules.identities(self._data.get("sensors", []), self._users())

    async def controls(self, ids: Sequence[str]) -> Controls:
        return rules.controls(
            self._data.get("secureScore"), self._data.get("secureScoreControlProfiles", []), ids
        )
