"""RAMP's ramp.yml, read strictly where RAMP is lax (ramp.md §4, §11).

RAMP copies known keys verbatim, warns on unknown ones, keeps the last of duplicate keys, packs
with defaults after a YAML error and evaluates `{...}` as a Python f-string. Here a YAML error,
a duplicate key and a template value are findings with line numbers, nothing is evaluated, and
`${VAR}` is expanded explicitly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from modpack import locate, schema
from modpack.checks import commands as command_checks
from modpack.checks import metadata
from modpack.declarations import Declarations, read_text, substitute_env
from modpack.findings import Sink

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
# RAMP overwrites these with what the loaded module reports (ramp.md §1).
DISCOVERED_KEYS = ("module_name", "version", "semantic_version", "commands")
# Pack-time keys that never reach module.json.
PACK_ONLY_KEYS = frozenset({"run_command_line_args", "redis_args"})
_TEMPLATE = re.compile(r"\{\{[^}]*\}\}|\{[^{}]*\}")


def load(path: Path) -> Declarations:
    sink = Sink(str(path))
    decl = Declarations(path, "ramp", sink)
    text = read_text(path, sink)
    if text is None:
        return decl
    if len(text) > MAX_MANIFEST:
        sink.add(
            "IN004", "", f"the manifest is {len(text)} bytes; a ramp.yml is a few KiB (limit {MAX_MANIFEST})"
        )
        return decl
    node = _compose(text, sink)
    if node is None:
        return decl
    lines = locate.yaml_lines(node)
    sink.lines = locate.resolver(lines)
    data = _construct(node, sink)
    if not isinstance(data, dict):
        sink.add("DECL007", "", f"the manifest is {schema.type_name(data)}, not a mapping of keys")
        return decl
    decl.raw = data
    _check_keys(data, sink)
    _check_templates(data, sink, "")
    data = substitute_env(data, sink, "")
    decl.module = _module(data, sink)
    return decl


MAX_MANIFEST = 256 * 1024
MAX_DEPTH = 64  # real manifests nest 3 levels; deeper is crafted (and recursion-hungry)
MAX_NODES = 100_000


def _compose(text: str, sink: Sink) -> Any:
    """The node tree, after a linear pass over the events refused aliases and absurd shapes."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        problem = _shape_problem(yaml.parse(text, Loader=loader))
        if problem:
            sink.add("IN004", "", problem)
            return None
        node = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        sink.add("IN004", "", f"YAML syntax error: {problem}", line=line)
        return None
    if node is None:
        sink.add("DECL007", "", "the manifest is empty")
    return node


def _shape_problem(events: Any) -> str:
    """Aliases can expand a few bytes into billions of nodes (or a cycle); a manifest needs none."""
    import yaml

    depth = nodes = 0
    for event in events:
        if isinstance(event, yaml.AliasEvent):
            return f"YAML alias *{event.anchor}{_at(event)}: manifests may not use aliases"
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return f"YAML nested deeper than {MAX_DEPTH} levels{_at(event)}"
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if nodes > MAX_NODES:
                return f"YAML document with more than {MAX_NODES} values"
    return ""


def _at(event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f" at line {mark.line + 1}" if mark is not None else ""


def _construct(node: Any, sink: Sink) -> Any:
    """Plain data from the node tree, with every duplicate mapping key reported."""
    _report_duplicates(node, sink, "")
    loader = _json_loader()("")
    try:
        return loader.construct_document(node)
    except Exception as exc:
        sink.add("IN004", "", f"YAML value cannot be read: {exc}")
        return None
    finally:
        loader.dispose()


def _json_loader() -> Any:
    """A safe loader that builds only JSON types: timestamps, binary and sets stay strings."""
    import yaml

    class JsonLoader(yaml.SafeLoader):
        pass

    def as_text(loader: Any, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)
        message = f"unsupported YAML tag {node.tag}"
        raise yaml.constructor.ConstructorError(None, None, message, node.start_mark)

    for tag in ("timestamp", "binary", "set", "omap", "pairs"):
        JsonLoader.add_constructor(f"tag:yaml.org,2002:{tag}", as_text)
    return JsonLoader


def _report_duplicates(node: Any, sink: Sink, path: str) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = locate.join(path, key)
            if key in seen:
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


def _check_keys(data: dict[str, Any], sink: Sink) -> None:
    for key in data:
        name = str(key)
        if name in DISCOVERED_KEYS:
            sink.add("DECL005", name, f"RAMP ignores {name!r} in a manifest and reads it from the module")
        elif name not in RAMP_KEYS:
            hint = "" if sink.saturated("DECL006") else _did_you_mean(name)
            sink.add("DECL006", name, f"RAMP does not know the key {name!r}", hint)


def _did_you_mean(name: str) -> str:
    import difflib

    normal = name.replace("-", "_").lower()
    close = difflib.get_close_matches(normal, sorted(RAMP_KEYS), n=1, cutoff=0.75)
    return f"Did you mean {close[0]!r}?" if close else ""


def _check_templates(value: Any, sink: Sink, path: str) -> None:
    if isinstance(value, str):
        match = _TEMPLATE.search(value.replace("${", "$("))
        if match:
            kind = "template placeholder" if match.group().startswith("{{") else "Python f-string field"
            sink.add("DECL002", path, f"{match.group()!r} is a {kind}; modpack never evaluates it")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_templates(item, sink, locate.join(path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_templates(item, sink, locate.join(path, str(key)))


def _module(data: dict[str, Any], sink: Sink) -> dict[str, Any]:
    module = {k: v for k, v in data.items() if k in RAMP_KEYS and k not in PACK_ONLY_KEYS}
    for key in ("dependencies", "optional-dependencies"):
        if key in module:
            module[key] = normalize_dependencies(module[key], key, sink)
    return module


def normalize_dependencies(value: Any, key: str, sink: Sink) -> Any:
    """Both RAMP forms, a list of {name, url, sha256} or a {name: {url, sha256}} map, as a map."""
    if value is None:
        return {}
    if isinstance(value, list):
        result: dict[str, Any] = {}
        for index, item in enumerate(value):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                sink.add("DEP001", f"{key}[{index}]", f"{key}[{index}] has no name")
                continue
            result[item["name"]] = {k: v for k, v in item.items() if k != "name"}
        return result
    return value


def check(decl: Declarations) -> None:
    """What a ramp.yml declares, checked as module.json fields (nothing is required here)."""
    module, sink = decl.module, decl.sink
    if not decl.raw:
        return
    present = {k: v for k, v in module.items() if k not in ("overide_command", "add_command")}
    for violation in schema.check(present, "module"):
        if violation.code not in ("SCH001", "SCH003"):
            sink.add(violation.code, violation.path, violation.message, violation.hint)
    _check_dependency_fields(module, sink)
    metadata.check_versions(module, sink)
    metadata.check_capabilities(module, sink)
    metadata.check_platform(module, sink, in_bundle=False)
    metadata.check_dependencies(module, sink)
    _check_command_entries(module, sink)


def _check_dependency_fields(module: dict[str, Any], sink: Sink) -> None:
    deps = module.get("dependencies")
    if not isinstance(deps, dict):
        return
    for name, dep in deps.items():
        if isinstance(dep, dict) and "local_path" not in dep:
            missing = [k for k in ("url", "sha256") if k not in dep]
            if missing:
                sink.add("DEP001", f"dependencies.{name}", f"dependency {name!r} has no {', '.join(missing)}")


def _check_command_entries(module: dict[str, Any], sink: Sink) -> None:
    """overide_command and add_command entries are commands module.json will carry."""
    places: list[str] = []
    entries: list[Any] = []
    for key in ("overide_command", "add_command"):
        items = module.get(key)
        if isinstance(items, list):
            for index, item in enumerate(items):
                places.append(f"{key}[{index}]")
                entries.append(item)
    if not entries:
        return

    def to_source(path: str) -> str:
        if path.startswith("commands["):
            index, _, rest = path[len("commands[") :].partition("]")
            return places[int(index)] + rest
        return path

    view: dict[str, Any] = {
        k: module[k] for k in ("compatible_redis_version", "min_redis_version") if k in module
    }
    view["commands"] = entries
    inner = Sink(sink.file, mapper=to_source)
    command_checks.check_commands(view, inner, hand_written=True)
    for finding in inner.findings:
        sink.findings.append(finding)
