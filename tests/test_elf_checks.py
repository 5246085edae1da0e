"""modpack.checks.elf: each fixture gets exactly its finding; each rule on a case made for it."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from modpack import loadability
from modpack.checks.elf import check_binary, declared_targets
from modpack.elf import read_elf
from modpack.findings import Finding, Severity, Sink
from modpack.rules import all_rules
from tests.cases.make_cases import good_module
from tests.elf_cases import builder
from tests.elf_cases.builder import Spec, Sym
from tests.support.cli import run_modpack
from tests.support.elf import crafted
from tests.support.paths import SO
from tests.support.rest import module_json, write_bundle

DECLARED = {
    "architecture": "x86_64",
    "operating_systems": ["rhel8", "rhel9", "ubuntu20", "ubuntu22", "amzn2023"],
}
NOT_UBUNTU22 = [
    "operating_systems[0]",
    "operating_systems[1]",
    "operating_systems[2]",
    "operating_systems[4]",
]
ALL_FIVE = [f"operating_systems[{i}]" for i in range(5)]

# fixture -> [(code, path)] with DECLARED. Fixtures not listed are good modules: no findings.
EXPECTED: dict[str, list[tuple[str, str]]] = {
    "x86_64/no_onload.so": [("ELF009", "")],
    "x86_64/hidden_onload.so": [("ELF010", "")],
    "x86_64/glibc_future.so": [("ELF012", path) for path in ALL_FIVE],
    "x86_64/needs_lib.so": [("ELF019", "")],
    "x86_64/execstack.so": [("ELF021", "")],
    "x86_64/cxx_module.so": [("ELF013", path) for path in NOT_UBUNTU22],
    "x86_64/truncated.so": [("ELF002", "")],
    "x86_64/text.so": [("ELF001", "")],
    "x86_64/elf32.so": [("ELF004", "")],
    "aarch64/hello.so": [("ELF007", "architecture")],
}
FIXTURES = sorted(str(p.relative_to(SO)) for p in SO.glob("*/*.so"))


def findings(path: Path, module: dict[str, Any] | None = None, **kwargs: Any) -> list[Finding]:
    sink = Sink(str(path))
    check_binary(path, sink, module, **kwargs)
    return sink.findings


def codes(path: Path, module: dict[str, Any] | None = None, **kwargs: Any) -> list[str]:
    return [f.code for f in findings(path, module, **kwargs)]


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_gets_exactly_its_finding(name: str) -> None:
    found = findings(SO / name, DECLARED)
    assert [(f.code, f.location.path) for f in found] == EXPECTED.get(name, []), [f.message for f in found]


def test_the_good_fixture_is_clean() -> None:
    assert "x86_64/hello.so" in FIXTURES
    assert findings(SO / "x86_64/hello.so", DECLARED) == []


def test_too_new_glibc_message_names_os_versions_and_symbols() -> None:
    [first, *_rest] = findings(SO / "x86_64/glibc_future.so", DECLARED)
    assert first.message == (
        "rhel8 has glibc 2.28, but the binary needs GLIBC_2.99 (required by modpack_future_symbol@GLIBC_2.99)"
    )
    assert first.severity is Severity.ERROR


@pytest.mark.rule("ELF029")
def test_no_declared_os_gives_the_oldest_and_the_list() -> None:
    [info] = findings(SO / "x86_64/hello.so", {"architecture": "x86_64"})
    assert info.code == "ELF029"
    assert info.severity is Severity.INFO
    assert "oldest supported OS the binary loads on is rhel8" in info.message
    assert info.message.endswith("rhel8, rhel9, ubuntu20, ubuntu22, amzn2023")
    cxx = findings(SO / "x86_64/cxx_module.so", {"architecture": "x86_64", "operating_systems": []})
    assert [(f.code, f.message.rsplit(": ", 1)[-1]) for f in cxx] == [("ELF029", "ubuntu22")]


@pytest.mark.rule("ELF030")
def test_no_loadable_os_is_an_error() -> None:
    [error] = findings(SO / "x86_64/glibc_future.so", {"architecture": "x86_64"})
    assert error.code == "ELF030"
    assert "GLIBC_2.99" in error.message


def test_no_loadable_os_is_explained_with_the_closest_one(tmp_path: Path) -> None:
    """GLIBC_2.36 (arc4random, Debian 12's glibc) loads nowhere; the closest OS is ubuntu22 with
    2.35. ELF030 named amzn2023 (2.34), the last in the list of those one version short."""
    spec = Spec(
        symbols=(Sym("RedisModule_OnLoad"), Sym("arc4random", defined=False, version="GLIBC_2.36")),
        verneed={"libc.so.6": ("GLIBC_2.2.5", "GLIBC_2.36")},
    )
    [error] = findings(crafted(tmp_path, spec), {"architecture": "x86_64"})
    assert error.code == "ELF030"
    assert "even ubuntu22 has glibc 2.35, but the binary needs GLIBC_2.36" in error.message, error.message


def test_junk_and_alias_entries() -> None:
    module = {
        "architecture": "amd64",
        "operating_systems": [7, "rocky8", "plan9", None, "rhel8", "ubuntu22.04"],
    }
    assert [(t.os_id, path) for t, path in declared_targets(module)] == [
        ("rhel8", "operating_systems[1]"),
        ("ubuntu22", "operating_systems[5]"),
    ]
    found = findings(SO / "x86_64/cxx_module.so", module)
    assert [(f.code, f.location.path) for f in found] == [("ELF013", "operating_systems[1]")]
    assert codes(SO / "x86_64/hello.so", {"operating_systems": "rhel8"}) == ["ELF029"]


def test_legacy_os_list_is_checked() -> None:
    found = findings(SO / "x86_64/cxx_module.so", {"architecture": "x86_64", "os_list": ["ubuntu20.04"]})
    assert [(f.code, f.location.path) for f in found] == [("ELF013", "os_list[0]")]


@pytest.mark.rule("ELF027")
def test_arm_binary_for_an_x86_only_os_without_declared_architecture() -> None:
    found = findings(SO / "aarch64/hello.so", {"operating_systems": ["rhel8", "rhel9"]})
    assert [(f.code, f.location.path) for f in found] == [("ELF027", "operating_systems[0]")]


def test_without_module_json_nothing_is_suggested_but_loading_nowhere_is_reported() -> None:
    assert codes(SO / "x86_64/hello.so") == []
    assert codes(SO / "x86_64/hello.so", [1, 2]) == []  # type: ignore[arg-type]
    assert codes(SO / "x86_64/glibc_future.so") == ["ELF030"]


@pytest.mark.parametrize(
    ("spec", "code", "reason"),
    [
        (Spec(osabi=9), "ELF008", "its OS/ABI is 9, not System V or GNU (ELF008)"),
        (
            Spec(needed=("libc.so.6", "/home/me/build/libfoo.so")),
            "ELF018",
            "it needs a library by a path of the build machine: /home/me/build/libfoo.so (ELF018)",
        ),
    ],
)
def test_what_loads_nowhere_is_listed_as_loading_nowhere(
    tmp_path: Path, spec: Spec, code: str, reason: str
) -> None:
    """An error that stops dlopen on every OS: validate listed every OS beside it (ELF029, "all it
    loads on: rhel8, ..."), and inspect said "loads on rhel8, rhel9, ..." of a binary no node loads."""
    so = crafted(tmp_path, spec)
    assert codes(so, {}) == [code]  # declaring no OS: no ELF029 list beside the error
    assert loadability.loadable_systems(read_elf(so)) == []
    described = run_modpack("inspect", so)
    assert described.returncode == 0, described.stderr
    assert f"  loads on      none: {reason}\n" in described.stdout, described.stdout
    as_json = json.loads(run_modpack("inspect", "--format", "json", so).stdout)
    assert as_json["loadable_on"] == [] and as_json["loads_nowhere"] == [reason]


def test_a_private_version_is_a_caveat_of_where_it_loads_not_nowhere(tmp_path: Path) -> None:
    """The build of a library the module was linked with has its *_PRIVATE versions, and a library
    shipped in deps/ is that build: "loads on none" was untrue of a module that loads. ELF016
    stays an error; inspect names the condition beside the OSes."""
    so = crafted(tmp_path, Spec(verneed={"libc.so.6": ("GLIBC_2.2.5", "GLIBC_PRIVATE")}))
    assert codes(so, {}) == ["ELF016", "ELF029"]
    described = run_modpack("inspect", so)
    assert "loads on      rhel8, rhel9" in described.stdout, described.stdout
    assert ", only where the library has GLIBC_PRIVATE (see ELF016)" in described.stdout


HIDDEN, LOCAL = builder.HIDDEN, builder.LOCAL
REDIS_NAMES = (Sym("RedisModule_OnLoad"), Sym("sdsnew"), Sym("dictCreate", type=builder.OBJECT))
CRAFTED = [
    (Spec(e_type=builder.ET_EXEC), ["ELF005"]),
    (Spec(flags_1=0x08000000), ["ELF005"]),
    (Spec(machine=builder.EM_RISCV), ["ELF006"]),
    (Spec(little=False, machine=builder.EM_AARCH64), ["ELF004"]),
    (Spec(osabi=9), ["ELF008"]),
    (Spec(interp="/lib64/ld-linux-x86-64.so.2"), ["ELF028"]),
    (Spec(rodata=b"OK\0write  fast\0x.c\0"), ["ELF031"]),
    (Spec(rodata=b"OK\0write deny-oom\0write failed \0readonly \0"), []),
    (Spec(symbols=(Sym("RedisModule_OnLoad", type=builder.OBJECT),)), ["ELF011"]),
    (Spec(symbols=(Sym("RedisModule_OnLoad", defined=False),)), ["ELF011"]),
    (Spec(symbols=(Sym("RedisModule_OnLoad", visibility=builder.HIDDEN),)), ["ELF010"]),
    (Spec(symbols=(Sym("RedisModule_OnLoad", bind=builder.LOCAL),)), ["ELF010"]),
    (Spec(symbols=(), static_symbols=(Sym("RedisModule_OnLoad", bind=builder.LOCAL),)), ["ELF010"]),
    (Spec(symbols=(), static_symbols=()), ["ELF009"]),
    (Spec(symbols=(Sym("RedisModule_OnLoad", bind=builder.WEAK),)), []),
    (Spec(verneed={"libc.so.6": ("GLIBC_2.2.5", "GLIBC_PRIVATE")}), ["ELF016"]),
    (Spec(needed=("libc.musl-x86_64.so.1",), verneed={}), ["ELF017"]),
    (Spec(needed=("libc.so.6", "/home/me/build/libfoo.so")), ["ELF018"]),
    (Spec(needed=("libc.so.6", "libatomic.so.1")), ["ELF020"]),
    (Spec(needed=("libc.so.6", "libX11.so.6")), ["ELF019"]),
    (Spec(needed=("libc.so.6", "libssl.so.3", "libz.so.1")), []),  # rhel9 ships both
    (Spec(needed=("libc.so.6", "libssl.so.1.1")), ["PLT010"]),  # rhel8's OpenSSL, not rhel9's
    (Spec(needed=("libc.so.6", "libm.so.6", "libstdc++.so.6", "ld-linux-x86-64.so.2")), []),
    (Spec(stack_flags=7), ["ELF021"]),
    (Spec(stack_flags=None), ["ELF021"]),
    (Spec(machine=builder.EM_AARCH64, stack_flags=None), []),
    (Spec(textrel=True), ["ELF023"]),
    (Spec(flags=0x4), ["ELF023"]),
    (Spec(runpath="$ORIGIN:${ORIGIN}/deps"), []),
    (Spec(runpath="/home/builder/openssl/lib"), ["ELF024"]),
    (Spec(rpath="lib:"), ["ELF024"]),
    (Spec(symbols=(Sym("RedisModule_OnLoad"), Sym("sqrt", defined=False))), ["ELF025"]),
    # redis-server defines none of the module API: an undefined RedisModule_* name cannot bind
    (Spec(symbols=(Sym("RedisModule_OnLoad"), Sym("RedisModule_Init", defined=False))), ["ELF032"]),
    (
        Spec(
            symbols=(
                Sym("RedisModule_OnLoad"),
                Sym("RedisModule_DisconnectClient", defined=False),
                Sym("sqrt", defined=False),
            )
        ),
        ["ELF032", "ELF025"],
    ),
    (
        Spec(symbols=(Sym("RedisModule_OnLoad"), Sym("RedisModule_Frob", defined=False, bind=builder.WEAK))),
        [],
    ),
    (  # a library of the module's own may define it
        Spec(
            needed=("libc.so.6", "libmodapi.so.1"),
            symbols=(Sym("RedisModule_OnLoad"), Sym("RedisModule_Frob", defined=False)),
        ),
        ["ELF019"],
    ),
    (
        Spec(symbols=(Sym("RedisModule_OnLoad"), Sym("__gmon_start__", defined=False, bind=builder.WEAK))),
        [],
    ),
    # ELF026 follows the relocations: a name redis-server exports, looked up at load time.
    (Spec(symbols=(*REDIS_NAMES,), relocations=("sdsnew", "dictCreate")), ["ELF026"]),
    (Spec(symbols=(*REDIS_NAMES,)), []),  # exported, never relocated against (-Bsymbolic)
    (Spec(symbols=(*REDIS_NAMES,), relocations=("sdsnew",), flags=0x2), []),  # DF_SYMBOLIC
    (Spec(symbols=(*REDIS_NAMES,), relocations=("sdsnew",), flags=0x2 | 0x4), ["ELF023"]),
    (Spec(symbols=(Sym("RedisModule_OnLoad"), Sym("sdsnew", visibility=3)), relocations=("sdsnew",)), []),
    (
        Spec(symbols=(Sym("RedisModule_OnLoad"), Sym("sdsnew", visibility=HIDDEN)), relocations=("sdsnew",)),
        [],
    ),
    (Spec(symbols=(Sym("RedisModule_OnLoad"), Sym("sdsnew", bind=LOCAL)), relocations=("sdsnew",)), []),
    (
        Spec(symbols=(Sym("RedisModule_OnLoad"), Sym("sdsnew", defined=False)), relocations=("sdsnew",)),
        ["ELF026"],
    ),
    # an undefined name no relocation uses is never looked up; one neither redis-server nor glibc
    # defines is ELF036's
    (Spec(symbols=(Sym("RedisModule_OnLoad"), Sym("sdsnew", defined=False)), relocations=(0,)), []),
    (
        Spec(
            symbols=(Sym("RedisModule_OnLoad"), Sym("rdbModpack", defined=False)), relocations=("rdbModpack",)
        ),
        ["ELF036"],
    ),
    (Spec(symbols=(Sym("RedisModule_OnLoad"), Sym("dictModpack")), relocations=("dictModpack",)), []),
    (
        Spec(
            symbols=(Sym("RedisModule_OnLoad"), Sym("je_malloc", defined=False)), relocations=("je_malloc",)
        ),
        ["ELF026"],
    ),
    (
        Spec(needed=("libstdc++.so.6", "libc.so.6"), verneed={"libstdc++.so.6": ("CXXABI_1.3.15",)}),
        ["ELF014"],
    ),
    (Spec(needed=("libgcc_s.so.1", "libc.so.6"), verneed={"libgcc_s.so.1": ("GCC_12.0.0",)}), ["ELF015"]),
    (Spec(verneed={"libc.so.6": ("GLIBC_2.2.5", "GLIBC_2.35")}), ["ELF012"]),
    (Spec(verneed={"libstdc++.so.6": ("GLIBCXX_3.4.32",)}, needed=("libstdc++.so.6",)), ["ELF013"]),
]
# Rules produced by the dedicated tests of this file and tests/test_elf_malformed.py.
ELSEWHERE = {
    "ELF001",
    "ELF002",
    "ELF003",
    "ELF022",
    "ELF027",
    "ELF029",
    "ELF030",
    "ELF033",
    "ELF034",
    "ELF035",
}


@pytest.mark.parametrize(("spec", "expected"), CRAFTED)
def test_rule_on_crafted_module(tmp_path: Path, spec: Spec, expected: list[str]) -> None:
    module = {"architecture": "aarch64" if spec.machine == builder.EM_AARCH64 else "x86_64"}
    module["operating_systems"] = ["rhel9"]
    assert codes(crafted(tmp_path, spec), module) == expected


@pytest.mark.rule("ELF033")
def test_a_flags_string_newer_than_min_redis_version_has_its_own_code(tmp_path: Path) -> None:
    so = crafted(tmp_path, Spec(rodata=b"OK\0write internal\0"))
    module: dict[str, Any] = {
        "architecture": "x86_64",
        "operating_systems": ["rhel9"],
        "min_redis_version": "7.4",
    }
    assert codes(so, module) == ["ELF033"]
    assert codes(so, {**module, "min_redis_version": "8.0"}) == []
    declared = [
        {"command_name": "x.sync", "flags": ["write", "internal"], "first_key": 0, "last_key": 0, "step": 0}
    ]
    assert codes(so, {**module, "commands": declared}) == []  # declared: CMD023 says it


def test_unversioned_symbols_from_an_unversioned_library_are_not_flagged(tmp_path: Path) -> None:
    spec = Spec(
        needed=("libc.so.6", "libfoo.so.1"),
        symbols=(Sym("RedisModule_OnLoad"), Sym("foo_init", defined=False)),
    )
    assert codes(crafted(tmp_path, spec), {"architecture": "x86_64", "operating_systems": ["rhel9"]}) == [
        "ELF019"
    ]


def test_unversioned_symbols_beside_versioned_ones_of_the_same_library_are_not_flagged(
    tmp_path: Path,
) -> None:
    """zlib versions only its newer exports: a module calling compressBound (ZLIB_1.2.0) and
    compress (unversioned) needs ZLIB_1.2.0 from libz.so.1 and binds compress there. ELF025 said
    compress had no library that could define it."""
    spec = Spec(
        needed=("libc.so.6", "libz.so.1"),
        verneed={"libc.so.6": ("GLIBC_2.2.5",), "libz.so.1": ("ZLIB_1.2.0",)},
        symbols=(Sym("RedisModule_OnLoad"), Sym("compress", defined=False)),
    )
    assert codes(crafted(tmp_path, spec), {"architecture": "x86_64", "operating_systems": ["rhel9"]}) == []


def test_an_unversioned_name_beside_openssl_is_still_flagged(tmp_path: Path) -> None:
    """OpenSSL versions every export (OPENSSL_3.0.0): a module that needs it and leaves another
    name unversioned and undefined cannot have it bound by libcrypto. The zlib fix had let any
    needed library count (a review)."""
    spec = Spec(
        needed=("libc.so.6", "libcrypto.so.3"),
        verneed={"libc.so.6": ("GLIBC_2.2.5",), "libcrypto.so.3": ("OPENSSL_3.0.0",)},
        symbols=(Sym("RedisModule_OnLoad"), Sym("not_linked_helper", defined=False)),
    )
    assert codes(crafted(tmp_path, spec), {"architecture": "x86_64", "operating_systems": ["rhel9"]}) == [
        "ELF036"
    ]


def test_a_real_zlib_module_is_clean(tmp_path: Path) -> None:
    """The same, compiled: gcc links the system's libz.so.1 (zlib1g, on every Debian machine);
    the prototypes are the module's own, so no zlib headers are needed."""
    import glob
    import subprocess

    from tests.support.modules import compile_module

    zlib = sorted(
        glob.glob("/lib/x86_64-linux-gnu/libz.so.1") + glob.glob("/usr/lib/x86_64-linux-gnu/libz.so.1")
    )
    assert zlib, "libz.so.1 (Debian package zlib1g) is missing"
    body = """
    extern unsigned long compressBound(unsigned long);
    extern int compress(unsigned char *, unsigned long *, const unsigned char *, unsigned long);
    extern unsigned long crc32(unsigned long, const unsigned char *, unsigned int);
    unsigned char out[64]; unsigned long size = compressBound(5);
    if (compress(out, &size, (const unsigned char *)"hello", 5) != 0 || crc32(0, out, size) == 0)
        return REDISMODULE_ERR;
    """
    so = compile_module(tmp_path, body, "zmod", link=(zlib[0],))
    symbols = subprocess.run(["objdump", "-T", str(so)], capture_output=True, text=True, check=True).stdout
    assert "ZLIB_1.2.0" in symbols  # a version is required from libz.so.1, and compress is not versioned
    assert [f.code for f in findings(so, {"architecture": "x86_64", "operating_systems": ["rhel9"]})] == []


@pytest.mark.parametrize(
    "declaration",
    [
        "int RedisModule_Frobnicate(RedisModuleCtx *ctx);",  # a call the header lacks, as gcc compiles it
        "extern int (*RedisModule_Frobnicate)(RedisModuleCtx *ctx);",  # a pointer no file defines
    ],
)
def test_an_undefined_module_api_name_is_an_error_and_redis_refuses_it(
    tmp_path: Path, declaration: str
) -> None:
    """helloacl.c of redis/redis calls RedisModule_DisconnectClient, which the header it was
    built with lacks: gcc compiled an undefined reference, `validate` and `inspect` said the module
    loads on rhel9, ubuntu22 and amzn2023, and redis-server refused it ("undefined symbol").
    ELF025 had left every RedisModule_* name out, as if redis-server provided the API."""
    from tests.support.cli import run_modpack
    from tests.support.modules import compile_module, observe

    # a declaration at block scope is still an external one: the reference stays undefined
    body = f"{declaration} if (RedisModule_Frobnicate(ctx) != REDISMODULE_OK) return REDISMODULE_ERR;"
    so = compile_module(tmp_path, body, "frob")
    assert not observe(so).loaded  # the real redis-server: "undefined symbol: RedisModule_Frobnicate"

    static = run_modpack("validate", so)
    assert static.returncode == 1, static.stdout + static.stderr
    assert (
        "error ELF032 the binary needs RedisModule_Frobnicate from the process at load time" in static.stdout
    )
    shown = run_modpack("inspect", so)
    assert "loads on      none: nothing defines RedisModule_Frobnicate" in shown.stdout
    loaded = run_modpack("validate", "--load", so)
    assert (
        "error LOAD008 frob.so uses RedisModule_Frobnicate, which redis-server does not export"
        in loaded.stdout
    )
    assert "Link the library" not in loaded.stdout


def test_unversioned_message_lists_names(tmp_path: Path) -> None:
    names = [f"ceil{suffix}" for suffix in ("", "f", "l", "f32", "f64", "f32x", "f64x")]
    spec = Spec(symbols=(Sym("RedisModule_OnLoad"), *(Sym(n, defined=False) for n in names)))
    [finding] = findings(crafted(tmp_path, spec), {"architecture": "x86_64", "operating_systems": ["rhel9"]})
    assert finding.message.endswith("ceil, ceilf, ceilf32, ceilf32x, ceilf64 and 2 more")


def test_stripped_missing_onload_says_it_may_be_hidden(tmp_path: Path) -> None:
    [finding] = findings(crafted(tmp_path, Spec(symbols=())), {"operating_systems": ["rhel9"]})
    assert finding.code == "ELF009"
    assert "stripped" in finding.message


@pytest.mark.rule("ELF022")
def test_executable_stack_is_an_error_where_glibc_refuses_it(tmp_path: Path) -> None:
    rhel9 = loadability.platform("rhel9")
    assert rhel9 is not None
    future = rhel9._replace(os_id="debian13", glibc=(2, 41))
    path = crafted(tmp_path, Spec(stack_flags=7))
    found = findings(path, {"architecture": "x86_64"}, platforms=[rhel9, future])
    assert [(f.code, f.severity) for f in found] == [("ELF022", Severity.ERROR)]
    assert "debian13 has glibc 2.41" in found[0].message


def test_platforms_replace_the_declared_systems() -> None:
    rhel8 = loadability.platform("rhel8")
    assert rhel8 is not None
    found = findings(SO / "x86_64/cxx_module.so", DECLARED, platforms=[rhel8])
    assert [(f.code, f.location.path) for f in found] == [("ELF013", "")]


def test_unreadable_file_is_one_finding(tmp_path: Path) -> None:
    assert codes(tmp_path / "absent.so") == ["IN001"]


def test_every_elf_rule_is_documented_and_exercised() -> None:
    rules = {code: rule for code, rule in all_rules().items() if code.startswith("ELF")}
    assert all(rule.why and rule.fix and rule.sources for rule in rules.values())
    covered = {code for _spec, expected in CRAFTED for code in expected}
    covered |= {code for expected in EXPECTED.values() for code, _path in expected}
    assert set(rules) - covered - ELSEWHERE == set()


GETKEYS_STRINGS = b"readonly getkeys-api\0RedisModule_IsKeysPositionRequest\0RedisModule_KeyAtPos\0"


@pytest.mark.parametrize(
    ("rodata", "flag", "calls"),
    [
        (GETKEYS_STRINGS, True, True),
        (b"readonly\0RedisModule_IsKeysPositionRequest\0RedisModule_KeyAtPos\0", False, True),
        (b"write getkeys-api\0RedisModule_KeyAtPos\0", True, False),
        (b"", False, False),
        (None, False, False),
    ],
)
def test_getkeys_api_evidence_is_read_from_read_only_data(
    tmp_path: Path, rodata: bytes | None, flag: bool, calls: bool
) -> None:
    from modpack import elf

    info = elf.read_elf(crafted(tmp_path, Spec(rodata=rodata)))
    assert (info.getkeys.flag, info.getkeys.calls, info.getkeys.complete) == (flag, calls, True)
    assert info.getkeys.implemented is (flag and calls)


def test_relocation_lookups_are_read_from_the_relocation_table(tmp_path: Path) -> None:
    from modpack import elf

    symbols = (
        Sym("RedisModule_OnLoad"),
        Sym("sdsnew"),
        Sym("sdsfree", defined=False),
        Sym("sdsdup", visibility=3),
        Sym("unused"),
    )
    info = elf.read_elf(
        crafted(tmp_path, Spec(symbols=symbols, relocations=("sdsnew", "sdsfree", "sdsdup", 0)))
    )
    assert info.lookups == (elf.SymbolLookup("sdsnew", True), elf.SymbolLookup("sdsfree", False))
    assert not info.symbolic
    symbolic = elf.read_elf(
        crafted(tmp_path, Spec(symbols=symbols, relocations=("sdsnew", "sdsfree"), flags=0x2))
    )
    assert symbolic.symbolic and symbolic.lookups == (elf.SymbolLookup("sdsfree", False),)


def test_a_relocation_past_the_symbol_table_is_malformed(tmp_path: Path) -> None:
    found = findings(crafted(tmp_path, Spec(relocations=(9,))), {"operating_systems": ["rhel9"]})
    assert [(f.code, f.message) for f in found] == [
        ("ELF003", "a relocation names dynamic symbol 9, past the table")
    ]


def test_getkeys_evidence_across_a_chunk_boundary(tmp_path: Path) -> None:
    from modpack import elf

    padding = b"\0" * (elf.READ_CHUNK - 8)  # "readonly getkeys-api" straddles the first chunk's end
    info = elf.read_elf(crafted(tmp_path, Spec(rodata=padding + GETKEYS_STRINGS)))
    assert info.getkeys.implemented


@pytest.mark.parametrize("before", [0, 2, 8, 40, 300])
def test_flags_strings_across_a_chunk_boundary(tmp_path: Path, before: int) -> None:
    """ "readonly denyoom" whose closing NUL falls `before` bytes after the first chunk's end (or
    right at it): found once, wherever the chunk boundary cuts it."""
    from modpack import elf

    text = b"readonly denyoom"
    padding = b"\0" * (elf.READ_CHUNK - len(text) - 1 + before)
    info = elf.read_elf(crafted(tmp_path, Spec(rodata=padding + text + b"\0x.c\0")))
    assert info.getkeys.flags_strings == ("readonly denyoom",)


def test_read_only_data_a_bundle_did_not_keep_leaves_the_evidence_incomplete() -> None:
    from modpack import elf
    from modpack.bundle import SparseImage

    data, layout = builder.build(Spec(rodata=GETKEYS_STRINGS))
    _index, offset, size = layout.sections[".rodata"]
    image = SparseImage(len(data), {0: data[:offset], offset + size: data[offset + size :]})
    getkeys = elf.read_elf(image).getkeys
    assert (getkeys.flag, getkeys.calls, getkeys.complete) == (False, False, False)


def test_the_binding_fix_keeps_the_entry_point_exported(tmp_path: Path) -> None:
    """ELF026's fix began with -fvisibility=hidden: countminsketch rebuilt so lost its
    RedisModule_OnLoad from .dynsym (ELF010), and redis-server refused it. -Bsymbolic alone keeps
    it; -fvisibility=hidden needs the entry point marked default."""
    spec = Spec(symbols=(*REDIS_NAMES,), relocations=("sdsnew",))
    [finding] = findings(crafted(tmp_path, spec), {"architecture": "x86_64", "operating_systems": ["rhel9"]})
    assert finding.code == "ELF026"
    assert finding.fix.startswith(
        "Bind the module's copies to itself: link with -Wl,-Bsymbolic (not followed"
    )
    assert 'mark RedisModule_OnLoad __attribute__((visibility("default")))' in finding.fix
    assert "or use a version script that lists it under global:" in finding.fix


@pytest.mark.parametrize(
    ("flags", "bound"),
    [
        (("-Wl,-Bsymbolic", "-Wl,-Bsymbolic-functions"), False),  # zpop's Makefile: the last one wins
        (("-Wl,-Bsymbolic-functions",), False),  # functions only: the data symbol is still looked up
        (("-Wl,-Bsymbolic",), True),  # what the fix says
        (("-fvisibility=hidden",), True),  # the other way it names (the entry point marked default)
    ],
)
def test_the_binding_fix_works_as_written_on_a_compiled_module(
    tmp_path: Path, flags: tuple[str, ...], bound: bool
) -> None:
    """itamarhaber/zpop defines its own raxNotFound (a data symbol redis-server exports) and links
    with -Bsymbolic -Bsymbolic-functions: ELF026 stood, and its fix said to link with -Bsymbolic,
    which the Makefile already did. The fix now says what undoes it; each way it names is built
    here and checked, not only its text."""
    from tests.elf_cases.compile import compile_so
    from tests.support.paths import FIXTURES

    source = (
        (FIXTURES / "src" / "hello.c")
        .read_text()
        .replace("int RedisModule_OnLoad", '__attribute__((visibility("default"))) int RedisModule_OnLoad', 1)
    )
    source += '\nvoid *raxNotFound = (void *)"rax-not-found-pointer";\nvoid *not_found(void) { return raxNotFound; }\n'
    so = compile_so(tmp_path, "zpop.so", source, f"-I{FIXTURES / 'include'}", *flags)
    found = findings(so, {"architecture": "x86_64", "operating_systems": ["rhel9"]})
    codes = [f.code for f in found]
    assert ("ELF026" not in codes) == bound, [(f.code, f.message) for f in found]
    assert "ELF010" not in codes  # the entry point stays exported every way


PLACED_TOML = """\
[module]
name = "hello"
semantic_version = "1.2.3"
capabilities = ["clustering"]
compatible_redis_version = "7.4"

[platform]
operating_systems = ["rhel9", "ubuntu22"]
architecture = "{arch}"

[build]
so = "hello.so"

[[commands]]
name = "hello.get"
arity = 2
flags = ["readonly"]
first_key = 1
last_key = 1
step = 1
"""


def annotations(done: subprocess.CompletedProcess[str], code: str) -> list[str]:
    return [line for line in done.stdout.splitlines() if f"title={code} " in line]


@pytest.mark.rule("ELF012", "ELF007")
def test_a_finding_about_a_declared_field_is_placed_at_its_line(tmp_path: Path) -> None:
    """ELF012 names an OS of operating_systems, ELF007 the architecture: the fix is made in the
    file that declares them, where the annotation belongs. Of a modpack.toml they were annotated
    on the .so, with the key path as text and no line; of a bundle, on its .so."""
    shutil.copy(SO / "x86_64/glibc_future.so", tmp_path / "hello.so")
    toml = tmp_path / "modpack.toml"
    toml.write_text(PLACED_TOML.format(arch="x86_64"), "utf-8")
    done = run_modpack("validate", toml, "--format", "github")
    assert done.returncode == 1, done.stdout + done.stderr
    assert [a.split("::")[1] for a in annotations(done, "ELF012")] == [
        f"error file={toml},line=8,title=ELF012 glibc-too-new",
        f"error file={toml},line=8,title=ELF012 glibc-too-new",
    ]
    assert "[platform.operating_systems[1]] ubuntu22 has glibc 2.35" in done.stdout
    # aarch64 declared for an x86_64 binary: ELF007 at the architecture line
    toml.write_text(PLACED_TOML.format(arch="aarch64"), "utf-8")
    done = run_modpack("validate", toml, "--format", "github")
    [placed] = annotations(done, "ELF007")
    assert placed.startswith(
        f"::error file={toml},line=9,title=ELF007 architecture-mismatch::[platform.architecture]"
    )
    # A bundle: at module.json's line, as its sha256 (ZIP006) is
    module = good_module()
    data = (SO / "x86_64/glibc_future.so").read_bytes()
    module.update(operating_systems=["rhel9"], sha256=hashlib.sha256(data).hexdigest())
    bundle = tmp_path / "hello.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("module.json", json.dumps(module, indent=2))
        member = zipfile.ZipInfo(module["module_file"])
        member.external_attr = 0o100755 << 16
        archive.writestr(member, data)
    done = run_modpack("validate", bundle)
    line = next(n for n, text in enumerate(json.dumps(module, indent=2).splitlines(), 1) if '"rhel9"' in text)
    assert (
        f"{bundle}!module.json:{line} [operating_systems[0]]: error ELF012 rhel9 has glibc 2.34"
        in done.stdout
    )


@pytest.mark.redis
def test_a_name_longer_than_4096_bytes_is_no_defect(tmp_path: Path) -> None:
    """C++ template names pass 4096 bytes (a std::tuple of 80 long type names: 5943), and such a
    module loads; the reader called it "ELF003 a name points outside .dynstr" and build refused it."""
    from tests.support.paths import FIXTURES
    from tests.support.tools import require_redis

    gcc = shutil.which("gcc")
    assert gcc is not None, "gcc (apt-get install gcc)"
    name = "f_" + "x" * 6000
    source = tmp_path / "ln.c"
    source.write_text(
        '#include "redismodule_min.h"\n'
        f"int {name}(int a) {{ return a + 1; }}\n"
        "int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {\n"
        "    REDISMODULE_NOT_USED(argv); REDISMODULE_NOT_USED(argc);\n"
        '    if (RedisModule_Init(ctx, "ln", 1, REDISMODULE_APIVER_1) != REDISMODULE_OK) return REDISMODULE_ERR;\n'
        f"    return {name}(0) > 0 ? REDISMODULE_OK : REDISMODULE_ERR;\n"
        "}\n"
    )
    so = tmp_path / "ln.so"
    include = str(FIXTURES / "include")
    subprocess.run([gcc, "-O2", "-fPIC", "-shared", "-I", include, "-o", so, source], check=True)
    so.chmod(0o755)
    done = run_modpack("validate", so)
    assert done.returncode == 0 and "ELF003" not in done.stdout, done.stdout
    described = run_modpack("inspect", so)
    assert described.returncode == 0 and "OnLoad        exported" in described.stdout, described.stdout
    require_redis()
    loaded = run_modpack("validate", "--load", so)
    assert "info LOAD003 ln 0.0.1 (1) loaded" in loaded.stdout, loaded.stdout


@pytest.mark.rule("ELF012")
@pytest.mark.parametrize("libc", [True, False], ids=["calls-libc", "no-libc"])
def test_packed_relative_relocations_need_glibc_2_36(tmp_path: Path, libc: bool) -> None:
    """ld -z pack-relative-relocs (binutils 2.38+) writes DT_RELR, which only glibc 2.36+ applies:
    an older one ignores the tag and loads the module with those pointers unrelocated. ld adds the
    marker version GLIBC_ABI_DT_RELR only when it links against libc; ELF012 said such a module
    needed it "(required by GLIBC_ABI_DT_RELR)", and said nothing of one that calls no libc
    function, which has DT_RELR and no marker. Both are now said, naming the cause and the link
    option that leaves it out."""
    from tests.support.paths import FIXTURES

    gcc = shutil.which("gcc")
    assert gcc is not None, "gcc (apt-get install gcc)"
    source = tmp_path / "relr.c"
    source.write_text(
        '#include <string.h>\n#include "redismodule_min.h"\n'
        'static const char *names[] = {"relr.a", "relr.b", "relr.c"};  /* relative relocations */\n'
        f"int relr_size(int i) {{ return {'(int)strlen(names[i % 3])' if libc else 'names[i % 3][0]'}; }}\n"
        "int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {\n"
        "    REDISMODULE_NOT_USED(argv); REDISMODULE_NOT_USED(argc);\n"
        "    return RedisModule_Init(ctx, names[relr_size(argc) % 3], 1, REDISMODULE_APIVER_1);\n"
        "}\n"
    )
    so = tmp_path / "relr.so"
    include = str(FIXTURES / "include")
    command = [gcc, "-O0", "-fPIC", "-shared", "-Wl,-z,pack-relative-relocs", "-I", include, "-o", so, source]
    subprocess.run(command, check=True)
    so.chmod(0o755)
    module = good_module()
    module.update(module_file="relr.so", operating_systems=["ubuntu22", "rhel9"], commands=[])
    module["sha256"] = hashlib.sha256(so.read_bytes()).hexdigest()
    (tmp_path / "module.json").write_text(json.dumps(module))
    done = run_modpack("validate", tmp_path, "--ignore", "CMD030")
    assert done.returncode == 1, done.stdout
    for os_id, glibc in (("ubuntu22", "2.35"), ("rhel9", "2.34")):
        assert (
            f"error ELF012 {os_id} has glibc {glibc}, but the binary needs GLIBC_ABI_DT_RELR (glibc 2.36)"
            " (required by the packed relative relocations of -z pack-relative-relocs, which"
            " -z nopack-relative-relocs leaves out)"
        ) in done.stdout, done.stdout


@pytest.mark.redis
@pytest.mark.parametrize(
    ("symver", "linker", "exported"),
    [
        pytest.param("RedisModule_OnLoad@MOD_1.0", "bfd", False, marks=pytest.mark.rule("ELF010")),
        ("RedisModule_OnLoad@@MOD_1.0", "bfd", True),  # the default version: dlsym finds it
        # a hidden and a default version both: dlsym takes the default, wherever the linker puts it
        # (gold first, bfd last); the check took the last entry and said ELF010 of gold's
        ("RedisModule_OnLoad@MOD_1.0 RedisModule_OnLoad@@MOD_2.0", "gold", True),
        ("RedisModule_OnLoad@MOD_1.0 RedisModule_OnLoad@@MOD_2.0", "bfd", True),
    ],
)
def test_an_entry_point_with_only_a_hidden_version_is_not_exported(
    tmp_path: Path, symver: str, linker: str, exported: bool
) -> None:
    """`.symver onload_v1, RedisModule_OnLoad@MOD_1.0` (one @) gives the entry point a hidden
    version, which dlsym() of the bare name passes over: Redis says the module does not export
    it (LOAD005). modpack called it exported and validated the module clean."""
    from tests.support.paths import FIXTURES
    from tests.support.tools import require_redis

    gcc = shutil.which("gcc")
    assert gcc is not None, "gcc (apt-get install gcc)"
    source, script, so = tmp_path / "hv.c", tmp_path / "hv.map", tmp_path / "hv.so"
    versions = symver.split()
    source.write_text(
        '#include "redismodule_min.h"\n'
        + "".join(
            f"int onload_v{i}(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {{\n"
            "    REDISMODULE_NOT_USED(argv); REDISMODULE_NOT_USED(argc);\n"
            '    return RedisModule_Init(ctx, "hv", 1, REDISMODULE_APIVER_1);\n'
            "}\n"
            f'__asm__(".symver onload_v{i}, {version}");\n'
            for i, version in enumerate(versions)
        )
    )
    script.write_text(
        "MOD_1.0 { global: RedisModule_OnLoad; local: *; };\nMOD_2.0 { global: RedisModule_OnLoad; } MOD_1.0;\n"
    )
    include = str(FIXTURES / "include")
    command = [gcc, "-O2", "-fPIC", "-shared", f"-fuse-ld={linker}", "-I", include, "-o", so, source]
    command.append(f"-Wl,--version-script={script}")
    subprocess.run(command, check=True)
    so.chmod(0o755)
    done = run_modpack("validate", so)
    described = run_modpack("inspect", so)
    require_redis()
    loaded = run_modpack("validate", "--load", so)
    if exported:
        assert done.returncode == 0 and "ELF010" not in done.stdout, done.stdout
        assert "OnLoad        exported" in described.stdout, described.stdout
        assert "info LOAD003 hv 0.0.1 (1) loaded" in loaded.stdout, loaded.stdout
    else:
        assert done.returncode == 1, done.stdout
        assert "error ELF010 RedisModule_OnLoad has only a hidden symbol version" in done.stdout
        assert "OnLoad        hidden" in described.stdout, described.stdout
        assert "LOAD005" in loaded.stdout, loaded.stdout  # what Redis says of it


@pytest.mark.redis
@pytest.mark.rule("ELF019")
def test_a_library_needed_beside_the_module_is_no_build_machine_path(tmp_path: Path) -> None:
    """A DT_NEEDED of $ORIGIN/deps/libdep.so was ELF018 (an error: "by path", a path that "exists
    only on the build machine"), while ld.so expands $ORIGIN to the module's folder and the module
    loads with the library there, where Redis Enterprise extracts the bundle's deps/."""
    from tests.support.paths import FIXTURES
    from tests.support.tools import require_redis

    gcc = shutil.which("gcc")
    assert gcc is not None, "gcc (apt-get install gcc)"
    (tmp_path / "deps").mkdir()
    (tmp_path / "dep.c").write_text("int dep_fn(int a) { return a + 1; }\n")
    library = tmp_path / "deps" / "libdep.so"
    soname = "-Wl,-soname,$ORIGIN/deps/libdep.so"
    subprocess.run([gcc, "-shared", "-fPIC", soname, "-o", library, tmp_path / "dep.c"], check=True)
    (tmp_path / "od.c").write_text(
        '#include "redismodule_min.h"\nint dep_fn(int);\n'
        "int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {\n"
        "    REDISMODULE_NOT_USED(argv); REDISMODULE_NOT_USED(argc);\n"
        "    if (dep_fn(0) != 1) return REDISMODULE_ERR;\n"
        '    return RedisModule_Init(ctx, "od", 1, REDISMODULE_APIVER_1);\n'
        "}\n"
    )
    so = tmp_path / "od.so"
    include = str(FIXTURES / "include")
    subprocess.run(
        [gcc, "-O2", "-fPIC", "-shared", "-I", include, "-o", so, tmp_path / "od.c", library], check=True
    )
    so.chmod(0o755)
    done = run_modpack("validate", so)
    assert "ELF018" not in done.stdout, done.stdout
    assert "warning ELF019 the binary needs $ORIGIN/deps/libdep.so, beside the module" in done.stdout
    # a path that climbs out of the module's folder is one no bundle can fill: still ELF018
    climbing = tmp_path / "climbing.so"
    soname = "-Wl,-soname,$ORIGIN/../lib/libdep.so"
    subprocess.run([gcc, "-shared", "-fPIC", soname, "-o", library, tmp_path / "dep.c"], check=True)
    subprocess.run(
        [gcc, "-O2", "-fPIC", "-shared", "-I", include, "-o", climbing, tmp_path / "od.c", library],
        check=True,
    )
    out = run_modpack("validate", climbing)
    assert "error ELF018 the binary needs the library by path: $ORIGIN/../lib/libdep.so" in out.stdout, (
        out.stdout
    )
    require_redis()
    loaded = run_modpack("validate", "--load", so)
    assert "info LOAD003 od 0.0.1 (1) loaded" in loaded.stdout, loaded.stdout


@pytest.mark.parametrize(
    ("level", "said"),
    [
        ("", None),
        pytest.param(
            "x86-64-v2", "x86-64-v2 (SSE4.2, POPCNT)", marks=pytest.mark.rule("ELF034")
        ),  # no target: only RHEL 9 requires it
        pytest.param("x86-64-v3", "x86-64-v3 (AVX2, FMA, BMI2)", marks=pytest.mark.rule("ELF034")),
        pytest.param("x86-64-v4", "x86-64-v4 (AVX-512)", marks=pytest.mark.rule("ELF034")),
    ],
)
def test_an_isa_level_above_the_baseline_is_said(tmp_path: Path, level: str, said: str | None) -> None:
    """A module linked -z x86-64-v4 (or built -march=x86-64-v4 with a marking toolchain) is one
    glibc 2.33+ refuses on a CPU without AVX-512 ("CPU ISA level is lower than required"); modpack
    said nothing and listed every OS as a place it loads."""
    so = isa_marked(tmp_path, level)
    done = run_modpack("validate", so)
    described = run_modpack("inspect", so)
    as_json = json.loads(run_modpack("inspect", "--format", "json", so).stdout)
    assert as_json["x86_isa_level"] == (int(level[-1]) if level else 1)
    if said is None:
        assert "ELF034" not in done.stdout, done.stdout
        assert "on CPUs with" not in described.stdout, described.stdout
    else:
        assert f"warning ELF034 the binary needs {said}: glibc refuses to load it" in done.stdout, done.stdout
        assert f", on CPUs with {level} only" in described.stdout, described.stdout  # inspect's "loads on"


def isa_marked(folder: Path, level: str) -> Path:
    """A module linked -z <level> (none for ""): GNU_PROPERTY_X86_ISA_1_NEEDED says the level."""
    gcc = shutil.which("gcc")
    assert gcc is not None, "gcc (apt-get install gcc)"
    (folder / "m.c").write_text(
        "int f(int a) { return a + 1; }\nint RedisModule_OnLoad(void) { return 0; }\n"
    )
    so = folder / "m.so"
    marking = [f"-Wl,-z,{level}"] if level else []
    subprocess.run([gcc, "-O2", "-fPIC", "-shared", *marking, "-o", so, folder / "m.c"], check=True)
    return so


@pytest.mark.parametrize(
    ("systems", "said"),
    [
        (["rhel9"], None),  # RHEL 9 requires x86-64-v2 of its machines (elf.md §2.5)
        pytest.param(
            ["rhel9", "ubuntu22"],
            "; ubuntu22 does not require them of a node, RHEL 9 does",
            marks=pytest.mark.rule("ELF034"),
        ),
        pytest.param(
            ["rhel8", "rhel9", "ubuntu20"],
            "; rhel8 and ubuntu20 do not require them of a node, RHEL 9 does",
            marks=pytest.mark.rule("ELF034"),
        ),
    ],
)
def test_x86_64_v2_is_said_for_targets_that_run_on_older_cpus(
    tmp_path: Path, systems: list[str], said: str | None
) -> None:
    """x86-64-v2 was never said, as if every node were RHEL 9: ubuntu22 and rhel8 run on CPUs
    without SSE4.2 and POPCNT, where glibc 2.33+ refuses the module and an older one loads it
    until the first such instruction (elf.md §2.5 and its table: v2 is fine for RHEL 9 only)."""
    so = isa_marked(tmp_path, "x86-64-v2")
    bundle = write_bundle(tmp_path / "m.zip", module_json(so, operating_systems=systems), so)
    done = run_modpack("validate", bundle)
    if said is None:
        assert "ELF034" not in done.stdout, done.stdout
    else:
        line = "warning ELF034 the binary needs x86-64-v2 (SSE4.2, POPCNT): glibc refuses to load it on a CPU"
        assert f"{line} without those instructions{said}" in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("runpath", "outside"),
    [
        ("$ORIGIN", False),
        ("$ORIGIN/deps", False),
        ("$ORIGIN/deps/../lib", False),
        pytest.param(
            "$ORIGIN/../lib", True, marks=pytest.mark.rule("ELF024")
        ),  # was passed: starts with $ORIGIN
        pytest.param("/opt/build/lib", True, marks=pytest.mark.rule("ELF024")),
    ],
)
def test_a_search_path_that_leaves_the_module_folder_is_said(
    tmp_path: Path, runpath: str, outside: bool
) -> None:
    """RUNPATH $ORIGIN/../lib passed ELF024 for starting with $ORIGIN, while it leaves the module's
    folder, where a bundle's deps/ lands, as the needed path of 6411879 does (found by a review)."""
    gcc = shutil.which("gcc")
    assert gcc is not None, "gcc (apt-get install gcc)"
    (tmp_path / "m.c").write_text("int RedisModule_OnLoad(void) { return 0; }\n")
    so = tmp_path / "m.so"
    command = [gcc, "-O2", "-fPIC", "-shared", f"-Wl,-rpath,{runpath}", "-Wl,--enable-new-dtags"]
    subprocess.run([*command, "-o", so, tmp_path / "m.c"], check=True)
    done = run_modpack("validate", so)
    said = f"warning ELF024 RUNPATH points outside the module's directory: {runpath!r}"
    assert (said in done.stdout) is outside, done.stdout


STATIC_TLS_BODY = (
    "static __thread char scratch[%d]; scratch[argc %% %d] = 1; if (scratch[1] == 2) return REDISMODULE_ERR;"
)


@pytest.mark.parametrize(
    ("size", "model", "refused"),
    [
        pytest.param(4096, "initial-exec", True, marks=pytest.mark.rule("ELF035")),
        (64, "initial-exec", False),  # fits in what glibc keeps for dlopen
        (4096, "global-dynamic", False),  # reached through __tls_get_addr: allocated apart
    ],
)
def test_initial_exec_tls_beyond_the_static_surplus_is_an_error(
    tmp_path: Path, size: int, model: str, refused: bool
) -> None:
    """A module whose 4 KiB __thread buffer is reached with initial-exec code (a TP-relative
    relocation): validate said nothing, inspect listed every OS as a place it loads, and
    redis-server refused it ("cannot allocate memory in static TLS block"). Thread-local data of
    the -fPIC default model, however large, loads."""
    from tests.support.modules import compile_module, observe

    body = STATIC_TLS_BODY % (size, size)
    so = compile_module(tmp_path, body, "tlsmod", link=(f"-ftls-model={model}",))
    assert observe(so).loaded is not refused  # the real loader
    static = run_modpack("validate", so)
    shown = run_modpack("inspect", so)
    if refused:
        assert static.returncode == 1, static.stdout + static.stderr
        assert (
            f"error ELF035 the binary reaches {size} bytes of thread-local storage with initial-exec code;"
            in static.stdout
        ), static.stdout
        assert "ELF030" not in static.stdout, static.stdout  # ELF035 says it of every OS
        assert "loads on      none of the supported Redis Enterprise OSes" in shown.stdout, shown.stdout
    else:
        assert "ELF035" not in static.stdout, static.stdout
        assert "loads on      rhel8," in shown.stdout, shown.stdout


def test_static_tls_of_an_aarch64_module_is_read_from_its_relocations(tmp_path: Path) -> None:
    """aarch64's linker sets no DF_STATIC_TLS: the R_AARCH64_TLS_TPREL64 relocation says it."""
    from tests.support.paths import FIXTURES
    from tests.support.tools import require

    gcc = shutil.which("aarch64-linux-gnu-gcc")
    require(gcc is not None, "aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu)")
    assert gcc is not None
    source = tmp_path / "t.c"
    source.write_text(
        '#include "redismodule_min.h"\n__thread char scratch[4096];\n'
        "int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {\n"
        "    (void)ctx; (void)argv; scratch[argc] = 1; return REDISMODULE_OK;\n}\n"
    )
    so = tmp_path / "t.so"
    include = f"-I{FIXTURES / 'include'}"
    for model, expected in (("initial-exec", ["ELF035"]), ("global-dynamic", [])):
        command = [gcc, "-O2", "-fPIC", "-shared", f"-ftls-model={model}", include, "-o", so, source]
        subprocess.run(command, check=True)
        module = {"architecture": "aarch64", "operating_systems": ["rhel9"]}
        assert codes(so, module) == expected, model


@pytest.mark.rule("ELF005")
def test_a_separate_debug_info_file_is_not_taken_for_the_module(tmp_path: Path) -> None:
    """The file objcopy --only-keep-debug writes keeps the module's headers, with .dynamic, .dynsym
    and .text as SHT_NOBITS. Packed in place of the module, validate said ELF010 (OnLoad "defined
    but not exported", fix: mark it visibility default) and inspect listed every OS as a place it
    loads; redis-server refused it: "object file has no dynamic section"."""
    from tests.support.modules import compile_module, observe
    from tests.support.tools import require

    objcopy = shutil.which("objcopy")
    require(objcopy is not None, "objcopy (apt-get install binutils)")
    assert objcopy is not None
    so = compile_module(tmp_path, "", "dbg")
    debug = tmp_path / "debug" / "dbg.so"
    debug.parent.mkdir()
    subprocess.run([objcopy, "--only-keep-debug", so, debug], check=True)
    debug.chmod(0o755)
    assert observe(so).loaded
    assert not observe(debug).loaded  # "object file has no dynamic section"
    static = run_modpack("validate", debug)
    assert static.returncode == 1, static.stdout + static.stderr
    assert "error ELF005 the binary is a separate debug-info file" in static.stdout, static.stdout
    assert "ELF010" not in static.stdout and "ELF009" not in static.stdout, static.stdout
    shown = run_modpack("inspect", debug)
    assert "loads on      none of the supported Redis Enterprise OSes" in shown.stdout, shown.stdout
    assert codes(so, {"architecture": "x86_64", "operating_systems": ["rhel9"]}) == []


def _with_tables_moved_out(so: Path, target: Path, padding: int, lead: int = 0, blanks: int = 0) -> Path:
    """`so` with its .symtab and that table's strings moved to the end of the file: the strings
    after `lead` NUL bytes (every name `lead` bytes further on) and grown by `padding` NUL bytes
    (held sparse), the symbols after `blanks` null symbols; as an unstripped module of many long
    C++ names has them."""
    import struct

    data = bytearray(so.read_bytes())
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    headers = [shoff + i * shentsize for i in range(shnum)]
    (symtab,) = [h for h in headers if struct.unpack_from("<I", data, h + 4)[0] == 2]  # SHT_SYMTAB
    strtab = headers[struct.unpack_from("<I", data, symtab + 0x28)[0]]
    offset, size = struct.unpack_from("<QQ", data, strtab + 0x18)
    strings = bytes(lead) + bytes(data[offset : offset + size])
    offset, size = struct.unpack_from("<QQ", data, symtab + 0x18)
    symbols = bytearray(data[offset : offset + 24]) + bytearray(24 * blanks)
    for at in range(offset + 24, offset + size, 24):
        entry = bytearray(data[at : at + 24])
        (name,) = struct.unpack_from("<I", entry, 0)
        struct.pack_into("<I", entry, 0, name + lead if name else 0)
        symbols += entry
    (first_global,) = struct.unpack_from("<I", data, symtab + 0x2C)
    symbols_at = (len(data) + 7) // 8 * 8
    strings_at = symbols_at + len(symbols)
    struct.pack_into("<QQ", data, symtab + 0x18, symbols_at, len(symbols))
    struct.pack_into("<I", data, symtab + 0x2C, first_global + blanks)
    struct.pack_into("<QQ", data, strtab + 0x18, strings_at, len(strings) + padding)
    with target.open("wb") as out:
        out.write(data)
        out.seek(symbols_at)
        out.write(symbols)
        out.write(strings)
        out.truncate(strings_at + len(strings) + padding)
    return target


@pytest.mark.rule("ELF010")
def test_a_string_table_past_64_mib_is_read_not_called_damaged(tmp_path: Path) -> None:
    """Whether a RedisModule_OnLoad missing from .dynsym is hidden or absent is read from .symtab.
    Its string table was read whole, at most 64 MiB: a larger one, which an unstripped module of
    many long C++ names has (librustc_driver's is 19 MB), made the file "damaged" (ELF003, exit 1,
    and inspect failed), though glibc and readelf read it. The tables are read a piece at a time:
    here the name straddles the first 1 MiB piece's end, and its symbol is past the first piece."""
    hidden = SO / "x86_64" / "hidden_onload.so"
    so = tmp_path / "big.so"
    readelf = shutil.which("readelf")
    assert readelf, "binutils' readelf is needed"
    so = _with_tables_moved_out(hidden, so, 72 << 20, lead=_lead_to_straddle(hidden), blanks=50_000)
    shown = subprocess.run([readelf, "-sW", str(so)], capture_output=True, text=True, check=True).stdout
    assert " RedisModule_OnLoad" in shown  # the moved tables are where readelf reads them
    done = run_modpack("validate", "--format", "json", so)
    codes = [f["code"] for f in json.loads(done.stdout)["files"][0]["findings"]]
    assert codes == ["ELF010"], done.stdout + done.stderr
    done = run_modpack("inspect", so)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert "OnLoad        hidden" in done.stdout, done.stdout
    # A bundle's reader keeps tables up to 64 MiB: there the table is unknown, not a missing name
    bundle = write_bundle(tmp_path / "big.zip", module_json(so), so)
    done = run_modpack("validate", "--format", "json", bundle)
    found = {f["code"]: f["message"] for f in json.loads(done.stdout)["files"][0]["findings"]}
    assert "ELF003" not in found and "ELF010" not in found, found
    assert found["ELF009"] == (
        "the binary does not define RedisModule_OnLoad (its static symbol table could not be read, so"
        " it may also be hidden)"
    ), found
    assert "OnLoad        missing-or-hidden" in run_modpack("inspect", bundle).stdout


def _lead_to_straddle(so: Path) -> int:
    """The NUL bytes to put before .symtab's strings so that RedisModule_OnLoad starts 7 bytes
    before their first 1 MiB ends."""
    import struct

    data = so.read_bytes()
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    headers = [shoff + i * shentsize for i in range(shnum)]
    (symtab,) = [h for h in headers if struct.unpack_from("<I", data, h + 4)[0] == 2]
    strtab = headers[struct.unpack_from("<I", data, symtab + 0x28)[0]]
    offset, size = struct.unpack_from("<QQ", data, strtab + 0x18)
    name = data[offset : offset + size].find(b"RedisModule_OnLoad\0")
    assert name > 0
    return (1 << 20) - 7 - name


@pytest.mark.rule("ELF036")
def test_a_function_nothing_defines_is_an_error_and_build_refuses_it(tmp_path: Path) -> None:
    """A module calling json_parse_helper, whose source file the build left out, got only the
    warning ELF025 and `build` wrote its bundle (exit 0); redis-server refuses it at dlopen
    (RTLD_NOW: "undefined symbol: json_parse_helper")."""
    from tests.support.modules import compile_module, observe

    body = (
        'extern int json_parse_helper(const char *); if (json_parse_helper("1") < 0) return REDISMODULE_ERR;'
    )
    so = compile_module(tmp_path, body, "hello")
    assert not observe(so).loaded

    static = run_modpack("validate", so)
    assert static.returncode == 1, static.stdout + static.stderr
    assert (
        "error ELF036 the binary needs json_parse_helper at load time, which neither redis-server nor"
        " a library it loads defines" in static.stdout
    )
    assert "ELF025" not in static.stdout
    shown = run_modpack("inspect", so)
    assert "loads on      none: nothing defines json_parse_helper (undefined; see ELF036)" in shown.stdout
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(Path(__file__).parents[1] / "fixtures" / "example" / "modpack.toml", project)
    built = run_modpack("build", project, "--so", so, "-o", tmp_path / "dist")
    assert built.returncode == 1, built.stdout + built.stderr
    assert "ELF036" in built.stdout + built.stderr
    assert not list((tmp_path / "dist").glob("*.zip"))


@pytest.mark.parametrize(
    ("body", "name", "link"),
    [
        # sqrt without -lm: redis-server needs libm, so the unversioned reference binds there
        (
            "extern double sqrt(double); volatile double y = 9.0; if (sqrt(y) < 0) return REDISMODULE_ERR;",
            "sqrt",
            (),
        ),
        # a redis-server internal (-rdynamic): binds, and is ELF026's to warn of
        ("extern void *zmalloc(unsigned long); if (!zmalloc(8)) return REDISMODULE_ERR;", "zmalloc", ()),
        # OpenSSL without -lssl: redis-server (built with TLS) needs libssl, so the name binds there
        (
            "extern int OPENSSL_init_ssl(unsigned long, const void *);"
            " if (!OPENSSL_init_ssl(0, 0)) return REDISMODULE_ERR;",
            "OPENSSL_init_ssl",
            (),
        ),
        # libgcc_s, which no redis-server needs itself but a library it needs does: in scope too
        (
            "extern void *_Unwind_FindEnclosingFunction(void *);"
            " if (_Unwind_FindEnclosingFunction(0) == (void *)1) return REDISMODULE_ERR;",
            "_Unwind_FindEnclosingFunction",
            ("-nodefaultlibs",),  # gcc links libgcc_s unless told not to
        ),
    ],
)
def test_a_name_redis_server_or_a_library_it_loads_defines_is_no_error(
    tmp_path: Path, body: str, name: str, link: tuple[str, ...]
) -> None:
    from tests.support.modules import compile_module, observe

    so = compile_module(tmp_path, body, "hello", link=link)
    assert observe(so).loaded  # the real redis-server 7.0.15 loads it
    done = run_modpack("validate", so)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ELF036" not in done.stdout
    assert name in done.stdout  # still warned of: ELF025 (sqrt), ELF026 (zmalloc)


def test_an_os_without_the_binarys_architecture_gets_no_build_there_advice(tmp_path: Path) -> None:
    """An aarch64 module needing GLIBC_2.34 with rhel8 declared got ELF012 "Build on rhel8 or an
    older OS": Redis Enterprise has no aarch64 rhel8. The architecture is that OS's one cause."""
    spec = Spec(machine=builder.EM_AARCH64, verneed={"libc.so.6": ("GLIBC_2.2.5", "GLIBC_2.34")})
    declared = {"architecture": "aarch64", "operating_systems": ["rhel8", "rhel9"]}
    assert findings(crafted(tmp_path, spec), declared) == []
    undeclared = findings(crafted(tmp_path, spec), {"operating_systems": ["rhel8", "rhel9"]})
    assert [(f.code, f.location.path) for f in undeclared] == [("ELF027", "operating_systems[0]")]


def test_an_os_not_shipped_for_the_architecture_is_warned_of_once(tmp_path: Path) -> None:
    """modpack.toml without architecture, an aarch64 .so, rhel8 declared: ELF027 (from the binary)
    and PLT004 (from the module.json build makes, architecture filled in) said the same."""
    project = tmp_path / "project"
    project.mkdir()
    toml = (Path(__file__).parents[1] / "fixtures" / "example" / "modpack.toml").read_text("utf-8")
    toml = toml.replace('architecture = "x86_64"', 'operating_systems = ["rhel8", "rhel9"]')
    toml = toml.replace('so = "../so/x86_64/hello.so"', f'so = "{SO / "aarch64" / "hello.so"}"')
    (project / "modpack.toml").write_text(toml, "utf-8")
    for command in (("validate", project / "modpack.toml"), ("build", project, "-o", tmp_path / "dist")):
        done = run_modpack(*command)
        assert done.returncode == 0, done.stdout + done.stderr
        said = [line for line in (done.stdout + done.stderr).splitlines() if "rhel8 only for x86_64" in line]
        assert len(said) == 1 and "ELF027" in said[0], done.stdout + done.stderr


def test_one_unversioned_symbol_is_said_in_the_singular(tmp_path: Path) -> None:
    """It read "1 undefined symbols have no version ... define them"."""
    spec = Spec(symbols=(Sym("RedisModule_OnLoad"), Sym("sqrt", defined=False)))
    done = run_modpack("validate", crafted(tmp_path, spec))
    assert (
        "warning ELF025 1 undefined symbol has no version and no needed library that could define it: sqrt"
        in (done.stdout)
    )


def test_an_object_entry_point_takes_an(tmp_path: Path) -> None:
    """It read "RedisModule_OnLoad is a OBJECT symbol"."""
    spec = Spec(symbols=(Sym("RedisModule_OnLoad", type=builder.OBJECT),))
    done = run_modpack("validate", crafted(tmp_path, spec))
    assert "error ELF011 RedisModule_OnLoad is an OBJECT symbol, not a function" in done.stdout


def test_inspect_of_a_file_that_is_no_elf_does_not_send_to_validate(tmp_path: Path) -> None:
    source = tmp_path / "plain.c"
    source.write_text("int main(void) { return 0; }\n", "utf-8")
    done = run_modpack("inspect", source)
    assert done.returncode == 1
    assert "not an ELF file" in done.stderr + done.stdout
    assert "Run `modpack validate`" not in done.stderr + done.stdout


@pytest.mark.rule("ELF009")
def test_a_cxx_onload_without_extern_c_is_named_by_its_mangled_name(tmp_path: Path) -> None:
    """A C++ module whose RedisModule_OnLoad is not declared extern "C" exports it under its C++
    name, which dlsym() of the bare name never finds: ELF009 said only that the binary does not
    define RedisModule_OnLoad, as of a module that has none at all."""
    import subprocess

    from tests.support.tools import require

    gxx = shutil.which("g++")
    require(gxx is not None, "g++ (Debian: apt-get install g++)")
    source = tmp_path / "m.cpp"
    source.write_text(
        "struct RedisModuleCtx; struct RedisModuleString;\n"
        "int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) { return 0; }\n"
    )
    so = tmp_path / "m.so"
    subprocess.run([str(gxx), "-shared", "-fPIC", "-o", str(so), str(source)], check=True)
    done = run_modpack("validate", so)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "error ELF009 the binary does not define RedisModule_OnLoad: it defines"
        " _Z18RedisModule_OnLoadP14RedisModuleCtxPP17RedisModuleStringi, the C++ name of one not declared"
        ' extern "C"' in done.stdout
    ), done.stdout
