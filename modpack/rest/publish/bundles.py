"""The bundles given: each validated (or only peeked at), and all of them one module version.

Bundles given together are builds of one module and version for several platforms: they agree
on every module.json field but those of `PER_PLATFORM`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modpack import versions
from modpack.errors import FindingsError, UsageError
from modpack.rest import platforms

if TYPE_CHECKING:
    from modpack.config import NearestSettings, Settings
    from modpack.findings import Finding
    from modpack.types import Module


# Bundles given together must agree on every field but these, which describe one platform's build.
PER_PLATFORM = ("sha256", "architecture", "operating_systems", "os", "os_list", "dependencies", "module_file")


# Fields a cluster adds to a module object; never part of a bundle's identity.
SERVER_FIELDS = frozenset({"uid", "is_bundled", "platforms", "action_uid"})


@dataclass(frozen=True)
class Bundle:
    path: Path
    module: Module
    warnings: tuple[Finding, ...] = ()
    shown: str = ""  # how messages name it: `shown_names`

    @property
    def name(self) -> str:
        return self.shown or self.path.name

    @property
    def label(self) -> str:
        return f"{self.name} ({platforms.platform_label(self.module)})"


def shown_names(paths: Sequence[Path]) -> dict[Path, str]:
    """Each bundle's file name, or its path as given where two bundles share a name (dist-x86/m.zip
    and dist-arm/m.zip): messages named the same file twice."""
    names = [p.name for p in paths]
    return {p: str(p) if names.count(p.name) > 1 else p.name for p in paths}


def check_bundle(path: Path, settings: Settings | None = None, shown: str = "") -> Bundle:
    """The bundle when it validates (findings filtered like `modpack validate`); else FindingsError."""
    from modpack.findings import Severity
    from modpack.validate import select, validate_bundle

    settings = settings or _default_settings()
    verdict = validate_bundle(path, settings)
    module, findings = verdict.module, verdict.findings
    kept = select(findings, settings)
    errors = [f for f in kept if f.severity is Severity.ERROR]
    if settings.strict:
        errors += [f for f in kept if f.severity is Severity.WARNING]
    if errors or module is None:
        raise FindingsError(f"{path} does not validate; nothing was published", errors)
    return Bundle(
        path,
        versions.integral_version(module),
        tuple(f for f in kept if f.severity is Severity.WARNING),
        shown,
    )


def _default_settings() -> Settings:
    from modpack.config import Settings

    return Settings()


def _refuse_repeats(paths: Sequence[Path]) -> None:
    """One file given twice (a shell glob and a name, say) fitted every node twice and no node once."""
    seen: dict[tuple[int, int], Path] = {}
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue  # check_bundle says what is wrong with it
        first = seen.setdefault((info.st_dev, info.st_ino), path)
        if first is not path:
            raise UsageError(f"{path} is given twice (as {first})", "Give each bundle once.")


def load_bundles(paths: Sequence[Path], settings: Settings | NearestSettings | None = None) -> list[Bundle]:
    """Each bundle validated with `settings`, or with its own when they are NearestSettings (as
    `modpack validate` of it judges it)."""
    if not paths:
        raise UsageError("no bundle given")
    _refuse_repeats(paths)
    names = shown_names(paths)
    bundles: list[Bundle] = []
    refused: list[tuple[Path, FindingsError]] = []
    for path in paths:  # each one validated, as `modpack validate` of them all reports each
        try:
            bundles.append(
                check_bundle(path, settings(path) if callable(settings) else settings, names[path])
            )
        except FindingsError as refusal:
            refused.append((path, refusal))
    if len(refused) == 1:
        raise refused[0][1]
    if refused:
        which = ", ".join(str(path) for path, _ in refused)
        raise FindingsError(
            f"{len(refused)} of {len(paths)} bundles do not validate ({which}); nothing was published",
            [finding for _, refusal in refused for finding in refusal.findings],
        )
    problems = disagreements(bundles)
    if problems:
        raise UsageError(
            "the bundles given together are not builds of one module version:",
            "Bundles published together must agree on every field but "
            + ", ".join(PER_PLATFORM)
            + "; publish other modules or versions separately.",
            problems,
        )
    return bundles


def disagreements(bundles: Sequence[Bundle]) -> list[str]:
    """One line per field in which a bundle differs from the first (per-platform fields excepted)."""
    first = bundles[0]
    problems = []
    for other in bundles[1:]:
        fields = [k for k in sorted(compared_keys(first.module, other.module)) if k not in PER_PLATFORM]
        for key in fields:
            if not same(first.module.get(key), other.module.get(key), key):
                problems.append(f"{other.name}: {key} differs from {first.name}'s")
    return problems


def compared_keys(*documents: Module) -> set[str]:
    return {k for d in documents for k in d} - SERVER_FIELDS


# Lists whose order says nothing: Redis Enterprise checks a database's needs against a module's
# capabilities by name (redis-enterprise.md §3), and a cluster need not keep them in the order sent.
UNORDERED = frozenset({"capabilities"})


def same(left: object, right: object, key: str = "") -> bool:
    """Equal, counting an absent field and an empty default ("" [] {} false null) as the same;
    the lists of UNORDERED fields in any order."""
    if empty(left) and empty(right):
        return True
    if key in UNORDERED and isinstance(left, list) and isinstance(right, list):
        return sorted(map(json.dumps, left)) == sorted(map(json.dumps, right))
    return type(left) is type(right) and left == right


def empty(value: object) -> bool:
    return value is None or value is False or (isinstance(value, str | list | dict) and not value)


def peek(paths: Sequence[Path]) -> list[Bundle] | None:
    """Each bundle's module.json, read without validating anything else; None if one is unreadable."""
    import json
    import zipfile

    from modpack.bundle import MAX_MODULE_JSON, read_small
    from modpack.regular import open_regular

    found, names = [], shown_names(paths)
    for path in paths:
        try:  # open_regular: a FIFO named bundle.zip blocked here for ever, before validation
            with open_regular(path) as stream, zipfile.ZipFile(stream) as archive:
                info = archive.getinfo("module.json")
                if info.file_size > MAX_MODULE_JSON:
                    return None  # validation says so; read whole here, 300 MB of it took 640 MB
                # read_small: a bzip2 or LZMA member that lies about its size is read no further
                # than the limit (archive.read inflated 2 GB of it first)
                module = json.loads(read_small(archive, info, MAX_MODULE_JSON))
        except Exception:  # any damage (encrypted, an unknown method, bad LZMA data, deep nesting):
            # validating, in order, says what is wrong, where it was an internal error
            return None
        if not isinstance(module, dict):
            return None  # null, a list: validating first (in order) reports what is wrong
        module = versions.integral_version(module)
        version = module.get("version")
        if not isinstance(module.get("module_name"), str) or not isinstance(version, int) or version is True:
            return None  # validating first (in order) reports what is wrong
        found.append(Bundle(path, module, shown=names[path]))
    return found
