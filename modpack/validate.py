"""`modpack validate`: every kind of input, every check, one report.

The entry points return findings; they never raise for bad input and never stop at the first
problem. Expensive pieces (the ELF reader, a redis-server) are imported only on the paths that
need them, so validating a module.json stays about as fast as starting Python.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modpack import locate, schema
from modpack.checks import commands as command_checks
from modpack.checks import metadata
from modpack.declarations import Declarations, Settings, read_text
from modpack.findings import Finding, Severity, Sink
from modpack.rules import matches
from modpack.types import JSON, Module

if TYPE_CHECKING:
    import zipfile
    from collections.abc import Callable

    from modpack.bundle import Layout
    from modpack.elf import ElfInfo

SKIPPED_FOLDERS = {".git", ".hg", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache"}


@dataclass
class FileReport:
    """The findings of one file (or folder) and what kind of input it is."""

    path: str
    kind: str
    findings: list[Finding] = field(default_factory=list)


@dataclass
class Report:
    """Every file's report, and the settings that decide failure."""

    files: list[FileReport]
    settings: Settings = field(default_factory=Settings)

    def findings(self) -> list[Finding]:
        return [f for report in self.files for f in report.findings]

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings() if f.severity is severity)

    @property
    def failed(self) -> bool:
        worst = Severity.WARNING if self.settings.strict else Severity.ERROR
        return any(f.severity >= worst for f in self.findings())


def kind_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".zip"):
        return "bundle"
    if name.endswith(".json"):
        return "module.json"
    if name.endswith(".toml"):
        return "modpack.toml"
    if name.endswith((".yml", ".yaml")):
        return "ramp.yml"
    if name.endswith(".so") or ".so." in name:
        return "binary"
    return None


def _folder_candidates(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_FOLDERS and not d.startswith("."))
        for name in sorted(files):
            lowered = name.lower()
            if (
                lowered in ("module.json", "modpack.toml")
                or (lowered.startswith("ramp") and lowered.endswith((".yml", ".yaml")))
                or lowered.endswith((".zip", ".so"))
            ):
                yield Path(root) / name


def expand(paths: Iterable[Path]) -> tuple[list[Path], list[FileReport]]:
    """The files to validate, and findings for folders that hold nothing to validate."""
    files: list[Path] = []
    empty: list[FileReport] = []
    for path in paths:
        if path.is_dir():
            found = list(_folder_candidates(path))
            if not found:
                sink = Sink(str(path))
                sink.add("IN007", "", f"{path} holds no bundle, module.json, modpack.toml, ramp.yml or .so")
                empty.append(FileReport(str(path), "folder", sink.resolved()))
            files.extend(found)
        else:
            files.append(path)
    return files, empty


def validate_paths(paths: Iterable[Path], settings: Settings | None = None) -> Report:
    settings = settings or Settings()
    files, reports = expand(paths)
    for path in files:
        report = validate_file(path, settings)
        report.findings = select(report.findings, settings)
        reports.append(report)
    return Report(reports, settings)


def select(findings: list[Finding], settings: Settings) -> list[Finding]:
    kept = []
    for finding in findings:
        if settings.select and not matches(finding.code, settings.select):
            continue
        if settings.ignore and matches(finding.code, settings.ignore):
            continue
        kept.append(finding)
    return kept


def validate_file(path: Path, settings: Settings | None = None) -> FileReport:
    settings = settings or Settings()
    kind = kind_of(path)
    if not path.exists():
        sink = Sink(str(path))
        sink.add("IN001", "", f"{path} does not exist")
        return FileReport(str(path), kind or "unknown", sink.resolved())
    if kind == "module.json":
        findings = validate_module_file(path)
    elif kind in {"modpack.toml", "ramp.yml"}:
        findings = validate_declarations(path, settings)
    elif kind == "bundle":
        findings = validate_bundle(path, settings)[1]
    elif kind == "binary":
        findings = validate_binary(path, settings)
    else:
        sink = Sink(str(path))
        sink.add("IN005", "", f"{path.name} is not a bundle, module.json, modpack.toml, ramp.yml or .so")
        findings = sink.resolved()
    return FileReport(str(path), kind or "unknown", findings)


# --- module.json ------------------------------------------------------------------------------


# Python refuses to convert integers of more than 4300 digits (sys.get_int_max_str_digits(),
# https://docs.python.org/3/library/stdtypes.html#int-max-str-digits); no module.json field is a
# number anywhere near that long (Redis reads them as C ints), so a longer one is a finding.
MAX_NUMBER_DIGITS = 4300
_HUGE_NUMBER = re.compile(r'(?:"((?:[^"\\]|\\.)*)"\s*:\s*)?-?\d{' + str(MAX_NUMBER_DIGITS + 1) + "}")


class _HugeNumber(ValueError):
    pass


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _HugeNumber(digits[:20])
    return int(digits)


def _huge_number_where(text: str) -> tuple[str, int | None]:
    """The message and line of the first over-long integer in a JSON text."""
    match = _HUGE_NUMBER.search(text)
    key = (match.group(1) or "") if match else ""
    line = text.count("\n", 0, match.start()) + 1 if match else None
    where = f" (key {key!r})" if key else ""
    return f"invalid JSON: a number{where} has more than {MAX_NUMBER_DIGITS} digits", line


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(items: list[tuple[str, JSON]]) -> dict[str, JSON]:
    document = dict(items)
    if len(document) != len(items):
        raise _DuplicateKey
    return document


# One decoder for every file (building one costs about 5 us), with the C scanner's own int():
# parse_int and a hook that records duplicates cost a third of the parse. It holds no state, so
# threads may share it; any file it refuses is parsed again below, which says what is wrong.
_FAST_DECODER = json.JSONDecoder(object_pairs_hook=_unique_pairs)


def parse_json(text: str, sink: Sink) -> JSON | None:
    """JSON text as data, with syntax errors and duplicate keys reported; None on a syntax error."""
    # The C scanner's int() refuses more than sys.get_int_max_str_digits() digits with a
    # ValueError: with the default limit, a file it parses has no over-long number.
    if sys.get_int_max_str_digits() == MAX_NUMBER_DIGITS:
        try:
            fast: JSON = _FAST_DECODER.decode(text)
            return fast
        except (ValueError, RecursionError):
            pass  # a syntax error, a duplicate key, a BOM or a huge number: the full parse says which
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, JSON]]) -> dict[str, JSON]:
        seen: dict[str, JSON] = {}
        for key, value in items:
            if key in seen:
                duplicates.append(key)
            seen[key] = value
        return seen

    try:
        document: JSON = json.loads(text, object_pairs_hook=pairs, parse_int=_bounded_int)
    except _HugeNumber:
        message, line = _huge_number_where(text)
        hint = "No module.json field takes a number this long; write the intended value."
        sink.add("IN002", "", message, hint, line=line)
        return None
    except json.JSONDecodeError as exc:
        sink.add(
            "IN002", "", f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", line=exc.lineno
        )
        return None
    except RecursionError:
        sink.add("IN002", "", "invalid JSON: nested too deeply")
        return None
    for key in duplicates:
        sink.add("IN006", key, f"key {key!r} appears more than once; the last value wins")
    return document


def check_module_document(document: JSON, sink: Sink, *, in_bundle: bool = False) -> None:
    """Schema and semantic checks of one module.json document (or module object)."""
    for violation in schema.check(document, "module"):
        sink.add(violation.code, violation.path, violation.message, violation.hint)
    if isinstance(document, dict):
        metadata.check_module(document, sink, in_bundle=in_bundle)
        # In a bundle, CMD013 waits for the binary (_bundle_binary).
        command_checks.check_commands(document, sink, binary_follows=in_bundle)


def validate_module_object(document: JSON, source: str = "<request>") -> list[Finding]:
    """Checks of a module object given as data (a REST request body, say)."""
    sink = Sink(source)
    check_module_document(document, sink)
    return sink.resolved()


def validate_module_file(path: Path) -> list[Finding]:
    sink = Sink(str(path))
    text = read_text(path, sink)
    if text is None:
        return sink.resolved()
    sink.lines = _json_line_resolver(text)
    document = parse_json(text, sink)
    if document is not None or not sink.findings:
        check_module_document(document, sink)
    return sink.resolved()


def _json_line_resolver(text: str) -> Callable[[str], int | None]:
    return locate.json_resolver(text)


# --- declarations -----------------------------------------------------------------------------


def check_declarations(
    decl: Declarations, settings: Settings | None = None, *, so: Path | None = None
) -> None:
    """Semantic checks of what the declarations describe (their schema was checked on load).

    The one entry point for declaration checks, `modpack build`'s too: with `settings.load`
    the binary (`so`, else [build] so) is loaded into a real redis-server and compared, exactly
    as `validate --load` does. Findings go to `decl.sink`.
    """
    settings = settings or Settings()
    if decl.kind == "ramp":
        from modpack import ramp

        ramp.check(decl)
        if settings.load:
            _load_declared(decl, so, settings)
        return
    module = decl.module
    sink = decl.sink
    if not decl.raw:
        return
    if "min_redis_version" not in module and "module" in decl.raw:
        sink.add(
            "SCH001",
            "min_redis_version",
            "min_redis_version is missing, and there is no compatible_redis_version to default to",
        )
    metadata.check_module(module, sink)
    binary = so if so is not None else _declared_binary(decl)
    command_checks.check_commands(module, sink, hand_written=True, binary_follows=binary is not None)
    if binary is not None:
        from modpack.checks.elf import check_binary

        binary_sink = Sink(str(binary))
        # `modpack build` fills operating_systems from this binary when modpack.toml leaves it out,
        # so naming where it loads (ELF029) would be noise; loading nowhere (ELF030) is still said.
        elf_info = check_binary(binary, binary_sink, module=module, suggest_systems=False)
        command_checks.check_movable_keys(module, sink, elf_info.getkeys if elf_info else None)
        sink.extend(binary_sink.resolved())
        if settings.load:
            check_load_of(binary, module, sink, settings, elf_info)
    elif settings.load:
        _load_declared(decl, None, settings)


def _load_declared(decl: Declarations, so: Path | None, settings: Settings) -> None:
    """Load for declarations that may name no binary: LOAD025 (or LOAD024) when they name none."""
    binary = so if so is not None else _declared_binary(decl)
    if binary is not None:
        check_load_of(binary, decl.module, decl.sink, settings)
        return
    why = f"{decl.path.name} names no module binary that exists ([build] so is {decl.so or 'not set'})"
    hint = "Set `so` under [build] to the built .so, or validate the bundle or the .so with --load."
    if settings.load_if_available:
        decl.sink.add("LOAD024", "", f"nothing was loaded: {why}", hint)
    else:
        decl.sink.add("LOAD025", "", f"--load: nothing was loaded: {why}", hint)


def _declared_binary(decl: Declarations) -> Path | None:
    """[build] so as a path, when it names an existing file (a bad path is not this check's job)."""
    if not decl.so or "${" in decl.so:
        return None
    try:
        path = (decl.path.parent / decl.so).resolve()
        return path if path.is_file() else None
    except (OSError, ValueError):
        return None


def validate_declarations(path: Path, settings: Settings | None = None) -> list[Finding]:
    from dataclasses import replace

    from modpack import declarations

    settings = settings or Settings()
    decl = declarations.load(path)
    check_declarations(decl, replace(settings, load=settings.load or decl.settings.load))
    return decl.sink.resolved()


def check_load_of(
    so: Path, module: Module | None, sink: Sink, settings: Settings, elf_info: ElfInfo | None = None
) -> None:
    """`--load` of one binary: `module` None when nothing is declared (a .so validated alone)."""
    from modpack.checks.load import check_load

    architecture = elf_info.architecture if elf_info is not None else None
    check_load(so, module, sink, settings, architecture=architecture)


# --- bundles and binaries ---------------------------------------------------------------------


def validate_binary(path: Path, settings: Settings | None = None) -> list[Finding]:
    """Static checks of a .so; with `settings.load` it is loaded too (nothing to compare with)."""
    from modpack.checks.elf import check_binary

    settings = settings or Settings()
    sink = Sink(str(path))
    elf_info = check_binary(path, sink, module=None)
    if settings.load:
        check_load_of(path, None, sink, settings, elf_info)
    return sink.resolved()


def validate_bundle(path: Path, settings: Settings | None = None) -> tuple[Module | None, list[Finding]]:
    """Every check of a bundle; returns its module.json (when readable) and the findings."""
    from modpack import bundle

    settings = settings or Settings()
    sink = Sink(str(path))
    from modpack.regular import open_regular

    try:
        stream = open_regular(path)
    except OSError as exc:
        sink.add("IN001", "", f"cannot read {path}: {exc.strerror}")
        return None, sink.resolved()
    with stream:
        size = os.fstat(stream.fileno()).st_size
        layout = bundle.open_layout(stream, size, sink)
        if layout is None:
            return None, sink.resolved()
        with layout.archive:
            module, module_findings = _bundle_module(path, layout)
            findings = sink.resolved() + module_findings
            findings += _bundle_binary(path, layout, module, settings)
    return module, findings


def _bundle_module(path: Path, layout: Layout) -> tuple[Module | None, list[Finding]]:
    import zipfile
    import zlib

    from modpack import bundle

    if layout.module_json is None:
        return None, []
    sink = Sink(f"{path}!module.json")
    try:
        raw = bundle.read_small(layout.archive, layout.module_json, bundle.MAX_MODULE_JSON)
        text = raw.decode("utf-8")
    except ValueError as exc:
        code = "ZIP019" if "larger" in str(exc) else "IN002"
        sink.add(code, "", f"module.json cannot be read: {exc}")
        return None, sink.resolved()
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError) as exc:
        sink.add("ZIP014", "", f"module.json is damaged: {exc}")
        return None, sink.resolved()
    sink.lines = _json_line_resolver(text)
    document = parse_json(text, sink)
    if document is not None:
        check_module_document(document, sink, in_bundle=True)
    module = document if isinstance(document, dict) else None
    if module is not None:
        _check_bundled_dependencies(layout, module, sink)
    return module, sink.resolved()


def _check_bundled_dependencies(layout: Layout, module: Module, sink: Sink) -> None:
    import zipfile
    import zlib

    from modpack import bundle

    deps = module.get("dependencies")
    if not isinstance(deps, dict):
        return
    names = {Path(n).name: info for n, info in layout.deps.items()}
    for name, dep in deps.items():
        if not isinstance(dep, dict):
            continue
        info = _bundled_dependency(names, name, dep.get("url"))
        if info is None:
            sink.add(
                "DEP003", f"dependencies.{name}", f"dependency {name!r} is not under deps/ in the bundle"
            )
            continue
        digest = dep.get("sha256")
        if isinstance(digest, str):
            try:
                actual = bundle.hash_member(layout.archive, info)
            except (
                OSError,
                EOFError,
                ValueError,
                zipfile.BadZipFile,
                zlib.error,
                NotImplementedError,
            ) as exc:
                sink.add("ZIP014", f"dependencies.{name}", f"{info.filename} is damaged: {exc}")
                continue
            if actual != digest.lower():
                sink.add(
                    "DEP004",
                    f"dependencies.{name}.sha256",
                    f"{info.filename} has sha256 {actual}, module.json says {digest}",
                )


def _bundled_dependency(names: dict[str, zipfile.ZipInfo], name: str, url: object) -> zipfile.ZipInfo | None:
    """deps/<name>.tgz as RAMP packs it (ramp.md §3.4), deps/<name>.<ext>, or the url's file name."""
    from urllib.parse import urlparse

    candidates = [f"{name}.tgz"]
    if isinstance(url, str) and url:
        candidates.append(Path(urlparse(url).path).name)
    for candidate in candidates:
        if candidate in names:
            return names[candidate]
    return next((info for file, info in names.items() if file.split(".", 1)[0] == name), None)


def _bundle_binary(path: Path, layout: Layout, module: Module | None, settings: Settings) -> list[Finding]:
    import zipfile
    import zlib

    from modpack import bundle

    if len(layout.binaries) != 1:
        return []
    info = layout.binaries[0]
    sink = Sink(f"{path}!{info.filename}")
    module_sink = Sink(f"{path}!module.json")
    if module is not None:
        declared = module.get("module_file")
        if isinstance(declared, str) and declared and declared != info.filename:
            module_sink.add(
                "ZIP004", "module_file", f"module_file is {declared!r}, the bundle holds {info.filename!r}"
            )
    if not bundle.is_executable(info):
        sink.add("ZIP007", "", f"{info.filename} has mode {oct((info.external_attr >> 16) & 0o777)}")
    try:
        streamed = bundle.stream_binary(layout.archive, info)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, NotImplementedError) as exc:
        sink.add("ZIP014", "", f"{info.filename} does not decompress: {exc}")
        return module_sink.resolved() + sink.resolved()
    if module is not None:
        digest = module.get("sha256")
        if isinstance(digest, str) and digest and digest.lower() != streamed.sha256:
            module_sink.add(
                "ZIP006", "sha256", f"module.json says {digest}, the .so hashes to {streamed.sha256}"
            )
    from modpack.checks.elf import check_binary

    elf_info = check_binary(streamed.image, sink, module=module, suggest_systems=False)
    if module is not None:
        command_checks.check_movable_keys(module, module_sink, elf_info.getkeys if elf_info else None)
    if module is not None and "operating_systems" not in module and "os_list" not in module:
        _report_missing_systems(elf_info, module_sink)
    if settings.load:
        _load_from_bundle(layout, info, elf_info, module, sink, settings=settings)
    return module_sink.resolved() + sink.resolved()


def _report_missing_systems(elf_info: ElfInfo | None, sink: Sink) -> None:
    from modpack import compat

    loadable = compat.loadable_systems(elf_info) if elf_info is not None else []
    where = f"; the binary loads on {', '.join(loadable)}" if loadable else ""
    sink.add("PLT005", "operating_systems", f"operating_systems is not declared{where}")


def _load_from_bundle(
    layout: Layout,
    info: zipfile.ZipInfo,
    elf_info: ElfInfo | None,
    module: Module | None,
    sink: Sink,
    *,
    settings: Settings,
) -> None:
    """Loading needs a real file: the only place a bundle's .so is written, to a private folder.

    It is made executable (a bundle whose .so is not gets ZIP007 already), and named with the
    member's base name."""
    import tempfile
    import zipfile
    import zlib

    from modpack import bundle

    with tempfile.TemporaryDirectory(prefix="modpack-load-") as folder:
        target = Path(folder) / Path(info.filename).name
        try:
            with target.open("wb") as out:
                for chunk in bundle.member_chunks(layout.archive, info):
                    out.write(chunk)
        except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, NotImplementedError) as exc:
            sink.add("ZIP014", "", f"{info.filename} cannot be unpacked to load it: {exc}")
            return
        target.chmod(0o755)
        check_load_of(target, module, sink, settings, elf_info)
