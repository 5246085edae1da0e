"""Per-OS libraries (issue 18): a needed soname is checked against what each declared OS ships.

OpenSSL 3 is libcrypto.so.3 on rhel9, ubuntu22 and amzn2023; rhel8 and ubuntu20 ship OpenSSL 1.1
(libcrypto.so.1.1), amzn2 OpenSSL 1.0.2 (libcrypto.so.10). A module linked to one does not load
where only another is installed. The table is data (platforms.json) with a source per value.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from modpack import elf, inspection, loadability, policy
from modpack.checks.elf import check_binary
from modpack.findings import Sink
from tests.elf_cases import builder
from tests.elf_cases.builder import Spec
from tests.elf_cases.compile import compile_so
from tests.support.cli import run_modpack
from tests.support.paths import FIXTURES
from tests.support.platforms import supported_os_ids
from tests.support.tools import require

OPENSSL_C = """
#include "redismodule_min.h"
#include <openssl/crypto.h>

unsigned long openssl_version(void) { return OpenSSL_version_num(); }
"""


def crafted(tmp_path: Path, *needed: str, name: str = "module.so") -> Path:
    path = tmp_path / name
    path.write_bytes(builder.build(Spec(needed=("libc.so.6", *needed)))[0])
    return path


def findings(so: Path, systems: list[str] | None) -> list[tuple[str, str, str, str]]:
    sink = Sink(str(so))
    module: dict[str, object] = {"architecture": "x86_64"}
    if systems is not None:
        module["operating_systems"] = systems
    check_binary(so, sink, module=module)
    return [(f.code, f.location.path, f.message, f.fix) for f in sink.resolved()]


# --- a real module linked to OpenSSL 3 -----------------------------------------------------------


@pytest.fixture(scope="module")
def openssl3_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("openssl")
    require(
        Path("/usr/include/openssl/crypto.h").exists(), "the OpenSSL headers (libssl-dev) are not installed"
    )
    hello = (FIXTURES / "src" / "hello.c").read_text()
    so = compile_so(folder, "hello.so", hello + OPENSSL_C, f"-I{FIXTURES / 'include'}", "-lcrypto")
    assert "libcrypto.so.3" in elf.read_elf(so).needed
    return so


def project(tmp_path: Path, systems: list[str] | None) -> Path:
    text = (FIXTURES / "example" / "modpack.toml").read_text()
    text = text.replace('so = "../so/x86_64/hello.so"', "")
    if systems is not None:
        text = text.replace("[platform]\n", f"[platform]\noperating_systems = {json.dumps(systems)}\n")
    path = tmp_path / "modpack.toml"
    path.write_text(text)
    return path


def test_an_openssl3_module_builds_and_validates_for_rhel9(tmp_path: Path, openssl3_module: Path) -> None:
    result = run_modpack(
        "build", project(tmp_path, ["rhel9"]), "--so", openssl3_module, "-o", tmp_path / "dist"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [bundle] = (tmp_path / "dist").glob("*.zip")
    result = run_modpack("validate", bundle)
    assert result.returncode == 0, result.stdout
    assert "libcrypto" not in result.stdout


def test_an_openssl3_module_fails_for_rhel8_naming_the_library_and_the_os(
    tmp_path: Path, openssl3_module: Path
) -> None:
    result = run_modpack(
        "build", project(tmp_path, ["rhel8"]), "--so", openssl3_module, "-o", tmp_path / "dist"
    )
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "PLT010" in output
    assert "the binary needs libcrypto.so.3, which rhel8 does not ship (it has libcrypto.so.1.1)" in output
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").glob("*.zip"))
    # The same through validate: the .so alone, and a bundle written without build's checks.
    module = {"module_name": "hello", "architecture": "x86_64", "operating_systems": ["rhel8"]}
    so_alone = findings(openssl3_module, ["rhel8"])
    assert ("PLT010", "operating_systems[0]") in [(c, p) for c, p, _m, _f in so_alone]
    bundle = tmp_path / "hello.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("module.json", json.dumps(module))
        info = zipfile.ZipInfo("hello.so")
        info.external_attr = 0o100755 << 16
        archive.writestr(info, openssl3_module.read_bytes())
    result = run_modpack("validate", bundle, "--select", "PLT010")
    assert result.returncode == 1
    assert "libcrypto.so.3, which rhel8 does not ship" in result.stdout


def test_build_defaults_to_the_oses_that_ship_openssl3(tmp_path: Path, openssl3_module: Path) -> None:
    result = run_modpack("build", project(tmp_path, None), "--so", openssl3_module, "-o", tmp_path / "dist")
    assert result.returncode == 0, result.stdout + result.stderr
    [bundle] = (tmp_path / "dist").glob("*.zip")
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    assert module["operating_systems"] == ["rhel9", "ubuntu22", "amzn2023"]
    assert bundle.name.startswith("hello.Linux-rhel9+ubuntu22+amzn2023-x86_64")


def test_inspect_says_where_an_openssl3_module_loads_and_what_the_others_lack(openssl3_module: Path) -> None:
    described = inspection.describe(openssl3_module)
    assert described["loadable_on"] == ["rhel9", "ubuntu22", "amzn2023"]
    assert described["oldest_os"] == "rhel9"
    assert described["missing_libraries"] == {
        "rhel8": ["libcrypto.so.3 (has libcrypto.so.1.1)"],
        "ubuntu20": ["libcrypto.so.3 (has libcrypto.so.1.1)"],
    }
    result = run_modpack("inspect", openssl3_module)
    assert result.returncode == 0, result.stderr
    assert re.search(r"loads on\s+rhel9, ubuntu22, amzn2023 \(oldest: rhel9\)", result.stdout)
    assert "rhel8: libcrypto.so.3 (has libcrypto.so.1.1)" in result.stdout


# --- crafted modules: each branch of the check ---------------------------------------------------


@pytest.mark.parametrize(
    ("needed", "system", "message"),
    [
        (
            "libcrypto.so.3",
            "ubuntu20",
            "the binary needs libcrypto.so.3, which ubuntu20 does not ship (it has libcrypto.so.1.1)",
        ),
        (
            "libssl.so.10",
            "rhel9",
            "the binary needs libssl.so.10, which rhel9 does not ship (it has libssl.so.3)",
        ),
        (
            "libssl.so.1.1",
            "amzn2023",
            "the binary needs libssl.so.1.1, which amzn2023 does not ship (it has libssl.so.3)",
        ),
        (
            "libffi.so.7",
            "rhel9",
            "the binary needs libffi.so.7, which rhel9 does not ship (it has libffi.so.8)",
        ),
        (
            "libffi.so.6",
            "ubuntu22",
            "the binary needs libffi.so.6, which ubuntu22 does not ship (it has libffi.so.8)",
        ),
        (
            "libpython3.9.so.1.0",
            "rhel8",
            "the binary needs libpython3.9.so.1.0, which rhel8 does not ship (it has libpython3.6m.so.1.0)",
        ),
    ],
)
def test_a_library_the_declared_os_does_not_ship_is_an_error(
    tmp_path: Path, needed: str, system: str, message: str
) -> None:
    found = findings(crafted(tmp_path, needed), [system])
    assert [(c, p, m) for c, p, m, _f in found] == [("PLT010", "operating_systems[0]", message)]
    fix = found[0][3]
    assert f"drop {system} from operating_systems" in fix
    assert all(os_id in fix for os_id in loadability.shipping_systems(needed))


def test_each_declared_os_is_checked_on_its_own(tmp_path: Path) -> None:
    found = findings(crafted(tmp_path, "libcrypto.so.3"), ["rhel9", "rhel8", "ubuntu22", "ubuntu20"])
    assert [(c, p) for c, p, _m, _f in found] == [
        ("PLT010", "operating_systems[1]"),
        ("PLT010", "operating_systems[3]"),
    ]


@pytest.mark.parametrize(
    ("needed", "system"),
    [
        ("libcrypto.so.3", "rhel9"),
        ("libssl.so.3", "amzn2023"),
        ("libcrypto.so.1.1", "rhel8"),
        ("libssl.so.1.1", "ubuntu20"),
        ("libffi.so.8", "ubuntu22"),
        ("libffi.so.7", "ubuntu20"),
        ("libz.so.1", "rhel8"),
        ("libuuid.so.1", "ubuntu22"),
        ("libcurl.so.4", "rhel9"),
    ],
)
def test_a_library_the_declared_os_ships_and_installs_is_fine(
    tmp_path: Path, needed: str, system: str
) -> None:
    assert findings(crafted(tmp_path, needed), [system]) == []


def test_a_library_a_minimal_node_may_lack_is_a_warning_naming_the_package(tmp_path: Path) -> None:
    found = findings(crafted(tmp_path, "libnsl.so.1"), ["rhel9", "ubuntu22"])
    assert [(c, m) for c, _p, m, _f in found] == [
        ("ELF020", "the binary needs libnsl.so.1, which a minimal node may lack on rhel9 (libnsl)")
    ]
    assert findings(crafted(tmp_path, "libnsl.so.1"), ["ubuntu22"]) == []  # in libc6 there
    # inspect said it loads on every OS with no word of the package validate warns of
    shown = run_modpack("inspect", crafted(tmp_path, "libnsl.so.1"))
    assert shown.returncode == 0, shown.stderr
    assert ", where libnsl.so.1 is installed (a minimal node may lack it; see ELF020)" in shown.stdout, (
        shown.stdout
    )


def test_a_library_no_os_ships_stays_a_warning_with_the_fix(tmp_path: Path) -> None:
    """ELF019 said "which no Redis Enterprise OS installs" of any soname missing from the table
    (libcrypt.so.1 included, which most of them do install), and inspect said "lacks none" of
    the same binary: each now says what is known, and inspect names the library too."""
    found = findings(crafted(tmp_path, "libmodpack_absent.so.1"), ["rhel9"])
    assert [(c, m) for c, _p, m, _f in found] == [
        (
            "ELF019",
            "the binary needs libmodpack_absent.so.1, which no Redis Enterprise OS is known to install",
        )
    ]
    assert "statically" in found[0][3]
    so = crafted(tmp_path, "libmodpack_absent.so.1")
    assert loadability.loadable_systems(elf.read_elf(so)) == supported_os_ids()
    assert inspection.describe(so)["unlisted_libraries"] == ["libmodpack_absent.so.1"]
    shown = run_modpack("inspect", so)
    assert shown.returncode == 0, shown.stderr
    assert "only where libmodpack_absent.so.1 is installed besides the OS" in shown.stdout
    assert "every OS: libmodpack_absent.so.1 (no Redis Enterprise OS is known to install it)" in shown.stdout


def test_libcrypt_is_where_each_os_puts_it(tmp_path: Path) -> None:
    """crypt(3) is libcrypt.so.1: glibc's own on the older OSes, libxcrypt's on rhel8 and
    ubuntu20+, a compatibility package on rhel9 (whose libxcrypt is libcrypt.so.2), and not
    packaged for amzn2023. A module calling crypt() got ELF019, "no Redis Enterprise OS installs"."""
    so = crafted(tmp_path, "libcrypt.so.1")
    assert [(c, m) for c, _p, m, _f in findings(so, ["rhel8", "ubuntu20", "ubuntu22"])] == []
    found = findings(so, ["rhel9", "amzn2023"])
    assert [(c, m) for c, _p, m, _f in found] == [
        ("PLT010", "the binary needs libcrypt.so.1, which amzn2023 does not ship (it has libcrypt.so.2)"),
        (
            "ELF020",
            "the binary needs libcrypt.so.1, which a minimal node may lack on rhel9 (libxcrypt-compat)",
        ),
    ]
    described = inspection.describe(so)
    assert described["loadable_on"] == ["rhel8", "rhel9", "ubuntu20", "ubuntu22"]
    assert described["missing_libraries"] == {"amzn2023": ["libcrypt.so.1 (has libcrypt.so.2)"]}
    assert described["unlisted_libraries"] == []


@pytest.mark.parametrize(
    ("needed", "loads_on"),
    [
        (("libcrypto.so.3", "libssl.so.3"), ["rhel9", "ubuntu22", "amzn2023"]),
        (("libcrypto.so.1.1",), ["rhel8", "ubuntu20"]),
        (("libcrypto.so.10",), []),
        (("libffi.so.7",), ["ubuntu20"]),
        (("libffi.so.6",), ["rhel8"]),
        (("libz.so.1", "libuuid.so.1", "libstdc++.so.6"), supported_os_ids()),
    ],
)
def test_loadable_systems_account_for_libraries(
    tmp_path: Path, needed: tuple[str, ...], loads_on: list[str]
) -> None:
    info = elf.read_elf(crafted(tmp_path, *needed))
    assert loadability.loadable_systems(info) == loads_on


def test_a_so_validated_alone_is_told_where_its_libraries_are(tmp_path: Path) -> None:
    sink = Sink("m.so")
    check_binary(crafted(tmp_path, "libcrypto.so.1.1"), sink, module={"architecture": "x86_64"})
    [finding] = sink.resolved()
    assert finding.code == "ELF029"
    assert finding.message.endswith(
        "the oldest supported OS the binary loads on is rhel8; all it loads on: rhel8, ubuntu20"
    )


def test_no_os_shipping_the_combination_is_explained(tmp_path: Path) -> None:
    sink = Sink("m.so")
    check_binary(crafted(tmp_path, "libcrypto.so.3", "libffi.so.7"), sink, module=None)
    [finding] = sink.resolved()
    assert finding.code == "ELF030"
    assert "cannot provide libffi.so.7 (it has libffi.so.8)" in finding.message


def test_an_os_of_another_architecture_gets_no_library_error(tmp_path: Path) -> None:
    # rhel8 has no aarch64 build: ELF027 says so, a library error would only add noise.
    path = tmp_path / "arm.so"
    path.write_bytes(
        builder.build(Spec(machine=builder.EM_AARCH64, needed=("libc.so.6", "libcrypto.so.3")))[0]
    )
    sink = Sink(str(path))
    check_binary(path, sink, module={"operating_systems": ["rhel8"]})
    assert "PLT010" not in [f.code for f in sink.resolved()]


# --- the table itself ------------------------------------------------------------------------------

SOURCE = re.compile(r"https://\S+|shared/reference/[\w./-]+\.md §\d+.*")


def test_every_per_os_library_value_has_a_source() -> None:
    seen = 0
    for os_id, entry in policy.operating_systems().items():
        for soname, library in entry["libraries"].items():
            where = f"{os_id}.libraries.{soname}"
            assert re.fullmatch(r"lib[\w+.-]+\.so(\.\d+)*", soname), where
            assert isinstance(library["installed"], bool), where
            assert library["package"].strip(), where
            parts = library["source"].split("; ")
            assert parts and all(SOURCE.fullmatch(part) for part in parts), (where, library["source"])
            seen += 1
    assert seen >= 9 * 10


def test_every_supported_os_records_its_openssl_and_the_reference_sonames_hold() -> None:
    """The OpenSSL sonames of elf.md §4 and issue 18, per OS."""
    expected = {
        "rhel7": "10",
        "rhel8": "1.1",
        "rhel9": "3",
        "ubuntu20": "1.1",
        "ubuntu22": "3",
        "ubuntu24": "3",
        "amzn2": "10",
        "amzn2023": "3",
    }
    for os_id, version in expected.items():
        target = loadability.platform(os_id)
        assert target is not None
        for name in ("libssl", "libcrypto"):
            library = target.library(f"{name}.so.{version}")
            assert library is not None and library.installed, (os_id, name)
    assert loadability.platform("amzn2023") is not None
    assert loadability.platform("amzn2023").library("libssl.so.10") is None  # type: ignore[union-attr]


def test_libnsl_is_per_os_not_a_global_tier() -> None:
    """RHEL UBI lacks libnsl.so.1 (a separate package there); Ubuntu has it in libc6."""
    libraries = policy.load("platforms")["libraries"]
    assert set(libraries) == {"$comment", "present", "desktop", "versioned_exports"}
    rhel9, ubuntu22 = loadability.platform("rhel9"), loadability.platform("ubuntu22")
    assert rhel9 is not None and ubuntu22 is not None
    nsl_rhel, nsl_ubuntu = rhel9.library("libnsl.so.1"), ubuntu22.library("libnsl.so.1")
    assert nsl_rhel is not None and not nsl_rhel.installed and nsl_rhel.package == "libnsl"
    assert nsl_ubuntu is not None and nsl_ubuntu.installed


def test_no_soname_is_both_global_and_per_os() -> None:
    libraries = policy.load("platforms")["libraries"]
    universal = set(libraries["present"]) | set(libraries["desktop"])
    for entry in policy.operating_systems().values():
        assert not universal & set(entry["libraries"])


def test_the_openssl3_case_needs_no_compiler() -> None:
    """The case folder holds the crafted bundle; this says what it proves."""
    case = Path(__file__).parent / "cases" / "bad" / "library-not-on-os" / "bundle.zip"
    result = run_modpack("validate", case)
    assert result.returncode == 1
    assert "libcrypto.so.3, which rhel8 does not ship (it has libcrypto.so.1.1)" in result.stdout


@pytest.mark.parametrize(
    ("soname", "kind"),
    [
        ("$ORIGIN/deps/libdep.so", "beside"),
        ("${ORIGIN}/libdep.so", "beside"),
        ("$ORIGIN/deps/../libdep.so", "beside"),  # was "path" (ELF018) for the .. alone (found by a review)
        ("$ORIGIN/./deps/libdep.so", "beside"),
        ("$ORIGIN/../lib/libdep.so", "path"),  # out of the module's folder: no bundle fills it
        ("$ORIGIN/deps/../../libdep.so", "path"),
        ("/opt/lib/libdep.so", "path"),
    ],
)
def test_a_needed_path_is_beside_the_module_only_within_its_folder(soname: str, kind: str) -> None:
    from modpack.loadability import library_kind

    assert library_kind(soname) == kind


def test_a_version_of_a_library_modpack_has_no_releases_of_is_said_not_judged(tmp_path: Path) -> None:
    """zlib 1.2.12's crc32_combine_gen needs ZLIB_1.2.12 of libz.so.1, and dlopen fails where the
    OS's zlib is older ("version `ZLIB_1.2.12' not found"). Which zlib or OpenSSL release each OS
    ships is not in modpack's policy, and inspect said the module loads on every OS, validate's
    ELF029 too, as if that version were judged. Both now say the list holds where the OS's library
    defines it; versions modpack does judge (GLIBC) are not named so."""
    symbols = (
        builder.Sym("RedisModule_OnLoad"),
        builder.Sym("crc32_combine_gen", defined=False, version="ZLIB_1.2.12"),
        builder.Sym("compressBound", defined=False, version="ZLIB_1.2.0"),
        builder.Sym("memcpy", defined=False, version="GLIBC_2.14"),
    )
    spec = Spec(
        needed=("libz.so.1", "libc.so.6"),
        symbols=symbols,
        verneed={"libz.so.1": ("ZLIB_1.2.0", "ZLIB_1.2.12"), "libc.so.6": ("GLIBC_2.14",)},
    )
    so = tmp_path / "zmod.so"
    so.write_bytes(builder.build(spec)[0])
    assert inspection.describe(so)["unjudged_versions"] == ["ZLIB_1.2.12 of libz.so.1"]
    shown = run_modpack("inspect", so)
    assert shown.returncode == 0, shown.stderr
    assert re.search(
        r"loads on\s+rhel8, rhel9, ubuntu20, ubuntu22, amzn2023 \(oldest: rhel8\), where the library it loads"
        r" defines ZLIB_1.2.12 of libz.so.1 \(modpack does not know which release of it each OS ships\)",
        shown.stdout,
    ), shown.stdout
    [(code, _path, message, _fix)] = findings(so, None)
    assert code == "ELF029"
    assert message.endswith(
        "amzn2023, where the library it loads defines ZLIB_1.2.12 of libz.so.1 (modpack does not know"
        " which release of it each OS ships)"
    ), message
    assert findings(crafted(tmp_path), None)[0][2].endswith("amzn2023")  # GLIBC, judged: not named
    # OpenSSL 1.1's nodes have no dotted version; a library the bundle ships is no OS's; libstdc++'s
    # CXXABI_TM_1 every OS has
    needs = {
        "libcrypto.so.1.1": ("OPENSSL_1_1_0", "OPENSSL_1_1_1d"),
        "$ORIGIN/deps/libz.so.1": ("ZLIB_1.2.12",),
        "libstdc++.so.6": ("CXXABI_TM_1", "GLIBCXX_3.4"),
    }
    symbols = (
        builder.Sym("RedisModule_OnLoad"),
        *(
            builder.Sym(f"f{i}", defined=False, version=v)
            for i, v in enumerate(v for vs in needs.values() for v in vs)
        ),
    )
    so.write_bytes(builder.build(Spec(needed=("libc.so.6", *needs), symbols=symbols, verneed=needs))[0])
    assert inspection.describe(so)["unjudged_versions"] == ["OPENSSL_1_1_1d of libcrypto.so.1.1"]
