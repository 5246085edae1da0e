"""`modpack build`: declarations + the .so -> module.json -> a deterministic, validated zip.

The zip holds module.json first, then the .so (mode 0755: Redis refuses a module file without an
execute bit, elf.md §1.5), with fixed timestamps and attributes, so the same inputs give the same
bytes on any machine. The .so is read once: hash, CRC and compression in one streaming pass. That
pass is what computes the sha256 module.json must carry, so module.json is written first as a
stored (uncompressed) entry with a placeholder of the same length, and the hash is patched in
when the pass ends; its CRC is fixed in the local header and the central directory alike.
"""

from __future__ import annotations

import json
import os
import string
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from modpack import codec, policy
from modpack.checks.commands import target_redis
from modpack.declarations import Declarations, Target
from modpack.errors import FindingsError, ModpackError, OutputExistsError, UsageError
from modpack.findings import Finding, Severity, Sink
from modpack.hashing import BackgroundHash, stream_chunks

DEFAULT_NAME = "{module_name}.Linux-{os}-{architecture}.{semantic_version}.zip"
NAME_FIELDS = ("module_name", "os", "architecture", "semantic_version", "version", "target")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
MAX_NAME_BYTES = 200  # file names stop at 255 bytes, and the temporary name adds to it
_PLACEHOLDER = "0" * 64


@dataclass
class BuildResult:
    path: Path
    module: dict[str, Any]
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
        raise UsageError(f"SOURCE_DATE_EPOCH={raw!r} is not a Unix timestamp") from exc
    if stamp.tm_year < 1980:
        return ZIP_EPOCH
    if stamp.tm_year > 2107:
        raise UsageError(f"SOURCE_DATE_EPOCH={raw} is past 2107, the last year a zip can record")
    return (
        stamp.tm_year,
        stamp.tm_mon,
        stamp.tm_mday,
        stamp.tm_hour,
        stamp.tm_min,
        stamp.tm_sec - stamp.tm_sec % 2,
    )


def assemble(decl: Declarations, so: Path, facts: Any, target: Target | None = None) -> dict[str, Any]:
    """module.json for one build: the declarations plus what the binary says."""
    module: dict[str, Any] = json.loads(json.dumps(decl.module))  # a deep copy of plain data
    if target is not None:
        _apply_target(module, target)
    module.setdefault("module_file", so.name)
    if "architecture" not in module and facts.architecture is not None:
        module["architecture"] = facts.architecture
    if "operating_systems" not in module:
        from modpack import compat

        module["operating_systems"] = compat.loadable_systems(facts)
    goal = target_redis(module)
    for command in module.get("commands", []):
        if isinstance(command.get("flags"), list):
            command["flags"] = policy.canonical_flags(command["flags"], goal)
    module["sha256"] = _PLACEHOLDER
    return module


def _apply_target(module: dict[str, Any], target: Target) -> None:
    if target.operating_systems is not None:
        module["operating_systems"] = list(target.operating_systems)
    if target.architecture is not None:
        module["architecture"] = target.architecture
    if target.compatible_redis_version is not None:
        module["compatible_redis_version"] = target.compatible_redis_version
    if target.min_redis_version is not None:
        module["min_redis_version"] = target.min_redis_version


def output_name(template: str, module: dict[str, Any], target: str = "") -> str:
    """The bundle's file name from a template; only plain named fields, and no path tricks."""
    systems = module.get("operating_systems") or ["any"]
    values = {
        "module_name": module.get("module_name", ""),
        "os": "+".join(str(s) for s in systems),
        "architecture": module.get("architecture", ""),
        "semantic_version": module.get("semantic_version", ""),
        "version": module.get("version", ""),
        "target": target,
    }
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if name not in NAME_FIELDS or spec or conversion:
            raise UsageError(
                f"output name template {template!r} uses {{{name}}}",
                "Use only " + ", ".join(f"{{{f}}}" for f in NAME_FIELDS) + ".",
            )
    name = template.format(**values)
    if len(name.encode()) > MAX_NAME_BYTES:
        raise UsageError(
            f"the output name is {len(name.encode())} bytes long (the limit is {MAX_NAME_BYTES})",
            "Shorten the module name or the --name template.",
        )
    if (
        not name
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name in (".", "..")
        or name.startswith(".")
    ):
        raise UsageError(
            f"the output name {name!r} is not a plain file name",
            "The template and the module's name and version must not contain '/', '..' or NUL.",
        )
    return name


def check_before_write(module: dict[str, Any], so: Path, decl: Declarations) -> list[Finding]:
    """The full validator over the module.json about to be written and its binary."""
    from modpack.checks.elf import check_binary
    from modpack.declarations import toml_path
    from modpack.validate import check_module_document

    sink = Sink(str(decl.path), mapper=toml_path if decl.kind == "toml" else lambda p: p)
    sink.lines = decl.sink.lines
    check_module_document(module, sink, in_bundle=True)
    binary = Sink(str(so))
    check_binary(so, binary, module=module)
    return sink.resolved() + binary.resolved()


def build(
    decl: Declarations,
    so: Path,
    out_dir: Path,
    *,
    name_template: str | None = None,
    force: bool = False,
    target: Target | None = None,
) -> BuildResult:
    """Validate, then write the bundle atomically; refuse with the findings when there are errors."""
    if not decl.ok:
        raise FindingsError(f"{decl.path} has errors; nothing was written", decl.sink.resolved())
    facts = read_facts(so)
    module = assemble(decl, so, facts, target)
    findings = check_before_write(module, so, decl)
    if any(f.severity is Severity.ERROR for f in findings):
        raise FindingsError("the bundle would have errors; nothing was written", findings)
    template = name_template or decl.output or DEFAULT_NAME
    path = out_dir / output_name(template, module, target.name if target else "")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModpackError(f"cannot create the output folder {out_dir}: {exc.strerror}") from exc
    digest, unchanged = write_bundle(path, module, so, force=force)
    module["sha256"] = digest
    return BuildResult(path, module, digest, findings, unchanged)


def read_facts(so: Path) -> Any:
    from modpack.elf import ElfError, read_elf

    try:
        return read_elf(so)
    except ElfError as exc:
        sink = Sink(str(so))
        from modpack.checks.elf import check_binary

        check_binary(so, sink, module=None)
        raise FindingsError(f"{so} is not a loadable module: {exc}", sink.resolved()) from exc


def module_json_bytes(module: dict[str, Any]) -> bytes:
    return (json.dumps(module, indent=4, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def write_bundle(path: Path, module: dict[str, Any], so: Path, *, force: bool) -> tuple[str, bool]:
    """Write atomically (modpack.atomic): never a partial zip, nothing left after a kill."""
    from modpack.atomic import atomic_output

    try:
        source = so.open("rb")
    except OSError as exc:
        raise ModpackError(f"cannot read {so}: {exc.strerror}") from exc
    with source, atomic_output(path) as out:
        digest = _write_zip(out.stream, module, source, os.fstat(source.fileno()).st_size)
        unchanged = out.same_as_target()
        if path.exists() and not unchanged and not force:
            raise OutputExistsError(
                f"{path} exists with different content", "Pass --force to replace it, or choose another -o."
            )
        out.commit()
    return digest, unchanged


def _entry(name: str, mode: int, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=zip_timestamp())
    info.create_system = 3  # Unix, so external_attr carries the file mode
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = compress
    return info


def _write_zip(out: BinaryIO, module: dict[str, Any], source: BinaryIO, size: int) -> str:
    placeholder = module_json_bytes(module)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        meta = _entry("module.json", 0o644, zipfile.ZIP_STORED)
        archive.writestr(meta, placeholder)
        binary = _entry(str(module["module_file"]), 0o755, zipfile.ZIP_DEFLATED)
        binary.file_size = size  # lets zipfile choose zip64 up front, the same way on every run
        digest = _stream_entry(archive, binary, source)
        module["sha256"] = digest
        _patch_stored(out, meta, placeholder, module_json_bytes(module))
        module["sha256"] = _PLACEHOLDER
    return digest


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
    info.CRC = codec.crc32(new)
    out.seek(info.header_offset + 14)
    out.write(info.CRC.to_bytes(4, "little"))
    out.seek(end)


def declarations_path(path: Path) -> Path:
    """A folder means its modpack.toml (or ramp.yml when there is no modpack.toml)."""
    if path.is_dir():
        for name in ("modpack.toml", "ramp.yml", "ramp.yaml"):
            if (path / name).is_file():
                return path / name
        raise UsageError(f"{path} has no modpack.toml", "Run `modpack init` to write one.")
    if not path.is_file():
        raise UsageError(f"{path} does not exist", "Pass the path of modpack.toml, or run `modpack init`.")
    return path


def expand_placeholders(text: str, target: Target) -> str:
    systems = target.operating_systems or []
    values = {"target": target.name, "os": "+".join(systems), "arch": target.architecture or ""}
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    return text


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
    """`modpack build`: one bundle, or one per selected [[targets]] entry."""
    from modpack import declarations

    decl = declarations.load(declarations_path(path))
    if not decl.ok:
        raise FindingsError(f"{decl.path} has errors; nothing was written", decl.sink.resolved())
    base = decl.path.parent
    if all_targets or target_names:
        return [
            build(
                decl,
                base / expand_placeholders(t.so, t),
                out_dir,
                name_template=name_template,
                force=force,
                target=t,
            )
            for t in _chosen_targets(decl, all_targets, target_names)
        ]
    binary = so if so is not None else (base / decl.so if decl.so else None)
    if binary is None:
        raise UsageError("no module binary to build from", "Pass --so FILE, or set `so` under [build].")
    if not binary.is_file():
        raise UsageError(f"{binary} does not exist", "Build the module first, or fix --so.")
    if discover and not decl.has_commands:
        from modpack.redis.discover import fill_commands

        fill_commands(decl, binary, redis_server)
    return [build(decl, binary, out_dir, name_template=name_template, force=force)]


def _chosen_targets(decl: Declarations, all_targets: bool, names: tuple[str, ...]) -> list[Target]:
    if not decl.targets:
        raise UsageError(
            f"{decl.path} declares no [[targets]]", "Add [[targets]] tables, or build without --all."
        )
    if all_targets:
        return decl.targets
    known = {t.name: t for t in decl.targets}
    missing = [n for n in names if n not in known]
    if missing:
        raise UsageError(f"no target named {', '.join(missing)}", "Targets: " + ", ".join(known))
    return [known[n] for n in names]
