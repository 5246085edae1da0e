"""The compiled schema walker (modpack/schema.py) against a plain tree walker, finding for finding.

The compiled walker exists for speed (5000 module.json files in one call); it must report exactly
what a straightforward reading of the schema reports: the same rule codes, paths, messages and
hints, in the same order. `reference_check` below is that straightforward reading (the walker
modpack used before it was compiled), kept here as the oracle.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modpack import schema
from modpack.findings import MAX_PER_RULE
from modpack.locate import join
from tests.support.paths import CASES
from tests.support.strategies import json_values


def reference_check(
    document: Any, schema_name: str, *, exact_integers: bool = False
) -> list[schema.Violation]:
    root = schema.load_schema(schema_name)
    out: list[schema.Violation] = []

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        if ref is None:
            return node
        found: Any = root
        for part in ref.removeprefix("#/").split("/"):
            found = found[part]
        return found  # type: ignore[no-any-return]

    def is_type(value: Any, wanted: str) -> bool:
        if wanted == "integer":
            if isinstance(value, bool):
                return False
            integral = isinstance(value, float) and value.is_integer() and not exact_integers
            return isinstance(value, int) or integral
        if wanted == "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        return schema.type_name(value) == wanted

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        node = resolve(node)
        name = schema._name(path)
        wanted = node.get("type")
        if value is None and "x-modpack-null" in node:
            out.append(
                schema.Violation(
                    node["x-modpack-null"], path, f"{name} is null, where a string is documented"
                )
            )
            return
        if wanted is not None and not is_type(value, wanted):
            message = f"{name} is {schema._describe(value)}; expected {schema._article(wanted)}"
            hint = schema.integer_hint(value, wanted)
            out.append(schema.Violation(node.get("x-modpack-rule", "SCH002"), path, message, hint))
            return
        if "enum" in node and not any(_same(value, allowed) for allowed in node["enum"]):
            out.append(
                schema.Violation(
                    "SCH005",
                    path,
                    f"{name} is {schema._preview(value)}; expected one of"
                    f" {', '.join(map(schema._preview, node['enum']))}",
                )
            )
            return
        if "const" in node and not _same(value, node["const"]):
            out.append(schema.Violation("SCH005", path, f"{name} is {value!r}; expected {node['const']!r}"))
            return
        if isinstance(value, str):
            if len(value) < node.get("minLength", 0):
                out.append(schema.Violation("SCH004", path, f"{name} is empty"))
            elif "pattern" in node and not re.search(node["pattern"], value):
                message = f"{name} is {value!r}; it must match {node['pattern']}"
                out.append(schema.Violation("SCH005", path, message))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if "minimum" in node and value < node["minimum"]:
                out.append(
                    schema.Violation("SCH005", path, f"{name} is {value}; the minimum is {node['minimum']}")
                )
        elif isinstance(value, list) and "items" in node:
            for index, item in enumerate(value):
                walk(item, node["items"], join(path, index))
        elif isinstance(value, dict):
            mapping(value, node, path)

    def mapping(value: dict[str, Any], node: dict[str, Any], path: str) -> None:
        required = node.get("required", ())
        if "anyOf" in node:  # branches of required keys: when none holds, the first one's are missing
            branches = node["anyOf"]
            holds = any(
                all(k in value for k in b.get("required", ()))
                and len(value) <= b.get("maxProperties", len(value))
                for b in branches
            )
            required = () if holds else branches[0].get("required", ())
        for key in required:
            if key not in value:
                code = node.get("x-modpack-required", "SCH001")
                out.append(
                    schema.Violation(code, join(path, key), f"{schema._name(join(path, key))} is missing")
                )
        properties = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        unknown = 0
        for key, item in value.items():
            child = join(path, str(key))
            if key in properties:
                walk(item, properties[key], child)
            elif extra is False:
                unknown += 1
                hint = schema.did_you_mean(str(key), properties) if unknown <= MAX_PER_RULE else ""
                code = node.get("x-modpack-unknown", "SCH003")
                out.append(schema.Violation(code, child, f"unknown key {key!r}", hint))
            elif isinstance(extra, dict):
                walk(item, extra, child)

    walk(document, root, "")
    return out


def _same(value: Any, allowed: Any) -> bool:
    """JSON equality as the jsonschema library decides it (`true` is not `1`; 1 is 1.0)."""
    return bool(jsonschema.Draft202012Validator({"const": allowed}).is_valid(value))


@pytest.mark.parametrize(
    ("value", "schema_node"),
    [
        (1, {"enum": [True, False, "if-available"]}),
        (0, {"enum": [True, False]}),
        (True, {"enum": [1, 2]}),
        (False, {"const": 0}),
        (1.0, {"const": True}),
        ([1], {"enum": [[True]]}),
        ({"a": 0}, {"const": {"a": False}}),
        (True, {"enum": [True]}),
        (2.0, {"enum": [2]}),
        ([True], {"const": [True]}),
    ],
)
def test_enum_and_const_tell_booleans_from_numbers_as_json_schema_does(value: Any, schema_node: Any) -> None:
    """Python's 1 == True let `load = 1` pass modpack.toml's enum [true, false, "if-available"];
    the compiled walker must agree with the jsonschema library on each of these."""
    expected = not jsonschema.Draft202012Validator(schema_node).is_valid(value)
    compiled = schema._Compiler(schema_node).compile(schema_node)
    found: list[schema.Violation] = []
    compiled(value, "x", found)
    assert bool(found) == expected


GOOD = json.loads((CASES / "good" / "module-json" / "module.json").read_text())
GOOD_COMMAND = GOOD["commands"][0]
module_keys = st.sampled_from(sorted(GOOD) + ["commands", "dependencies", "optional-dependencies", "nmae"])
command_keys = st.sampled_from(sorted(GOOD_COMMAND) + ["comand_name", "flag"])
commands = st.lists(
    st.builds(
        lambda changes: {**GOOD_COMMAND, **changes}, st.dictionaries(command_keys, json_values, max_size=3)
    )
    | json_values,
    max_size=4,
)
documents = st.one_of(
    json_values,
    st.builds(lambda changes: {**GOOD, **changes}, st.dictionaries(module_keys, json_values, max_size=4)),
    st.builds(lambda cmds: {**GOOD, "commands": cmds}, commands),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_the_compiled_walker_reports_what_a_plain_walker_reports(document: Any) -> None:
    assert schema.check(document, "module") == reference_check(document, "module")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["module", "build", "platform", "commands", "validate", "x"]), json_values
    )
)
def test_the_compiled_walker_agrees_on_modpack_toml_data(document: Any) -> None:
    assert schema.check(document, "modpack") == reference_check(document, "modpack")
    # TOML has real integers: there a float is never an integer (the declarations' reading).
    exact = schema.check(document, "modpack", exact_integers=True)
    assert exact == reference_check(document, "modpack", exact_integers=True)


def test_every_case_file_gets_the_same_violations() -> None:
    checked = 0
    for path in sorted(CASES.glob("*/*/module.json")):
        try:
            document = json.loads(path.read_text())
        except ValueError:
            continue
        assert schema.check(document, "module") == reference_check(document, "module"), path
        checked += 1
    assert checked > 50


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        ({"validate": {"strict": True}}, True),  # a folder's settings (README: "holds only [validate]")
        ({"validate": {}, "build": {}}, False),
        ({"platform": {}}, False),
        ({}, False),
    ],
)
def test_the_published_modpack_schema_takes_a_settings_only_file(document: Any, valid: bool) -> None:
    """The README has editors validate modpack.toml with `modpack schema modpack`; its `required:
    [module]` marked the [validate]-only file the README recommends as wrong. JSON Schema's reading
    (jsonschema, as an editor's) and modpack's agree on which files lack a [module]."""
    published = jsonschema.Draft202012Validator(schema.load_schema("modpack"))
    assert published.is_valid(document) is valid
    missing = [v for v in schema.check(document, "modpack") if v.code == "SCH001" and v.path == "module"]
    assert bool(missing) is not valid
