"""The platform policy as the tests read it: straight from modpack/data/platforms.json."""

from __future__ import annotations

from modpack import policy


def supported_os_ids() -> list[str]:
    """The OS ids the policy marks supported, in policy order."""
    return [key for key, info in policy.operating_systems().items() if info["status"] == "supported"]
