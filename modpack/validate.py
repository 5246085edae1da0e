"""`modpack validate`: every kind of input, every check, one report.

The entry points return findings; they never raise for bad input and never stop at the first
problem. Expensive pieces (the ELF reader, a redis-server) are imported only on the paths that
need them, so validating a module.json stays about as fast as starting Python.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from modpack.checks import commands as command_checks
from modpack.checks import metadata
from modpack.checks.document import check_module_document, check_module_json_text
from modpack.config import NearestSettings, Settings
from modpack.errors import ModpackError, UsageError
from modpack.findings import Finding, PathMapper, Sink, unset_variable
from modpack.regular import decode_module_json, exists
from modpack.report import FileReport, Report
from modpack.sources import SourceKind, expand, kind_of, read_text
from modpack.types import JSON, Module

if TYPE_CHECKING:
    from modpack.declarations import Declarations, Target
    from modpack.elf import ElfInfo


def validate_paths(
    paths: Iterable[Path],
    settings: Settings | NearestSettings | None = None,
    skipped: list[tuple[Path, str]] | None = None,
) -> Report:
    """The report of every file `paths` name (folders expanded), each checked with `settings`, or
    with its own when they are NearestSettings. With `skipped` (pre-commit's hooks, which pick
    files by name), a file named like a module's that holds something else (`modpack.unrelated`)
    is not validated but listed there, with why."""
    settings = settings or Settings()
    base = settings.alone if isinstance(settings, NearestSettings) else settings
    files, reports = expand(paths, _without_declared_binaries)
    # named one by one too: `validate module.json hello.so` checked hello.so twice, once as the
    # module.json's and once alone (and loaded it twice with --load)
    files = _without_declared_binaries(files)
    kept = []
    for path in files:
        if skipped is not None and (reason := _unrelated(path)):
            skipped.append((path, reason))
        else:
            kept.append(path)

    def settings_for(path: Path) -> Settings:
        return settings(path) if isinstance(settings, NearestSettings) else base

    # A ramp.yml names no binary (RAMP takes it on its command line): with --load, a .so or
    # bundle of the run that is itself loaded is what proves it, and the manifest's own "nothing
    # to load" is no failure of the run. Looked for once, and only when a file is to be loaded.
    run: _LoadRun | None = None
    for path in kept:
        own = settings_for(path)
        if own.load and run is None:
            run = _LoadRun.of(kept, settings_for)
        manifest = run if own.load and kind_of(path) == "ramp.yml" else None
        so = manifest.paired if manifest else None
        if run is not None and path == run.paired:
            # loaded once, by the ramp.yml it is paired with, as that manifest's discovery loads it
            # (run_command_line_args, redis_args): loaded alone with no arguments, a module that
            # needs them was LOAD011 beside the manifest's own proof that it loads
            own = own._replace(load=False)
        report = validate_file(path, own, binary_beside=own.load and bool(run and run.loaded), so=so)
        if manifest and so is None and manifest.loaded and exists(path):
            report.findings += _not_compared(path, manifest.binaries)
        report.findings = select(report.findings, own)
        report.strict = own.strict
        reports.append(report)
    return Report(reports, base)


class _LoadRun(NamedTuple):
    """What a --load run holds for the ramp.yml files in it: whether it loads a module of its own
    (`loaded`), its .so files, and the one a ramp.yml is compared with (`paired`): the one binary
    given beside the one ramp.yml, as `ramp pack` takes them (and as LOAD025's fix says to run
    it). None when the run has several of either: which manifest describes which binary is not
    validate's to guess (LOAD031 says so)."""

    loaded: bool
    binaries: list[Path]
    paired: Path | None

    @classmethod
    def of(cls, paths: list[Path], settings_for: Callable[[Path], Settings]) -> _LoadRun:
        kinds = {p: _kind(p) for p in paths}  # once each: a file with no telling name is sniffed
        loaded = any(
            (kinds[p] in ("bundle", "binary") or (kinds[p] == "module.json" and _named_beside(p)))
            and settings_for(p).load
            for p in paths
        )
        binaries = [p for p in paths if kinds[p] == "binary"]
        manifests = sum(1 for p in paths if kind_of(p) == "ramp.yml")
        return cls(loaded, binaries, binaries[0] if len(binaries) == 1 and manifests == 1 else None)


def _not_compared(manifest: Path, binaries: list[Path]) -> list[Finding]:
    """LOAD031 for a ramp.yml under --load that was compared with no module: the run loads other
    files (so LOAD025 does not fail it), but none is the one .so beside the one ramp.yml that it
    would be compared with (_LoadRun.paired), and nothing said that its module_name and commands
    were never held against a module."""
    import shlex

    shown = ", ".join(map(str, binaries[:3])) + (
        f" and {len(binaries) - 3} more" if len(binaries) > 3 else ""
    )
    if len(binaries) > 1:
        why = f"the run has {len(binaries)} .so files ({shown}): which one it describes is unknown"
    elif binaries:
        why = "the run has other manifests: which one describes its .so is unknown"
    else:
        why = "the run loads no .so of its own (a bundle's is compared with that bundle's module.json)"
    command = f"modpack validate --load {shlex.quote(str(manifest))} FILE.so"
    sink = Sink(str(manifest))
    sink.add(
        "LOAD031",
        "",
        f"{manifest.name} was not compared with a loaded module: {why}",
        f"Validate it with the one .so it describes: {command}",
    )
    return sink.resolved()


def _unrelated(path: Path) -> str | None:
    from modpack.unrelated import unrelated

    return unrelated(path)


def _without_declared_binaries(found: list[Path]) -> list[Path]:
    """A folder's files less the .so files one of its modpack.toml files names ([build] so, a
    [[targets]] so): validating the declarations checks that binary, and listing it again
    reported every finding of it twice. Also a module.json's binary beside it (binary_beside).
    Without a .so among them there is nothing to take out, and no declarations are read for it."""
    if not any(p.name.lower().endswith(".so") for p in found):
        return found
    named: set[Path] = set()
    for path in found:
        if kind_of(path) == "module.json":
            binary = _named_beside(path)
            if binary is not None and (resolved := _resolved(binary)) is not None:
                named.add(resolved)  # validating the module.json checks it (an unpacked bundle)
            continue
        if path.name.lower() != "modpack.toml":
            continue
        from modpack import manifests

        try:
            decl = manifests.load(path)
        except (ModpackError, OSError, ValueError):
            continue  # validating it says what is wrong
        places = [("build.so", decl.so), *((f"targets[{t.index}].so", t.expand(t.so)) for t in decl.targets)]
        for where, so in places:  # as _target_findings reads them: a `${` that `$$` wrote is literal
            if (
                so
                and not _unexpanded(decl, where, so)
                and (resolved := _resolved(path.parent / so)) is not None
            ):
                named.add(resolved)
    if not named:
        return found
    return [p for p in found if not (p.name.lower().endswith(".so") and _resolved(p) in named)]


def _named_beside(module_json: Path) -> Path | None:
    """The binary beside `module_json` that validating it checks (binary_beside), if any."""
    from modpack.regular import MAX_TEXT_FILE, decode_module_json, read_regular
    from modpack.sources import parse_json_text

    try:  # read as validate_module_file reads it: a file it refuses keeps its binary in the list
        parsed = parse_json_text(decode_module_json(read_regular(module_json, MAX_TEXT_FILE), ""), Sink(""))
    except (OSError, ValueError, RecursionError):
        return None  # validating it says what is wrong
    return binary_beside(module_json, parsed.document) if parsed is not None else None


def _resolved(path: Path) -> Path | None:
    """`path` without links, or None when it cannot be resolved (a loop of symbolic links is a
    RuntimeError on Python 3.11: validating that file says IN001)."""
    try:
        return path.resolve()
    except (OSError, ValueError, RuntimeError):
        return None


def select(findings: list[Finding], settings: Settings) -> list[Finding]:
    return [finding for finding in findings if settings.reports(finding.code)]


def validate_file(
    path: Path, settings: Settings | None = None, *, binary_beside: bool = False, so: Path | None = None
) -> FileReport:
    """`binary_beside`: a .so or bundle is validated in the same run (see validate_paths). `so`:
    the binary a ramp.yml describes, loaded and compared with it under --load (`_ramp_binary`)."""
    settings = settings or Settings()
    kind = kind_of(path)
    if kind == "module.json":  # one open says whether it exists (IN001 as below): no stat first
        return FileReport(str(path), kind, validate_module_file(path, settings))
    if not exists(path):
        from modpack.regular import not_a_file

        sink = Sink(str(path))
        sink.add("IN001", "", f"{path} {not_a_file(path)}")
        return FileReport(str(path), kind or "unknown", sink.resolved())
    if kind is None:
        kind = _sniffed(path)
    if kind in {"modpack.toml", "ramp.yml"}:
        findings = validate_declarations(path, settings, binary_beside=binary_beside, so=so)
    elif kind == "bundle":
        findings = validate_bundle(path, settings).findings
    elif kind == "binary":
        findings = validate_binary(path, settings)
    else:
        sink = Sink(str(path))
        sink.add("IN005", "", f"{path.name} is not a bundle, module.json, modpack.toml, ramp.yml or .so")
        findings = sink.resolved()
    return FileReport(str(path), kind or "unknown", findings)


def _kind(path: Path) -> SourceKind | None:
    """What validate_file validates `path` as: by its name, else by its bytes."""
    return kind_of(path) or _sniffed(path)


def _sniffed(path: Path) -> SourceKind | None:
    """A bundle or a .so by its bytes, when its name does not say: a bundle saved as `hello.zip.1`
    or a CI artifact named without .zip is uploaded by publish, read by inspect and taken by Redis
    Enterprise, which never looks at the name; validate said IN005 'is not a bundle'."""
    import zipfile

    from modpack.regular import open_regular

    try:
        with open_regular(path) as stream:
            if stream.read(4) == b"\x7fELF":
                return "binary"
            return "bundle" if zipfile.is_zipfile(stream) else None
    except OSError:
        return None


# --- module.json ------------------------------------------------------------------------------


def validate_module_object(document: JSON, source: str = "<request>") -> list[Finding]:
    """Checks of a module object given as data (a REST request body, say)."""
    sink = Sink(source)
    check_module_document(document, sink)
    return sink.resolved()


def validate_module_file(path: Path, settings: Settings | None = None) -> list[Finding]:
    """A module.json; with the binary its module_file names beside it (`binary_beside`: a bundle
    unpacked), that binary checked against it as a bundle's is, and loaded with `--load`."""
    sink = Sink(str(path))
    text = read_text(path, sink, missing=f"{path} does not exist", decode=decode_module_json)
    if text is None:
        return sink.resolved()
    binary: Path | None = None

    def beside(document: JSON) -> bool:
        nonlocal binary
        binary = binary_beside(path, document)
        return binary is not None

    document = check_module_json_text(text, sink, binary_follows=beside)
    if binary is None or not isinstance(document, dict):
        return sink.resolved()
    from modpack.checks.bundle import check_unpacked

    found = check_unpacked(binary, document, sink, settings or Settings())
    return sink.resolved() + found


def binary_beside(module_json: Path, document: JSON) -> Path | None:
    """The binary a module.json's module_file names in its own folder, when it is there: a bundle
    unpacked (or its parts before packing), whose module.json is then checked against it. Only a
    plain file name counts, as the bundle's member is one (ZIP004)."""
    name = document.get("module_file") if isinstance(document, dict) else None
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name:
        return None
    binary = module_json.parent / name
    try:
        return binary if binary.is_file() else None  # a FIFO or folder is none: never opened here
    except (OSError, ValueError):
        return None


# --- declarations -----------------------------------------------------------------------------


def check_declarations(
    decl: Declarations,
    settings: Settings | None = None,
    *,
    so: Path | None = None,
    named: Path | None = None,
    binary_beside: bool = False,
    target: Target | None = None,
) -> None:
    """Semantic checks of what the declarations describe (their schema was checked on load).

    The one entry point for declaration checks, `modpack build`'s too: with `settings.load`
    the binary (`so`, else [build] so) is loaded into a real redis-server and compared, exactly
    as `validate --load` does. `named`: the binary's path as given (`so` may be resolved), whose
    file name build packs it under when no module_file is declared. `binary_beside`: a .so or
    bundle is validated in the same run, so a ramp.yml (which names none) need not say that
    nothing was loaded for it. `target`: the declarations are that [[targets]] entry's build
    (its fields applied to `decl.module`, `so` its binary). Findings go to `decl.sink`.
    """
    settings = settings or Settings()
    if decl.kind == "ramp":
        from modpack.ramp import reader

        reader.check(decl)
        if "module_name" in decl.module and not decl.discovered:  # build packs it, in the default name
            _check_output_template(decl, decl.module, decl.sink, None, _facts(so))
        if settings.load and not (so is None and binary_beside):
            _load_declared(decl, so, settings)
        return
    from modpack.modpack_toml import settings_only  # read it: imported already

    module = decl.module
    sink = decl.sink
    if not decl.raw or settings_only(decl.raw):
        return  # nothing, or only [validate]: its codes were checked as it was read
    if "min_redis_version" not in module and "module" in decl.raw:
        sink.add(
            "SCH001",
            "min_redis_version",
            "min_redis_version is missing, and there is no compatible_redis_version to default to",
        )
    written = decl.raw.get("module")
    # modpack.toml's default is [] (as RAMP's): "capabilities is empty" of a table without the key
    # sent the author looking for an empty list that is not there.
    metadata.check_module(
        module, sink, capabilities_defaulted=isinstance(written, dict) and "capabilities" not in written
    )
    binary = so if so is not None else _declared_binary(decl)
    elf_info = None
    command_checks.check_commands(module, sink, hand_written=True, binary_follows=binary is not None)
    command_checks.check_flag_versions(module, decl.raw.get("commands"), sink)  # as written
    if binary is not None:
        from modpack.checks.elf import check_binary

        binary_sink = Sink(str(binary))
        # `modpack build` fills operating_systems from this binary when modpack.toml leaves it out,
        # so naming where it loads (ELF029) would be noise; loading nowhere (ELF030) is still said.
        elf_info = check_binary(binary, binary_sink, module=module, suggest_systems=False, declaring=sink)
        command_checks.check_movable_keys(module, sink, elf_info.getkeys if elf_info else None)
        sink.extend(binary_sink.resolved())
        if "module_file" not in module:  # build names the packed binary after the path given,
            # not after a symlink's target (hello.so -> hello.so.1.0 is packed as hello.so)
            given = named or (so if so is not None else decl.path.parent / (decl.so or binary.name))
            sink.extend(metadata.binary_name_findings(given))
        if settings.load:
            from modpack.checks.load import check_load_of

            check_load_of(binary, module, sink, settings, elf_info)
    else:
        _not_built(decl, decl.so, "build.so")
        if settings.load and (decl.so or not decl.targets):  # targets alone: each loads its own
            _load_declared(decl, None, settings)
    if decl.output is not None or decl.kind == "toml":  # after the binary's checks: the name takes
        _check_output_template(decl, module, sink, target, elf_info)  # its facts, read once


def _check_output_template(
    decl: Declarations, module: Module, sink: Sink, target: Target | None, facts: ElfInfo | None
) -> None:
    """DECL011: the [build] output template build would refuse, as build refuses it (a usage
    error there, without a line; validate passed it, and so did the pre-commit hook): for the
    bundle of the binary `facts` were read from (`target`'s, or [build] so's) and for each
    [[targets]] entry's whose binary is not there (each judged with its own when it is), each
    refusal said once."""
    from modpack.declarations import module_for
    from modpack.naming import DEFAULT_NAME, output_name
    from modpack.regular import is_file

    template = decl.output if decl.output is not None else DEFAULT_NAME
    if _unexpanded(decl, "build.output", template):
        return  # an environment variable, which DECL003 judges
    named = _as_named(module, facts)
    builds: list[tuple[str, Module]]
    # a target without a name is SCH004's: "{target} outside a [[targets]] build" told nothing
    if target is not None:  # `{target}` in a template built --all was refused as if [build] so's
        builds = [(target.name, named)] if target.name.strip() else []
    else:
        builds = [("", named)] if decl.so or not decl.targets else []
        builds += [
            (entry.name, module_for(_as_named(module, None), entry))
            for entry in decl.targets
            if entry.name.strip() and not is_file(decl.path.parent / entry.expand(entry.so))
        ]
    said: set[str] = set()
    for name, built in builds:
        try:
            output_name(template, built, name, bundle=True)
        except UsageError as refused:
            hint = refused.hint
            if (
                not name and decl.targets and "{target}" in refused.message
            ):  # "add [[targets]]" of a file with some
                hint = (
                    "[build] so's bundle has no target: leave {target} out, or remove [build] so and"
                    " build the [[targets]] with --all."
                    if _written_so(decl)
                    else "--so's bundle has no target: leave {target} out, or build the [[targets]]"
                    " with --all (or --target NAME)."
                )
            if decl.output is None:  # the default name: only its length is not another rule's (SCH006,
                if "bytes long" not in refused.message:  # VER001 say what makes it no file name)
                    continue
                other = (
                    "give [build] output a shorter name template"
                    if decl.kind == "toml"
                    else "build with --name"
                )
                refused = UsageError(
                    f"{refused.message}: the bundle's default name ({DEFAULT_NAME})",
                    f"Shorten the module name, or {other}.",
                )
                hint = refused.hint
            if refused.message not in said:
                said.add(refused.message)
                name_key = "module.name" if decl.kind == "toml" else "module_name"
                where = "build.output" if decl.output is not None else name_key
                sink.add("DECL011", where, refused.message, hint, source_path=True)


def _facts(so: Path | None) -> ElfInfo | None:
    """The binary's facts, for a name that takes them (its OSes), where a binary is given and reads."""
    if so is None:
        return None
    from modpack.elf import ElfError, read_elf

    try:
        return read_elf(so)
    except (ElfError, OSError):
        return None  # the binary's own checks say why


def _written_so(decl: Declarations) -> bool:
    """Whether the file gives [build] so: a view of it for `build --so` has the path given there."""
    build = decl.raw.get("build")
    return isinstance(build, dict) and bool(build.get("so"))


def _as_named(module: Module, facts: ElfInfo | None) -> Module:
    """The fields a bundle name takes, as build fills them from the binary's `facts` (its
    architecture and the OSes it loads on: a 165-character name of six OSes passed as
    '{name}.any.zip', and build refused it as too long); stand-ins where there are none, so
    `{architecture}.zip` is not judged as the name '.zip'."""
    from modpack.loadability import fill_platform

    named = dict(module)
    if facts is not None:
        fill_platform(named, facts)
    return {"architecture": "x86_64", "operating_systems": ["any"], **named}


def _unexpanded(decl: Declarations, path: str, text: str) -> bool:
    """Whether `text`, the value at `path`, still holds a ${VAR} that could not be expanded (DECL003
    says so): a `${` that `$$` wrote is a literal one, and the value is judged as any other."""
    return "${" in text and unset_variable(decl.sink, path)


def _not_built(decl: Declarations, written: str | None, where: str) -> None:
    """DECL010 where `so` names a file that is not there (yet): nothing said that the binary's
    checks did not run, and a fresh clone's pre-commit passed without them. IN001 where it names
    something that is no file (a folder, a FIFO, a loop of links), which build refuses."""
    from modpack.beside import close_sibling
    from modpack.declarations import NOT_BUILT_HINT  # where declarations are read: imported already

    if not written or _unexpanded(decl, where, written):
        return  # nothing named, or a variable DECL003 reports
    binary = decl.path.parent / written
    link = _dangling_link(binary)
    if link is not None or not no_binary(decl.sink, binary, where):
        near = None if link is not None else close_sibling(binary, skip=_binary_names(decl, binary))
        if near is not None:  # "not built yet" of a mistyped name sent its author to build again
            message = f"{binary} is not there, but {near} is beside it: the checks of the binary did not run"
            named = Path(written).parent / near
            hint = f"Set so to {named} if that is the module; or validate again once {written} is built."
        else:
            shown = f"{binary} (a link to {link!r})" if link is not None else str(binary)
            message, hint = f"{shown} is not built yet: the checks of the binary did not run", NOT_BUILT_HINT
        decl.sink.add("DECL010", where, message, hint, source_path=True)


def _binary_names(decl: Declarations, beside: Path) -> set[str]:
    """The names of the binaries the declarations name ([build] so, each target's) in the folder
    of `beside`: builds of other targets, never a typo of its name."""
    written = [decl.so] + [t.expand(t.so) for t in decl.targets if t.so]
    paths = [decl.path.parent / w for w in written if w]
    return {p.name for p in paths if p.parent == beside.parent}


def empty_so(decl: Declarations, target: Target, sink: Sink, *, missing_said: bool = False) -> None:
    """SCH004 for a [[targets]] entry's `so = ""`; SCH001 for one it leaves out, unless the
    schema check said it already (`missing_said`)."""
    entries = decl.raw.get("targets")
    entry = entries[target.index] if isinstance(entries, list) and target.index < len(entries) else None
    where = f"targets[{target.index}].so"
    if isinstance(entry, dict) and "so" in entry:
        sink.add("SCH004", where, "so is empty", "Name the target's module binary.", source_path=True)
    elif not missing_said:
        sink.add(
            "SCH001", where, f"`{where}` is missing", "Name the target's module binary.", source_path=True
        )


def _dangling_link(path: Path) -> str | None:
    """What a symbolic link at `path` points to when that is not there (a link into a build folder
    not built yet, as a fresh clone has it); None for anything else, a loop of links included."""
    try:
        path.stat()
    except FileNotFoundError:
        try:
            return str(path.readlink())
        except (OSError, ValueError):
            return None  # no link: nothing at all is there
    except (OSError, ValueError):
        pass
    return None


def no_binary(sink: Sink, binary: Path, where: str) -> bool:
    """IN001 at `where` (an `so` key) when `binary` names something that is there and is no
    regular file; False when there is nothing (not built yet) or a regular file."""
    try:
        if not os.path.lexists(binary) or binary.is_file():
            return False
    except (OSError, ValueError):
        pass  # a name too long, a parent that cannot be read: not_a_file says which
    from modpack.regular import not_a_file

    sink.add(
        "IN001",
        where,
        f"{binary} {not_a_file(binary)}: no module binary",
        "Name the module's .so (a regular file) here.",
        source_path=True,
    )
    return True


def _load_declared(decl: Declarations, so: Path | None, settings: Settings) -> None:
    """Load for declarations that may name no binary: LOAD025 (or LOAD024) when they name none."""
    binary = so if so is not None else _declared_binary(decl)
    if binary is not None:
        from functools import partial

        from modpack.checks.load import check_load_of
        from modpack.ramp.edits import packed_from

        # A ramp.yml that lists no commands (RAMP reads them from the module) is compared as packed,
        # where every command the module registers was "registered, but not declared" (LOAD017);
        # one that lists them is built from them without --discover, and compared as written.
        listed = decl.kind == "ramp" and isinstance(decl.module.get("commands"), list)
        packed = partial(packed_from, decl) if decl.kind == "ramp" and not listed else None
        from modpack.ramp.reader import discovery_words

        # a ramp.yml's module is loaded as RAMP's discovery loads it, which may need its own arguments
        args = discovery_words(decl) if decl.kind == "ramp" else None
        check_load_of(
            binary,
            decl.module,
            decl.sink,
            settings,
            packed=packed,
            args=args,
            server_options=decl.server_options,
        )
        return
    if decl.kind == "ramp":
        why = f"{decl.path.name} names no module binary: RAMP takes the .so on its command line"
        import shlex

        # the path as given, quoted: the name alone named another file (or none) from the folder
        # validate ran in, as a pre-commit hook's repository root for a module's sub/ramp.yml
        shown = shlex.quote(str(decl.path))
        hint = f"Validate the .so (or the bundle) with it: modpack validate --load {shown} MODULE.so"
    else:
        why = f"{decl.path.name} names no module binary that exists ([build] so is {decl.so or 'not set'})"
        hint = "Set `so` under [build] to the built .so, or validate the bundle or the .so with --load."
    _nothing_loaded(decl, settings, why, hint)


def _nothing_loaded(decl: Declarations, settings: Settings, why: str, hint: str) -> None:
    if settings.load_if_available:
        decl.sink.add("LOAD024", "", f"nothing was loaded: {why}", hint)
    else:
        decl.sink.add("LOAD025", "", f"--load: nothing was loaded: {why}", hint)


def _declared_binary(decl: Declarations) -> Path | None:
    """[build] so as a path, when it names an existing file (a bad path is not this check's job)."""
    if not decl.so or _unexpanded(decl, "build.so", decl.so):
        return None
    try:
        path = decl.path.parent / decl.so  # as the user sees it: findings name this path
        return path if path.is_file() else None
    except (OSError, ValueError):
        return None


def validate_declarations(
    path: Path, settings: Settings | None = None, *, binary_beside: bool = False, so: Path | None = None
) -> list[Finding]:
    from modpack import manifests

    settings = settings or Settings()
    decl = manifests.load(path)
    effective = settings._replace(load=settings.load or decl.settings.load)
    targets = _target_findings(decl, effective) if decl.targets else []
    check_declarations(decl, effective, so=so if decl.kind == "ramp" else None, binary_beside=binary_beside)
    found = decl.sink.resolved()
    said = {f.identity for f in found}
    for target, finding in targets:
        if finding.identity not in said:
            said.add(finding.identity)
            found.append(_of_target(finding, target))
    return found


def _of_target(finding: Finding, target: Target | None) -> Finding:
    """A target's finding placed outside its entry (VER007 at [module] min_redis_version against
    the target's compatible_redis_version) names the target: with several, which one was unsaid.
    None: the finding names its targets itself."""
    if target is None or finding.location.path.startswith(f"targets[{target.index}]"):
        return finding
    return finding._replace(message=f"{finding.message} (for [[targets]] {target.name!r})")


def _target_findings(decl: Declarations, settings: Settings) -> list[tuple[Target | None, Finding]]:
    """What `build --all` says of each [[targets]] entry whose binary exists: its ELF against the
    target's platform, its file name. validate checked only [build] so, so a target's binary
    for the wrong architecture passed every pre-commit run and failed the release build. Loading
    (--load) stays with [build] so where there is one: a target is usually for another machine;
    without it each target's binary is loaded, as `build --all` loads it."""
    from modpack.declarations import target_variables
    from modpack.regular import is_file

    # Loaded only without [build] so, as build --all loads each target: else [build] so is the
    # module loaded, and a target is usually for another machine.
    quiet = settings._replace(load=False, load_if_available=False) if decl.so else settings
    found: list[tuple[Target | None, Finding]] = []
    built: list[tuple[Target, Path]] = []
    for target in decl.targets:
        if not target.so:  # build --all read it as the folder the file is in
            empty_so(decl, target, decl.sink, missing_said=True)
            continue
        written = target.expand(target.so)
        if not written or _unexpanded(decl, f"targets[{target.index}].so", written):
            continue
        binary = decl.path.parent / written
        if is_file(binary):
            found += [(target, finding) for finding in declared_findings(decl, binary, quiet, target)]
            built.append((target, binary))
        elif all(target.values()[v] for v in target_variables(target.so)):  # else DECL003 says it
            _not_built(decl, written, f"targets[{target.index}].so")
    if not decl.so and not built and (settings.load or settings.load_if_available):
        _nothing_loaded(  # --load with targets alone, none of them built: it loaded nothing, exit 0
            decl,
            settings,
            f"{decl.path.name} names no module binary that exists ([build] so is not set, and no"
            " [[targets]] entry's so is built)",
            "Build the [[targets]] binaries (or set `so` under [build]), or validate the bundles or the"
            " .so files with --load.",
        )
    return found + [(None, finding) for finding in _shared_names(decl, built, settings)]


def _shared_names(decl: Declarations, built: list[tuple[Target, Path]], settings: Settings) -> list[Finding]:
    """DECL011 for a [[targets]] entry whose bundle would have the name an earlier entry's has:
    `build --all` refuses it, where validate and the pre-commit hook passed the file. Judged only
    for targets whose binary exists, since the name may take their architecture and OSes from it."""
    from modpack.declarations import module_for
    from modpack.elf import ElfError, read_elf
    from modpack.loadability import fill_platform
    from modpack.naming import DEFAULT_NAME, output_name

    template = decl.output or DEFAULT_NAME
    if _unexpanded(decl, "build.output", template):
        return []  # an environment variable, which DECL003 judges
    sink = Sink(str(decl.path), decl.sink.lines)
    first: dict[str, Target] = {}
    for target, binary in built:
        module = module_for(decl.module, target)  # the fields a name takes, as build fills them
        try:
            fill_platform(module, read_elf(binary))
            name = output_name(template, module, target.name, bundle=True)
        except (ElfError, UsageError):
            continue  # not a module (its ELF findings), or a template the check above refuses
        earlier = first.setdefault(name, target)
        if earlier is not target and earlier.name != target.name:  # one name twice is DECL008's
            say_shared_name(sink, target, earlier, name)
    return select(sink.resolved(), settings)


def say_shared_name(sink: Sink, target: Target, earlier: Target, name: str) -> None:
    """DECL011 at a [[targets]] entry whose bundle has the name an earlier entry's has: validate
    and `build --all` say it alike."""
    sink.add(
        "DECL011",
        f"targets[{target.index}]",
        f"[[targets]] {target.name!r} would write the bundle {name!r}, as [[targets]]"
        f" {earlier.name!r} does: `modpack build --all` refuses the second",
        "Put {target} in [build] output, or give the targets different operating_systems or architecture.",
        source_path=True,
    )


def declared_findings(
    decl: Declarations, so: Path, settings: Settings, target: Target | None = None
) -> list[Finding]:
    """What `modpack validate` says of the declarations with this binary (and this target's
    platform and versions), as `settings` select: what `build` checks before it packs."""
    from dataclasses import replace

    from modpack.declarations import module_for

    sink = decl.sink.copy()
    module = module_for(decl.module, target)
    if target is not None:
        sink.mapper = in_target(sink.mapper, target, target.index)
    view = replace(decl, sink=sink, so=str(so.resolve()), module=module)
    check_declarations(view, settings, so=so, named=so, target=target)  # findings name the binary as given
    return select(sink.resolved(), settings)


def in_target(mapper: PathMapper, target: Target, index: int) -> PathMapper:
    """A finding about a value the target gives (its operating_systems, architecture, Redis
    versions) is placed at the target's entry, where it was written, not at [platform] or [module]."""
    from modpack.declarations import TARGET_FIELDS

    given = {key for key in TARGET_FIELDS if getattr(target, key) is not None}

    def mapped(path: str) -> str:
        key = path.split(".", 1)[0].split("[", 1)[0]
        return f"targets[{index}].{path}" if key in given else mapper(path)

    return mapped


# --- bundles and binaries ---------------------------------------------------------------------


def validate_binary(path: Path, settings: Settings | None = None) -> list[Finding]:
    """Static checks of a .so; with `settings.load` it is loaded too (nothing to compare with)."""
    from modpack.checks.elf import check_binary

    settings = settings or Settings()
    sink = Sink(str(path))
    elf_info = check_binary(path, sink, module=None)
    if settings.load:
        from modpack.checks.load import check_load_of

        check_load_of(path, None, sink, settings, elf_info)
    return sink.resolved()


class BundleVerdict(NamedTuple):
    """What validating a bundle found: its module.json (None when unreadable) and the findings."""

    module: Module | None
    findings: list[Finding]


def validate_bundle(path: Path, settings: Settings | None = None) -> BundleVerdict:
    """Every check of a bundle: its module.json (when readable) and the findings."""
    from modpack import bundle
    from modpack.checks import bundle as bundle_checks

    settings = settings or Settings()
    sink = Sink(str(path))
    with bundle.opened(path, sink) as layout:
        if layout is None:
            return BundleVerdict(None, sink.resolved())
        module, module_findings, lines = bundle_checks.check_module_json(path, layout)
        findings = sink.resolved() + module_findings
        findings += bundle_checks.check_binary_member(path, layout, module, settings, lines)
    return BundleVerdict(module, findings)
