"""Schema checks driven by the published JSON Schemas in `schemas/`.

The schemas are the data; this module interprets the subset of JSON Schema 2020-12 they use
(type, required, properties, additionalProperties, items, minLength, pattern, minimum, $ref), so
`modpack validate` does not pay the ~90 ms import of the jsonschema package on every run. A test
checks, on generated documents, that this interpreter flags a document exactly when jsonschema
does. Keywords `x-modpack-rule`, `x-modpack-required` and `x-modpack-unknown` choose which rule
reports a violation, so a string where capabilities must be a list reads as CAP003, not as a
bare type error.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, cast

from modpack import read_packaged
from modpack.findings import MAX_PER_RULE, Problem
from modpack.locate import join
from modpack.types import JSON

if TYPE_CHECKING:
    from jsonschema import ValidationError

Schema = dict[str, JSON]  # a JSON Schema document (or one node of it): JSON under known keywords


Violation = Problem
"""A schema violation: a Problem found by the walker (or jsonschema) in a JSON document."""


@functools.cache
def load_schema(name: str) -> Schema:
    """A published schema by name: `module`, `modpack`, `report`."""
    text = read_packaged("schemas", f"{name}.schema.json")
    schema: Schema = json.loads(text)  # one of modpack's own files, each an object
    return schema


# The keywords the interpreter understands; annotations are ignored as JSON Schema ignores them.
SUPPORTED = frozenset(
    [
        "type",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "minLength",
        "pattern",
        "minimum",
        "$ref",
        "$schema",
        "$id",
        "$defs",
        "title",
        "description",
        "const",
        "enum",
        "$comment",
        "anyOf",  # only of `required` branches, with maxProperties at most (_required_branch)
    ]
)


def check(document: object, schema_name: str, *, exact_integers: bool = False) -> list[Violation]:
    """Schema violations; with `exact_integers` a float is never an integer, even 3.0.

    JSON has one number type, so module.json's `10203.0` is an integer to JSON Schema (and to Redis
    Enterprise, which reads int(float(v))). TOML and YAML have two: `arity = 3.0` there is a float
    written where an integer belongs, and modpack never writes a float into module.json.
    """
    root = load_schema(schema_name)
    if not interpretable(schema_name):
        return _check_with_jsonschema(document, root)
    violations: list[Violation] = []
    _compiled(schema_name, exact_integers)(document, "", violations)
    return violations


@functools.cache
def interpretable(schema_name: str) -> bool:
    """True when every keyword of the schema is one the interpreter implements."""
    return _only_supported(load_schema(schema_name))


def _only_supported(node: object) -> bool:
    if isinstance(node, list):
        return all(_only_supported(item) for item in node)
    if not isinstance(node, dict):
        return True
    for key, value in node.items():
        if key.startswith("x-modpack-"):
            continue
        if key not in SUPPORTED or (key == "type" and not isinstance(value, str)):
            return False  # a list of types (the report schema's) is not implemented either
        if key in ("properties", "$defs"):
            if not all(_only_supported(v) for v in value.values()):
                return False
        elif not _supported_child(key, value):
            return False
    return True


@functools.cache
def null_text_fields() -> frozenset[str]:
    """The module.json fields whose null is SCH008's, not SCH002's: the free-text ones RAMP writes
    null for a key left empty; a build leaves such a key out."""
    properties = _object(load_schema("module").get("properties", {}))
    return frozenset(k for k, v in properties.items() if isinstance(v, dict) and "x-modpack-null" in v)


def _check_with_jsonschema(document: object, root: Schema) -> list[Violation]:
    """The full validator, for a schema that uses more than the interpreter knows."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(root)
    return [
        Violation("SCH001" if error.validator == "required" else "SCH002", _error_path(error), error.message)
        for error in validator.iter_errors(document)
    ]


def _error_path(error: ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path = join(path, part)
    return path


_TYPE_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def type_name(value: object) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _is_integer(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_exact_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _exact(kind: type) -> Callable[[object], bool]:
    return lambda value: type(value) is kind


_TYPE_TESTS: dict[str, Callable[[object], bool]] = {
    "integer": _is_integer,
    "number": _is_number,
    **{name: _exact(kind) for kind, name in _TYPE_NAMES.items() if name not in ("integer", "number")},
}

# --- the walker: each schema node compiled once into a closure ---------------------------------
#
# A document is checked by calling its root node's checker, which calls its children's: keyword
# lookups, $ref resolution, regex compilation and type dispatch happen once per schema node, not
# once per value (a tree-walking interpreter spent 80% of its time there). A checker appends
# Violations in document order, exactly as the schema's keywords say; tests/test_schema_walker.py
# compares it with a plain tree walker on generated documents, path, message and hint included.

Checker = Callable[[object, str, list[Violation]], None]
_ANNOTATIONS = frozenset(["title", "description", "$comment", "$id", "$schema", "$defs"])
# A value of exactly this type passes a node that says only `type` (an integral float is an
# integer too, so it takes the full check; so do subclasses, which type_name does not accept).
_EXACT_TYPES: dict[str, type] = {name: kind for kind, name in _TYPE_NAMES.items() if name != "number"}


@functools.cache
def _compiled(schema_name: str, exact_integers: bool = False) -> Checker:
    root = load_schema(schema_name)
    return _Compiler(root, exact_integers=exact_integers).compile(root)


def _object(node: JSON) -> Schema:
    """A schema node that must be an object (a subschema, properties): a broken schema file is
    a bug of modpack's, said as such."""
    if not isinstance(node, dict):
        raise TypeError(f"schema node is {type_name(node)}, not an object")
    return node


def _text(schema: Schema, key: str, default: str = "") -> str:
    value = schema.get(key, default)
    if not isinstance(value, str):
        raise TypeError(f"schema keyword {key} is {type_name(value)}, not a string")
    return value


def _number(schema: Schema, key: str) -> int | float | None:
    value = schema.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise TypeError(f"schema keyword {key} is {type_name(value)}, not a number")
    return value


def _list(schema: Schema, key: str) -> list[JSON]:
    value = schema.get(key, [])
    if not isinstance(value, list):
        raise TypeError(f"schema keyword {key} is {type_name(value)}, not a list")
    return value


class _Compiler:
    def __init__(self, root: Schema, *, exact_integers: bool = False) -> None:
        self.root = root
        self.done: dict[int, Checker] = {}
        self.type_tests = {**_TYPE_TESTS, "integer": _is_exact_integer} if exact_integers else _TYPE_TESTS

    def resolve(self, schema: Schema) -> Schema:
        ref = schema.get("$ref")
        if ref is None:
            return schema
        node: JSON = self.root
        for part in str(ref).removeprefix("#/").split("/"):
            node = _object(node)[part]
        return _object(node)

    def compile(self, node: JSON) -> Checker:
        schema = self.resolve(_object(node))
        key = id(schema)
        if key not in self.done:
            later: list[Checker] = []

            def forward(value: object, path: str, out: list[Violation]) -> None:
                later[0](value, path, out)  # a $ref cycle calls the node before it is built

            self.done[key] = forward
            later.append(self.node(schema))
            self.done[key] = later[0]
        return self.done[key]

    def passing_type(self, node: JSON) -> type | None:
        """The Python type whose values pass this node with nothing else to check, if there is one."""
        schema = self.resolve(_object(node))
        keywords = {k for k in schema if k not in _ANNOTATIONS and not k.startswith("x-modpack-")}
        return _EXACT_TYPES.get(_text(schema, "type")) if keywords == {"type"} else None

    def node(self, schema: Schema) -> Checker:
        wanted = _text(schema, "type")
        type_ok = self.type_tests.get(wanted, lambda value: type_name(value) == wanted) if wanted else None
        type_code = _text(schema, "x-modpack-rule", "SCH002")
        null_code = _text(schema, "x-modpack-null", "")  # a free-text field RAMP writes null
        has_enum, enum = "enum" in schema, _list(schema, "enum")
        has_const, const = "const" in schema, schema.get("const")
        string = _string_checker(schema)
        minimum = _number(schema, "minimum")
        elements = self.elements(schema)
        mapping = self.mapping(schema)

        def check(value: object, path: str, out: list[Violation]) -> None:
            if value is None and null_code:
                out.append(Violation(null_code, path, f"{_name(path)} is null, where a string is documented"))
                return
            if type_ok is not None and not type_ok(value):
                message = wrong_type(path, value, wanted)
                out.append(Violation(type_code, path, message, integer_hint(value, wanted)))
                return
            if has_enum and not any(json_equal(value, allowed) for allowed in enum):
                allowed = ", ".join(map(_preview, enum))  # as JSON: true, not True
                message = f"{_name(path)} is {_preview(value)}; expected one of {allowed}"
                out.append(Violation("SCH005", path, message))
                return
            if has_const and not json_equal(value, const):
                out.append(Violation("SCH005", path, f"{_name(path)} is {value!r}; expected {const!r}"))
                return
            if isinstance(value, str):
                if string is not None:
                    string(value, path, out)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                if minimum is not None and value < minimum:
                    out.append(
                        Violation("SCH005", path, f"{_name(path)} is {value}; the minimum is {minimum}")
                    )
            elif isinstance(value, list):
                if elements is not None:
                    elements(value, path, out)
            elif isinstance(value, dict) and mapping is not None:
                mapping(value, path, out)

        if has_enum or has_const:
            return check
        # A value of exactly the wanted type goes straight to its own keywords, as `check` would
        # take it after its type test (a subclass, another type or a float takes `check` itself).
        fast: dict[str, tuple[type, Checker | None]] = {
            "string": (str, string),
            "object": (dict, mapping),
            "array": (list, elements),
        }
        if wanted not in fast:
            return check
        exact, keywords = fast[wanted]

        def check_exact(value: object, path: str, out: list[Violation]) -> None:
            if type(value) is not exact:
                check(value, path, out)
            elif keywords is not None:
                keywords(value, path, out)

        return check_exact

    def elements(self, schema: Schema) -> Checker | None:
        """The check of an array's items, each value that does not pass on its type alone."""
        if "items" not in schema:
            return None
        items, items_pass = self.compile(schema["items"]), self.passing_type(schema["items"])

        def check(value: list[object], path: str, out: list[Violation]) -> None:
            for index, item in enumerate(value):
                if type(item) is not items_pass:
                    items(item, f"{path}[{index}]", out)

        return cast("Checker", check)  # called with a list only: the callers dispatch on type

    def mapping(self, schema: Schema) -> Checker | None:
        required = tuple(str(key) for key in _list(schema, "required"))
        branches = [_required_branch(branch) for branch in _list(schema, "anyOf")]
        if branches:  # the first branch's keys are the ones said missing, when no branch holds
            required = branches[0][0]
        required_code = _text(schema, "x-modpack-required", "SCH001")
        known = _object(schema.get("properties", {}))
        properties = {key: (self.passing_type(child), self.compile(child)) for key, child in known.items()}
        names = tuple(sorted(known))
        extra = schema.get("additionalProperties", True)
        extra_check = self.compile(extra) if isinstance(extra, dict) else None
        unknown_code = _text(schema, "x-modpack-unknown", "SCH003")
        # keys module.json (and a ramp.yml) name otherwise: [[commands]] `name` is command_name there
        aliases = _object(schema.get("x-modpack-aliases", {}))
        if not required and not properties and extra is True:
            return None

        def check(value: dict[str, object], path: str, out: list[Violation]) -> None:
            held = any(_holds(value, keys, most) for keys, most in branches)
            for key in () if held else required:
                if key not in value:
                    out.append(
                        Violation(required_code, join(path, key), f"{_name(join(path, key))} is missing")
                    )
            unknown = 0
            for key, item in value.items():
                child = properties.get(key) if isinstance(key, str) else None
                if child is not None:
                    if type(item) is not child[0]:  # most values pass on their type alone
                        child[1](item, f"{path}.{key}" if path else key, out)
                elif extra is False:
                    unknown += 1
                    # The sink lists MAX_PER_RULE findings of a rule; hints past that are never shown.
                    hint = _hint(str(key), names) if unknown <= MAX_PER_RULE else ""
                    if isinstance(alias := aliases.get(key), str):
                        called = f"module.json and a ramp.yml call it {key!r}"
                        hint = f"Here it is called {alias!r} ({called}): write {alias}."
                    message = f"unknown key {key!r}"
                    out.append(Violation(unknown_code, join(path, str(key)), message, hint))
                elif extra_check is not None:
                    extra_check(item, join(path, str(key)), out)

        return cast("Checker", check)  # called with a dict only: the caller dispatches on type


def _required_branch(branch: object) -> tuple[tuple[str, ...], int | None]:
    """An anyOf branch the walker reads: {"required": [...]}, with at most "maxProperties". A
    modpack.toml holds [module], or [validate] alone (a folder's settings)."""
    assert isinstance(branch, dict) and _is_required_branch(branch)  # _only_supported said so
    most = branch.get("maxProperties")
    return tuple(str(key) for key in _list(branch, "required")), most if isinstance(most, int) else None


def _supported_child(key: str, value: object) -> bool:
    if key in ("items", "additionalProperties"):
        return _only_supported(value)
    if key == "anyOf":
        return isinstance(value, list) and all(_is_required_branch(branch) for branch in value)
    return True


def _is_required_branch(branch: object) -> bool:
    return isinstance(branch, dict) and set(branch) <= {"required", "maxProperties"}


def _holds(value: dict[str, object], keys: tuple[str, ...], most: int | None) -> bool:
    return all(key in value for key in keys) and (most is None or len(value) <= most)


def _string_checker(schema: Schema) -> Checker | None:
    min_length = _number(schema, "minLength") or 0
    pattern = _text(schema, "pattern") if "pattern" in schema else None
    search = re.compile(pattern).search if pattern is not None else None
    if not min_length and search is None:
        return None

    def check(value: str, path: str, out: list[Violation]) -> None:
        if len(value) < min_length:
            out.append(Violation("SCH004", path, f"{_name(path)} is empty"))
        elif search is not None and not search(value):
            out.append(Violation("SCH005", path, f"{_name(path)} is {value!r}; it must match {pattern}"))

    return cast("Checker", check)  # called with a str only: the caller dispatches on type


def integer_hint(value: object, wanted: str) -> str:
    """The fix for a float where an integer belongs: the integer, when there is an exact one."""
    if wanted != "integer" or not isinstance(value, float):
        return ""
    if value.is_integer() and abs(value) < 2**31:
        return f"Write {int(value)}, without the decimal point: module.json takes an integer here."
    return "Write a whole number without a decimal point or exponent."


def json_equal(left: object, right: object) -> bool:
    """Equality as JSON Schema's enum and const define it: `true` is not `1`, nor `false` `0`
    (Python's == says they are); 1 and 1.0 are the same number; arrays and objects compare item by
    item."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    return left == right


def wrong_type(path: str, value: object, wanted: str) -> str:
    """SCH002's message: "`path` is a string ("x"); expected an array"."""
    return f"{_name(path)} is {_describe(value)}; expected {_article(wanted)}"


def _name(path: str) -> str:
    return f"`{path}`" if path else "the document"


def _describe(value: object) -> str:
    return f"{_article(type_name(value))} ({_preview(value)})"


_PREVIEW = 40


def _preview(value: object) -> str:
    """The value as JSON text, cut at 40 characters: encoded lazily and only that far, so a 4 MiB
    value costs nothing and one nested past Python's recursion limit is not an internal error."""
    if isinstance(value, float):
        return repr(value)  # nan and inf, which JSON cannot write
    if isinstance(value, datetime.date | datetime.time):  # a TOML date or time, as TOML writes it
        return value.isoformat()
    text = ""
    try:
        for chunk in json.JSONEncoder(default=repr).iterencode(value):
            text += chunk
            if len(text) > _PREVIEW:
                break
    except (RecursionError, ValueError):
        text += "..." * (len(text) <= _PREVIEW - 3)
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 3] + "..."


def _article(name: str) -> str:
    return ("an " if name[0] in "aeiou" else "a ") + name


# Keys renamed by the packers: the old name still turns up in real files, and spelling
# similarity alone points elsewhere (min_rlec_version is closest to min_redis_version). RAMP PR #10
# (2017) renamed min_rlec_version to min_redis_pack_version (shared/reference/ramp.md §2, §12);
# RAMP 2.5.2 (2023) named its OS list operating_systems after the os_list of PR #18, reverted by
# PR #33 in 2019, and of 2.5.0-2.5.1 (ramp.md §8); a 2019 RedisAI fork's ramp.yml has os_list.
RENAMED = {"min_rlec_version": "min_redis_pack_version", "os_list": "operating_systems"}
# What modpack.toml's [module] and ramp.yml call a module.json field by another name.
OTHER_NAMES = {"name": "module_name"}
# Keys RAMP leaks into module.json, no misspelling of another: run_command_line_args given with
# --runcmdargs is added back after discovery has used it (ramp.md §2, §3.1).
LEAKED = {
    "run_command_line_args": "RAMP copies it from --runcmdargs, which only its discovery load uses;"
    " remove it (command_line_args holds the module's arguments)."
}


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """A hint naming the known key `key` was probably meant to be, or ""."""
    return _hint(key, tuple(sorted(known)))


def _hint(key: str, names: tuple[str, ...]) -> str:
    # difflib compares the key with every known name (0.1 ms for module.json's 30 keys), and the
    # same misspelling recurs across the files of one run: a short key's hint is worked out once
    # (a long one is no misspelling worth remembering, and would hold memory).
    return _cached_hint(key, names) if len(key) <= 64 else _close_name(key, names)


@functools.lru_cache(maxsize=1024)
def _cached_hint(key: str, names: tuple[str, ...]) -> str:
    return _close_name(key, names)


def _close_name(key: str, names: tuple[str, ...]) -> str:
    import difflib

    normal = key.replace("-", "_").lower()
    if normal in LEAKED and normal not in names:
        return LEAKED[normal]
    renamed = RENAMED.get(normal)
    if renamed in names:
        return f"{key!r} is the old name of {renamed!r}: write {renamed}."
    other = OTHER_NAMES.get(normal)
    if other in names:
        return (
            f"Here the field is called {other!r} (modpack.toml's [module] calls it {key!r}): write {other}."
        )
    close = difflib.get_close_matches(normal, names, n=1, cutoff=0.75)
    return f"Did you mean {close[0]!r}?" if close and close[0] != key else ""
