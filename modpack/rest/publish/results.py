"""What a publish run was asked to do (`PublishOptions`) and what it did (`PublishResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from modpack.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from modpack.config import NearestSettings, Settings
    from modpack.findings import Finding
    from modpack.rest.client import NodeOutcome, Progress
    from modpack.rest.publish.bundles import Bundle
    from modpack.types import Module


@dataclass(frozen=True)
class PublishOptions:
    dry_run: bool = False
    allow_upload: bool = False  # turn allow_modules_upload on for this run, then off again
    replace: bool = False  # replace a different build published under the same version
    settings: Settings | NearestSettings | None = None
    progress: Progress | None = None
    typed: tuple[str, ...] = ()  # the run's own options as typed, for a hint naming it again


ObjectStatus = Literal[
    "",
    "replacing",
    "creating",
    "created",
    "present",
    "replaced",
    "would create",
    "would replace",
    "rolled back",
    "created, rollback failed",
    "created, rolled back in part",
    "not created",
    "deleted meanwhile",
]
"""What became of the module object ("" until publish has looked; "replacing" while --replace's
DELETE of the stored one is out, "creating" while the POST of this run's is out; "deleted
meanwhile" when it was gone once the uploads ended: an unpublish, or an operator, ran meanwhile).
When no node took the artifact and deleting this run's object again failed: "created, rollback
failed" while the cluster still lists it (or did not say), "created, rolled back in part" when it
no longer does but the deletion's action failed (RS 7.x), so nodes may hold files of it."""


@dataclass
class PublishResult:
    module_name: str
    version: int
    module_object: ObjectStatus = ""
    uid: str = ""
    replaced: str = ""  # the uid of the module object --replace deleted, or was deleting
    replaced_object: Module | None = None  # that module object as the cluster listed it
    replaced_lacks: tuple[str, ...] = ()  # what the listing of it lacks that a module object needs
    restored: str = ""  # its uid once made again, when no node took this run's build
    api: str = "user-defined"  # or "v2 (RS 7.x)"
    nodes: list[NodeOutcome] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> list[NodeOutcome]:
        return [n for n in self.nodes if n.failed]

    @property
    def took(self) -> bool:
        """Whether a node took this run's artifact."""
        return any(n.status == "uploaded" for n in self.nodes)


def result_for(bundles: Sequence[Bundle]) -> PublishResult:
    first = bundles[0].module
    name, version = first.get("module_name"), first.get("version")
    if not isinstance(name, str) or isinstance(version, bool) or not isinstance(version, int):
        # validation refuses such a module.json (SCH rules); this guards a direct caller
        raise UsageError(f"{bundles[0].path}: module.json needs a string module_name and an integer version")
    result = PublishResult(name, version)
    result.warnings = [w for b in bundles for w in b.warnings]
    return result
