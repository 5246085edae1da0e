"""`modpack build`: declarations + the .so -> module.json -> a deterministic, validated zip.

The zip holds module.json first, then the .so (mode 0755: Redis refuses a module file without an
execute bit, elf.md §1.5), with fixed timestamps and attributes, so the same inputs give the same
bytes on any machine. The .so is read once: hash, CRC and compression in one streaming pass. That
pass is what computes the sha256 module.json must carry, so module.json is written first as a
stored (uncompressed) entry with a placeholder of the same length, and the hash is patched in
when the pass ends; its CRC is fixed in the local header and the central directory alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NoReturn

from modpack import codec, policy, schema
from modpack.checks.commands import target_redis
from modpack.config import Settings
from modpack.declarations import Declarations, Target, module_for
from modpack.errors import FindingsError, ModpackError, OutputExistsError, UsageError
from modpack.findings import Finding, Severity, Sink, said_once
from modpack.hashing import BackgroundHash, stream_chunks
from modpack.naming import DEFAULT_NAME, output_name
from modpack.records import refresh_added

if TYPE_CHECKING:
    from modpack.atomic import AtomicFile
    from modpack.elf import ElfInfo
    from modpack.types import JSON, Module

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_PLACEHOLDER = "0" * 64


@dataclass(frozen=True)
class LocalDependency:
    """An archive from `local_path`, packed as deps/<name>.tgz, as RAMP packs it (ramp.md §3.4).

    `wrap`: a ramp.yml's local_path (a file or a folder, a .tgz too), which RAMP tar-gzips itself
    (RediSearch's names libsvs_shared_library.so); modpack.toml's local_path is always the archive.
    """

    name: str
    path: Path
    wrap: bool = False

    @property
    def entry(self) -> str:
        return f"deps/{self.name}.tgz"


@dataclass
class BuildResult:
    path: Path
    module: Module
    sha256: str
    findings: list[Finding] = field(default_factory=list)
    unchanged: bool = False


def zip_timestamp() -> tuple[int, int, int, int, int, int]:
    """SOURCE_DATE_EPOCH when set (reproducible-builds.org), else the zip epoch."""
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if not raw:
        return ZIP_EPOCH
    try:
        stamp = time.gmtime(int(raw))
    except (ValueError, OverflowError, OSError) as exc:
        raise UsageError(
            f"SOURCE_DATE_EPOCH={raw!r} is not a Unix timestamp",
            "Set it to a whole number of seconds since 1970-01-01 UTC, as `git log -1 --format=%ct`"
            " prints, or unset it (the bundle's times are then 1980-01-01).",
        ) from exc
    if stamp.tm_year < 1980:
        return ZIP_EPOCH
    if stamp.tm_year > 2107:
        raise UsageError(
            f"SOURCE_DATE_EPOCH={raw} is past 2107, the last year a zip can record",
            "Set it to 4354819199 (2107-12-31 23:59:59 UTC) or less, or unset it (the bundle's times are"
            " then 1980-01-01).",
        )
    return (
        stamp.tm_year,
        stamp.tm_mon,
        stamp.tm_mday,
        stamp.tm_hour,
        stamp.tm_min,
        stamp.tm_sec - stamp.tm_sec % 2,
    )


def assemble(decl: Declarations, so: Path, facts: ElfInfo, target: Target | None = None) -> Module:
    """module.json for one build: the declarations plus what the binary says."""
    from modpack.loadability import fill_platform

    module = module_for(decl.module, target)
    for key in schema.null_text_fields() & module.keys():  # a ramp.yml's `description:` left empty
        if module[key] is None:
            del module[key]
    module.setdefault("module_file", so.name)
    fill_platform(module, facts)
    policy.canonicalise_commands(module.get("commands"), target_redis(module), shown=True)
    if decl.kind == "toml":  # a ramp.yml's add_command stays as written, as RAMP writes it
        refresh_added(module)
    for dep in local_dependencies(decl):
        entry = _dependency(module, dep.name)
        entry.pop("local_path", None)
        entry["sha256"] = _PLACEHOLDER  # the hash of the archive, patched in as it is packed
    module["sha256"] = _PLACEHOLDER
    return module


def _dependency(module: Module, name: str) -> dict[str, JSON]:
    """The dependency object of a local archive (local_dependencies found it one in the
    declarations, and module.json is assembled from them): module["dependencies"][name]."""
    deps = module["dependencies"]
    entry = deps[name] if isinstance(deps, dict) else None
    if not isinstance(entry, dict):  # mutate: equivalent -- local_dependencies listed only objects
        raise TypeError(f"dependencies.{name} is not an object")
    return entry


def local_dependencies(decl: Declarations) -> list[LocalDependency]:
    """The dependencies whose archive is packed into the bundle, by name (deterministic order)."""
    deps = decl.module.get("dependencies")
    if not isinstance(deps, dict):
        return []
    found = []
    for name, dep in sorted(deps.items()):
        local = dep.get("local_path") if isinstance(dep, dict) else None
        if isinstance(local, str) and local:
            path = decl.path.parent / local
            found.append(LocalDependency(str(name), path, wrap=decl.kind == "ramp"))
    return found


_SAME_CAUSE = {"PLT004": "ELF027"}  # rule codes that say the same of the same field


def check_before_write(
    module: Module,
    so: Path,
    decl: Declarations,
    declared: list[Finding] | None = None,
    target: Target | None = None,
) -> list[Finding]:
    """The full validator over the module.json about to be written (and its binary, unless the
    declaration checks in `declared` already read it), less what `declared` already says (the
    same rule at the same place)."""
    from modpack.checks import metadata
    from modpack.checks.commands import no_commands
    from modpack.checks.document import check_module_document
    from modpack.checks.elf import check_binary
    from modpack.checks.numbers import report_floats
    from modpack.modpack_toml import toml_path

    if decl.kind == "toml":
        sink = Sink(str(decl.path), mapper=toml_path)
    else:  # the version packed from the manifest's semantic_version is said where that is written
        from modpack.ramp.reader import packed_version_place

        sink = Sink(str(decl.path), mapper=packed_version_place(decl, lambda p: p))
    sink.lines = decl.sink.lines
    if target is not None:  # said where the target gives the value, as validate says it
        from modpack.validate import in_target

        sink.mapper = in_target(sink.mapper, target, target.index)
    check_module_document(module, sink, in_bundle=True)
    no_commands(module, sink)
    report_floats(module, sink)  # never in module.json; the declarations' checks say why first
    findings = sink.resolved()
    declared_binary = declared is not None and decl.kind == "toml"  # check_declarations read it
    if "module_file" not in decl.module:  # it is the binary's name: said of the binary, once
        at = sink.mapper("module_file")
        findings = [f for f in findings if f.location.path != at]
        if not declared_binary:
            findings += metadata.binary_name_findings(so)
    if not declared_binary:
        binary, fields = Sink(str(so)), Sink(sink.file, sink.lines, sink.mapper)
        check_binary(so, binary, module=module, declaring=fields)  # an OS it cannot load on: declared here
        findings += fields.resolved() + binary.resolved()
    # One rule at one place is said once: a ramp.yml without capabilities got CAP004 "missing:
    # RAMP writes an empty list" from the declarations and "empty" from the [] written.
    # PLT004 of the module.json made is ELF027 of the declarations, whose architecture build fills
    # from the binary: an OS not shipped for it was warned of twice.
    said = {(_SAME_CAUSE.get(f.code, f.code), f.location.file, f.location.path) for f in declared or []}
    findings = [
        f for f in findings if (_SAME_CAUSE.get(f.code, f.code), f.location.file, f.location.path) not in said
    ]
    if decl.kind == "ramp":  # ramp-pack's without a manifest: said of RAMP's defaults, as validate does
        from modpack.ramp.reader import named_defaults

        findings = named_defaults(
            _unsaid_entries(findings, module, decl, declared or []), module, {*decl.raw, *decl.given}
        )
    return findings


def _unsaid_entries(
    findings: list[Finding], module: Module, decl: Declarations, declared: list[Finding]
) -> list[Finding]:
    """A ramp.yml's overide_command and add_command entries are checked as written (at
    add_command[0]) and again packed (at commands[5]): a rule said of the entry is not said again of
    the command it packs into."""
    from modpack.ramp.edits import manifest_places

    commands = module.get("commands")
    places = manifest_places(
        decl.raw, [c for c in commands if isinstance(c, dict)] if isinstance(commands, list) else []
    )
    kept = []
    for finding in findings:
        match = re.match(r"commands\[(\d+)\]", finding.location.path)
        entry = places.get(int(match[1])) if match else None
        if entry is not None and any(
            f.code == finding.code and f.location.path.startswith(entry) for f in declared
        ):
            continue
        kept.append(finding)
    return kept


def failing(findings: list[Finding], settings: Settings) -> bool:
    """What fails `modpack validate` with these settings fails the build: errors, and warnings
    under strict."""
    worst = Severity.WARNING if settings.strict else Severity.ERROR
    return any(f.severity >= worst for f in findings)


def build(
    decl: Declarations,
    so: Path,
    out_dir: Path,
    *,
    name_template: str | None = None,
    force: bool = False,
    target: Target | None = None,
    settings: Settings | None = None,
    declared: list[Finding] | None = None,
    claimed: dict[Path, Target] | None = None,
    any_name: bool = False,
) -> BuildResult:
    """Validate, then write the bundle atomically; refuse with the findings when there are errors.

    `declared`: the findings of the declaration checks (`declared_findings`), already selected
    by `settings`; the bundle's own checks add only what they do not already say. `any_name`:
    the name need not end in .zip (ramp-pack's -o, as RAMP's).
    """
    planned = plan_bundle(
        decl,
        so,
        out_dir,
        name_template=name_template,
        target=target,
        settings=settings,
        declared=declared,
        claimed=claimed,
        any_name=any_name,
    )
    (result,) = write_bundles([planned], out_dir, force=force)
    return result


@dataclass
class PlannedBundle:
    """A bundle checked and named, not written yet: its module.json, binary and archives."""

    path: Path
    module: Module
    so: Path
    deps: list[LocalDependency]
    inputs: list[Path]
    findings: list[Finding]


def plan_bundle(
    decl: Declarations,
    so: Path,
    out_dir: Path,
    *,
    name_template: str | None = None,
    target: Target | None = None,
    settings: Settings | None = None,
    declared: list[Finding] | None = None,
    claimed: dict[Path, Target] | None = None,
    any_name: bool = False,
) -> PlannedBundle:
    """Every check `build` makes before it writes; a FindingsError when one fails."""
    settings = settings or Settings()
    deps = local_dependencies(decl)
    unusable = _archive_findings(decl, deps)
    if declared is None and not decl.ok:
        found = _with_archives(decl.sink.resolved(), unusable)
        raise FindingsError(refusal(found), found)
    if declared is not None:
        declared = _with_archives(declared, unusable)
        if failing(declared, settings):
            raise FindingsError(refusal(declared), declared)
    if unusable:
        raise FindingsError(f"{decl.path}: a dependency archive cannot be packed", unusable)
    facts = read_facts(so)
    module = assemble(decl, so, facts, target)
    from modpack.validate import select

    findings = (declared or []) + select(check_before_write(module, so, decl, declared, target), settings)
    if failing(findings, settings):
        raise FindingsError(refusal(findings), findings)
    template = name_template or decl.output or DEFAULT_NAME
    path = out_dir / output_name(template, module, target.name if target else "", bundle=not any_name)
    if claimed is not None and target is not None:
        # two targets of one run whose bundles have the same name: the second replaced the first
        # (--force), or was 'unchanged' when the bytes agreed, and one platform went missing
        first = claimed.setdefault(path, target)
        if first is not target:
            from modpack.validate import say_shared_name

            sink = Sink(str(decl.path), decl.sink.lines)
            say_shared_name(sink, target, first, path.name)
            raise FindingsError(f"[[targets]] {target.name!r}: {refusal(sink.findings)}", sink.resolved())
    return PlannedBundle(path, module, so, deps, [decl.path], findings)


def refusal(findings: list[Finding]) -> str:
    """The refusal line: what holds the findings that fail the build (one file, else "the
    build"), and that nothing was written."""
    errors = [f for f in findings if f.severity is Severity.ERROR]
    failed = errors or [f for f in findings if f.severity is Severity.WARNING]
    files = list(dict.fromkeys(f.location.file for f in failed))
    what = f"{files[0]} has" if len(files) == 1 else "the build has"
    kind = "errors" if errors else "warnings and [validate] strict is set"
    return f"{what} {kind}; nothing was written"


def _archive_findings(decl: Declarations, deps: list[LocalDependency]) -> list[Finding]:
    """DEP006 for each local_path that is not a gzip archive that can be read, as a build needs:
    here an archive not built yet is one, where validate says that its checks did not run."""
    from modpack.modpack_toml import check_local_archive

    sink = Sink(str(decl.path))
    sink.lines = decl.sink.lines
    place = "module." if decl.kind == "toml" else ""
    for dep in deps:
        check_local_archive(dep.name, dep.path, sink, required=True, place=place, archive=not dep.wrap)
    return sink.resolved()


def _with_archives(declared: list[Finding], unusable: list[Finding]) -> list[Finding]:
    """The declarations' findings with the build's archive verdicts: validate's "not built yet"
    (DECL010) of an archive gives way, in its place, to DEP006, so a build refused for another
    reason says what its archives lack in the same run, not advice to validate again."""
    said = {f.identity for f in declared}
    new = [f for f in unusable if f.identity not in said]
    merged: list[Finding] = []
    for finding in declared:
        if finding.code == "DECL010":
            instead = [f for f in new if f.location.path == finding.location.path]
            if instead:
                merged += instead
                new = [f for f in new if f not in instead]
                continue
        merged.append(finding)
    return merged + new


def read_facts(so: Path) -> ElfInfo:
    from modpack.elf import ElfError, read_elf

    try:
        return read_elf(so)
    except ElfError as exc:
        sink = Sink(str(so))
        from modpack.checks.elf import check_binary

        check_binary(so, sink, module=None)
        raise FindingsError(f"{so} is not a loadable module: {exc}", sink.resolved()) from exc


def module_json_bytes(module: Module) -> bytes:
    return (json.dumps(module, indent=4, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def write_bundle(
    path: Path,
    module: Module,
    so: Path,
    *,
    force: bool,
    deps: list[LocalDependency] | None = None,
    inputs: Sequence[Path] = (),
) -> tuple[str, bool]:
    """Write atomically (modpack.atomic): never a partial zip, nothing left after a kill.

    A target that is one of the inputs (the .so, a dependency archive, or `inputs`: the
    manifest) is refused, --force or not: `-o same.so` replaced the module binary by its bundle."""
    with _staged(PlannedBundle(path, module, so, deps or [], [*inputs], []), force=force) as staged:
        staged.out.commit()
    return staged.digest, staged.unchanged


def write_bundles(planned: Sequence[PlannedBundle], out_dir: Path, *, force: bool) -> list[BuildResult]:
    """All or nothing, as far as a file system allows: each bundle goes to a temporary file,
    and only once every one is complete, and may replace what its name holds, is each renamed
    into place. A failure before the first rename leaves nothing in `out_dir`; a rename failing
    after others says which bundles were written and which were not."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModpackError(f"cannot create the output folder {out_dir}: {exc.strerror}") from exc
    with contextlib.ExitStack() as stack:
        staged = [stack.enter_context(_staged(p, force=force)) for p in planned]
        return _rename_all(planned, staged)


@dataclass
class _Staged:
    """A bundle complete in a temporary file, not yet under its name."""

    out: AtomicFile
    digest: str
    unchanged: bool


@contextlib.contextmanager
def _staged(plan: PlannedBundle, *, force: bool) -> Iterator[_Staged]:
    from modpack.atomic import atomic_output

    _refuse_own_input(plan.path, [plan.so, *(d.path for d in plan.deps), *plan.inputs])
    try:
        source = plan.so.open("rb")
    except OSError as exc:
        raise ModpackError(f"cannot read {plan.so}: {exc.strerror}") from exc
    with source, atomic_output(plan.path) as out:
        size = os.fstat(source.fileno()).st_size
        digest = _write_zip(out.stream, plan.module, source, size, plan.deps)
        try:
            unchanged = out.same_as_target()
        except OSError as exc:
            if not force:
                raise OutputExistsError(
                    f"{plan.path} exists, and cannot be read to compare with this build:"
                    f" {exc.strerror or exc}",
                    "Pass --force to replace it, or choose another -o.",
                ) from None
            unchanged = False
        if os.path.lexists(plan.path) and not unchanged and not force:  # a link to nothing too
            raise OutputExistsError(
                f"{plan.path} exists with different content",
                "Pass --force to replace it, or choose another -o.",
            )
        yield _Staged(out, digest, unchanged)


def _rename_all(planned: Sequence[PlannedBundle], staged: list[_Staged]) -> list[BuildResult]:
    results: list[BuildResult] = []
    for plan, stage in zip(planned, staged, strict=True):
        try:
            stage.out.commit()
        except ModpackError as exc:
            if len(planned) == 1:
                raise
            raise _partly_written(exc, results, planned) from exc
        except KeyboardInterrupt as stop:  # Ctrl+C, SIGTERM: say which bundles are in place
            if _in_place(stage):
                results.append(_built(plan, stage))
            if not results:
                raise
            raise _interrupted(stop, results, planned) from None
        results.append(_built(plan, stage))
    return results


def _built(plan: PlannedBundle, stage: _Staged) -> BuildResult:
    plan.module["sha256"] = stage.digest
    return BuildResult(plan.path, plan.module, stage.digest, plan.findings, stage.unchanged)


def _in_place(stage: _Staged) -> bool:
    """Whether the rename of a bundle interrupted mid-commit took place: its name holds the very
    file written (the same inode), not an older one."""
    try:
        return os.fstat(stage.out.stream.fileno()).st_ino == stage.out.target.stat().st_ino
    except (OSError, ValueError):
        return False


def _interrupted(
    stop: KeyboardInterrupt, results: list[BuildResult], planned: Sequence[PlannedBundle]
) -> ModpackError:
    """Ctrl+C (exit 130) or SIGTERM (143) between the renames: which bundles are written."""
    from modpack.errors import Terminated

    terminated = isinstance(stop, Terminated)
    error = _partly_written(ModpackError("terminated" if terminated else "interrupted"), results, planned)
    error.hint = "Run the same build again to write them all."
    error.exit_code = 143 if terminated else 130
    return error


def _partly_written(
    exc: ModpackError, results: list[BuildResult], planned: Sequence[PlannedBundle]
) -> ModpackError:
    """What the output folder holds after a rename failed: each bundle, written or not."""
    details = [f"{'unchanged' if r.unchanged else 'written'}: {r.path}" for r in results]
    details += [f"not written: {p.path}" for p in planned[len(results) :]]
    return ModpackError(f"{exc.message}; {len(results)} of {len(planned)} bundles written", exc.hint, details)


def _refuse_own_input(target: Path, inputs: Sequence[Path]) -> None:
    from modpack.atomic import one_of

    source = one_of(target, inputs)
    if source is not None:
        raise UsageError(
            f"the bundle {target} would replace its own input {source}",
            "Choose another output folder or name (-o, --name).",
        )


def _entry(name: str, mode: int, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=zip_timestamp())
    info.create_system = 3  # Unix, so external_attr carries the file mode
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = compress
    return info


def _write_zip(
    out: BinaryIO, module: Module, source: BinaryIO, size: int, deps: list[LocalDependency]
) -> str:
    """module.json (hashes as placeholders), the .so, then deps/ by name; then the hashes."""
    placeholder = module_json_bytes(module)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        meta = _entry("module.json", 0o644, zipfile.ZIP_STORED)
        archive.writestr(meta, placeholder)
        binary = _entry(str(module["module_file"]), 0o755, zipfile.ZIP_DEFLATED)
        binary.file_size = size  # lets zipfile choose zip64 up front, the same way on every run
        digest = _stream_entry(archive, binary, source)
        final = json.loads(placeholder)
        final["sha256"] = digest
        for dep in deps:
            final["dependencies"][dep.name]["sha256"] = _pack_archive(archive, dep)
        _patch_stored(out, meta, placeholder, module_json_bytes(final))
        for dep in deps:
            _dependency(module, dep.name)["sha256"] = final["dependencies"][dep.name]["sha256"]
    return digest


def _pack_archive(archive: zipfile.ZipFile, dep: LocalDependency) -> str:
    """modpack.toml's .tgz is already compressed: stored as it is, streamed, hashed on the way. A
    ramp.yml's file or folder (`dep.wrap`) is tar-gzipped first, into a temporary file."""
    import tempfile

    with contextlib.ExitStack() as stack:
        try:
            if dep.wrap:
                source: BinaryIO = stack.enter_context(tempfile.TemporaryFile())
                _tar_gz(dep.path, source)
                source.seek(0)
            else:
                source = stack.enter_context(dep.path.open("rb"))
        except OSError as exc:
            raise ModpackError(f"cannot read {dep.path}: {exc.strerror}") from exc
        digest = stack.enter_context(BackgroundHash())
        info = _entry(dep.entry, 0o644, zipfile.ZIP_STORED)
        info.file_size = os.fstat(source.fileno()).st_size
        with archive.open(info, "w") as target:
            for chunk in stream_chunks(source):
                digest.feed(chunk)
                target.write(chunk)
    return digest.hexdigest()


def _tar_gz(root: Path, out: BinaryIO) -> None:
    """RAMP's `tarfile.add(local_path, arcname=basename)`, gzip'd (ramp.md §3.4), made
    reproducible: names in sorted order, the bundle's timestamp, owner 0 with no names, modes
    0755/0644, and a gzip header without a name or a time. Only folders and regular files: a
    symlink or a device inside is refused (it would point off the build machine)."""
    import calendar
    import gzip
    import stat
    import tarfile

    mtime = calendar.timegm((*zip_timestamp(), 0, 0, 0))

    def add(tar: tarfile.TarFile, path: Path, name: str) -> None:
        mode = path.lstat().st_mode
        info = tarfile.TarInfo(name)
        info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
        if stat.S_ISDIR(mode):
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
            for child in sorted(path.iterdir(), key=lambda p: p.name):
                add(tar, child, f"{name}/{child.name}")
        elif stat.S_ISREG(mode):
            info.mode = 0o755 if mode & 0o111 else 0o644
            with path.open("rb") as stream:
                info.size = os.fstat(stream.fileno()).st_size
                tar.addfile(info, stream)
        else:
            from modpack.beside import UNPACKABLE_HINT

            raise ModpackError(
                f"cannot pack {path}: only folders and regular files go into a dependency archive",
                UNPACKABLE_HINT,
            )

    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        add(tar, root, root.name)


def _stream_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: BinaryIO) -> str:
    """CRC here, deflate on worker threads, sha256 on another: zlib and hashlib release the GIL."""
    with BackgroundHash() as digest, archive.open(info, "w") as target:
        # zipfile calls compress()/flush() on this object; ParallelDeflate keeps that contract.
        target._compressor = codec.ParallelDeflate()  # type: ignore[attr-defined]
        for chunk in stream_chunks(source):
            digest.feed(chunk)
            target.write(chunk)
    return digest.hexdigest()


def _patch_stored(out: BinaryIO, info: zipfile.ZipInfo, old: bytes, new: bytes) -> None:
    """Replace a stored entry's bytes with others of the same length, and fix its CRC."""
    if len(old) != len(new):
        raise AssertionError("module.json changed length while patching the hash")
    end = out.tell()
    out.seek(info.header_offset + 26)
    name_len, extra_len = (int.from_bytes(out.read(2), "little") for _ in range(2))
    out.seek(info.header_offset + 30 + name_len + extra_len)
    out.write(new)
    info.CRC = zlib.crc32(new)
    out.seek(info.header_offset + 14)
    out.write(info.CRC.to_bytes(4, "little"))
    out.seek(end)


DECLARATION_NAMES = ("modpack.toml", "ramp.yml", "ramp.yaml")


def declarations_path(path: Path) -> Path:
    """A folder means its modpack.toml (or ramp.yml when there is no modpack.toml); so does the
    default, `modpack.toml`, when the current folder holds only a ramp.yml."""
    folder = path if path.is_dir() else Path() if path == Path("modpack.toml") else None
    if folder is not None and not path.is_file():
        for name in DECLARATION_NAMES:
            if (folder / name).is_file():
                return folder / name
        for name in DECLARATION_NAMES:  # there, but no file: a dangling link, a folder, a FIFO
            if os.path.lexists(folder / name):
                from modpack.regular import not_a_file

                unusable = folder / name
                raise UsageError(
                    f"{unusable} {not_a_file(unusable)}", "Make it the module's declarations file."
                )
        where = "the current folder" if folder == Path() else str(folder)
        raise UsageError(f"{where} has no modpack.toml or ramp.yml", _write_one_hint(folder))
    if not path.is_file():
        from modpack.regular import not_a_file

        raise UsageError(f"{path} {not_a_file(path)}", _missing_file_hint(path))
    _refuse_other_kinds(path)
    return path


def _init_command(*args: str | Path, into: Path | str) -> str:
    """`modpack init ARGS [INTO]` as a shell takes it: INTO is left out for the current folder,
    and starts with ./ where it starts with '-' (`init ... -mod` read -mod as options)."""
    import shlex

    target = [] if into in (Path(), "") else [str(into)]
    words = ["modpack", "init", *map(str, args), *(f"./{w}" if w.startswith("-") else w for w in target)]
    return shlex.join(words)


def _write_one_hint(folder: Path) -> str:
    """The commands that write modpack.toml in `folder`, to run as written but for the module's
    own name and version: the hint named a bare `modpack init`, which refuses to run without
    --name and --version (or --from / --discover)."""
    from modpack.beside import only_binary_in

    ways = [f"`{_init_command('--name', 'NAME', '--version', 'X.Y.Z', into=folder)}`"]
    so = only_binary_in(folder)  # which of several is the module is not the hint's to guess
    if so is not None:
        ways.append(f"`{_init_command('--discover', so, into=folder)}` for what {so.name} registers")
    if (folder / "module.json").is_file():
        ways.append(
            f"`{_init_command('--from', folder / 'module.json', into=folder)}` to convert module.json"
        )
    return f"Write one: {', or '.join(ways)}; or pass the declarations file."


def _missing_file_hint(path: Path) -> str:
    """A declarations file that is not there: the one in its folder, when there is one; else the
    `modpack init` that writes it (a new name ending in .toml), or a modpack.toml in its folder."""
    from modpack.sources import kind_of

    folder: Path | str = path.parent
    if path.parent.is_dir():
        there = next((path.parent / n for n in DECLARATION_NAMES if (path.parent / n).is_file()), None)
        if there is not None:
            where = "the current folder" if path.parent == Path() else "that folder"
            return f"Pass {there}, the declarations file in {where}."
        if not os.path.lexists(path) and kind_of(path) == "modpack.toml":
            init = _init_command("--name", "NAME", "--version", "X.Y.Z", into=path)
            return f"Pass the path of modpack.toml, or write it: `{init}`."
    elif not os.path.lexists(path.parent):
        folder = f"{path.parent}/"  # init makes a folder named so, as `mkdir -p` would
    else:
        folder = Path()  # a file where its folder would be: the current one
    init = _init_command("--name", "NAME", "--version", "X.Y.Z", into=folder)
    return f"Pass the path of modpack.toml, or write one: `{init}`."


def _refuse_other_kinds(path: Path) -> None:
    """A module binary, a bundle or a module.json given where build takes its declarations was
    read as TOML ("holds a NUL byte ... save it as UTF-8", exit 1): each is named for what it is,
    with the command that takes it."""
    from modpack.regular import open_regular
    from modpack.reporters import shown_path

    try:
        with open_regular(path) as stream:
            head = stream.read(4)
    except OSError:
        return  # reading it says why, with the file's name (IN001)
    import shlex

    shown = shown_path(path)
    quoted = shlex.quote(shown)  # in a command: `modpack init --discover my module/x.so` was two paths
    if head == b"\x7fELF" or path.suffix == ".so":
        raise UsageError(
            f"{shown} is a module binary: build reads a modpack.toml or ramp.yml, and packs the binary"
            " it names",
            f"Pass it as `--so {quoted}` with the declarations, or write them:"
            f" `modpack init --discover {quoted}`.",
        )
    if head in (b"PK\x03\x04", b"PK\x05\x06") or path.suffix == ".zip":  # a zip, or an empty one
        raise UsageError(
            f"{shown} is a bundle: build makes bundles from a modpack.toml or ramp.yml",
            f"Check it with `modpack validate {quoted}`, or write its declarations:"
            f" `modpack init --from {quoted}`.",
        )
    if path.suffix == ".json":
        raise UsageError(
            f"{shown} is a module.json: build writes module.json from a modpack.toml or ramp.yml",
            f"Write the declarations from it: `modpack init --from {quoted}`.",
        )


def _ramp_prepared(
    decl: Declarations,
    binary: Path,
    declared: list[Finding],
    settings: Settings,
    *,
    discover: bool,
    redis_server: str | None,
) -> list[Finding]:
    """A ramp.yml's module made as RAMP makes it (its command edits applied), and the findings
    with what the edits said of the loaded module (LOAD028), as ramp-pack says them: each flooded
    rule's "and N more" note once, counting the edits' findings too."""
    from modpack.ramp.edits import prepare_build
    from modpack.validate import select

    if failing(declared, settings):
        raise FindingsError(refusal(declared), declared)
    before = len(decl.sink.findings)
    notes = decl.sink.resolved()[before:]  # the notes as `declared` holds them
    prepare_build(decl, binary, discover=discover, redis_server=redis_server)
    kept = [f for f in declared if f not in notes]
    return [*kept, *select(decl.sink.resolved()[before:], settings)]


def build_project(
    path: Path,
    so: Path | None,
    out_dir: Path,
    *,
    name_template: str | None = None,
    force: bool = False,
    all_targets: bool = False,
    target_names: tuple[str, ...] = (),
    discover: bool = False,
    redis_server: str | None = None,
) -> list[BuildResult]:
    """`modpack build`: one bundle, or one per selected [[targets]] entry.

    The declarations get the checks `modpack validate` gives them, with the same [validate]
    settings (select, ignore, strict, load), so build and validate agree on the same inputs.
    """
    from modpack import manifests
    from modpack.validate import declared_findings

    if all_targets and target_names:  # --all built every target, --target NAME unheeded
        raise UsageError(
            "--all and --target cannot be combined", "Pass --all for every target, or --target NAME."
        )
    chooser = "--all" if all_targets else "--target" if target_names else ""
    _refuse_single_build_options(so, chooser)
    decl = manifests.load(declarations_path(path))
    _refuse_discover_with_targets(decl, chooser if discover else "")
    decl.discovered = discover and decl.kind == "ramp"  # the module's own name and commands are packed
    if decl.kind == "toml" and decl.raw:
        from modpack.modpack_toml import settings_only

        if settings_only(decl.raw):
            raise UsageError(
                f"{decl.path} holds only [validate]: the settings of the files under its folder, no module",
                "Build a module's modpack.toml (with [module], and [build] so or --so).",
            )
    settings = build_settings(decl, redis_server)
    base = decl.path.parent
    chosen = so if so is not None else (base / decl.so if decl.so else None)
    _refuse_unreadable(decl, settings, None if chooser else chosen)
    if chooser:
        targets = _chosen_targets(decl, all_targets, target_names, chooser)
        return _build_targets(decl, targets, out_dir, settings, name_template=name_template, force=force)
    if chosen is None:
        if decl.targets:  # each [[targets]] entry names its own binary: the run must pick them
            names = ", ".join(t.name for t in decl.targets)
            raise UsageError(
                f"no module binary to build from: {decl.path.name} builds its [[targets]] ({names})",
                "Pass --all for every target, or --target NAME for some (or --so FILE for one bundle).",
            )
        if decl.kind == "ramp":  # a ramp.yml has no [build]: RAMP takes the .so on its command line
            import shlex

            from modpack.beside import only_binary_in

            one = only_binary_in(base)
            example = shlex.quote(str(one)) if one is not None else "MODULE.so"
            raise UsageError(
                f"no module binary to build from: {decl.path.name} names none (RAMP takes the .so on its"
                " command line)",
                f"Pass it with --so: modpack build {shlex.quote(str(decl.path))} --so {example}",
            )
        raise UsageError("no module binary to build from", "Pass --so FILE, or set `so` under [build].")
    binary = chosen
    if not binary.is_file():
        _refuse_missing_binary(decl, binary, given=so is not None)
    declared = declared_findings(decl, binary, settings)
    if decl.kind == "ramp":
        declared = _ramp_prepared(
            decl, binary, declared, settings, discover=discover, redis_server=redis_server
        )
    elif discover and not decl.has_commands:
        from modpack.redis.discover import fill_commands

        fill_commands(decl, binary, redis_server)
        if decl.module.get("commands"):
            decl.sink.withdraw("CMD030")  # the reader's "commands is empty": discovery filled them
        declared = declared_findings(decl, binary, settings)
    return [
        build(
            decl,
            binary,
            out_dir,
            name_template=name_template,
            force=force,
            settings=settings,
            declared=declared,
        )
    ]


def _refuse_missing_binary(decl: Declarations, binary: Path, *, given: bool) -> NoReturn:
    """UsageError for a module binary that is not a file: given with --so (`given`), or named by
    [build] so (then its file and line); with the file of a close name beside it, where one is."""
    from modpack.beside import close_sibling
    from modpack.regular import not_a_file

    near = close_sibling(binary)
    beside = f"; {near} is beside it" if near else ""
    if given:
        fix = f"Pass --so {binary.parent / near} if that is the module" if near else "Fix --so"
        raise UsageError(f"{binary} {not_a_file(binary)}{beside}", f"{fix}, or build the module first.")
    line = decl.sink.lines("build.so") if decl.sink.lines else None
    where = f"{decl.path}:{line}" if line else str(decl.path)
    if near:
        named = Path(decl.so or "").parent / near
        fix = f"Set `so` under [build] in {decl.path.name} to {named} if that is the module"
    else:
        fix = f"Build the module first, fix `so` under [build] in {decl.path.name}"
    raise UsageError(
        f"{binary} {not_a_file(binary)} ([build] so of {where}){beside}", f"{fix}, or pass --so FILE."
    )


def _build_targets(
    decl: Declarations,
    targets: list[Target],
    out_dir: Path,
    settings: Settings,
    *,
    name_template: str | None,
    force: bool,
) -> list[BuildResult]:
    """Every chosen target is checked before any bundle is written, and the bundles are renamed
    into place only once all are complete (write_bundles): a release never gets some of them."""
    from modpack.validate import declared_findings, empty_so, no_binary

    planned: list[PlannedBundle] = []
    refused: dict[str, list[Finding]] = {}
    claimed: dict[Path, Target] = {}
    for target in targets:
        binary = decl.path.parent / target.expand(target.so)
        where, said = f"targets[{target.index}].so", Sink(str(decl.path), decl.sink.lines)
        if not target.so:  # the folder the file is in
            empty_so(decl, target, said)
        if not target.so or no_binary(said, binary, where):  # a loop of links was an internal error
            refused[target.name] = said.resolved()
            continue
        try:
            declared = declared_findings(decl, binary, settings, target)
            planned.append(
                plan_bundle(
                    decl,
                    binary,
                    out_dir,
                    name_template=name_template,
                    target=target,
                    settings=settings,
                    declared=declared,
                    claimed=claimed,
                )
            )
        except FindingsError as exc:
            refused[target.name] = exc.findings
    if refused:
        found = said_once([f for findings in refused.values() for f in findings])  # one each, not per target
        names = ", ".join(repr(name) for name in refused)
        raise FindingsError(f"[[targets]] {names}: {refusal(found)}", found)
    return write_bundles(planned, out_dir, force=force)


def build_settings(decl: Declarations, redis_server: str | None) -> Settings:
    """[validate] of the modpack.toml being built; for a ramp.yml, of the nearest modpack.toml."""
    if decl.kind == "toml":
        return decl.settings._replace(redis_server=redis_server)
    from modpack.config import settings_near

    return settings_near(decl.path)._replace(redis_server=redis_server)


def _refuse_unreadable(decl: Declarations, settings: Settings, binary: Path | None) -> None:
    """Errors found while reading the declarations stop the build before anything runs; the
    findings shown are all that `modpack validate` says of them (with `binary`, when it is a
    file: the one this build packs), so the counts agree."""
    from modpack.validate import declared_findings, select, validate_declarations

    found = select(decl.sink.resolved(), settings)
    if not any(f.severity is Severity.ERROR for f in found):
        return
    if binary is not None and binary.is_file():
        found = declared_findings(decl, binary, settings)
    else:
        found = select(validate_declarations(decl.path, settings), settings)
    found = _with_archives(found, _archive_findings(decl, local_dependencies(decl)))
    raise FindingsError(refusal(found), found)


def _refuse_single_build_options(so: Path | None, chooser: str) -> None:
    """--so shapes one bundle; with [[targets]] (a `chooser`) it would be silently dropped."""
    if chooser and so is not None:
        raise UsageError(
            f"--so cannot be combined with {chooser}: each [[targets]] entry builds from its own `so`",
            "Set `so` in each [[targets]] entry and drop --so, or build one bundle with --so and"
            f" without {chooser}.",
        )


def _refuse_discover_with_targets(decl: Declarations, chooser: str) -> None:
    """--discover shapes one bundle; with [[targets]] it would be silently dropped. The hint names
    the discover that declares the commands in this file, with a [[targets]] binary that is built:
    it named `modpack discover SO --write modpack.toml`, which from another folder than the
    file's wrote a new modpack.toml there, and "`modpack build --discover` without --all", which
    declares nothing (and without --so refuses a file of [[targets]]). `chooser`: --all or
    --target, given with --discover; "" when it was not."""
    if not chooser:
        return
    import shlex

    why = f"--discover cannot be combined with {chooser}: commands are not discovered per target"
    if decl.kind != "toml":
        raise UsageError(why, f"Build without {chooser}: only a modpack.toml has [[targets]].")
    base = decl.path.parent
    built = [base / t.expand(t.so) for t in decl.targets if t.so and "$" not in t.expand(t.so)]
    so = next((str(b) for b in built if b.is_file()), "FILE.so")
    discover = ["modpack", "discover", so, "--write", str(decl.path)]
    raise UsageError(
        why,
        f"Declare the commands in {decl.path.name} first: `{shlex.join(discover)}`"
        " adds those the module registers; then build the targets without --discover.",
    )


def _chosen_targets(
    decl: Declarations, all_targets: bool, names: tuple[str, ...], chooser: str
) -> list[Target]:
    if not decl.targets:
        raise UsageError(
            f"{decl.path} declares no [[targets]]", f"Add [[targets]] tables, or build without {chooser}."
        )
    names_seen: set[str] = set()
    for target in decl.targets:
        if target.name in names_seen:  # --target NAME built only the last of them, in silence
            raise UsageError(
                f"{decl.path}: two [[targets]] are named {target.name!r}", "Give each target its own name."
            )
        names_seen.add(target.name)
    known = {t.name: t for t in decl.targets}
    missing = [n for n in names if n not in known]
    if missing:
        raise UsageError(f"no target named {', '.join(missing)}", "Targets: " + ", ".join(known))
    return decl.targets if all_targets else [known[n] for n in dict.fromkeys(names)]
