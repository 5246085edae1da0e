"""`modpack discover`: load a module into a disposable redis-server and list what it registers.

Unlike RAMP (ramp.md §6), discovery lists subcommands (`parent|sub`), keeps the key specs and
COMMAND DOCS fields Redis 7 reports, sorts the commands by name so every run prints the same thing,
passes module arguments as separate words (never through eval), and has timeouts everywhere.

Output is modpack.toml `[[commands]]` tables, JSON, or module.json `commands[]` entries; `--write`
merges the tables into an existing modpack.toml with tomlkit, keeping the user's other keys,
comments and formatting.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from modpack.errors import ModpackError, UsageError
from modpack.records import (
    excluded_by,
    folded_name,
    recorded,
    unmatched_exclusion,
    unregistered_exclusions,
)
from modpack.redis import compare, model
from modpack.redis.harness import COMMAND_TIMEOUT, HarnessError, RedisServer, ReplyError, command_names
from modpack.redis.model import CommandInfo, Discovery
from modpack.regular import is_file, not_a_file
from modpack.types import JSON, Module

if TYPE_CHECKING:
    import tomlkit.items

    from modpack.declarations import Declarations

JSON_FORMAT_VERSION = 1


def split_args(text: str) -> list[str]:
    """Module arguments as words, with shell-style quoting (`--args "a 'b c'"` gives a, b c)."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        message = f"cannot split the module arguments {text!r}: {exc}"
        raise UsageError(message, "Balance the quotes.") from None


def discover(
    so_path: Path,
    args: Sequence[str] = (),
    redis_server: str | None = None,
    *,
    timeout: float = COMMAND_TIMEOUT,
    redis_version: str | None = None,
    target: str | None = None,
    minimum: tuple[str, str] | None = None,
    server_options: Sequence[str] = (),
) -> Discovery:
    """Start a disposable redis-server (with `server_options`, --name value words: a ramp.yml's
    redis_args), load the module, and read what it registered.

    The server is one of the module's architecture (an emulated one for a module of another
    architecture, modpack.redis.servers), `redis_version` when given, else the one closest to
    `target` (the Redis the module is for) of those not older than `minimum` (the key and value
    of servers.minimum_version). A load that fails on an older one says so (the module may need
    the Redis it names)."""
    from modpack import elf
    from modpack.redis import servers
    from modpack.redis.harness import ModuleLoadError

    if not is_file(so_path):  # the module to load: a usage error (2), as build and publish say it
        raise UsageError(f"{so_path} {not_a_file(so_path)}", "Pass the compiled module (.so).")
    try:  # a text file was told to chmod +x, and a truncated one crashed redis-server (SIGBUS)
        architecture = elf.read_elf(so_path).architecture
    except elf.ElfError as exc:
        raise ModpackError(
            f"{so_path} cannot be loaded: {exc.message}",
            "Pass the compiled module (.so); `modpack validate` lists what is wrong with this file.",
        ) from None
    spec = servers.choose(
        architecture,
        target=target,
        wanted=redis_version,
        explicit=redis_server,
        subject=so_path.name,
        minimum=minimum[1] if minimum is not None else None,
    )
    with RedisServer(spec=spec, timeout=timeout, options=tuple(server_options)) as server:
        try:
            return discover_with(server, so_path, args)
        except ModuleLoadError as exc:
            from modpack.redis.loadlog import with_missing_api, with_taken_names

            older = servers.older_redis_failure(exc.failure, server, minimum)
            # nothing declared says which commands the module registers (build --discover loads a
            # module whose commands are not declared)
            raise ModuleLoadError(older or with_taken_names(with_missing_api(exc.failure))) from None


def discover_with(server: RedisServer, so_path: Path, args: Sequence[str] = ()) -> Discovery:
    """Load the module into a running server (one that has not loaded it yet) and read it back."""
    if not is_file(so_path):
        raise ModpackError(f"{so_path} {not_a_file(so_path)}")
    path = so_path.resolve()
    modern = server.version_tuple >= (7, 0, 0)
    names_before = command_names(server, modern)
    modules_before = model.parse_module_list(server.call("MODULE", "LIST"))
    server.load_module(path, args)
    name, version = _new_module(model.parse_module_list(server.call("MODULE", "LIST")), modules_before)
    visible = command_names(server, modern)
    added = sorted(visible - names_before)
    commands = _command_infos(server, added)
    described = {c.name.lower() for c in commands}
    if modern:
        commands = _with_docs(server, commands)
    internal = _internal_commands(server, name, visible) if server.version_tuple >= (8, 0, 0) else []
    return Discovery(
        so_path=str(so_path),
        redis_version=server.version,
        module_name=name,
        module_version=version,
        args=tuple(args),
        commands=tuple(sorted(commands, key=lambda c: (c.name.lower(), c.name))),
        redis_origin=server.spec.summary if server.spec is not None else "",
        internal=tuple(sorted(internal, key=lambda c: (c.name.lower(), c.name))),
        undescribed=tuple(name for name in added if name.lower() not in described),
    )


def _internal_commands(server: RedisServer, module: str, visible: set[str]) -> list[CommandInfo]:
    """The module's commands registered with the `internal` flag (Redis 8.0+), which COMMAND hides
    from every connection but an internal one (keyspecs.md §1.6, §1.8; redis-server 8.0.2 answers
    nil to COMMAND INFO of one). `DEBUG MARK-INTERNAL-CLIENT` makes this connection internal; it
    needs enable-debug-command, which the disposable server has. Without it, none are found."""
    try:
        server.call("DEBUG", "MARK-INTERNAL-CLIENT")
    except ReplyError:
        return []
    hidden = sorted(command_names(server, True) - visible)
    if not hidden:
        return []
    docs = model.parse_docs(server.call("COMMAND", "DOCS", *hidden))
    own = [name for name in hidden if docs.get(name, {}).get("module") == module]
    # an internal container's subcommands come with it, and one not flagged internal is not hidden
    # (COMMAND LIST names it, and any client can call it: redis-server 8.0.2)
    infos = [info for info in _command_infos(server, own) if info.name not in visible]
    return _with_docs(server, infos)


def _new_module(after: dict[str, int], before: dict[str, int]) -> tuple[str, int]:
    added = [(name, ver) for name, ver in after.items() if name not in before]
    if len(added) != 1:
        raise HarnessError(f"MODULE LIST shows {len(added)} new modules after MODULE LOAD, expected 1")
    return added[0]


def _command_infos(server: RedisServer, names: list[str]) -> list[CommandInfo]:
    if not names:
        return []
    reply = model.as_list(server.call("COMMAND", "INFO", *names), "COMMAND INFO")
    found: dict[str, CommandInfo] = {}
    for entry in reply:
        if entry is None:
            continue  # one COMMAND INFO cannot look up (Discovery.undescribed), or one hidden
        for info in model.parse_command_info(entry):
            found.setdefault(info.name, info)
    return list(found.values())


def _with_docs(server: RedisServer, commands: list[CommandInfo]) -> list[CommandInfo]:
    if not commands:
        return []
    docs = model.parse_docs(server.call("COMMAND", "DOCS", *(c.name for c in commands)))
    return [_replace_docs(c, docs.get(c.name, {})) for c in commands]


def _replace_docs(info: CommandInfo, docs: dict[str, str]) -> CommandInfo:
    return replace(info, docs=docs)


# --- module.json --------------------------------------------------------------------------------


def module_json_commands(discovery: Discovery, include_subcommands: bool = False) -> list[Module]:
    """module.json `commands[]` entries, as RAMP writes them (RAMP never lists subcommands)."""
    return [c.as_module_json() for c in discovery.selected(include_subcommands)]


def fill_commands(
    decl: Declarations, so_path: Path, redis_server: str | None = None, *, redis_version: str | None = None
) -> Discovery:
    """`modpack build --discover`: the module's own commands, when the declarations have none,
    less those [module] exclude_commands leaves out (records.unmatched_exclusion for a name the
    module does not register, as RAMP's edits and `validate --load` say it), then the [[commands]]
    tables add_command names (a plugin registers them), as RAMP appends its add_command entries.

    Proved by a redis-server of the module's architecture, closest to the Redis it targets."""
    from modpack.redis.servers import minimum_version, target_version

    args = decl.module.get("command_line_args")
    discovery = discover(
        so_path,
        split_args(args) if isinstance(args, str) else (),
        redis_server,
        redis_version=redis_version,
        target=target_version(decl.module),
        minimum=minimum_version(decl.module),
    )
    # The module was loaded: a name or version it does not register would be refused by the
    # bundle's own `validate --load` (and by Redis Enterprise when it loads the module by name).
    for difference in compare.identity(decl.module, discovery, toml=decl.kind == "toml"):
        decl.sink.report(difference)
    compare.report_registered_defects(decl.sink, discovery, so_path)
    registered = {c.name.casefold() for c in discovery.commands}
    # LOAD028 (info), as `validate --load` says it: a name a build of the module lacks is harmless,
    # and build refuses what validate refuses (DECL004 here stopped a build validate passed)
    for index, name in unregistered_exclusions(decl.module, registered):
        decl.sink.add("LOAD028", f"exclude_commands[{index}]", unmatched_exclusion(name))
    added = decl.module.get("add_command")  # the entries of the tables it names: a plugin's commands
    entries = added if isinstance(added, list) else []
    claimed = recorded(decl.module, "add_command")
    for name in sorted(c.name for c in discovery.commands if c.name.casefold() in claimed):
        decl.sink.add(
            "DECL004",
            "add_command",
            f"add_command names {name!r}, which the module registers itself",
            "Remove it from add_command (and its [[commands]] table): --discover declares what the"
            " module registers.",
        )
    left_out = recorded(decl.module, "exclude_commands")
    commands: list[JSON] = [
        *(c for c in module_json_commands(discovery) if folded_name(c) not in left_out),
        *(e for e in entries if folded_name(e) not in registered),
    ]
    decl.module["commands"] = commands
    return discovery


# --- JSON ---------------------------------------------------------------------------------------


def as_json(discovery: Discovery, include_subcommands: bool = True) -> dict[str, JSON]:
    return {
        "format_version": JSON_FORMAT_VERSION,
        "redis_version": discovery.redis_version,
        "redis": discovery.redis_origin,
        "module": {
            "name": discovery.module_name,
            "version": discovery.module_version,
            "semantic_version": discovery.semantic_version,
            "file": discovery.so_path,
            "args": list(discovery.args),
        },
        "commands": [c.as_json() for c in discovery.selected(include_subcommands)],
        "undescribed_commands": list(discovery.undescribed),
    }


def to_json(discovery: Discovery, include_subcommands: bool = True) -> str:
    return json.dumps(as_json(discovery, include_subcommands), indent=2) + "\n"


# --- TOML ---------------------------------------------------------------------------------------


def to_toml(discovery: Discovery, include_subcommands: bool = True) -> str:
    """`[[commands]]` tables, with each command's key specs as comments (the schema has no key)."""
    import tomlkit

    document = tomlkit.document()
    document.add(tomlkit.comment(_provenance(discovery)))
    left_out = [c.name for c in discovery.commands if c.is_subcommand and not include_subcommands]
    if left_out:
        document.add(tomlkit.comment(f"Left out: {_subcommands_left_out(left_out)}"))
    if discovery.undescribed:
        document.add(tomlkit.comment(f"Left out: {compare.undescribed_names(discovery)} (see LOAD030)"))
    document.add(tomlkit.nl())
    tables = tomlkit.aot()
    for info in discovery.selected(include_subcommands):
        tables.append(_new_table(info, with_key_specs=True))
    if not tables:  # tomlkit writes an empty array of tables as `commands = []`, above the comments
        document.add(tomlkit.comment("It registers no command."))
        return tomlkit.dumps(document)
    document.add("commands", tables)
    return tomlkit.dumps(document)


def _subcommands_left_out(names: list[str]) -> str:
    return f"the subcommands {', '.join(names)} (RAMP lists none, see CMD022; --subcommands includes them)"


def _provenance(discovery: Discovery) -> str:
    args = f" {shlex.join(discovery.args)}" if discovery.args else ""
    module = f"{discovery.module_name} {discovery.semantic_version} ({discovery.module_version})"
    origin = f" ({discovery.redis_origin})" if discovery.redis_origin else ""
    return (
        f"Commands {module} registers on redis-server {discovery.redis_version}{origin}, "
        f"from {Path(discovery.so_path).name}{args}"
    )


def _new_table(info: CommandInfo, *, with_key_specs: bool = False) -> tomlkit.items.Table:
    import tomlkit

    table = tomlkit.table()
    if with_key_specs:
        for spec in info.key_specs:
            table.add(tomlkit.comment(f"key spec: {spec.describe()}"))
    for key, value in info.as_table().items():
        table.add(key, value)
    return table


@dataclass
class WriteSummary:
    """What `write_toml` did to each command, by name."""

    path: Path
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_registered: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # registered, named in [module] exclude_commands
    subcommands: list[str] = field(default_factory=list)  # registered subcommands not written
    undescribed: str = ""  # the registered commands COMMAND INFO does not describe, not written
    identity: list[str] = field(default_factory=list)  # [module] name or version Redis contradicts
    args_differ: str = ""  # what [module] command_line_args keeps, when --args said otherwise
    written: bool = False
    redis_version: str = ""
    notes: list[str] = field(default_factory=list)  # a new file's, as `modpack init` says them

    def describe(self) -> str:
        """One paragraph for people: what changed, and what was kept."""
        groups = (("added", self.added), ("updated", self.updated), ("unchanged", self.unchanged))
        counts = ", ".join(f"{len(items)} {label}" for label, items in groups if items) or "no commands"
        from modpack.reporters import shown_path

        state = "wrote" if self.written else "unchanged:"
        text = f"{state} {shown_path(self.path)} ({counts}; redis-server {self.redis_version})"
        for note in self.notes:
            text += f"\n  {note}"
        if self.excluded:
            text += f"\nleft out, as [module] exclude_commands says: {', '.join(self.excluded)}"
        if self.subcommands:
            text += f"\nleft out: {_subcommands_left_out(self.subcommands)}"
        if self.undescribed:
            text += f"\nleft out: {self.undescribed} (see LOAD030)"
        for problem in self.identity:
            text += f"\nkept as [module] says, though the module disagrees: {problem}"
        if self.args_differ:
            text += f"\n{self.args_differ}"
        if self.removed:
            text += f"\nremoved, not registered by the module: {', '.join(self.removed)}"
        elif self.not_registered:
            text += (
                f"\nkept, although the module does not register them: {', '.join(self.not_registered)} "
                "(--prune removes them)"
            )
        return text


def refuse_other_target(path: Path, so_path: Path) -> None:
    """--write merges into a modpack.toml: a RAMP manifest, a module.json or a bundle there is a
    usage error naming `modpack init`, which converts it, before any module is loaded (it said
    "cannot merge into ramp.yml: TOML syntax error ... Fix the file first", of a valid manifest)."""
    lowered = path.name.lower()
    kinds = {
        ".yml": "a RAMP manifest",
        ".yaml": "a RAMP manifest",
        ".json": "a module.json",
        ".zip": "a bundle",
    }
    kind = next((k for suffix, k in kinds.items() if lowered.endswith(suffix)), None)
    if kind is None:
        return
    into = f" {shlex.quote(str(path.with_name('modpack.toml')))}" if path.parent != Path() else ""
    convert = f"modpack init{into} --from {shlex.quote(str(path))}"
    if kind == "a RAMP manifest":
        hint = f"Convert it with the commands discovered: `{convert} --discover {shlex.quote(str(so_path))}`."
    else:
        hint = f"Convert it with `{convert}`, then give the modpack.toml written to --write."
    raise UsageError(f"--write takes a modpack.toml, not {path} ({kind})", hint)


def write_toml(
    path: Path,
    discovery: Discovery,
    *,
    include_subcommands: bool = True,
    prune: bool = False,
    new_file: Callable[[], tuple[str, list[str]]] | None = None,
) -> WriteSummary:
    """Merge the discovered commands into modpack.toml (created when missing), atomically.

    A missing file starts as `new_file` gives it (its text, without commands, and the notes
    to say of it: `modpack discover --write` gives the file `modpack init --discover` writes, so
    that it validates), else as [module] name and semantic_version only.

    A declared command is updated only in the fields that disagree with Redis (after the same
    normalisation `validate --load` uses), so the user's spelling and comments stay; a negative
    step (a routing policy) is never replaced. Declared commands the module does not register are
    kept unless `prune`. RAMP's records under [module] hold: a command exclude_commands names is
    not written, and one add_command names (a plugin registers it) is kept even with `prune`.
    The arguments the module was loaded with are a new file's command_line_args (every node
    loads it with them); an existing file's are kept, and said when they differ.
    """
    import tomlkit

    old_text = _read_existing(path)
    load_args = shlex.join(discovery.args)  # as they were given, quoting and all
    summary = WriteSummary(path, redis_version=discovery.redis_version)
    if discovery.undescribed:
        summary.undescribed = compare.undescribed_names(discovery)
    if old_text is not None:  # with a line end after its last line, where the tables go
        document = _parse(path, old_text if old_text.endswith("\n") else f"{old_text}\n")
    elif new_file is not None:
        start, summary.notes = new_file()
        document = _parse(path, start)
    else:
        document = _new_document(discovery, load_args)
    _merge(document, discovery, include_subcommands, prune, summary)
    summary.identity = [
        f"{d.message}; {d.hint[:1].lower()}{d.hint[1:]}"
        for d in compare.identity(_declared_identity(document), discovery, toml=True)
    ]
    declared_args = _declared_args(document)
    if old_text is not None and load_args and declared_args != load_args:
        summary.args_differ = (
            f"kept [module] command_line_args = {declared_args!r}, though the module was discovered"
            f" with --args {load_args!r}: every node loads it with command_line_args; set it there if"
            " it needs them"
        )
    new_text = tomlkit.dumps(document).rstrip("\n") + "\n"
    if new_text != old_text:
        atomic_write(path, new_text)
        summary.written = True
    return summary


def _declared_identity(document: tomlkit.TOMLDocument) -> Module:
    """[module] name and semantic_version as module.json's module_name and version, read as a
    build reads them (modpack_toml.identity_of)."""
    from modpack.modpack_toml import identity_of

    return identity_of(_module_table(document))


def _declared_args(document: tomlkit.TOMLDocument) -> str:
    given = _module_table(document).get("command_line_args")
    return given if isinstance(given, str) else ""


def _module_table(document: tomlkit.TOMLDocument) -> dict[str, JSON]:
    """[module] as plain data ({} when there is no such table)."""
    import tomlkit.items

    module = document.get("module")
    return module.unwrap() if isinstance(module, tomlkit.items.Table) else {}


def _read_existing(path: Path) -> str | None:
    from modpack.regular import MAX_TEXT_FILE, NotUtf8Text, decode_utf8, hint_for, read_regular

    try:
        raw = read_regular(path, MAX_TEXT_FILE)  # a FIFO named modpack.toml would block a plain read
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ModpackError(f"cannot read {path}: {exc.strerror or exc}", hint_for(exc)) from None
    if len(raw) > MAX_TEXT_FILE:
        raise ModpackError(f"{path} is larger than {MAX_TEXT_FILE // (1024 * 1024)} MiB")
    try:
        return decode_utf8(raw, str(path))
    except NotUtf8Text as exc:
        raise ModpackError(exc.message, exc.hint) from None


def _parse(path: Path, text: str) -> tomlkit.TOMLDocument:
    import tomlkit
    import tomlkit.exceptions

    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.TOMLKitError as exc:  # ParseError; KeyAlreadyPresent for a key twice
        import tomllib

        try:  # which says where: tomlkit's "Key "name" already exists." did not
            tomllib.loads(text)
            why = str(exc)
        except tomllib.TOMLDecodeError as located:
            why = str(located)
        message = f"cannot merge into {path}: TOML syntax error: {why}"
        hint = "Fix the file first: --write merges into a modpack.toml (`modpack init` converts other files)."
        raise ModpackError(message, hint) from None


def _new_document(discovery: Discovery, load_args: str) -> tomlkit.TOMLDocument:
    import tomlkit

    document = tomlkit.document()
    module = tomlkit.table()
    module.add("name", discovery.module_name)
    module.add("semantic_version", discovery.semantic_version)
    if load_args:  # a module whose OnLoad needs them fails on every node without
        module.add("command_line_args", load_args)
    document.add("module", module)
    return document


def _merge(
    document: tomlkit.TOMLDocument,
    discovery: Discovery,
    include_subcommands: bool,
    prune: bool,
    summary: WriteSummary,
) -> None:
    import tomlkit

    tables, before = _command_tables(document)
    declared: dict[str, tomlkit.items.Table] = {}
    for table in tables:
        name = table.get("name")
        if isinstance(name, str):
            declared.setdefault(name.lower(), table)
    redis = discovery.redis_version_tuple
    excluded, added = _named(document, "exclude_commands"), _named(document, "add_command")
    summary.subcommands = [
        c.name
        for c in discovery.commands
        if c.is_subcommand and not include_subcommands and c.name.lower() not in declared
    ]
    for info in discovery.selected(include_subcommands):
        if excluded_by(info.name, excluded):
            summary.excluded.append(info.name)
            continue
        table = declared.get(info.name.lower())
        if table is None:
            table = _new_table(info)
            table.add(tomlkit.nl())  # a blank line before whatever follows
            _append(tables, table, before)
            summary.added.append(info.name)
        elif _update(table, info, redis):
            summary.updated.append(info.name)
        else:
            summary.unchanged.append(info.name)
    registered = {c.name.lower() for c in discovery.commands}
    stale = [t for key, t in declared.items() if key not in registered and key not in added]
    summary.not_registered = [str(t.get("name")) for t in stale]
    if prune:
        for table in stale:
            tables.remove(table)
        summary.removed = list(summary.not_registered)


def _named(document: tomlkit.TOMLDocument, key: str) -> set[str]:
    """The command names (case-folded) a [module] list of RAMP's records gives."""
    import tomlkit.items

    module = document.get("module")
    return recorded(module.unwrap(), key) if isinstance(module, tomlkit.items.Table) else set()


def _command_tables(document: tomlkit.TOMLDocument) -> tuple[tomlkit.items.AoT, str]:
    """The [[commands]] tables, and the text before them when there are none yet (the file)."""
    import tomlkit
    import tomlkit.items

    tables = document.get("commands")
    before = ""
    if tables is None:
        before = tomlkit.dumps(document)
        tables = tomlkit.aot()
        document.add("commands", tables)
    if not isinstance(tables, tomlkit.items.AoT):
        raise ModpackError(
            "commands is not written as [[commands]] tables, so it cannot be merged",
            "Rewrite it as [[commands]] tables, or remove it and run again.",
        )
    return tables, before


def _append(tables: tomlkit.items.AoT, table: tomlkit.items.Table, first: str) -> None:
    """Append `table` with one blank line above it: tomlkit puts none after a file or a table that
    ends without one (`[[commands]]` right under `semantic_version = ...`), and adds one more
    after a table that ends with one. `first` is the text before the first of the tables."""
    above = tables[-1].as_string() if len(tables) else first
    tables.append(table)
    table.trivia.indent = "" if not above or above.endswith("\n\n") else "\n"


def _update(table: tomlkit.items.Table, info: CommandInfo, redis: tuple[int, ...]) -> bool:
    """Set the fields that disagree with Redis; True when anything changed."""
    current = table.unwrap()
    entry = {
        "command_arity": current.get("arity"),
        "flags": current.get("flags", []),
        **{key: current.get(key, 0) for key in compare.KEY_FIELDS},
    }
    changes: dict[str, int | list[str]] = {}
    if "arity" not in current or compare.arity_differs(entry["command_arity"], info, redis):
        changes["arity"] = info.arity
    if any(compare.flag_differences(entry["flags"], info, redis)):
        changes["flags"] = list(info.flags)
    step = compare.as_int(entry["step"])
    if not (step is not None and step < 0) and compare.triple_differs(entry, info, redis):
        changes.update(first_key=info.first_key, last_key=info.last_key, step=info.step)
    for key, value in changes.items():
        table[key] = value
    return bool(changes)


def atomic_write(path: Path, text: str) -> None:
    """Write beside `path` and rename over it, keeping its mode (modpack.atomic)."""
    from modpack.atomic import write_text

    write_text(path, text)
