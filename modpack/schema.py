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

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from modpack.findings import MAX_PER_RULE
from modpack.locate import join

Schema = dict[str, Any]


@dataclass(frozen=True)
class Violation:
    code: str
    path: str
    message: str
    hint: str = ""


@functools.cache
def load_schema(name: str) -> Schema:
    """A published schema by name: `module`, `modpack`, `report`."""
    text = (resources.files("modpack") / "schemas" / f"{name}.schema.json").read_text("utf-8")
    schema: Schema = json.loads(text)
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
    ]
)


def check(document: Any, schema_name: str, *, exact_integers: bool = False) -> list[Violation]:
    """Schema violations; with `exact_integers` a float is never an integer, even 3.0.

    JSON has one number type, so module.json's `10203.0` is an integer to JSON Schema (and to Redis
    Enterprise, which reads int(float(v))). TOML and YAML have two: `arity = 3.0` there is a float
    written where an integer belongs, and modpack never writes a float into module.json.
    """
    root = load_schema(schema_name)
    if not interpretable(schema_name):
        return _check_with_jsonschema(document, root)
    walker = _Walker(root, exact_integers=exact_integers)
    walker.walk(document, root, "")
    return walker.violations


@functools.cache
def interpretable(schema_name: str) -> bool:
    """True when every keyword of the schema is one the interpreter implements."""
    return _only_supported(load_schema(schema_name))


def _only_supported(node: Any) -> bool:
    if isinstance(node, list):
        return all(_only_supported(item) for item in node)
    if not isinstance(node, dict):
        return True
    for key, value in node.items():
        if key.startswith("x-modpack-"):
            continue
        if key not in SUPPORTED:
            return False
        if key in ("properties", "$defs"):
            if not all(_only_supported(v) for v in value.values()):
                return False
        elif key in ("items", "additionalProperties") and not _only_supported(value):
            return False
    return True


def _check_with_jsonschema(document: Any, root: Schema) -> list[Violation]:
    """The full validator, for a schema that uses more than the interpreter knows."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(root)
    return [
        Violation("SCH001" if error.validator == "required" else "SCH002", _error_path(error), error.message)
        for error in validator.iter_errors(document)
    ]


def _error_path(error: Any) -> str:
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


def type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _is_type(value: Any, wanted: str, *, exact_integers: bool = False) -> bool:
    if wanted == "integer":
        if isinstance(value, bool):
            return False
        integral = isinstance(value, float) and value.is_integer() and not exact_integers
        return isinstance(value, int) or integral
    if wanted == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return type_name(value) == wanted


class _Walker:
    def __init__(self, root: Schema, *, exact_integers: bool = False) -> None:
        self.root = root
        self.exact_integers = exact_integers
        self.violations: list[Violation] = []

    def add(self, code: str, path: str, message: str, hint: str = "") -> None:
        self.violations.append(Violation(code, path, message, hint))

    def resolve(self, schema: Schema) -> Schema:
        ref = schema.get("$ref")
        if ref is None:
            return schema
        node: Any = self.root
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        resolved: Schema = node
        return resolved

    def walk(self, value: Any, schema: Schema, path: str) -> None:
        schema = self.resolve(schema)
        wanted = schema.get("type")
        if wanted is not None and not _is_type(value, wanted, exact_integers=self.exact_integers):
            code = schema.get("x-modpack-rule", "SCH002")
            message = f"{_name(path)} is {_describe(value)}; expected {_article(wanted)}"
            self.add(code, path, message, integer_hint(value, wanted))
            return
        if "enum" in schema and value not in schema["enum"]:
            self.add("SCH005", path, f"{_name(path)} is {value!r}; expected one of {schema['enum']}")
            return
        if "const" in schema and value != schema["const"]:
            self.add("SCH005", path, f"{_name(path)} is {value!r}; expected {schema['const']!r}")
            return
        if isinstance(value, str):
            self.string(value, schema, path)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                self.add("SCH005", path, f"{_name(path)} is {value}; the minimum is {schema['minimum']}")
        elif isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                self.walk(item, schema["items"], join(path, index))
        elif isinstance(value, dict):
            self.mapping(value, schema, path)

    def string(self, value: str, schema: Schema, path: str) -> None:
        if len(value) < schema.get("minLength", 0):
            self.add("SCH004", path, f"{_name(path)} is empty")
        elif "pattern" in schema and not re.search(schema["pattern"], value):
            self.add("SCH005", path, f"{_name(path)} is {value!r}; it must match {schema['pattern']}")

    def mapping(self, value: dict[str, Any], schema: Schema, path: str) -> None:
        for key in schema.get("required", ()):
            if key not in value:
                code = schema.get("x-modpack-required", "SCH001")
                self.add(code, join(path, key), f"{_name(join(path, key))} is missing")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        unknown = 0
        for key, item in value.items():
            child = join(path, str(key))
            if key in properties:
                self.walk(item, properties[key], child)
            elif extra is False:
                unknown += 1
                # The sink lists MAX_PER_RULE findings of a rule; hints past that are never shown.
                hint = did_you_mean(str(key), properties) if unknown <= MAX_PER_RULE else ""
                self.add(schema.get("x-modpack-unknown", "SCH003"), child, f"unknown key {key!r}", hint)
            elif isinstance(extra, dict):
                self.walk(item, extra, child)


def integer_hint(value: Any, wanted: str) -> str:
    """The fix for a float where an integer belongs: the integer, when there is an exact one."""
    if wanted != "integer" or not isinstance(value, float):
        return ""
    if value.is_integer() and abs(value) < 2**31:
        return f"Write {int(value)}, without the decimal point: module.json takes an integer here."
    return "Write a whole number without a decimal point or exponent."


def _name(path: str) -> str:
    return f"`{path}`" if path else "the document"


def _describe(value: Any) -> str:
    text = repr(value) if isinstance(value, float) else json.dumps(value, default=repr)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{_article(type_name(value))} ({text})"


def _article(name: str) -> str:
    return ("an " if name[0] in "aeiou" else "a ") + name


# Keys renamed by the packers: the old name still turns up in real files, and spelling
# similarity alone points elsewhere (min_rlec_version is closest to min_redis_version). RAMP PR #10
# (2017) renamed min_rlec_version to min_redis_pack_version (shared/reference/ramp.md §2, §12).
RENAMED = {"min_rlec_version": "min_redis_pack_version"}


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """A hint naming the known key `key` was probably meant to be, or ""."""
    import difflib

    names = sorted(known)
    normal = key.replace("-", "_").lower()
    renamed = RENAMED.get(normal)
    if renamed in names:
        return f"{key!r} is the old name of {renamed!r}: write {renamed}."
    close = difflib.get_close_matches(normal, names, n=1, cutoff=0.75)
    return f"Did you mean {close[0]!r}?" if close and close[0] != key else ""
