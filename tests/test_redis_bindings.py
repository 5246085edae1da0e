"""ELF026 against the real loader: what a module's relocations bind to in a real redis-server.

Each module here is compiled with the host's gcc at test time. ELF026 must name exactly the
symbols that `LD_DEBUG=bindings` shows binding to redis-server when the module is loaded, and
none for a module that binds its own names (-Bsymbolic, hidden visibility).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from modpack import elf
from modpack.checks.elf import check_binary, redis_server_names
from modpack.findings import Finding, Sink
from tests.elf_cases.compile import compile_so
from tests.support.tools import require_redis

# OnLoad returns REDISMODULE_ERR so redis-server exits right after dlopen() bound everything
# (RTLD_NOW); nothing of the module runs but the relocations.
FAILING_ONLOAD = """
int RedisModule_OnLoad(void *ctx, void **argv, int argc) {
    (void)ctx; (void)argv; (void)argc;
    return 1;
}
"""
# Its own copies of two names redis-server 7.0.15 exports (sds.c, adlist.c) and of one it does
# not (the dict[A-Z] pattern the old check matched), each called through the PLT.
OWN_COPIES = (
    FAILING_ONLOAD
    + """
__attribute__((noinline)) char *sdsnew(const char *init) { return (char *)init; }
__attribute__((noinline)) void *listCreate(void) { return 0; }
__attribute__((noinline)) int dictModpackSize(void) { return 3; }
int modpack_use(void) { return sdsnew("x") != 0 && listCreate() == 0 && dictModpackSize() == 3; }
"""
)
# Takes redis-server's sdsnew without defining it (a function pointer in data: R_X86_64_64 /
# GLOB_DAT), as modules that call Redis internals do.
BORROWED = (
    FAILING_ONLOAD
    + """
extern char *sdsnew(const char *init);
char *(*modpack_new)(const char *) = sdsnew;
"""
)
MODULE = {"architecture": "x86_64", "operating_systems": ["ubuntu22"]}
BINDING = re.compile(
    r"binding file (?P<file>\S+) \[0\] to (?P<target>.+?) \[0\]: normal symbol `(?P<name>[^']+)'"
)


def findings(path: Path) -> list[Finding]:
    sink = Sink(str(path))
    check_binary(path, sink, MODULE)
    return sink.findings


def elf026(path: Path) -> list[Finding]:
    return [f for f in findings(path) if f.code == "ELF026"]


def bound_to_redis_server(redis: str, module: Path, tmp_path: Path) -> set[str]:
    """The module's symbols the real loader binds to redis-server, from LD_DEBUG=bindings."""
    log = tmp_path / f"ld-{module.stem}"
    env = {**os.environ, "LD_DEBUG": "bindings", "LD_DEBUG_OUTPUT": str(log)}
    socket = tmp_path / f"{module.stem}.sock"
    command = [redis, "--port", "0", "--unixsocket", str(socket), "--save", "", "--loadmodule", str(module)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert "initialization failed" in result.stdout + result.stderr  # it got as far as OnLoad
    bound = set()
    for part in tmp_path.glob(f"{log.name}.*"):
        for match in BINDING.finditer(part.read_text(errors="replace")):
            if match["file"] != str(module):
                continue
            target = match["target"]
            # Libraries end in .so[.N]; the executable is named by its (rewritten) argv[0].
            if target != str(module) and not re.search(r"\.so(\.\d+)*$", target):
                bound.add(match["name"])
    return bound


def test_own_copies_of_redis_server_names_are_reported(tmp_path: Path) -> None:
    [finding] = elf026(compile_so(tmp_path, "own.so", OWN_COPIES))
    assert finding.message == (
        "at load time 2 of the module's own symbols lose to redis-server's copies: listCreate, sdsnew"
    )
    assert "-Wl,-Bsymbolic" in finding.fix


@pytest.mark.parametrize("flags", [("-Wl,-Bsymbolic",), ("-fvisibility=hidden",)], ids=["symbolic", "hidden"])
def test_a_module_binding_its_own_names_is_clean(tmp_path: Path, flags: tuple[str, ...]) -> None:
    source = OWN_COPIES.replace(
        "int RedisModule_OnLoad", '__attribute__((visibility("default"))) int RedisModule_OnLoad'
    )
    path = compile_so(tmp_path, "own.so", source, *flags)
    assert elf.read_elf(path).lookups is not None
    assert findings(path) == []


def test_borrowed_redis_server_internals_are_reported_not_as_missing(tmp_path: Path) -> None:
    found = findings(compile_so(tmp_path, "borrowed.so", BORROWED))
    assert [(f.code, f.message) for f in found] == [
        ("ELF026", "at load time 1 undefined symbol resolves to redis-server internals: sdsnew")
    ]
    assert "redis-server internals" in found[0].fix


def test_names_come_from_redis_server_not_from_patterns() -> None:
    names = redis_server_names()
    assert {"sdsnew", "listCreate", "luaL_optnumber", "RM_CreateCommand", "je_malloc"} <= names
    assert "dictModpackSize" not in names
    assert not {"stderr", "environ", "_start", "_IO_stdin_used"} & names  # copies and start-up code


@pytest.mark.parametrize(
    ("name", "source", "flags"),
    [
        ("own", OWN_COPIES, ()),
        ("symbolic", OWN_COPIES, ("-Wl,-Bsymbolic",)),
        ("borrowed", BORROWED, ()),
    ],
)
def test_elf026_names_what_the_real_loader_binds_to_redis_server(
    tmp_path: Path, name: str, source: str, flags: tuple[str, ...]
) -> None:
    redis = require_redis()
    module = compile_so(tmp_path, f"{name}.so", source, *flags)
    expected = bound_to_redis_server(redis, module, tmp_path)
    info = elf.read_elf(module)
    assert info.lookups is not None
    reported = {lookup.name for lookup in info.lookups if lookup.name in redis_server_names()}
    assert reported == expected
    assert bool(elf026(module)) == bool(expected)
    if name != "symbolic":
        assert expected  # the test proves something: some name does bind to redis-server
