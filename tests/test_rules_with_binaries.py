"""Command rules that the binary answers, and what modpack writes itself, end to end.

CMD013 (movable keys) is decided from the module's binary when a bundle or modpack.toml's
[build] so provides one; modules are compiled at test time. CMD020 never fires on what modpack's
own discover and build wrote, nor on RAMP's hand-written routing entries.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from modpack.validate import validate_paths
from tests.cases.make_cases import bundle, command, good_module
from tests.elf_cases.compile import compile_so
from tests.support.cli import run_modpack
from tests.support.paths import SO

# The API fetched by name as the standard redismodule.h does in RedisModule_Init (every API,
# used or not), with or without a command registered with the getkeys-api flag.
MODULE_C = """
typedef int (*GetApiFunc)(const char *, void *);
static void *api[4];
static int command(void *ctx, void **argv, int argc) { (void)ctx; (void)argv; return argc; }
int RedisModule_OnLoad(void *ctx, void **argv, int argc) {
    GetApiFunc get = *(GetApiFunc *)ctx;
    (void)argv; (void)argc;
    get("RedisModule_CreateCommand", &api[0]);
    get("RedisModule_IsKeysPositionRequest", &api[1]);
    get("RedisModule_KeyAtPos", &api[2]);
    int (*create)(void *, const char *, void *, const char *, int, int, int) = api[0];
    return create(ctx, "kg.get", (void *)command, FLAGS, 0, 0, 0);
}
"""
MOVABLE = good_module()["commands"][:3] + [
    command("kg.get", -2, ["readonly", "module", "movablekeys"], 0, 0, 0)
]


def module_so(tmp_path: Path, flags: str) -> Path:
    return compile_so(tmp_path, "kg.so", MODULE_C.replace("FLAGS", json.dumps(flags)))


def movable_bundle(tmp_path: Path, so: Path) -> Path:
    module = good_module()
    module["commands"] = MOVABLE
    module["sha256"] = hashlib.sha256(so.read_bytes()).hexdigest()
    path = tmp_path / "kg.zip"
    path.write_bytes(bundle(module, so_bytes=so.read_bytes()))
    return path


def findings(path: Path) -> list[tuple[str, str, str]]:
    return [(f.code, f.location.path, f.message) for f in validate_paths([path]).findings()]


def test_bundle_whose_binary_implements_getkeys_api_has_no_movable_keys_warning(tmp_path: Path) -> None:
    path = movable_bundle(tmp_path, module_so(tmp_path, "readonly getkeys-api"))
    assert findings(path) == []


def test_bundle_whose_binary_only_fetches_the_api_keeps_the_warning(tmp_path: Path) -> None:
    # the API names are there (RedisModule_Init fetches every one), but no command asks for getkeys
    path = movable_bundle(tmp_path, module_so(tmp_path, "readonly"))
    assert findings(path) == [
        (
            "CMD013",
            "commands[3].flags",
            "command 'kg.get' has movable keys, but the binary registers no command with the getkeys-api "
            "flag: its keys are described only by key specs, which cluster routing does not read",
        )
    ]


def test_bundle_whose_binary_has_the_flag_but_never_fetches_the_api(tmp_path: Path) -> None:
    """The getkeys-api flag without IsKeysPositionRequest and KeyAtPos: CMD013 said the keys
    were "described only by key specs", of a command that has the flag and no key spec."""
    source = MODULE_C.replace("FLAGS", json.dumps("readonly getkeys-api"))
    for fetched in (
        '    get("RedisModule_IsKeysPositionRequest", &api[1]);\n',
        '    get("RedisModule_KeyAtPos", &api[2]);\n',
    ):
        assert fetched in source
        source = source.replace(fetched, "")
    so = compile_so(tmp_path, "kg.so", source)
    assert findings(movable_bundle(tmp_path, so)) == [
        (
            "CMD013",
            "commands[3].flags",
            "command 'kg.get' has movable keys, but the binary never fetches RedisModule_IsKeysPositionRequest"
            " and RedisModule_KeyAtPos, so none of its commands can say where its keys are: cluster routing,"
            " which reads only first/last/step or that answer, misses them (a getkeys-api command asked for"
            " its keys runs instead)",
        )
    ]


def test_module_json_alone_says_the_binary_is_needed(tmp_path: Path) -> None:
    module = good_module()
    module["commands"] = MOVABLE
    path = tmp_path / "module.json"
    path.write_text(json.dumps(module))
    [(code, where, message)] = findings(path)
    assert (code, where) == ("CMD013", "commands[3].flags")
    assert "without the module's binary" in message


@pytest.mark.parametrize(("flags", "warned"), [("readonly getkeys-api", False), ("readonly", True)])
def test_modpack_toml_with_build_so_checks_the_binary(tmp_path: Path, flags: str, warned: bool) -> None:
    module_so(tmp_path, flags)
    toml = tmp_path / "modpack.toml"
    toml.write_text(
        '[module]\nname = "kg"\nsemantic_version = "1.0.0"\ncapabilities = ["types"]\n'
        'compatible_redis_version = "7.4"\n\n[platform]\noperating_systems = ["ubuntu22"]\n\n'
        '[build]\nso = "kg.so"\n\n[[commands]]\nname = "kg.get"\narity = -2\n'
        'flags = ["readonly", "movablekeys"]\n'
    )
    codes = [code for code, _, _ in findings(toml)]
    assert codes == (["CMD013"] if warned else [])


DISCOVERED_FOR_6 = """\
[module]
name = "hello"
semantic_version = "1.2.3"
capabilities = ["types"]
min_redis_version = "6.0"
compatible_redis_version = "6.2"

[platform]
operating_systems = ["ubuntu22"]

# as `modpack discover --write` copies them from redis-server 7.0.15
[[commands]]
name = "hello.set"
arity = 3
flags = ["write", "denyoom", "module"]
first_key = 1
last_key = 1
step = 1
"""


def test_module_flag_written_by_discover_is_not_held_against_a_6_target(tmp_path: Path) -> None:
    toml = tmp_path / "modpack.toml"
    toml.write_text(DISCOVERED_FOR_6)
    assert findings(toml) == []
    result = run_modpack("build", toml, "--so", SO / "x86_64" / "hello.so", "-o", tmp_path / "dist")
    assert result.returncode == 0, result.stderr
    [built] = (tmp_path / "dist").glob("*.zip")
    with zipfile.ZipFile(built) as archive:
        module = json.loads(archive.read("module.json"))
    assert module["commands"][0]["flags"] == ["write", "denyoom"]  # what Redis 6.2 reports
    assert findings(built) == []


def test_hand_written_routing_entries_of_a_real_manifest_are_not_judged_by_redis_flags(
    realworld_folder: Path,
) -> None:
    # RediSearch's coordinator manifest: five overide_command routing entries without `module`
    manifest = realworld_folder / "RediSearch__RediSearch@9ec5efe0d1__src__coord__pack__ramp.yml"
    assert findings(manifest) == []
