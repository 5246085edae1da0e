"""RAMP's ramp.yml, read strictly where RAMP is lax (ramp.md §4, §11).

RAMP copies known keys verbatim, warns on unknown ones, keeps the last of duplicate keys, packs
with defaults after a YAML error and evaluates `{...}` as a Python f-string. Here a YAML error,
a duplicate key and a template value are findings with line numbers, nothing is evaluated, and
`${VAR}` is expanded explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, cast

from modpack import locate, schema
from modpack.checks import commands as command_checks
from modpack.checks import metadata
from modpack.checks.numbers import report_floats
from modpack.declarations import Declarations
from modpack.envvars import getenv_as_variables, getenv_fields, substitute_env
from modpack.findings import PathMapper, Sink
from modpack.regular import decode_manifest
from modpack.sources import read_text

if TYPE_CHECKING:
    import yaml

    from modpack.findings import Finding
    from modpack.types import JSON, Module

# The keys of RAMP's create_default_metadata() (ramp.md §4), 2.5.19 included.
RAMP_KEYS = frozenset(
    [
        "module_name",
        "module_file",
        "os",
        "architecture",
        "version",
        "semantic_version",
        "display_name",
        "capability_name",
        "author",
        "email",
        "description",
        "homepage",
        "license",
        "command_line_args",
        "run_command_line_args",
        "capabilities",
        "dependencies",
        "optional-dependencies",
        "min_redis_version",
        "min_redis_pack_version",
        "compatible_redis_version",
        "bigstore_version_2_support",
        "sha256",
        "speedb_git_sha",
        "commands",
        "ramp_format_version",
        "config_command",
        "exclude_commands",
        "overide_command",
        "add_command",
        "crdb",
        "redis_args",
        "operating_systems",
    ]
)
# The keys only a RAMP manifest has: RAMP_KEYS less those any YAML may have (version, name-like
# fields). A ramp*.yml with none of them is some other file (modpack.unrelated).
MANIFEST_KEYS = RAMP_KEYS - {
    "version",
    "description",
    "license",
    "os",
    "architecture",
    "author",
    "email",
    "homepage",
    "dependencies",
    "sha256",
}
# What `ramp pack` writes when neither the manifest nor the command line sets it: RAMP's
# create_default_metadata() (ramp.md §2.1). Left out: empty strings for the descriptive fields
# (modpack writes none rather than ""), values modpack computes from the binary (sha256,
# architecture, operating_systems), and compatible_redis_version's "7.4" (VER006 warns instead).
RAMP_DEFAULTS: Mapping[str, JSON] = MappingProxyType(
    {
        "command_line_args": "",
        "capabilities": [],
        "min_redis_version": "4.0",
        "min_redis_pack_version": "5.2",
    }
)


def with_defaults(module: Module) -> Module:
    """`module` over RAMP_DEFAULTS (defaults < manifest < command line, ramp.md §1), each default
    a fresh copy."""
    import copy

    return {**copy.deepcopy(dict(RAMP_DEFAULTS)), **module}


# The `ramp pack` option of each defaulted version (ramp.md §2), named in the note below.
_VERSION_DEFAULTS = {"min_redis_version": "-r", "min_redis_pack_version": "-R"}


def named_defaults(findings: list[Finding], module: Module, written: Collection[str]) -> list[Finding]:
    """A finding at a version RAMP's default fills (not `written` by the manifest or an option,
    the default's value in `module`) says so: "min_redis_version '4.0' and ..." named a value
    nobody wrote."""
    defaulted = {
        key: option
        for key, option in _VERSION_DEFAULTS.items()
        if key not in written and module.get(key) == RAMP_DEFAULTS[key]
    }
    noted = []
    for finding in findings:
        # at the version itself, or naming it ("... does not load on Redis 4.0, its min_redis_version")
        key = next(
            (k for k in defaulted if finding.location.path == k or f"its {k}" in finding.message), None
        )
        note = (
            f" ({key} {RAMP_DEFAULTS[key]!r} is RAMP's default, which ramp pack writes when nothing sets"
            f" it: set it in the manifest, or with {defaulted[key]})"
            if key is not None
            else ""
        )
        noted.append(finding._replace(message=finding.message + note) if note else finding)
    return noted


# RAMP overwrites these with what the loaded module reports (ramp.md §1).
DISCOVERED_KEYS = ("module_name", "version", "semantic_version", "commands")
# Pack-time keys that never reach module.json.
PACK_ONLY_KEYS = frozenset({"run_command_line_args", "redis_args"})
_TEMPLATE = re.compile(r"\{\{[^}]*\}\}|\{[^{}]*\}")


def load(path: Path) -> Declarations:
    sink = Sink(str(path))
    decl = Declarations(path, "ramp", sink)
    text = read_text(path, sink, decode=decode_manifest)
    if text is None:
        return decl
    if len(text) > MAX_MANIFEST:
        sink.add(
            "IN004", "", f"the manifest is {len(text)} bytes; a ramp.yml is a few KiB (limit {MAX_MANIFEST})"
        )
        return decl
    held, placeholders = hold_placeholders(text)
    node = _compose(held, sink)
    if node is None:
        return decl
    lines = {restore_text(p, placeholders): line for p, line in locate.yaml_lines(node).items()}
    sink.lines = locate.resolver(lines)
    data = _construct(node, sink)
    if data is _UNREADABLE:
        return decl
    if not isinstance(data, dict):
        sink.add("DECL007", "", f"the manifest is {_a_yaml(data)}, not a mapping of keys")
        return decl
    # Still the mapping checked above: restore() rebuilds it with the same keys. Its values are
    # JSON (_json_loader builds no other type); a key may be a YAML number or null, so code that
    # needs a key's name takes str(key).
    data = cast("dict[str, JSON]", restore(data, placeholders))
    decl.raw = data  # as written: init --from carries values from it, unexpanded
    # RAMP's f-string field `{os.getenv('X')}` reads the variable `${X}` reads (ramp.md §3.4; real
    # manifests use it for a dependency's local_path): read as that, not as code modpack never runs.
    sink.getenv = {field: _CONSUMED.fullmatch(field[0]) is not None for field in getenv_fields(data)}
    _check_ramp_reading(data, sink)
    data = cast("dict[str, JSON]", getenv_as_variables(data))
    broken = bool(placeholders) and _breaks_yaml(text)
    if broken:
        _report_template(text, sink)
    decl.opaque = set(_templated_paths(data, ""))
    _check_keys(data, sink)
    _check_templates(data, sink, "", braces=not broken)
    # RAMP evaluates a `{...}` value as an f-string: what it becomes is unknown here, so DECL002
    # is its one finding, as for placeholders.
    decl.opaque |= {f.location.path for f in sink.findings if f.code == "DECL002"}
    data, unread = _substitute_read_values(data, sink)
    # A value whose ${VAR} is unset is as unknown as a placeholder: DECL003 is its one finding.
    decl.opaque |= unread | sink.unexpanded
    decl.load_args = _discovery_arguments(data.get("run_command_line_args"), sink)
    if "redis_args" in data:
        decl.server_options = _server_options(data["redis_args"], sink)
    decl.module = _module(data, sink)
    return decl


# Keys whose value is not expanded: RAMP takes `version` from the loaded module, and modpack uses a
# manifest `version` only when it is an integer, which a ${VAR} string never is (prepare_build);
# redis_args are options of the redis-server RAMP's discovery starts, which RAMP passes as written
# (ramp.md §1 step 4), and so does modpack's discovery (server_options).
_UNREAD_KEYS = frozenset({"version", "redis_args"})


def _discovery_arguments(value: JSON, sink: Sink) -> str:
    """run_command_line_args (expanded) as the text of the module's arguments for discovery, or ""
    when it gives none: RAMP then loads the module with command_line_args (packer.py: `cmd_line_args
    if cmd_line_args else metadata["command_line_args"]`, so 0, false and an empty list give none
    too). RAMP formats it with "%s" before evaluating it, so a number is its digits; a list or a
    mapping would load the module with Python's text of it."""
    if not value:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    sink.add(
        "DECL013",
        "run_command_line_args",
        f"run_command_line_args is {_a_yaml(value)}, not the text of the module's arguments",
        "Write the arguments as one string, as in command_line_args.",
    )
    return ""


def discovery_words(decl: Declarations) -> list[str]:
    """The words RAMP's discovery loads the module of a ramp.yml with: run_command_line_args, else
    command_line_args, as read (ramp-pack's options aside: pack._load_arguments), split on white
    space as RAMP's `MODULE LOAD {path} {args}` string is (quotes are characters there)."""
    return (decl.load_args or str(decl.module.get("command_line_args") or "")).split()


def _server_options(value: JSON, sink: Sink) -> tuple[str, ...]:
    """redis_args as redis-server's command-line words: RAMP starts its discovery server with
    `--key value` for each entry (disposableredis: `('--%s' % k, v) for k, v in extra_args.items()`).
    RAMP stops with a TypeError on anything but a mapping of texts; modpack takes a number as its
    digits and true/false as yes/no, which is what a redis.conf line of them means, and says that
    ramp pack stops there (DECL012)."""
    if not isinstance(value, dict):
        sink.add(
            "DECL013",
            "redis_args",
            f"redis_args is {_a_yaml(value)}, not a mapping of redis-server options",
            "Write one `option: value` line per redis-server option (maxmemory: 100mb), or leave"
            " redis_args out.",
        )
        return ()
    words: list[str] = []
    for key, item in value.items():
        where = locate.join("redis_args", str(key))
        if isinstance(item, bool | int | float):
            text = ("yes" if item else "no") if isinstance(item, bool) else str(item)
            # RAMP hands the value to Popen as it is, which takes only text (disposableredis)
            sink.add(
                "DECL012",
                where,
                f"`ramp pack` stops with a TypeError on redis_args.{key}: YAML reads it as a"
                f" {'boolean' if isinstance(item, bool) else 'number'}, not text; modpack passes {text!r}",
                f"Quote the value ({key}: {text!r}): both then pass it as written.",
            )
        elif isinstance(item, str):
            text = item
        else:
            sink.add(
                "DECL013",
                where,
                f"redis_args.{key} is {_a_yaml(item)}: a redis-server option takes one value here",
                "Give the option one value (RAMP passes it as one word after --OPTION).",
            )
            continue
        words += [f"--{key}", text]
    return tuple(words)


def _substitute_read_values(data: dict[str, JSON], sink: Sink) -> tuple[dict[str, JSON], set[str]]:
    """${VAR} expanded everywhere, but DECL003 only where the value is read: an unknown key
    (DECL006) or `version` (DECL005) is ignored whatever it holds, and its own finding says so.
    FalkorDB's `version: ${SEMVER}` and `semantic-version: ${SEMVER}` are two such values.
    Returns the data and the paths of unread values left unexpanded (held opaque, so no type
    finding follows for the raw text)."""
    result: dict[str, JSON] = {}
    unread = Sink(sink.file)
    for key, value in data.items():
        name = str(key)
        read = name in RAMP_KEYS and name not in _UNREAD_KEYS
        result[key] = substitute_env(value, sink if read else unread, name)
    return result, {f.location.path for f in unread.findings}


# `{{NAME}}` placeholders that build scripts expand before RAMP runs (ramp.md §3.4: RedisAI and
# RedisGears expand them with readies' xtx). One on its own as a key or value is not YAML.
_PLACEHOLDER = re.compile(r"\{\{[^{}\n]*\}\}")
_HELD = re.compile(r"__modpack_placeholder_(\d+)__")


def hold_placeholders(text: str) -> tuple[str, list[str]]:
    """The text with each `{{...}}` swapped for a plain token, so the rest can be read as YAML."""
    found: list[str] = []

    def swap(match: re.Match[str]) -> str:
        found.append(match.group())
        return f"__modpack_placeholder_{len(found) - 1}__"

    return _PLACEHOLDER.sub(swap, text), found


def restore_text(text: str, placeholders: list[str]) -> str:
    """Put the placeholders back into one string."""
    if not placeholders:
        return text
    return _HELD.sub(lambda m: placeholders[int(m.group(1))], text)


def restore(value: object, placeholders: list[str]) -> object:
    """Put the placeholders back, in keys and values: they stay opaque strings."""
    if not placeholders:
        return value
    if isinstance(value, str):
        return restore_text(value, placeholders)
    if isinstance(value, list):
        return [restore(v, placeholders) for v in value]
    if isinstance(value, dict):
        return {restore(k, placeholders): restore(v, placeholders) for k, v in value.items()}
    return value


def _breaks_yaml(text: str) -> bool:
    """True when the text as written (placeholders included) is not a readable YAML mapping."""
    import yaml

    if "{{" not in text:
        return False
    loader = _json_loader()(text)  # a SafeLoader: JSON types only
    try:
        return not isinstance(loader.get_single_data(), dict)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return True
    finally:
        loader.dispose()


def _report_template(text: str, sink: Sink) -> None:
    """One finding for a template manifest, at the first placeholder YAML cannot read."""
    written = [(n, line) for n, line in enumerate(text.splitlines(), 1) if not line.lstrip().startswith("#")]
    rows = [(n, line) for n, line in written if _PLACEHOLDER.search(line)]
    bare = [(n, line) for n, line in rows if _BARE_PLACEHOLDER.search(line)]
    line_number, line = (bare or rows)[0]
    shown = _PLACEHOLDER.search(line)
    count = sum(len(_PLACEHOLDER.findall(row)) for _, row in rows)
    sink.add(
        "IN004",
        "",
        f"{shown.group() if shown else '{{...}}'} is a template placeholder: this file is a template "
        f"that a build script expands before packing ({count} placeholders), so as written it is not "
        "YAML; the rest was checked with each placeholder held as an opaque string",
        "Validate the manifest the build script writes, not its template (`ramp pack` reads no"
        " ${VAR} either: DECL012).",
        line=line_number,
    )


# A placeholder where YAML reads `{` as the start of a flow mapping: a whole key or a whole value.
_BARE_PLACEHOLDER = re.compile(r"^\s*(?:-\s+)?\{\{|:\s+\{\{")


def _templated_paths(value: object, path: str) -> list[str]:
    """Paths of the values that hold a placeholder: what they stand for is unknown until expanded."""
    if isinstance(value, str):
        return [path] if _PLACEHOLDER.search(value) else []
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _templated_paths(v, locate.join(path, i))]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _templated_paths(v, locate.join(path, str(k)))]
    return []


MAX_MANIFEST = 256 * 1024
MAX_DEPTH = 64  # real manifests nest 3 levels; deeper is crafted (and recursion-hungry)
MAX_NODES = 100_000


def _compose(text: str, sink: Sink) -> yaml.Node | None:
    """The node tree, after a linear pass over the events refused aliases and absurd shapes."""
    import yaml

    # RAMP reads the manifest with PyYAML's pure-Python reader (yaml.load, FullLoader: ramp.md §1
    # step 2), and libyaml differs from it: it takes tabs after a value or before a comment, a `?`
    # in a plain scalar inside [...] or {...}, `key: |#`, which PyYAML refuses, and `ramp pack` then
    # packs its defaults for every field. The shape is checked on libyaml's events (fast, and the
    # guard against alias bombs), the tree composed as RAMP reads it.
    fast = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        try:
            problem, line = _shape_problem(yaml.parse(text, Loader=fast))
        except yaml.YAMLError:
            problem, line = _shape_problem(yaml.parse(text, Loader=yaml.SafeLoader))
        if problem:
            sink.add("IN004", "", problem, line=line)
            return None
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        hint = (
            "Indent and separate with spaces: YAML takes a tab only inside quotes, and `ramp pack`"
            " packs its defaults for every field of a manifest it cannot read."
            if "'\\t'" in problem
            else "Fix the YAML: `ramp pack` reads it with PyYAML, and it packs its defaults for every"
            " field of a manifest it cannot read."
        )
        sink.add("IN004", "", f"YAML syntax error: {problem}", hint, line=line)
        return None
    if node is None:
        sink.add("DECL007", "", "the manifest is empty")
    return node


@dataclass
class _Level:
    """An open collection of the document, its size and depth counted with aliases expanded."""

    anchor: str | None
    values: int = 1
    below: int = 0


def _shape_problem(events: Iterable[yaml.Event]) -> tuple[str, int | None]:
    """What the document would be, aliases expanded, when that is absurd: aliases can expand a few
    bytes into billions of nodes, or refer to a collection they are inside (a cycle). RAMP reads a
    manifest with yaml.FullLoader, which follows aliases (ramp.md §1 step 2), so an anchor used
    for a shared value is fine; its expanded size and depth are counted, never built."""
    import yaml

    anchored: dict[str, tuple[int, int]] = {}  # anchor -> (values, depth) of its node, expanded
    stack = [_Level(None, 0)]
    for event in events:
        problem = ""
        if isinstance(event, yaml.AliasEvent):
            anchor = str(event.anchor)
            if any(level.anchor == anchor for level in stack):
                problem = f"YAML alias *{anchor}{_at(event)} refers to a collection it is inside"
            else:
                problem = _added(stack, *anchored.get(anchor, (1, 0)), event)
        elif isinstance(event, yaml.CollectionStartEvent):
            stack.append(_Level(event.anchor))
            problem = _too_deep(len(stack) - 1, event)
        elif isinstance(event, yaml.CollectionEndEvent):
            done = stack.pop()
            if done.anchor is not None:
                anchored[done.anchor] = (done.values, done.below + 1)
            problem = _added(stack, done.values, done.below + 1, event)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                anchored[event.anchor] = (1, 0)
            problem = _added(stack, 1, 0, event)
        if problem:
            mark = getattr(event, "start_mark", None)
            return problem, mark.line + 1 if mark is not None else None
    return "", None


def _added(stack: list[_Level], values: int, depth: int, event: yaml.Event) -> str:
    """Count `values` (`depth` levels deep) into the open collection; the problem when too many."""
    stack[-1].values += values
    stack[-1].below = max(stack[-1].below, depth)
    if sum(level.values for level in stack) > MAX_NODES:
        return f"YAML document with more than {MAX_NODES} values, aliases expanded"
    return _too_deep(len(stack) - 1 + depth, event)


def _too_deep(depth: int, event: yaml.Event) -> str:
    return f"YAML nested deeper than {MAX_DEPTH} levels{_at(event)}" if depth > MAX_DEPTH else ""


def _at(event: yaml.Event) -> str:
    mark = getattr(event, "start_mark", None)
    return f" at line {mark.line + 1}" if mark is not None else ""


_UNREADABLE = object()  # _construct's answer when a finding already says why


_YAML_KINDS = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true or false"}


def _a_yaml(value: object) -> str:
    """What a YAML document is, said for people: 'a list' (DECL007 said 'the manifest is array')."""
    return "null" if value is None else _YAML_KINDS.get(type(value), schema.type_name(value))


def _construct(node: yaml.Node, sink: Sink) -> object:
    """Plain data from the node tree, with every duplicate mapping key reported."""
    import yaml

    _report_duplicates(node, sink, "")
    loader = _json_loader()("")
    try:
        return loader.construct_document(node)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        sink.add("IN004", "", f"YAML value cannot be read: {problem}", line=line)
        return _UNREADABLE
    finally:
        loader.dispose()


def _json_loader() -> type[yaml.SafeLoader]:
    """A safe loader that builds only JSON types: timestamps, binary and sets stay strings."""
    import yaml

    class JsonLoader(yaml.SafeLoader):
        pass

    def as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)
        message = f"unsupported YAML tag {node.tag}"
        raise yaml.constructor.ConstructorError(None, None, message, node.start_mark)

    for tag in ("timestamp", "binary", "set", "omap", "pairs"):
        JsonLoader.add_constructor(f"tag:yaml.org,2002:{tag}", as_text)
    return JsonLoader


def _report_duplicates(node: yaml.Node, sink: Sink, path: str) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = locate.join(path, key)
            merge = key_node.tag == "tag:yaml.org,2002:merge"  # `<<: *a`, `<<: *b`: merged, not replaced
            if key in seen and not merge:
                sink.add(
                    "IN006",
                    child,
                    f"key {key!r} appears again; RAMP keeps this last value",
                    line=key_node.start_mark.line + 1,
                )
            seen.add(key)
            _report_duplicates(value_node, sink, child)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _report_duplicates(item, sink, locate.join(path, index))


def _check_keys(data: dict[str, JSON], sink: Sink) -> None:
    for key in data:
        name = str(key)
        if name in DISCOVERED_KEYS:
            message = f"RAMP ignores {name!r} in a manifest and reads it from the loaded module"
            sink.add("DECL005", name, message)
        elif name not in RAMP_KEYS:
            hint = "" if sink.saturated("DECL006") else schema.did_you_mean(name, RAMP_KEYS)
            sink.add("DECL006", name, f"RAMP does not know the key {name!r}", hint)


# Values RAMP evaluates as f-strings and leaves out of module.json (ramp.md §1 step 4: popped before
# packing; §3.4: a dependency's local_path is archived, then removed). Anywhere else, command_line_args
# among them (§2.1: "Stored verbatim"; only its discovery evaluates it), a {os.getenv('X')} is packed
# as written, and Redis Enterprise passes that text to the module.
_CONSUMED = re.compile(r"run_command_line_args|dependencies(\..+|\[\d+\])\.local_path")
# The values RAMP evaluates as f-strings (ramp.md §2 step 4, §3.4): those, and the module's load
# arguments for its discovery. Every other value is copied as written (ramp.md §4: "known key ->
# value copied verbatim"), so a `{` in a description is text, not code. A dependency's name may
# hold dots (gears.v8).
_EVALUATED = re.compile(rf"command_line_args|{_CONSUMED.pattern}")


def unevaluated_field(text: str) -> str:
    """The first `{...}` f-string field in `text` (a value RAMP evaluates), "" when none: modpack
    reads only {os.getenv('NAME')}, which envvars.from_getenv has turned into ${NAME} already."""
    match = _TEMPLATE.search(text.replace("${", "$("))
    return match.group() if match else ""


def _check_templates(value: object, sink: Sink, path: str, *, braces: bool = True) -> None:
    """DECL002 for values RAMP would evaluate (a `{...}` field), and for `{{...}}` placeholders
    anywhere (build scripts expand them before RAMP runs) unless IN004 already said so."""
    if isinstance(value, str):
        text = value.replace("${", "$(")
        if not braces:
            text = _PLACEHOLDER.sub("", text)
        match = (_TEMPLATE if _EVALUATED.fullmatch(path) else _PLACEHOLDER).search(text)
        if match:
            kind = "template placeholder" if match.group().startswith("{{") else "Python f-string field"
            sink.add("DECL002", path, f"{match.group()!r} is a {kind}; modpack never evaluates it")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_templates(item, sink, locate.join(path, index), braces=braces)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_templates(item, sink, locate.join(path, str(key)), braces=braces)


# A ${NAME} modpack expands, as envvars reads it (no shell forms: those are DECL003's).
_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _check_ramp_reading(data: Mapping[str, JSON], sink: Sink) -> None:
    """DECL012 where `ramp pack` packs a value read as written otherwise than modpack does: a set
    ${NAME}, which RAMP never expands, and a value RAMP evaluates as an f-string that it cannot
    evaluate. An unset ${NAME} is DECL003's, a `{...}` field DECL002's."""
    # RAMP evaluates `run_command_line_args or command_line_args` (ramp.md §1 step 4), never
    # both, and overwrites the discovered keys with what the loaded module reports.
    skipped = {"command_line_args"} if data.get("run_command_line_args") else set()
    for key, value in data.items():
        name = str(key)
        if name in _PACKED_OR_READ:
            for path, text in locate.strings(value, name):
                _check_ramp_string(path, text, sink, evaluated=path not in skipped)
            for path, inner in _keys(value, name):  # a dependency's name: RAMP packs it as written
                _check_ramp_string(path, inner, sink, evaluated=False)


_PACKED_OR_READ = RAMP_KEYS - _UNREAD_KEYS - set(DISCOVERED_KEYS)


def _keys(value: object, path: str) -> Iterator[tuple[str, str]]:
    """Each string key nested in `value`, with its own path (`dependencies.${NAME}`)."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _keys(item, locate.join(path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            child = locate.join(path, str(key))
            if isinstance(key, str):
                yield child, key
            yield from _keys(item, child)


def _check_ramp_string(path: str, text: str, sink: Sink, *, evaluated: bool) -> None:
    import os

    evaluated = evaluated and _EVALUATED.fullmatch(path) is not None
    if evaluated and (broken := _fstring_error(text)):
        # RAMP runs eval('f"%s"' % value) (ramp.md §6, §12.6): a `"` ends the string, a lone brace
        # or a line break is no f-string, and `ramp pack` stops with a SyntaxError before discovery.
        sink.add(
            "DECL012",
            path,
            f"`ramp pack` evaluates {path} as a Python f-string, which this value is not ({broken}):"
            " it stops before packing anything",
            "Leave out double quotes and line breaks, and write {{ and }} for literal braces (modpack"
            " reads the value as written).",
        )
        return
    _check_getenv_packed(path, sink)
    names = [n for n in _VARIABLE.findall(text) if n in os.environ]  # an unset one is DECL003
    if not names:
        return
    shown = ", ".join(f"${{{n}}}" for n in names)
    if evaluated:
        said = f"`ramp pack` reads {{{names[0]}}} in {shown} as a Python name and stops (NameError)"
        hint = f"Write {{os.getenv('{names[0]}')}}, which both RAMP and modpack read from the environment."
        if path == "command_line_args":
            hint = (
                "Write the value itself: `ramp pack` packs command_line_args into module.json as written;"
                " give its discovery the environment's value in run_command_line_args, as"
                f" {{os.getenv('{names[0]}')}}."
            )
    else:
        said = f"`ramp pack` packs {shown} as written, where modpack expands it from the environment"
        hint = "If the file is packed with ramp pack too, write the value itself; modpack expands it."
    sink.add("DECL012", path, said, hint)


def _check_getenv_packed(path: str, sink: Sink) -> None:
    """DECL012 for a `{os.getenv('X')}` that `ramp pack` packs as written, where modpack reads X."""
    names = sorted(
        name for (where, name), evaluated in sink.getenv.items() if where == path and not evaluated
    )
    if not names:
        return
    shown = ", ".join(f"{{os.getenv('{n}')}}" for n in names)
    if path == "command_line_args":
        said = (
            f"`ramp pack` packs {shown} into module.json as written (only its discovery evaluates"
            f" command_line_args): Redis Enterprise loads the module with that text, where modpack"
            f" writes {names[0]}'s value"
        )
        hint = (
            "Write the value itself; a value only RAMP's discovery needs goes in run_command_line_args,"
            " which RAMP evaluates and leaves out of module.json."
        )
    else:
        said = f"`ramp pack` packs {shown} as written, where modpack reads {names[0]} from the environment"
        hint = "If the file is packed with ramp pack too, write the value itself; modpack expands it."
    sink.add("DECL012", path, said, hint)


def _fstring_error(text: str) -> str | None:
    """Why `f"<text>"` is no f-string on any Python RAMP runs on, or None: a double quote or a line
    break outside a {field} ends the string, a lone brace opens or closes nothing, a backslash last
    escapes the closing quote. Inside a field a double quote is Python 3.12's (PEP 701) and an
    error before it, so that is not said; `{os.getenv("X")}` reads X either way (envvars)."""
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char in "{}" and text.startswith(char * 2, index):
            index += 2  # {{ and }} are literal braces
            continue
        if char == "{":
            end = text.find("}", index + 1)
            if end < 0:
                return "a { that no } closes"
            index = end + 1
            continue
        if char == "}":
            return "a } that no { opens"
        if char == '"':
            return "a double quote, which ends the f-string"
        if char in "\r\n":
            return "a line break"
        index += 1
    trailing = len(text) - len(text.rstrip("\\"))
    return "a backslash last, which escapes the closing quote" if trailing % 2 else None


def module_as_written(decl: Declarations) -> Module:
    """The manifest's module.json fields before any ${VAR} is expanded (what init --from carries
    into modpack.toml, which expands them itself at build time); decl.module is after."""
    # raw is the parsed manifest: JSON values (_json_loader builds no other type), as `data` above
    return _module(cast("dict[str, JSON]", dict(decl.raw)), Sink(str(decl.path)))


def _module(data: dict[str, JSON], sink: Sink) -> Module:
    module = {k: v for k, v in data.items() if k in RAMP_KEYS and k not in PACK_ONLY_KEYS}
    for key in ("dependencies", "optional-dependencies"):
        if key in module:
            module[key] = normalize_dependencies(module[key], key, sink)
    return module


def normalize_dependencies(value: JSON, key: str, sink: Sink) -> JSON:
    """Both RAMP forms, a list of {name, url, sha256} or a {name: {url, sha256}} map, as a map."""
    if value is None:
        return {}
    if isinstance(value, list):
        result: dict[str, JSON] = {}
        for index, item in enumerate(value):
            if not isinstance(item, dict) or not isinstance(name := item.get("name"), str):
                # the list form's name is the key RAMP gives the dependency (ramp.md §3.4)
                sink.add(
                    "DEP001",
                    f"{key}[{index}]",
                    f"{key}[{index}] has no name",
                    f"Give the item a name (`name: NAME`): RAMP writes the dependency under it, and fails"
                    f" without one; or write {key} as a mapping, NAME: {{url: ..., sha256: ...}}.",
                )
                continue
            result[name] = {k: v for k, v in item.items() if k != "name"}
        return result
    return value


# What RAMP reads from the loaded module, whatever the manifest says (ramp.md §1 step 5).
DISCOVERED = frozenset({"module_name", "version", "semantic_version", "commands"})


def check(decl: Declarations) -> None:
    """What a ramp.yml declares, checked as module.json fields (nothing is required here). Built
    RAMP's way (`decl.discovered`), the fields the loaded module gives are not the manifest's to
    judge: they are not packed."""
    module, sink = decl.module, decl.sink
    if decl.discovered:
        module = {k: v for k, v in module.items() if k not in DISCOVERED}
    if not decl.raw:
        return
    start = len(sink.findings)
    present = {k: v for k, v in module.items() if k not in ("overide_command", "add_command")}
    for violation in schema.check(_without_local_dependencies(present), "module"):
        if violation.code == "VER005":  # a number: the fix says to quote it, as YAML reads 8.10 as 8.1
            fix = metadata.version_fix(violation.path, present.get(violation.path), sink)
            sink.report(violation._replace(hint=fix))
        elif violation.code not in ("SCH001", "SCH003"):
            sink.report(violation)
    # judged as packed: RAMP writes its default where the manifest sets no version (VER008 of
    # min_redis_version '4.0' against a compatible_redis_version of 7.0 was said by build alone)
    versions = Sink(sink.file, sink.lines, packed_version_place(decl, sink.mapper))
    packed = {**{k: RAMP_DEFAULTS[k] for k in _VERSION_DEFAULTS}, **_packed_version(decl, module), **module}
    metadata.check_versions(packed, versions)
    sink.extend(named_defaults(versions.resolved(), packed, {*decl.raw, *decl.given}))
    _check_default_compatible(module, sink)
    metadata.check_capabilities(module, sink)
    if "capabilities" not in module:
        # RAMP's default is [] (create_default_metadata, ramp.md §2.1): leaving the key out packs
        # what `capabilities: []` packs, as modpack.toml's own default does.
        sink.add("CAP004", "capabilities", "capabilities is missing: RAMP writes an empty list")
    metadata.check_platform(module, sink, in_bundle=False)
    # module_name and module_file name files on every node: `modpack build` (without --discover)
    # packs the manifest's own (SCH006 there passed validate, and build refused it)
    metadata.check_names(module, sink)
    metadata.check_dependencies(module, sink)
    _check_empty_lists(decl.raw, sink, decl.given)
    _check_dependency_urls(decl.raw, sink)
    _check_local_paths(module, decl.path.parent, sink)
    _check_command_entries(module, sink, decl.raw, discovered=decl.discovered)
    # Numbers RAMP copies into module.json verbatim: a YAML 3.0 would be written as 3.0.
    for key in ("commands", "overide_command", "add_command", "crdb"):
        if key in module:
            report_floats(module[key], sink, key)
    if decl.opaque:
        kept = [f for f in sink.findings[start:] if f.location.path not in decl.opaque]
        sink.findings[start:] = kept


def _packed_version(decl: Declarations, module: Module) -> Module:
    """The version `modpack build` (without --discover) packs from the manifest's semantic_version
    where the manifest gives no version (ramp.edits.prepare_build), so it is judged as packed:
    "0.0.0" packs version 0, which Redis Enterprise refuses (VER012), and validate passed it."""
    semantic = module.get("semantic_version")
    if decl.discovered or "version" in module or not isinstance(semantic, str):
        return {}
    from modpack.versions import encode, parse_semver

    parsed = parse_semver(semantic)
    return {"version": encode(*parsed)} if parsed is not None else {}


def packed_version_place(decl: Declarations, mapper: PathMapper) -> PathMapper:
    """`mapper`, but for the version build packs from the manifest's semantic_version (it writes no
    version of its own): said at semantic_version, where it is written, by validate and build alike."""
    if decl.discovered or "version" in decl.raw or "semantic_version" not in decl.raw:
        return mapper
    return lambda path: "semantic_version" if path == "version" else mapper(path)


def _check_local_paths(module: Module, base: Path, sink: Sink) -> None:
    """What the build says of each local_path it packs (DEP006), said where it is written: a
    folder holding a symlink or a FIFO, a symlink, a FIFO, a dependency name that cannot name
    deps/<name>.tgz (a .tgz is packed inside the archive, as RAMP packs it: its content is not
    read). validate said nothing of these, and build refused them.
    A path not there yet is DECL010 (its checks did not run), as one a build step makes may be,
    and the build's to refuse; a path RAMP evaluates as an f-string (DECL002) is never looked at."""
    deps = module.get("dependencies")
    for name, dep in sorted(deps.items()) if isinstance(deps, dict) else ():
        local = dep.get("local_path") if isinstance(dep, dict) else None
        path = base / local if isinstance(local, str) and local and "{" not in local else None
        if path is not None:  # not there yet: DECL010 says its checks did not run, as in modpack.toml
            from modpack.modpack_toml import check_local_archive

            check_local_archive(str(name), path, sink, required=False, place="", archive=False)


# What `ramp pack` 2.5.9 and later writes for a missing compatible_redis_version (ramp.md §2, §12.11).
_RAMP_COMPATIBLE = (7, 4)


def _check_default_compatible(module: Module, sink: Sink) -> None:
    """DECL012 for a min_redis_version above the "7.4" RAMP writes in compatible_redis_version's
    place: VER006 says the field is missing (modpack build leaves it out), but not that the bundle
    `ramp pack` makes then matches no database of the module's own minimum (RediSearch #7567 hit
    the default from the other side)."""
    from modpack.versions import parse_redis_version

    minimum = module.get("min_redis_version")
    if "compatible_redis_version" in module or not isinstance(minimum, str) or len(minimum) > 64:
        return
    low = parse_redis_version(minimum)
    if low is None or low[:2] == (99, 99) or low[:2] <= _RAMP_COMPATIBLE:
        return  # VER005 and VER010 say what is wrong with it
    shown = ".".join(map(str, _RAMP_COMPATIBLE))
    sink.add(
        "DECL012",
        "min_redis_version",
        f"`ramp pack` (2.5.9 and later) writes compatible_redis_version {shown!r} when nothing sets it,"
        f" below min_redis_version {minimum!r}: no database of the module's own minimum matches that bundle",
        f"Set compatible_redis_version (to {'.'.join(map(str, low[:2]))!r} or the newest you tested),"
        " or pass -cr to ramp pack.",
    )


# Keys RAMP iterates as given: a key left empty (`add_command:` with its entries commented out) is
# None, which `init_from_manifest` copies over the default (ramp.md §1 step 2), and `ramp pack`
# then fails with no zip: `for override in None` (TypeError) or normalize_dependencies' "invalid
# dependencies format" (§3.4). exclude_commands is the schema's (an array, SCH002 already).
_ITERATED = ("overide_command", "add_command", "dependencies", "optional-dependencies")


def _check_empty_lists(raw: Mapping[str, object], sink: Sink, given: Collection[str] = ()) -> None:
    """`given`: the ramp-pack options given, whose values replace the manifest's (RAMP's command
    line pass, ramp.md §1 step 3): a key left empty that an option fills is no failure."""
    replaced = {option.replace("_", "-") for option in given} | set(given)
    for key in _ITERATED:
        if key in raw and raw[key] is None and key not in replaced:
            wanted = "array" if key.endswith("command") else "object"
            sink.add(
                "SCH002",
                key,
                schema.wrong_type(key, None, wanted) + ": `ramp pack` fails on it and writes no zip",
                f"Write `{key}: []` or remove the key."
                if wanted == "array"
                else f"Remove the key, or give `{key}` its entries.",
            )


def _check_dependency_urls(raw: Mapping[str, object], sink: Sink) -> None:
    """The url RAMP's normalize_dependencies (v2.5.16) asks for, where module.json's schema does not:
    a map entry needs one unless it has local_path (the packer ships that archive under deps/, and
    Redis Enterprise installs from there); every item of the list form needs one, local_path or
    not, and a sha256 too (the schema's view holds a stand-in hash for local_path entries)."""
    for key in ("dependencies", "optional-dependencies"):
        deps = raw.get(key)
        if isinstance(deps, dict):
            for name, dep in deps.items():
                if isinstance(dep, dict) and "local_path" not in dep and "url" not in dep:
                    sink.add("DEP001", f"{key}.{name}.url", f"`{key}.{name}.url` is missing")
        elif isinstance(deps, list):
            for index, item in enumerate(deps):
                if not isinstance(item, dict):
                    continue  # normalize_dependencies said DEP001 (no name)
                wanted = ("url", "sha256") if "local_path" in item else ("url",)
                for field in wanted:
                    if field not in item:
                        sink.add("DEP001", f"{key}[{index}].{field}", f"`{key}[{index}].{field}` is missing")


def _without_local_dependencies(module: Module) -> Module:
    """RAMP needs no sha256 for a dependency packed from `local_path`: it hashes the archive it
    packs (ramp.md §3.4). The schema's view gets a stand-in hash for those entries (module.json's
    dependency needs a sha256; a url only where nothing ships the archive, which
    _check_dependency_urls asks as RAMP does)."""
    deps = module.get("dependencies")
    if not isinstance(deps, dict):
        return module
    view: dict[str, JSON] = {
        name: {"sha256": "0" * 64, **dep} if isinstance(dep, dict) and "local_path" in dep else dep
        for name, dep in deps.items()
    }
    return {**module, "dependencies": view}


def _check_excluded_overrides(module: Module, sink: Sink) -> None:
    """DECL004 for an override of a command exclude_commands names (say_excluded_override, below)."""
    excluded, overrides = module.get("exclude_commands"), module.get("overide_command")
    if not isinstance(excluded, list) or not isinstance(overrides, list):
        return
    for index, item in enumerate(overrides):
        name = item.get("command_name") if isinstance(item, dict) else None
        if isinstance(name, str) and name in excluded:
            say_excluded_override(sink, index, name)


def _name_of(entry: JSON) -> str | None:
    """An entry's command_name when it is a string (a fuzzed one may be a list: unhashable)."""
    name = entry.get("command_name") if isinstance(entry, dict) else None
    return name if isinstance(name, str) else None


def _packed_entries(module: Module, *, discovered: bool) -> tuple[list[str], list[JSON]]:
    """The command entries module.json will carry, each with where the manifest writes it, as RAMP
    packs them (ramp.md §1 step 7, §3.3): the commands (the manifest's own, unless the module's
    replace them) less exclude_commands, each override replacing the entry of its exact name in
    place (a second override of one name replaces the first: only the last is packed), then the
    additions. An override matching nothing written replaces a command the module registers."""
    excluded = module.get("exclude_commands")
    names = {e for e in excluded if isinstance(e, str)} if isinstance(excluded, list) else set()
    packed: list[tuple[str, JSON]] = []
    commands = module.get("commands")
    if not discovered and isinstance(commands, list):
        packed = [(f"commands[{i}]", c) for i, c in enumerate(commands) if _name_of(c) not in names]
    at: dict[str, list[int]] = {}  # name -> where entries of it are packed: one look-up an override
    for position, (_, entry) in enumerate(packed):
        if (named := _name_of(entry)) is not None:
            at.setdefault(named, []).append(position)
    for key in ("overide_command", "add_command"):
        items = module.get(key)
        for index, item in enumerate(items if isinstance(items, list) else []):
            name = _name_of(item)
            if key == "overide_command" and name in names:
                continue  # matches nothing once excluded: RAMP drops it (_check_command_entries)
            same = at.get(name, []) if key == "overide_command" and name is not None else []
            if len(same) == 1:  # the replacement has the same name: `at` stays true
                packed[same[0]] = (f"{key}[{index}]", item)
                continue
            if name is not None:
                at.setdefault(name, []).append(len(packed))
            packed.append((f"{key}[{index}]", item))
    return [place for place, _ in packed], [entry for _, entry in packed]


def _check_command_entries(
    module: Module, sink: Sink, written: Collection[str], *, discovered: bool = False
) -> None:
    """overide_command and add_command entries are commands module.json will carry, and so is the
    manifest's own commands list, which `modpack build` without --discover packs (RAMP reads the
    module's: DECL005): a last_key below the first passed validate, and build refused it."""
    for key in ("overide_command", "add_command"):
        items = module.get(key)
        if items is not None and not isinstance(items, list):  # commands: the schema's
            # build refused it (SCH002), and validate passed it
            say_not_a_list(sink, key, items)
    _check_excluded_overrides(module, sink)
    places, entries = _packed_entries(module, discovered=discovered)
    if not entries:
        return

    def to_source(path: str) -> str:
        if path.startswith("commands["):
            index, _, rest = path[len("commands[") :].partition("]")
            return places[int(index)] + rest
        return path

    # the versions as packed: RAMP's min_redis_version default where the manifest gives none
    packed = {**{k: RAMP_DEFAULTS[k] for k in _VERSION_DEFAULTS}, **module}
    view: Module = {k: packed[k] for k in ("compatible_redis_version", "min_redis_version") if k in packed}
    view["commands"] = entries
    inner = Sink(sink.file, mapper=to_source)
    for violation in schema.check({"commands": entries}, "module"):
        if violation.path.startswith("commands["):  # the entries' own fields, not the document's
            message = violation.message.replace(f"`{violation.path}`", f"`{to_source(violation.path)}`")
            inner.add(violation.code, violation.path, message, violation.hint)
    command_checks.check_commands(view, inner, hand_written=True)
    # An override replaces module.json's text of a command, never what RedisModule_CreateCommand
    # is given (ramp.md §1 step 7): a flag in it newer than the Redis cannot stop the load (CMD023)
    registered = [
        entry if not place.startswith("overide_command[") else {}
        for place, entry in zip(places, entries, strict=True)
    ]
    command_checks.check_flag_versions(view, registered, inner)
    sink.findings += named_defaults(inner.findings, view, written)


# --- shared with RAMP's command edits (modpack.ramp.edits), in the same words --------------------


def say_not_a_list(sink: Sink, key: str, value: JSON) -> None:
    """SCH002: an edit key (exclude_commands, overide_command, add_command) that is no list."""
    from modpack.schema import wrong_type

    entries = "" if key == "exclude_commands" else "Write a list of command objects."  # else the rule's
    sink.add("SCH002", key, wrong_type(key, value, "array"), entries)


def say_excluded_override(sink: Sink, index: int, name: str) -> None:
    """DECL004: an override of a command exclude_commands names. RAMP excludes first, so the
    override matches no command, and RAMP drops it ("the given override command appears more then
    once", exit 0; ramp.md §3.3): the module.json carries neither."""
    sink.add(
        "DECL004",
        f"overide_command[{index}].command_name",
        f"overide_command {name!r} overrides a command exclude_commands leaves out: RAMP"
        " excludes first, so the override matches nothing and module.json carries neither",
        f"Remove {name!r} from exclude_commands to pack the override, or remove the override.",
    )
