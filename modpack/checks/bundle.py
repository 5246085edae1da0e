"""The checks of a bundle's members, once modpack.bundle has read its layout safely: module.json
(and the dependency archives it names), and the module binary against module.json.

Every damaged member is one finding (ZIP014), never an exception: `DAMAGED` names what reading a
member can raise.
"""

from __future__ import annotations

import lzma
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from modpack.checks import commands as command_checks
from modpack.checks.document import check_module_json_text
from modpack.findings import Finding, LineResolver, Sink
from modpack.regular import NotUtf8Text, decode_module_json

if TYPE_CHECKING:
    from modpack import elf
    from modpack.bundle import Layout
    from modpack.config import Settings
    from modpack.elf import ElfInfo
    from modpack.types import Module

# What reading a member of a damaged or crafted zip can raise.
# (bad bzip2 data is an OSError; bad LZMA data an LZMAError, which is no OSError.)
DAMAGED = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, NotImplementedError)


class BundledModuleJson(NamedTuple):
    """The bundle's module.json: the document (None when unreadable or not an object), its
    findings, and where its paths are in its text (for findings placed there later)."""

    module: Module | None
    findings: list[Finding]
    lines: LineResolver | None = None


def check_module_json(path: Path, layout: Layout) -> BundledModuleJson:
    """The bundle's module.json checked as a module.json, and the dependency archives it names."""
    from modpack import bundle

    if layout.module_json is None:
        return BundledModuleJson(None, [])
    sink = Sink(f"{path}!module.json")
    try:
        raw = bundle.read_small(layout.archive, layout.module_json, bundle.MAX_MODULE_JSON)
        text = decode_module_json(raw, "module.json")
    except bundle.MemberTooLarge as exc:
        sink.add("ZIP019", "", f"module.json cannot be read: {exc}")
        return BundledModuleJson(None, sink.resolved())
    except NotUtf8Text as exc:
        sink.add("IN002", "", exc.message, exc.hint, line=exc.line)
        return BundledModuleJson(None, sink.resolved())
    except DAMAGED as exc:
        sink.add("ZIP014", "", f"module.json is damaged: {exc}")
        return BundledModuleJson(None, sink.resolved())
    document = check_module_json_text(text, sink, in_bundle=True)
    module = document if isinstance(document, dict) else None
    if module is not None:
        _check_bundled_dependencies(layout, module, sink)
    return BundledModuleJson(module, sink.resolved(), sink.lines)


def _check_bundled_dependencies(layout: Layout, module: Module, sink: Sink) -> None:
    from modpack import bundle

    deps = module.get("dependencies")
    if not isinstance(deps, dict):
        return
    names = {Path(n).name: info for n, info in layout.deps.items()}
    for name, dep in deps.items():
        if not isinstance(dep, dict):
            continue
        url = dep.get("url")
        info = bundled_dependency(names, name, url)
        if info is None:
            # One with a url is fetched by the cluster when the module is uploaded (RS 7.22, POST
            # /v2/modules: 404 "Dependency not found", 500 "Failed to get dependency"); RAMP packs
            # only local_path ones, and its url-only manifests are Redis's own (RedisGears).
            if not (isinstance(url, str) and url.strip()):
                message = (
                    f"dependency {name!r} is not under deps/ in the bundle, and has no url to fetch it from"
                )
                sink.add("DEP003", f"dependencies.{name}", message)
            continue
        digest = dep.get("sha256")
        if isinstance(digest, str):
            try:
                actual = bundle.hash_member(layout.archive, info)
            except DAMAGED as exc:
                sink.add("ZIP014", f"dependencies.{name}", f"{info.filename} is damaged: {exc}")
                continue
            if actual != digest.lower():
                sink.add(
                    "DEP004",
                    f"dependencies.{name}.sha256",
                    f"{info.filename} has sha256 {actual}, module.json says {digest}",
                )


def bundled_dependency(names: dict[str, zipfile.ZipInfo], name: str, url: object) -> zipfile.ZipInfo | None:
    """deps/<name>.tgz as RAMP packs it (ramp.md §3.4), deps/<name>.<ext>, or the url's file name;
    `names` maps the file names under deps/ to their entries."""
    from urllib.parse import urlparse

    candidates = [f"{name}.tgz"]
    if isinstance(url, str) and url:
        candidates.append(Path(urlparse(url).path).name)
    for candidate in candidates:
        if candidate in names:
            return names[candidate]
    return next((info for file, info in names.items() if file.split(".", 1)[0] == name), None)


def check_binary_member(
    path: Path, layout: Layout, module: Module | None, settings: Settings, lines: LineResolver | None = None
) -> list[Finding]:
    """The bundle's one .so: its mode, its hash and name against module.json, the ELF checks,
    and with `settings.load` a real load. What is said of module.json's fields (sha256, the
    commands Redis registered) is placed there, at its `lines`."""
    from modpack import bundle

    if len(layout.binaries) != 1:
        return []
    info = layout.binaries[0]
    sink = Sink(f"{path}!{info.filename}")
    module_sink = Sink(f"{path}!module.json", lines)
    if module is not None:
        declared = module.get("module_file")
        if isinstance(declared, str) and declared and declared != info.filename:
            module_sink.add(
                "ZIP004", "module_file", f"module_file is {declared!r}, the bundle holds {info.filename!r}"
            )
        elif "module_file" not in module:
            # The unpacker opens the binary by it before any check (zf.open(metadata["module_file"]),
            # RAMP's unpacker.py; redis-enterprise.md §12): without it the upload fails.
            module_sink.add(
                "SCH001",
                "module_file",
                "`module_file` is missing: Redis Enterprise opens the bundle's .so by this name",
                f'Add "module_file": "{info.filename}".',
            )
    if not bundle.is_executable(info):
        mode = (info.external_attr >> 16) & 0o777
        # a zip made on Windows records no Unix mode, which "has mode 0o0" misdescribed
        what = f"has mode {oct(mode)}" if info.external_attr >> 16 else "has no Unix mode recorded"
        sink.add("ZIP007", "", f"{info.filename} {what}: it unpacks without execute permission")
    try:
        streamed = bundle.stream_binary(layout.archive, info)
    except DAMAGED as exc:
        sink.add("ZIP014", "", f"{info.filename} does not decompress: {exc}")
        return module_sink.resolved() + sink.resolved()
    elf_info = check_against_module(streamed.image, streamed.sha256, module, sink, module_sink)
    if settings.load:
        _load_from_bundle(layout, info, elf_info, module, sink, declared=module_sink, settings=settings)
    return module_sink.resolved() + sink.resolved()


def check_against_module(
    source: elf.Source, sha256: str | None, module: Module | None, sink: Sink, module_sink: Sink
) -> ElfInfo | None:
    """The checks of a bundle's binary (`source`, which hashes to `sha256`) against its module.json:
    the hash, the ELF checks and the commands' movable keys. What is said of module.json's fields
    goes to `module_sink`, the rest to `sink`."""
    if module is not None:
        digest = module.get("sha256")
        if isinstance(digest, str) and digest and sha256 is not None and digest.lower() != sha256:
            module_sink.add("ZIP006", "sha256", f"module.json says {digest}, the .so hashes to {sha256}")
    from modpack.checks.elf import check_binary

    elf_info = check_binary(source, sink, module=module, suggest_systems=False, declaring=module_sink)
    if module is not None:
        command_checks.check_movable_keys(module, module_sink, elf_info.getkeys if elf_info else None)
    if module is not None and "operating_systems" not in module and "os_list" not in module:
        _report_missing_systems(elf_info, module_sink)
    return elf_info


def check_unpacked(binary: Path, module: Module, module_sink: Sink, settings: Settings) -> list[Finding]:
    """The binary beside a module.json (validate.binary_beside), checked as a bundle's: against the
    module.json (what is said of its fields goes to `module_sink`), and loaded with `--load`,
    where what Redis registers is compared with its commands."""
    from modpack.hashing import sha256_stream
    from modpack.regular import open_regular

    sink = Sink(str(binary))
    digest = None
    declared = module.get("sha256")
    if isinstance(declared, str) and declared:  # hashed only to compare: 4 GiB took 9 s
        try:
            with open_regular(binary) as stream:
                digest = sha256_stream(stream)
        except OSError as exc:
            sink.add("IN001", "", f"{binary} cannot be read: {exc.strerror or exc}")
            return sink.resolved()
    elf_info = check_against_module(binary, digest, module, sink, module_sink)
    if settings.load:
        from modpack.checks.load import check_load_of

        check_load_of(binary, module, sink, settings, elf_info, declared=module_sink)
    return sink.resolved()


def _report_missing_systems(elf_info: ElfInfo | None, sink: Sink) -> None:
    from modpack import loadability

    loadable = loadability.loadable_systems(elf_info) if elf_info is not None else []
    where = f"; the binary loads on {', '.join(loadable)}" if loadable else ""
    sink.add("PLT005", "operating_systems", f"operating_systems is not declared{where}")


def _load_from_bundle(
    layout: Layout,
    info: zipfile.ZipInfo,
    elf_info: ElfInfo | None,
    module: Module | None,
    sink: Sink,
    *,
    declared: Sink,
    settings: Settings,
) -> None:
    """Loading needs a real file: the only place a bundle's .so is written, to a private folder.
    What the load says of the binary goes to `sink`; what it says of module.json, to `declared`.

    It is made executable (a bundle whose .so is not gets ZIP007 already), and named with the
    member's base name."""
    import tempfile

    from modpack import bundle

    with tempfile.TemporaryDirectory(prefix="modpack-load-") as folder:
        target = Path(folder) / Path(info.filename).name
        try:
            with target.open("wb") as out:
                for chunk in bundle.member_chunks(layout.archive, info):
                    out.write(chunk)
        except DAMAGED as exc:
            sink.add("ZIP014", "", f"{info.filename} cannot be unpacked to load it: {exc}")
            return
        target.chmod(0o755)
        from modpack.checks.load import check_load_of

        check_load_of(target, module, sink, settings, elf_info, declared=declared)
