"""Packing as RAMP packs: module.json from a ramp.yml, the command line and the loaded module.

`modpack ramp-pack`: RAMP's `ramp pack` options over modpack's checks and deterministic zip.
It ends as `modpack build ramp.yml` does (modpack.ramp.edits.finish_module).

RAMP's precedence is kept (ramp.md §1): defaults < manifest < command line < what the loaded
module reports (name, version, commands) < `-n`, and so are its defaults, so a script that ran
`ramp pack` needs only the one-word change. Its defects are not kept: nothing is evaluated, the
version is an integer, architecture comes from the binary, an override or exclusion that matches
nothing is an error, --dependencies works (RAMP iterates the characters of the JSON string), and
there is no silent "7.4" for compatible_redis_version (VER006 warns instead).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

from modpack.builder import BuildResult, build
from modpack.declarations import Declarations
from modpack.errors import FindingsError, UsageError
from modpack.findings import Finding, Location, Severity, Sink
from modpack.naming import template_fields
from modpack.ramp.edits import finish_module

if TYPE_CHECKING:
    from modpack.config import Settings
    from modpack.types import JSON, Module

# One `ramp pack` option as click gives it: a text, a flag, the texts of a repeated option, or
# None when not given.
RampOption: TypeAlias = "str | bool | tuple[str, ...] | None"

# RAMP -o fields (a str.format over its metadata; `os` is "Linux" there unless -O gives another,
# not the distributions).
OUTPUT_FIELDS = ("module_name", "display_name", "os", "architecture", "semantic_version", "version")

# What findings about the options are reported against when no -m manifest was given.
NO_MANIFEST = "ramp-pack options"
# Command-line options taking JSON objects, and the module.json key each fills.
_JSON_OPTIONS = {"dependencies": "dependencies", "optional_dependencies": "optional-dependencies"}


@dataclass
class RampOptions:
    module_so: Path
    manifest: Path | None
    output: str
    options: dict[str, RampOption]


class RampPacked(NamedTuple):
    """The bundle written (or, with -P, that would be), and its path as RAMP formats -o: the
    folder spelt as given, its fields filled (`./x.zip` stays `./x.zip`, where Path says `x.zip`),
    which --packname-file holds and -P prints."""

    result: BuildResult
    formatted: str


def ramp_pack(request: RampOptions, *, dry_run: bool = False, force: bool = False) -> RampPacked:
    decl, module = _read(request)
    # [validate] select/ignore of the project, as `modpack build ramp.yml` and discover apply them:
    # the nearest modpack.toml to the manifest, or to the module without one
    from modpack.config import settings_near

    settings = settings_near(request.manifest or request.module_so)
    _pack_discovered(decl, module, request)
    folder, slash, template = _split_output(request.output)
    name_template = _as_modpack_template(template, decl.module)
    preview: Module | None = None
    if dry_run or "{" in folder:
        from modpack.builder import assemble, read_facts

        preview = assemble(decl, request.module_so, read_facts(request.module_so))
    folder = _formatted_folder(folder, decl.module, preview)
    directory = Path(folder or slash or ".")  # "/x.zip" is in /
    if dry_run:
        from modpack.naming import output_name

        assert preview is not None
        result = BuildResult(directory / output_name(name_template, preview), preview, "")
    else:
        result = _write(decl, request.module_so, directory, name_template, force=force, settings=settings)
    return RampPacked(result, f"{folder}{slash}{result.path.name}")


def _read(request: RampOptions) -> tuple[Declarations, Module]:
    """The manifest (or none), and the module.json fields it and the options give, checked."""
    from modpack.ramp import reader

    if request.manifest is not None:
        _refuse_other_kinds(request.manifest, request.module_so)
    decl = (
        reader.load(request.manifest)
        if request.manifest
        else Declarations(Path(NO_MANIFEST), "ramp", Sink(NO_MANIFEST))
    )
    if request.manifest is not None:
        fatal = [f for f in decl.sink.resolved() if f.code in ("IN001", "IN004", "DECL007")]
        if fatal:
            raise FindingsError(f"{request.manifest} cannot be read", fatal)
    module = dict(decl.module)  # RAMP's defaults fill what is left out (finish_module)
    _apply_command_line(module, request.options, decl.sink)
    decl.given = frozenset(k for k, v in request.options.items() if v is not None and v != ())
    if request.manifest is not None:
        # The manifest's own checks, as build and validate of it run them, of what is packed (the
        # options replace its values): its entries are said where it writes them, at
        # overide_command[0], not at the commands[1] they pack into, and none is left out.
        from dataclasses import replace

        decl.discovered = True  # RAMP's way: the module gives its name, version and commands
        start = len(decl.sink.findings)
        reader.check(replace(decl, module=module))
        decl.sink.findings[start:] = [_at_option(f, decl.given) for f in decl.sink.findings[start:]]
    return decl, module


def _pack_discovered(decl: Declarations, module: Module, request: RampOptions) -> None:
    """decl.module: what the loaded module registers, with RAMP's command edits applied."""
    from modpack.redis.compare import report_registered_defects
    from modpack.redis.discover import discover, module_json_commands
    from modpack.redis.servers import minimum_version

    shaped = [f for f in decl.sink.resolved() if f.code == "DECL013"]  # redis_args RAMP cannot start
    if shaped:
        raise FindingsError(f"{decl.path}: RAMP's discovery cannot be run as written", shaped)
    load_args = _load_arguments(decl, module)
    # a server not older than -r (min_redis_version) when there is one: a module that needs a
    # newer Redis refuses to load on an older one
    found = discover(
        request.module_so,
        load_args,
        minimum=minimum_version(module),
        server_options=decl.server_options,
    )
    report_registered_defects(decl.sink, found, request.module_so)
    given_name = request.options.get("module_name")
    module["module_name"] = given_name if isinstance(given_name, str) and given_name else found.module_name
    module["semantic_version"] = found.semantic_version
    module["version"] = found.module_version
    start = len(decl.sink.findings)
    try:
        finish_module(decl, module, module_json_commands(found))
    except FindingsError as refused:  # an edit -E, --overide-command or --add-command gave
        moved = _at_fields([_at_option(f, decl.given) for f in refused.findings], str(decl.path), decl.given)
        places = list(dict.fromkeys(f.location.file for f in moved if f.severity is Severity.ERROR))
        where = places[0] if len(places) == 1 else f"{decl.path} and the {NO_MANIFEST}"
        raise FindingsError(f"{where}: RAMP's command edits cannot be applied", moved) from None
    decl.sink.findings[start:] = [_at_option(f, decl.given) for f in decl.sink.findings[start:]]


def _load_arguments(decl: Declarations, module: Module) -> list[str]:
    """What RAMP's discovery loads the module with, as words: --runcmdargs when given (empty too),
    else the manifest's run_command_line_args, and command_line_args when that gives none
    (packer.py: the options fill the metadata over the manifest, skipping only None and [], then
    `cmd_line_args if cmd_line_args else metadata["command_line_args"]`, evaluated either way).
    {os.getenv('X')} is read as X's value; a value that cannot be read (an unset variable, any
    other f-string field) stops here, before a module is loaded with its raw text. The words are
    split on white space: RAMP sends `MODULE LOAD {path} {args}` as one string, which its Redis
    client splits so (quotes are characters there, not quoting)."""
    key = "run_command_line_args"
    if key in decl.given:  # the option replaces the manifest's value, which RAMP then never reads
        decl.sink.findings[:] = [f for f in decl.sink.findings if f.location.path != key]
        text = _evaluated(str(module.pop(key, "")), "--runcmdargs")
    else:
        text = _readable(decl, key, decl.load_args)
    if not text:
        if "command_line_args" in decl.given:
            text = _evaluated(str(module.get("command_line_args") or ""), "-c")
        else:
            text = _readable(decl, "command_line_args", str(module.get("command_line_args") or ""))
    return text.split()


def _readable(decl: Declarations, key: str, text: str) -> str:
    """The manifest's `key` as read (`text`), or a refusal when it could not be (DECL002, DECL003)."""
    if key in decl.opaque:
        said = [f for f in decl.sink.resolved() if f.location.path == key]
        raise FindingsError(
            f"{decl.path}: the module's load arguments ({key}) cannot be read, so it was not loaded", said
        )
    return text


def _evaluated(value: str, option: str) -> str:
    """An option's value as RAMP's discovery evaluates it: {os.getenv('X')} (or ${X}) read."""
    from modpack.envvars import from_getenv, getenv_fields, substitute_env
    from modpack.ramp.reader import unevaluated_field

    sink = Sink(NO_MANIFEST)
    sink.getenv = dict.fromkeys(getenv_fields({option: value}), True)  # RAMP reads them too
    read = from_getenv(value)
    text = substitute_env(read, sink, option)
    if sink.unexpanded:
        raise FindingsError(f"{option} cannot be read, so the module was not loaded", sink.resolved())
    field = unevaluated_field(read)
    if field:
        raise UsageError(
            f"{option} {value!r} holds {field}, a Python f-string field: ramp pack evaluates it, and"
            " modpack evaluates no code",
            "Write the value itself; {os.getenv('NAME')} (or ${NAME}) is read from the environment.",
        )
    return text


def _write(
    decl: Declarations, so: Path, directory: Path, name_template: str, *, force: bool, settings: Settings
) -> BuildResult:
    """The bundle, with the manifest's own findings (an unknown key, which RAMP names too: `unknown
    attribute`) said with the bundle's, as `modpack build ramp.yml` says them."""
    from modpack.builder import refusal
    from modpack.validate import select

    said = select(decl.sink.resolved(), settings)
    manifest = str(decl.path)
    try:
        result = build(
            decl,
            so,
            directory,
            name_template=name_template,
            force=force,
            declared=said,
            settings=settings,
            any_name=True,  # RAMP's -o names any file
        )
    except FindingsError as refused:
        moved = _at_fields(refused.findings, manifest, decl.given)
        raise FindingsError(refusal(moved) if moved else str(refused), moved) from None
    result.findings = _at_fields(result.findings, manifest, decl.given)
    return result


# What to run instead when -m names a file of another kind (by its name, as validate tells kinds).
# Not .json: RAMP reads -m with a YAML parser, and JSON is YAML, so a JSON manifest is RAMP's too.
# The paths are shell-quoted ({path}, {so}): `modpack build my module/modpack.toml` was two
# arguments. The modpack.toml is built with the .so ramp-pack was given: a bare `modpack build` of
# a file without [build] so refuses ("no module binary to build from").
_INSTEAD = {
    "modpack.toml": "To build from modpack.toml, run `modpack build {path} --so {so}`.",
    "bundle": "To check a bundle, run `modpack validate {path}`.",
    "binary": "Pass the module .so as the argument, and its ramp.yml with -m.",
}


def _refuse_other_kinds(manifest: Path, module_so: Path) -> None:
    """-m takes RAMP's YAML manifest; a modpack.toml given there was read as YAML, and the user
    got a syntax error about a file that is fine."""
    import shlex

    from modpack.sources import kind_of

    kind = kind_of(manifest)
    if kind in _INSTEAD:
        raise UsageError(
            f"-m takes RAMP's manifest (a ramp.yml), not a {kind}: {manifest}",
            _INSTEAD[kind].format(path=shlex.quote(str(manifest)), so=shlex.quote(str(module_so))),
        )


def _at_option(finding: Finding, given: frozenset[str]) -> Finding:
    """A finding of a value an option gave, placed at that option (`--add-command[0].flags[0]`, in
    the ramp-pack options), not at a line of the manifest, which does not hold it."""
    key = re.split(r"[.\[]", finding.location.path, maxsplit=1)[0]
    if key not in _ENTRY_OPTIONS:  # a field's own finding stays where the bundle's checks say it
        return finding  # too (moved, VER008 of -r was said twice), at the field: _at_fields
    option = next((o for o in given if _MODULE_KEYS.get(o, o) == key), None)
    if option is None:
        return finding
    path = f"--{option.replace('_', '-')}{finding.location.path[len(key) :]}"
    return finding._replace(location=Location(NO_MANIFEST, path))


def _at_fields(findings: list[Finding], manifest: str, given: frozenset[str]) -> list[Finding]:
    """The findings of a field an option set (-r 7, -C types,resharding), said at the ramp-pack
    options rather than at the manifest's line, which holds another value or none ("ramp.yml:9
    [min_redis_version] ... '7'" where line 9 reads "7.0"). Once, after the bundle's checks and the
    manifest's have said it at the field and the two were made one."""
    fields = {_MODULE_KEYS.get(o, o) for o in given} - _ENTRY_OPTIONS
    return [
        f._replace(location=Location(NO_MANIFEST, f.location.path))
        if f.location.file == manifest and re.split(r"[.\[]", f.location.path, maxsplit=1)[0] in fields
        else f
        for f in findings
    ]


# Options giving command entries (--overide-command, --add-command: one per entry), whose
# findings the bundle's checks say at the packed command instead, with another index.
_ENTRY_OPTIONS = frozenset({"overide_command", "add_command"})
# The module.json key an option sets where its name is another.
_MODULE_KEYS = {"os_name": "os", **_JSON_OPTIONS}


def _apply_command_line(module: Module, options: dict[str, RampOption], sink: Sink) -> None:
    from modpack.ramp.reader import normalize_dependencies

    for key, value in options.items():
        if value is None or value == () or key in ("module_name", "redis_args"):
            continue
        if isinstance(value, tuple):  # overide_command and add_command, the options given once per entry
            entries: list[JSON] = [_json_entry(key, v) for v in value]
            module[key] = entries
        elif key in _JSON_OPTIONS and isinstance(value, str):
            target = _JSON_OPTIONS[key]
            module[target] = normalize_dependencies(_json_value(key, value), target, sink)
        elif key in {"capabilities", "exclude_commands"} and isinstance(value, str):
            # RAMP splits on commas and takes a set (ramp.md §2.1): a name given twice is one
            module[key] = list(dict.fromkeys(c.strip() for c in value.split(",") if c.strip()))
        elif key == "os_name":
            module["os"] = value
        else:
            module[key] = value


_COMMAND_EXAMPLE = (
    '\'{"command_name": "mymodule.cmd", "command_arity": 2, "flags": ["readonly"], "first_key": 1,'
    ' "last_key": 1, "step": 1}\''
)
_DEPENDENCIES_EXAMPLE = '\'{"NAME": {"url": "https://example.com/NAME.tgz", "sha256": "<64 hex digits>"}}\''


def _json_hint(option: str, how: str) -> str:
    """`how` a value of `option` is written, with an example in single quotes (the shell keeps it whole)."""
    example = _COMMAND_EXAMPLE if option in _ENTRY_OPTIONS else _DEPENDENCIES_EXAMPLE
    return f"{how}, e.g. --{option.replace('_', '-')} {example}"


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 80 else repr(text[:80]) + "..."  # the whole value was echoed


def _json_value(option: str, text: str) -> JSON:
    shown = _shown(text)
    try:
        value: JSON = json.loads(text)
        return value
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--{option.replace('_', '-')} {shown} is not JSON: {exc.msg} at character {exc.pos + 1}",
            _json_hint(
                option, "Write the value as JSON in single quotes, its names and strings in double quotes"
            ),
        ) from exc
    except RecursionError:  # an internal error before
        raise UsageError(f"--{option.replace('_', '-')} {shown} is nested too deeply") from None


def _json_entry(option: str, text: str) -> Module:
    value = _json_value(option, text)
    if not isinstance(value, dict) or "command_name" not in value:
        what = "has no command_name" if isinstance(value, dict) else "is not a JSON object"
        raise UsageError(
            f"--{option.replace('_', '-')} {_shown(text)} {what}: each one gives one command, an object"
            " with command_name",
            _json_hint(
                option, f"Give one command object per --{option.replace('_', '-')} (repeat it for more)"
            ),
        )
    return value


def _split_output(output: str) -> tuple[str, str, str]:
    """-o as its folder (as given, "" for none), the "/" after it (if any) and its file name template."""
    return output.rpartition("/")


def _formatted_folder(folder: str, given: Module, preview: Module | None) -> str:
    """-o's folder with its fields filled as RAMP fills the whole of -o (`output.format(...)`,
    ramp.md §2 step 12): `-o out/{architecture}/x.zip` went to a folder named `{architecture}`."""
    if preview is None or "{" not in folder:
        return folder
    values = {k: preview.get(k, "") for k in ("module_name", "architecture", "semantic_version", "version")}
    return _as_modpack_template(folder, given).format(**values)


def _check_fields(template: str) -> None:
    for _, name, spec, conversion in template_fields(template, "-o"):
        if name is not None and (name not in OUTPUT_FIELDS or spec or conversion):
            raise UsageError(
                f"-o {template!r} uses {{{name}}}", "Use " + ", ".join(f"{{{f}}}" for f in OUTPUT_FIELDS)
            )


def _as_modpack_template(template: str, module: Module) -> str:
    """RAMP's `{os}` is the os its metadata holds ("Linux" unless given), `{display_name}` a literal
    too, and `{version}` a float's text (10203.0); the rest are fields
    modpack's writer fills once the binary has been read (architecture comes from the ELF header)."""
    _check_fields(template)
    parts = []
    for literal, name, _, _ in template_fields(template, "-o"):
        parts.append(literal.replace("{", "{{").replace("}", "}}"))
        if name in ("os", "display_name"):
            # RAMP's metadata: `os` is "Linux" unless -O or the manifest gives another
            value = str(module.get("os", "Linux")) if name == "os" else str(module.get("display_name", ""))
            parts.append(value.replace("{", "{{").replace("}", "}}"))
        elif name == "version":
            # RAMP's version is MODULE LIST's `ver` as a float (commands_discovery.py: float(m['ver'])),
            # which -o formats as 10203.0; module.json gets the integer
            parts.append("{version}.0")
        elif name is not None:
            parts.append("{" + name + "}")
    return "".join(parts)
