"""Which node a bundle fits, and what a node object says about the node: shared by client and server.

A bundle fits a node when the node's OS is among the bundle's `operating_systems` (RAMP's field,
checked by Redis Enterprise against the node OS: redis-enterprise.md §8, "OS compatibility") and
its `architecture` is the node's. A bundle that declares neither fits any node, as the server's
own check lets it through.

Versions: `software_version` of a node object is `MAJOR.MINOR.PATCH-BUILD` (e.g. `8.2.0-25`,
re-docs/operate__rs__references__rest-api__objects__node.md); the user-defined module endpoints
exist from RS 8.0 (redis-enterprise.md §1, "first appear in RS 8.0 (8.0.2-17)"); before that,
`POST /v2/modules` uploads a zip to the cluster (re-docs/..._7.22__...requests__modules___index.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modpack.types import JSON

USER_DEFINED_SINCE = (8, 0)
UPLOAD_SWITCH_SINCE = (8, 2)  # allow_modules_upload (re-docs release notes 8.2.0)

_VERSION = re.compile(r"\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def release(software_version: str) -> tuple[int, int]:
    """A Redis Enterprise version's (major, minor): `7.22.0-28` -> (7, 22); (0, 0) when unreadable."""
    return (version_tuple(software_version) or (0, 0, 0))[:2]


def version_tuple(text: object) -> tuple[int, int, int] | None:
    """`8.2.0-25` -> (8, 2, 0); `7.4` -> (7, 4, 0); None when it does not start with a number."""
    if not isinstance(text, str):
        return None
    match = _VERSION.match(text)
    if match is None:
        return None
    major, minor, patch = (int(part) if part else 0 for part in match.groups())
    return major, minor, patch


def major_minor(text: object) -> str | None:
    parsed = version_tuple(text)
    return f"{parsed[0]}.{parsed[1]}" if parsed else None


def os_id(name: object, semantic: object, family: object = None) -> str | None:
    """A node's OS as modpack names it (`ubuntu22`, `rhel9`), from the node object's fields."""
    from modpack import policy

    major = version_tuple(semantic)
    if major is None:
        return None
    for base in (name, family):
        if isinstance(base, str) and base:
            for candidate in (f"{base.lower()}{major[0]}", f"{base.lower()}{semantic}"):
                canonical = policy.canonical_os(candidate)
                if canonical:
                    return canonical
    return None


def bundle_systems(module: Mapping[str, JSON]) -> set[str] | None:
    """The canonical OS ids a module.json names, or None when it names none (fits any OS)."""
    from modpack import policy

    systems = module.get("operating_systems")
    if not isinstance(systems, list) or not systems:
        return None
    return {policy.canonical_os(str(s)) or str(s).lower() for s in systems}


def bundle_architecture(module: Mapping[str, JSON]) -> str | None:
    arch = module.get("architecture")
    return arch if isinstance(arch, str) and arch else None


def misfit(module: Mapping[str, JSON], node_os: str | None, node_arch: str | None) -> str | None:
    """Why the bundle cannot go on a node with this OS and architecture; None when it fits.

    An unknown node OS or architecture never counts against a bundle: only the node can tell.
    """
    systems = bundle_systems(module)
    if systems is not None and node_os is not None and node_os not in systems:
        return "os"
    arch = bundle_architecture(module)
    if arch is not None and node_arch is not None and arch != node_arch:
        return "architecture"
    return None


def platform_label(module: Mapping[str, JSON]) -> str:
    """`ubuntu22,rhel9/x86_64` for messages; `any OS` / `any architecture` when undeclared."""
    systems = bundle_systems(module)
    arch = bundle_architecture(module) or "any architecture"
    return f"{','.join(sorted(systems)) if systems else 'any OS'}/{arch}"


@dataclass(frozen=True)
class NodeFacts:
    """What publish needs to know about one node, read from its node object."""

    uid: str
    os: str | None  # canonical id, e.g. rhel9
    architecture: str | None
    status: str
    software_version: str | None
    redis_versions: tuple[str, ...] | None  # major.minor of redis databases it offers; None: not said
    address: str | None = None  # `addr`, the node's internal IP address: one per machine

    @property
    def platform(self) -> str:
        return f"{self.os or 'unknown OS'}/{self.architecture or 'unknown architecture'}"


def node_facts(node: Mapping[str, JSON]) -> NodeFacts:
    arch = node.get("architecture")
    version = node.get("software_version")
    return NodeFacts(
        uid=str(node.get("uid", "?")),
        os=os_id(node.get("os_name"), node.get("os_semantic_version"), node.get("os_family")),
        architecture=arch if isinstance(arch, str) and arch else None,
        status=str(node.get("status", "active")),
        software_version=version if isinstance(version, str) else None,
        redis_versions=_redis_versions(node.get("supported_database_versions")),
        address=addr if isinstance(addr := node.get("addr"), str) and addr else None,
    )


def _redis_versions(listed: object) -> tuple[str, ...] | None:
    """major.minor of each redis entry of `supported_database_versions` (memcached skipped)."""
    if not isinstance(listed, list):
        return None
    found = []
    for entry in listed:
        if not isinstance(entry, dict) or entry.get("db_type", "redis") != "redis":
            continue
        text = entry.get("redis_version") or entry.get("version")
        version = major_minor(text)
        if version and version not in found:
            found.append(version)
    return tuple(found)
