"""Hypothesis strategies for every input modpack parses, each giving the bytes of one file.

Each kind mixes four sources: documents generated from the format's own structure (valid-ish,
with junk values on any key), the seed corpus mutated (`tests.fuzz.mutate`), crafted hostile
inputs (`tests.fuzz.seeds`), themselves mutated, and raw bytes. Everything shrinks: mutations are
integer triples and seeds are chosen by index.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import yaml
from hypothesis import strategies as st

from tests.fuzz import mutate, seeds, zipstruct
from tests.fuzz.seeds import Entry

# --- building blocks ------------------------------------------------------------------------------

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=24)
_PATHLIKE = ("hello", "", "../x", "a/b", "/abs", "..", ".", ".hidden", "x" * 300, "héllo", "a\x00b", "a\\b")
_NAMES = st.sampled_from((*_PATHLIKE, "${HOME}", "{module_name}", "{{x}}", "CON", "hello.set")) | _TEXT
_VERSIONS = st.sampled_from(
    ("7.0", "7.4", "7.2.4", "6.0", "8.0", "", "7", "7.4.0.1", "v7", "99999999999999999999.0", "7.0-rc1",
     "1.2.3", "1.2.3-rc.1+b", "0.0.0", "00.01", "-1.0", " 7.0", "7.0\n", "1.2.3/../..", "1.0.0\x00")
) | _TEXT  # fmt: skip
_INTEGERS = (
    st.sampled_from((0, 1, -1, 2, -2, -3, 3, 2**31 - 1, -(2**31), 2**63, -(2**63) - 1, 10**30))
    | st.integers()
)
_FLAGS = st.lists(
    st.sampled_from(
        ("write", "readonly", "denyoom", "deny-oom", "module", "admin", "pubsub", "noscript", "random",
         "blocking", "loading", "stale", "skip_monitor", "fast", "no_auth", "may_replicate", "movablekeys",
         "no_mandatory_keys", "allow_busy", "Write", "", "unknown", "getkeys-api", "no-cluster")
    ) | _TEXT,
    max_size=6,
)  # fmt: skip
_CAPABILITIES = st.lists(
    st.sampled_from(("types", "replica_of", "clustering", "crdb", "flash", "types ", "Types", "nope"))
    | _TEXT,
    max_size=5,
)
_SYSTEMS = st.lists(
    st.sampled_from(
        ("rhel8", "rhel9", "ubuntu20", "ubuntu22", "amzn2023", "ubuntu18", "windows", "", "RHEL9")
    )
    | _TEXT,
    max_size=5,
)
_ARCHITECTURES = st.sampled_from(("x86_64", "aarch64", "arm64", "amd64", "i386", "", "x86_64/../..")) | _TEXT
_SHA256 = st.sampled_from(("0" * 64, "A" * 64, "zz", "")) | st.binary(min_size=32, max_size=32).map(bytes.hex)


def json_values(leaves: int = 20) -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | _INTEGERS | st.floats() | _TEXT
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
        max_leaves=leaves,
    )


def _or_junk(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy | json_values(6)


def _commands(name_key: str, arity_key: str) -> st.SearchStrategy[list[Any]]:
    command = st.fixed_dictionaries(
        {},
        optional={
            name_key: _or_junk(_NAMES),
            arity_key: _or_junk(_INTEGERS),
            "flags": _or_junk(_FLAGS),
            "first_key": _or_junk(_INTEGERS),
            "last_key": _or_junk(_INTEGERS),
            "step": _or_junk(_INTEGERS),
        },
    )
    return st.lists(command | json_values(4), max_size=5)


def _dependencies() -> st.SearchStrategy[Any]:
    dependency = st.fixed_dictionaries(
        {}, optional={"url": _or_junk(_TEXT), "sha256": _or_junk(_SHA256), "local_path": _TEXT}
    )
    return st.dictionaries(_NAMES, dependency | json_values(3), max_size=3)


def _module_fields() -> dict[str, st.SearchStrategy[Any]]:
    return {
        "module_name": _or_junk(_NAMES),
        "display_name": _or_junk(_NAMES),
        "version": _or_junk(_INTEGERS),
        "semantic_version": _or_junk(_VERSIONS),
        "min_redis_version": _or_junk(_VERSIONS),
        "compatible_redis_version": _or_junk(_VERSIONS),
        "min_redis_pack_version": _or_junk(_VERSIONS),
        "capabilities": _or_junk(_CAPABILITIES),
        "capability_name": _or_junk(_TEXT),
        "command_line_args": _or_junk(_TEXT),
        "config_command": _or_junk(_TEXT),
        "architecture": _or_junk(_ARCHITECTURES),
        "operating_systems": _or_junk(_SYSTEMS),
        "os_list": _or_junk(_SYSTEMS),
        "module_file": _or_junk(_NAMES),
        "sha256": _or_junk(_SHA256),
        "commands": _or_junk(_commands("command_name", "command_arity")),
        "dependencies": _or_junk(_dependencies()),
        "crdb": json_values(6),
        "bigstore_version_2_support": _or_junk(st.booleans()),
        "email": _or_junk(_TEXT),
        "homepage": _or_junk(_TEXT),
    }


def module_documents() -> st.SearchStrategy[Any]:
    """module.json data: near-valid documents with junk anywhere, and any JSON value at all."""
    near = st.fixed_dictionaries({}, optional=_module_fields())
    extra = st.dictionaries(_TEXT, json_values(4), max_size=3)
    good = json.loads((seeds.CASES / "good" / "module-json" / "module.json").read_text("utf-8"))
    edited = st.builds(lambda base, more: {**base, **more}, st.just(good), near)
    return near | edited | st.builds(lambda a, b: {**a, **b}, near, extra) | json_values()


# --- mutation -----------------------------------------------------------------------------------


def mutations(operators: int) -> st.SearchStrategy[list[mutate.Mutation]]:
    triple = st.tuples(st.integers(0, operators - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**16 - 1))
    return st.lists(triple, min_size=1, max_size=8)


def mutated_bytes(
    corpus: Sequence[bytes], anchors: Callable[[bytes], tuple[seeds.Field, ...]]
) -> st.SearchStrategy[bytes]:
    """A seed chosen by index, then byte and field mutations (anchors computed once per seed)."""
    items = [(data, anchors(data)) for data in corpus]
    return st.builds(
        lambda item, ops: mutate.mutate_bytes(item[0], ops, item[1]),
        st.sampled_from(items),
        mutations(mutate.BYTE_OPERATORS),
    )


def mutated_text(corpus: Sequence[bytes], tokens: Sequence[str]) -> st.SearchStrategy[bytes]:
    texts = [data.decode("utf-8", "replace") for data in corpus]
    return st.builds(
        # surrogatepass: a lone surrogate becomes invalid UTF-8, an input like any other
        lambda text, ops: mutate.mutate_text(text, ops, tokens).encode("utf-8", "surrogatepass"),
        st.sampled_from(texts),
        mutations(mutate.TEXT_OPERATORS),
    )


def _text_kind(
    generated: st.SearchStrategy[bytes],
    corpus: Sequence[bytes],
    crafted: dict[str, bytes],
    tokens: Sequence[str],
) -> st.SearchStrategy[bytes]:
    hostile = list(crafted.values())
    return (
        generated
        | mutated_text(corpus, tokens)
        | st.sampled_from(hostile)
        | mutated_text(hostile, tokens)
        | st.binary(max_size=256)
    )


# --- module.json ------------------------------------------------------------------------------------


def _dump_json(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")


@functools.cache
def module_json_texts() -> st.SearchStrategy[bytes]:
    crafted = seeds.crafted_texts()["json"]
    return _text_kind(
        module_documents().map(_dump_json), seeds.module_json_seeds(), crafted, mutate.JSON_TOKENS
    )


@functools.cache
def module_objects() -> st.SearchStrategy[bytes]:
    """Module objects as a REST body would carry them (JSON text of any value)."""
    return module_documents().map(_dump_json)


# --- modpack.toml ---------------------------------------------------------------------------------


def _toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key)
    return key if bare else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None)
            + "}"
        )
    return '""'


def toml_dumps(document: dict[str, Any]) -> str:
    """A small TOML writer: scalars and inline values first, then [tables] and [[arrays]]."""
    lines: list[str] = []
    tables: list[str] = []
    for key, value in document.items():
        if isinstance(value, dict):
            tables.append(f"[{_toml_key(key)}]")
            tables += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                tables.append(f"[[{_toml_key(key)}]]")
                tables += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in item.items() if v is not None]
        elif value is not None:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    return "\n".join([*lines, *tables]) + "\n"


def modpack_documents() -> st.SearchStrategy[dict[str, Any]]:
    fields = _module_fields()
    module = st.fixed_dictionaries(
        {},
        optional={
            "name": fields["module_name"],
            **{
                k: v
                for k, v in fields.items()
                if k
                not in (
                    "module_name",
                    "version",
                    "commands",
                    "os_list",
                    "sha256",
                    "architecture",
                    "operating_systems",
                )
            },
        },
    )
    platform = st.fixed_dictionaries(
        {},
        optional={"operating_systems": fields["operating_systems"], "architecture": fields["architecture"]},
    )
    so = st.sampled_from(
        (
            str(seeds.HELLO),
            str(seeds.SO / "aarch64" / "hello.so"),
            str(seeds.SO / "x86_64" / "text.so"),
            "/dev/null",
            "missing.so",
            "${target}.so",
        )
    )
    build = st.fixed_dictionaries({}, optional={"so": so | _TEXT, "output": _NAMES})
    target = st.fixed_dictionaries(
        {"name": _NAMES},
        optional={
            "so": so,
            "operating_systems": fields["operating_systems"],
            "architecture": fields["architecture"],
            "min_redis_version": _VERSIONS,
        },
    )
    validate = st.fixed_dictionaries(
        {},
        optional={
            "select": _or_junk(st.lists(_TEXT)),
            "ignore": _or_junk(st.lists(_TEXT)),
            "strict": _or_junk(st.booleans()),
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "module": module | json_values(4),
            "platform": platform,
            "build": build,
            "commands": _commands("name", "arity"),
            "targets": st.lists(target, max_size=3),
            "validate": validate,
            "extra": json_values(4),
        },
    )  # fmt: skip


@functools.cache
def toml_texts() -> st.SearchStrategy[bytes]:
    generated = modpack_documents().map(lambda d: toml_dumps(d).encode("utf-8", "surrogatepass"))
    return _text_kind(generated, seeds.toml_seeds(), seeds.crafted_texts()["toml"], mutate.TOML_TOKENS)


# --- ramp.yml ---------------------------------------------------------------------------------------


def ramp_documents() -> st.SearchStrategy[dict[str, Any]]:
    fields = _module_fields()
    fields["commands"] = _commands("command_name", "command_arity")
    templated = st.sampled_from(
        ("{module_name}", "{{x}}", "${HOME}", "${NOPE}", "{os}", "{__import__('os')}")
    )
    ramp_only = {
        "os": _or_junk(_TEXT),
        "run_command_line_args": _or_junk(templated | _TEXT),
        "redis_args": json_values(4),
        "exclude_commands": _or_junk(st.lists(_NAMES)),
        "overide_command": _commands("command_name", "command_arity"),
        "add_command": _commands("command_name", "command_arity"),
        "ramp_format_version": _or_junk(_INTEGERS),
        "optional-dependencies": _or_junk(_dependencies()),
        "description": templated | _TEXT,
    }
    return st.fixed_dictionaries({}, optional={**fields, **ramp_only})


def _dump_yaml(document: Any) -> bytes:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")


@functools.cache
def yaml_texts() -> st.SearchStrategy[bytes]:
    generated = (ramp_documents() | json_values()).map(_dump_yaml)
    return _text_kind(generated, seeds.yaml_seeds(), seeds.crafted_texts()["yaml"], mutate.YAML_TOKENS)


# --- ELF ----------------------------------------------------------------------------------------------


@functools.cache
def elf_bytes() -> st.SearchStrategy[bytes]:
    crafted = list(seeds.crafted_elves().values())
    return (
        mutated_bytes(seeds.elf_seeds(), seeds.elf_anchors)
        | st.sampled_from(crafted)
        | mutated_bytes(crafted, seeds.elf_anchors)
        | st.binary(max_size=128).map(lambda tail: b"\x7fELF\x02\x01\x01" + tail)
    )


# --- zip ------------------------------------------------------------------------------------------------


def zip_entries() -> st.SearchStrategy[bytes]:
    """Archives built entry by entry: names, modes, methods and contents of any kind."""
    module, hello = seeds._good_parts()
    names = st.sampled_from(
        ("module.json", "hello.so", "other.so", "deps/x.tgz", "deps/", "dir/module.json", "../up.so", "/abs.so",
         "a\\b.so", "", "module.json/", "HELLO.SO")
    ) | _TEXT  # fmt: skip
    modes = st.sampled_from((0o100644, 0o100755, 0o120777, 0o040755, 0, 0o170777, 0o100000))
    methods = st.sampled_from((0, 8, 12, 14))
    contents = st.sampled_from((module, hello, b"", b"{}", b"\x7fELF")) | st.binary(max_size=64)
    entry = st.builds(Entry, names, contents, modes, methods)
    return st.builds(
        lambda entries, zip64: seeds.make_zip(entries, force_zip64=zip64),
        st.lists(entry, max_size=5),
        st.booleans(),
    )


@functools.cache
def zip_bytes() -> st.SearchStrategy[bytes]:
    crafted = list(seeds.crafted_zips().values())
    small = [data for data in crafted if len(data) < 200_000]
    return (
        st.sampled_from(crafted)
        | mutated_bytes([*seeds.zip_seeds(), *small], seeds.zip_anchors)
        | zip_entries()
        | zip_entries().flatmap(lambda data: mutated_bytes([data], seeds.zip_anchors))
        | st.builds(
            mutate.mutate_zip_structure,
            st.sampled_from([*seeds.zip_seeds(), *small]),
            st.integers(0, mutate.ZIP_OPERATORS - 1),
            st.integers(0, 1 << 16),
        )
        | st.builds(
            zipstruct.mutate,
            st.sampled_from([*seeds.zip_seeds(), *small]),
            st.integers(0, zipstruct.OPERATORS - 1),
            st.integers(0, 1 << 32),
            rounds=st.integers(1, 3),
        )
    )


@functools.cache
def bundled_elf_bytes() -> st.SearchStrategy[bytes]:
    """ELF bytes the harness wraps in an otherwise good bundle (the streaming reader's path)."""
    return elf_bytes()


STRATEGIES: dict[str, Callable[[], st.SearchStrategy[bytes]]] = {
    "module_json": module_json_texts,
    "module_object": module_objects,
    "modpack_toml": toml_texts,
    "ramp_yml": yaml_texts,
    "elf": elf_bytes,
    "bundle": zip_bytes,
    "bundled_elf": bundled_elf_bytes,
}
