"""Identity: whether the module object the cluster holds under a name and version is this build.

It is compared with the bundle's module.json field by field, as far as the fields the cluster
keeps tell. Equal: "present". Different: refused (naming the fields), unless --replace. A node's
artifact listing says only name, version and dependencies, which proves nothing about content:
artifacts are always uploaded.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modpack import versions
from modpack.errors import ModpackError
from modpack.rest import client, platforms
from modpack.rest.publish.bundles import PER_PLATFORM, SERVER_FIELDS, compared_keys, empty, same
from modpack.rest.publish.wording import joined, verb

if TYPE_CHECKING:
    from modpack.rest.client import Api
    from modpack.rest.publish.bundles import Bundle
    from modpack.rest.publish.results import PublishOptions, PublishResult
    from modpack.types import Module


class IdentityError(ModpackError):
    """The cluster holds another build under the same module name and version."""


# The fields every module object of a real cluster carries: those of a captured GET /v1/modules
# (re-docs/captured__redis-enterprise-rs__GET_v1_modules.json), each documented in objects/module.
# Absent from a stored object, such a field is empty. Any other field of module.json (commands,
# architecture, operating_systems, module_file, sha256, ...) is compared only where the cluster
# kept it: objects/module lists neither commands nor the platform fields and calls sha256
# deprecated, so a cluster that drops them proves nothing about them either way (issue 14: "sha256
# where the server keeps it"). Artifacts are uploaded whatever the module object says.
KEPT_FIELDS = frozenset(
    {
        "author",
        "bigstore_version_2_support",
        "capabilities",
        "capability_name",
        "command_line_args",
        "compatible_redis_version",
        "config_command",
        "crdb",
        "dependencies",
        "description",
        "display_name",
        "email",
        "homepage",
        "license",
        "min_redis_version",
        "module_name",
        "semantic_version",
        "version",
    }
)


def differences(stored: Module, bundles: Sequence[Bundle]) -> list[str]:
    """The fields in which a stored module object provably differs from the bundles (empty: the
    same, as far as the fields the cluster keeps tell; `unproven` names the others)."""
    first = bundles[0].module
    shared = [
        k
        for k in sorted(compared_keys(stored, first))
        if k not in PER_PLATFORM and _provable(stored, k) and not same(stored.get(k), first.get(k), k)
    ]
    # A module object made from one platform's bundle describes that build only: the bundles for
    # other platforms (the ubuntu22 one, beside the rhel9 one it was made from) are other builds
    # by design, not a rebuild, and a bundle for the same platform that names more or fewer OSes
    # is the same build when its binary is. So the binary's fields are compared with the bundles
    # for that platform alone; none given for it: nothing to compare (see `unproven`).
    alike = [b for b in bundles if _same_platform(stored, b.module)]
    built = _built_fields(stored)
    if not alike or any(all(same(stored.get(k), b.module.get(k)) for k in built) for b in alike):
        return shared
    if platform_unknown(stored):
        # A listing without the platform fields (objects/module documents none) cannot say which
        # build its sha256 is: the ubuntu22 bundle published after the rhel9 one the object was
        # made from was refused as a rebuild. Not proven either way: uploaded (`note_unproven`).
        return shared
    unmatched = _unmatched(stored, built, alike)
    return shared + (unmatched or [k for k in built if not same(stored.get(k), alike[0].module.get(k))])


def _built_fields(stored: Module) -> list[str]:
    """The per-platform fields that say what a build is (sha256, module_file), where kept."""
    return [k for k in PER_PLATFORM if k not in PLATFORM_NAMING and _provable(stored, k)]


def _unmatched(stored: Module, fields: list[str], bundles: Sequence[Bundle]) -> list[str]:
    """Those of `fields` in which the stored object matches none of `bundles`."""
    return [k for k in fields if all(not same(stored.get(k), b.module.get(k)) for b in bundles)]


# The per-platform fields that say where a build goes rather than what it is.
PLATFORM_NAMING = frozenset({"architecture", "operating_systems", "os", "os_list"})


def platform_unknown(stored: Module) -> bool:
    """Whether a module object keeps neither its architecture nor its OSes: for which platform's
    build it was made cannot be told from it."""
    return platforms.bundle_architecture(stored) is None and platforms.bundle_systems(stored) is None


def _same_platform(stored: Module, module: Module) -> bool:
    """Whether the build a module object describes and a bundle's can be for one node: the same
    architecture and an OS in common (an undeclared one fits any)."""
    ours, theirs = platforms.bundle_architecture(stored), platforms.bundle_architecture(module)
    if ours is not None and theirs is not None and ours != theirs:
        return False
    mine, other = platforms.bundle_systems(stored), platforms.bundle_systems(module)
    return mine is None or other is None or bool(mine & other)


def unproven(stored: Module, bundles: Sequence[Bundle]) -> list[str]:
    """The bundles' fields that the stored module object does not keep, so no comparison judged."""
    given = {k for b in bundles for k, v in b.module.items() if not empty(v)}
    return sorted(k for k in given - SERVER_FIELDS if not _provable(stored, k))


def other_platform(stored: Module, bundles: Sequence[Bundle]) -> str:
    """The platform of the build a module object describes, when no bundle given is for it ("" when
    one is): their binaries were not compared with it."""
    if any(_same_platform(stored, b.module) for b in bundles):
        return ""
    return platforms.platform_label(stored)


def _provable(stored: Module, key: str) -> bool:
    return key in stored or key in KEPT_FIELDS


def required_fields() -> frozenset[str]:
    """The fields a module object's POST must give (rest-api-user-defined-modules.txt, "Request
    body"), as the published module schema requires them: an object made from these alone holds
    none of the others."""
    from modpack.schema import load_schema

    required = load_schema("module").get("required")
    return frozenset(str(f) for f in required) if isinstance(required, list) else frozenset()


def identity_error(
    result: PublishResult,
    fields: list[str],
    stored: Module,
    changed: str = "nothing was changed",
    held: Collection[int] = (),
) -> IdentityError:
    """The refusal of a module object that differs in `fields`: those it holds other values in,
    and those it holds none in (an object made by hand or by another tool from the required
    fields only, rest-api-user-defined-modules.txt), which are no sign of a rebuild. `held`: the
    versions of the module the cluster holds (`held_versions`), none of which the hint names."""
    uid = str(stored.get("uid", ""))
    # An object made without a field lists it empty, or at its default (bigstore_version_2_support
    # false, as a real listing shows it): which is no sign of a rebuild either.
    required = required_fields()
    missing = [f for f in fields if f not in required and empty(stored.get(f))]
    differ = [f for f in fields if f not in missing]
    said = [f"{joined(differ)} {verb(differ, 'differs', 'differ')}"] if differ else []
    if missing:
        said.append(f"it has no {joined(missing)}, which this bundle's module.json gives")
    how = _new_version(result, held)
    if differ:
        needs = f"a new version {how}; or" if how else f"a new version, but {_NONE_ABOVE};"
        hint = (
            f"A rebuilt module needs {needs} re-run with --replace to delete the module object on the"
            " cluster and publish this build."
        )
    else:
        rebuild = f"give it a new version {how}" if how else f"it needs a new version, but {_NONE_ABOVE}"
        hint = (
            "If the nodes hold this build, and its module object was made from fewer fields (by hand or"
            " by another tool), re-run with --replace to make it again from this bundle's module.json;"
            f" if this is a rebuild, {rebuild}."
        )
    return IdentityError(
        f"the cluster already has module {result.module_name} version {result.version} (uid {uid})"
        f" with different content: {'; '.join(said)}; {changed}",
        hint,
    )


def held_versions(api: Api, name: str) -> frozenset[int]:
    """The versions of module `name` the cluster holds (none when its modules cannot be read)."""
    try:
        listed = client.list_modules(api)
    except client.ClusterError:
        return frozenset()
    found = (m.get("version") for m in listed if m.get("module_name") == name)
    return frozenset(v for v in found if isinstance(v, int) and not isinstance(v, bool))


_NONE_ABOVE = (
    f"there is none above {versions.MAX_MAJOR}.99.99, the largest whose number RedisModule_Init takes"
    " (a C int)"
)


def _new_version(result: PublishResult, held: Collection[int]) -> str | None:
    """How a rebuild gets a version of its own. The binary passes its version to RedisModule_Init
    (MODULE LIST ver), and `validate --load` refuses a module.json version other than that one
    (LOAD015): "bump semantic_version in modpack.toml and build again" built a bundle whose binary
    still registers the old version, which validate --load refused (and publish put on the
    cluster under a version its binary does not register). The one named is the next the cluster
    does not hold: the next of 1.2.3 beside a 1.2.4 on the cluster was refused in its turn. None
    when there is none below the largest version (_NONE_ABOVE): 214748.0.0 was named, which init,
    build and validate refuse (VER002)."""
    following = versions.decode(result.version)
    while (number := versions.encode(*following)) == result.version or number in held:
        major, minor, patch = following
        if patch < versions.MAX_COMPONENT:
            following = (major, minor, patch + 1)
        elif minor < versions.MAX_COMPONENT:
            following = (major, minor + 1, 0)
        else:
            following = (major + 1, 0, 0)
    if following[0] > versions.MAX_MAJOR:
        return None
    semantic = ".".join(map(str, following))
    return (
        "in its binary and in its declarations: pass one to RedisModule_Init in the module's source"
        f" ({number} for {semantic}) and recompile, then set semantic_version in modpack.toml to match"
        " (or semantic_version and version in module.json) and build again (`modpack validate --load`"
        " checks that they agree)"
    )


def refuse_bundled(stored: Module, result: PublishResult) -> None:
    """A module Redis Enterprise ships (is_bundled) is never compared, replaced or deleted."""
    if stored.get("is_bundled") is True:
        raise IdentityError(
            f"{result.module_name} version {result.version} is a module bundled with Redis Enterprise"
            f" (uid {stored.get('uid', '?')}); nothing was changed",
            "Publish a custom build under a module name or version the cluster does not bundle.",
        )


@dataclass(frozen=True)
class Judged:
    """The module object the cluster holds under the bundle's name and version (None: none), and
    the fields in which it differs, when --replace is to delete it."""

    existing: Module | None
    differing: tuple[str, ...] = ()


def judge_module_object(
    api: Api, bundles: Sequence[Bundle], options: PublishOptions, result: PublishResult
) -> Judged:
    """What the cluster holds, judged before anything changes: IdentityError for a bundled module,
    and for another build unless --replace."""
    existing = client.find_modules(api, result.module_name, result.version)
    if not existing:
        return Judged(None)
    refuse_bundled(existing[0], result)
    fields = differences(existing[0], bundles)
    if fields and not options.replace:
        raise identity_error(result, fields, existing[0], held=held_versions(api, result.module_name))
    return Judged(existing[0], tuple(fields))


def with_identity(
    refused: ModpackError, api: Api, bundles: Sequence[Bundle], options: PublishOptions, result: PublishResult
) -> ModpackError:
    """A preflight refusal with the identity refusal the run would meet next, as one more line: a
    rebuild refused only once uploads were on (publish without --allow-upload said only that they
    were off; with it, that the cluster holds another build) took two runs to learn both."""
    try:
        judge_module_object(api, bundles, options, result)
    except IdentityError as exc:
        line = f"{exc.message}. {exc.hint}"
        return type(refused)(refused.message, refused.hint, (*refused.details, line))
    except client.ClusterError:
        pass  # the modules could not be read: the refusal stands as it was
    return refused


def check_made_meanwhile(api: Api, bundles: Sequence[Bundle], result: PublishResult, replaced: str) -> None:
    """IdentityError when the module object another run created meanwhile is another build;
    `replaced`: the uid of the object --replace deleted before ("" when none), which is gone."""
    for stored in client.find_modules(api, result.module_name, result.version)[:1]:
        refuse_bundled(stored, result)
        fields = differences(stored, bundles)
        if fields:
            result.module_object = "not created"
            changed = "nothing was changed"
            if replaced:  # this run's --replace deleted the object it had found
                changed = f"--replace had deleted module object {replaced} before it appeared"
            raise identity_error(result, fields, stored, changed, held_versions(api, result.module_name))
        note_unproven(stored, bundles, result, dry_run=False)


def note_unproven(stored: Module, bundles: Sequence[Bundle], result: PublishResult, dry_run: bool) -> None:
    fields = unproven(stored, bundles)
    sent = "would be" if dry_run else "is"
    if fields:
        result.notes.append(
            f"the cluster's module object does not keep {joined(fields)}, so {verb(fields, 'it', 'they')}"
            f" could not be compared; every node {sent} sent this build"
        )
    unmatched = _unmatched(stored, [k for k in _built_fields(stored) if k in stored], bundles)
    if unmatched and platform_unknown(stored):
        result.notes.append(
            f"the cluster's module object has another {joined(unmatched)} and keeps no architecture or"
            " operating_systems, so whether it describes another platform's build or an earlier build of"
            f" this one cannot be told; every node {sent} sent this build"
        )
    other = other_platform(stored, bundles)
    if other:
        result.notes.append(
            f"the cluster's module object describes the build for {other}, and no bundle given is for"
            f" that platform, so their binaries could not be compared with it; every node {sent} sent"
            " its bundle"
        )
    beside = (
        []
        if other or platform_unknown(stored)
        else [b for b in bundles if not _same_platform(stored, b.module)]
    )
    if beside:
        # The other platforms' builds: nothing the cluster keeps says what their nodes hold, so a
        # rebuild of one under this version went over the old one with exit 0 and no word.
        labels = [b.label for b in beside]
        uploaded = "would be" if dry_run else verb(labels, "is", "are")
        result.notes.append(
            f"the cluster's module object describes the build for {platforms.platform_label(stored)} alone,"
            f" so {joined(labels)} could not be compared with the build the nodes of"
            f" {verb(labels, 'its platform', 'their platforms')} hold (a node's artifact list names no"
            f" content): {verb(labels, 'it', 'they')} {uploaded} uploaded over it, replacing any other build"
            f" of {result.module_name} {result.version} there"
        )


def lacking(stored: Module, sent: Module) -> tuple[str, ...]:
    """The fields a module.json sends (a module object's content) that a listed object lacks."""
    return tuple(
        sorted(k for k, v in sent.items() if k not in SERVER_FIELDS and not empty(v) and k not in stored)
    )
