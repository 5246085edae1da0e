"""The truth test for aarch64 (issue 18): the static verdict agrees with a real MODULE LOAD in
Debian's arm64 redis-server, run under qemu-user on this x86_64 machine.

As tests/test_elf_truth.py does for x86_64: `check_binary` predicts whether the dynamic loader
accepts the file (dlopen with RTLD_NOW, then dlsym of RedisModule_OnLoad), and each fixture is
loaded into a fresh emulated redis-server to see what the loader did. "Loaded", OnLoad refusing
and OnLoad never returning mean the loader accepted the file; a dlopen or dlsym failure and a
crashed server mean it did not.

The aarch64 fixtures: fixtures/so/aarch64/hello.so as checked in, and the other sources of
fixtures/src built here for aarch64 with the cross compiler, the project's header and the flags of
fixtures/build.sh (which builds only hello.c for aarch64); plus a truncated copy, the x86_64 hello.so
(another machine) and the 32-bit ARM elf32.so. The platform of the prediction is the emulated
machine itself: the glibc, libstdc++ and libgcc versions its root defines, and the libraries it has.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from modpack.checks.elf import check_binary
from modpack.findings import Severity, Sink
from modpack.loadability import Platform
from modpack.redis import harness, provision
from modpack.redis.spec import ServerSpec, host_architecture
from tests.support.libraries import newest_defined
from tests.support.paths import FIXTURES, SO
from tests.support.redis_prepared import require_prepared

pytestmark = [pytest.mark.redis, pytest.mark.slow]

SRC = FIXTURES / "src"
PLAIN = ("no_onload", "hidden_onload", "mismatch", "subcommands", "keyspecs", "normalise", "hang_onload")
BUILT = (*PLAIN, "execstack", "glibc_future", "needs_lib", "truncated")
GIVEN = {"hello.so": SO / "aarch64" / "hello.so", "x86_64-hello.so": SO / "x86_64" / "hello.so"}
GIVEN["elf32.so"] = SO / "x86_64" / "elf32.so"
FIXTURE_NAMES = sorted([f"{name}.so" for name in BUILT] + list(GIVEN))
# Seconds under emulation: a load takes < 1 s, far more on a busy machine; only hang_onload.so reaches it.
LOAD_TIMEOUT = 60.0
VERSIONS = ("7.0", "8.0")


def _compile(out: Path, source: Path, *extra: str) -> None:
    compiler = shutil.which("aarch64-linux-gnu-gcc")
    if compiler is None:
        pytest.fail("aarch64-linux-gnu-gcc is missing; scripts/test.sh installs gcc-aarch64-linux-gnu")
    flags = ["-O2", "-fPIC", "-shared", "-std=gnu11", "-Wall", "-Wextra", "-Werror"]
    subprocess.run(
        [compiler, *flags, f"-I{FIXTURES / 'include'}", "-o", str(out), str(source), *extra],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def aarch64_fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> path of every aarch64 fixture (and the two of other machines)."""
    folder = tmp_path_factory.mktemp("aarch64")
    link = ["-Wl,--build-id", "-Wl,--no-as-needed"]
    stub = folder / "stub"
    stub.mkdir()
    stub_flags = ["-nostdlib", "-Wl,--build-id"]
    _compile(
        stub / "libc.so.6",
        SRC / "stub" / "libc_future.c",
        *stub_flags,
        "-Wl,-soname,libc.so.6",
        f"-Wl,--version-script={SRC / 'stub' / 'libc_future.map'}",
    )
    _compile(
        stub / "libmodpack_absent.so.1",
        SRC / "stub" / "absent.c",
        *stub_flags,
        "-Wl,-soname,libmodpack_absent.so.1",
    )
    found = dict(GIVEN)
    for name in PLAIN:
        _compile(folder / f"{name}.so", SRC / f"{name}.c", *link)
    _compile(folder / "execstack.so", SRC / "execstack.c", *link, "-Wl,-z,execstack")
    _compile(folder / "glibc_future.so", SRC / "glibc_future.c", *link, f"-L{stub}", "-l:libc.so.6")
    _compile(folder / "needs_lib.so", SRC / "needs_lib.c", *link, f"-L{stub}", "-l:libmodpack_absent.so.1")
    data = GIVEN["hello.so"].read_bytes()
    (folder / "truncated.so").write_bytes(data[: len(data) * 40 // 100])
    for name in BUILT:
        path = folder / f"{name}.so"
        path.chmod(0o755)
        found[f"{name}.so"] = path
    return found


def prepared_root(spec: ServerSpec) -> Path:
    for made in provision.prepared():
        if made.architecture == spec.architecture and made.version == spec.version:
            return made.root
    pytest.fail(f"no prepared root for {spec.origin}")


def root_libraries(root: Path) -> dict[str, str]:
    """soname -> path of the libraries in the emulated machine's library folders."""
    found: dict[str, str] = {}
    for folder in ("lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib", "usr/lib"):
        for path in sorted((root / folder).glob("*.so*")) if (root / folder).is_dir() else []:
            found.setdefault(path.name, str(path))
    return found


def emulated_machine(root: Path) -> Platform:
    libs = root_libraries(root)
    return Platform(
        os_id="emulated-aarch64",
        name=f"Debian arm64 root in {root}",
        status="host",
        glibc=newest_defined(libs.get("libc.so.6"), "GLIBC"),
        glibcxx=newest_defined(libs.get("libstdc++.so.6"), "GLIBCXX"),
        cxxabi=newest_defined(libs.get("libstdc++.so.6"), "CXXABI"),
        gcc=(("aarch64", newest_defined(libs.get("libgcc_s.so.1"), "GCC")),),
        architectures=("aarch64",),
    )


def predicted_to_load(path: Path, machine: Platform, root: Path) -> tuple[bool, list[str]]:
    sink = Sink(str(path))
    info = check_binary(path, sink, {"architecture": "aarch64"}, platforms=[machine])
    reasons = [f"{f.code} {f.message}" for f in sink.findings if f.severity is Severity.ERROR]
    if info is not None and any(f.code in ("ELF019", "ELF020") for f in sink.findings):
        installed = root_libraries(root)
        reasons += [f"{name} is not in the emulated machine" for name in info.needed if name not in installed]
    return not reasons, reasons


def observed_load(path: Path, spec: ServerSpec) -> tuple[bool, str]:
    """Whether the loader of a fresh emulated redis-server accepted the file, and what it said."""
    with harness.RedisServer(spec=spec, timeout=LOAD_TIMEOUT) as server:
        try:
            server.load_module(path)
        except harness.ModuleLoadError as exc:
            accepted = exc.failure.reason in ("onload-failed", "timeout")  # OnLoad ran: dlopen said yes
            return accepted, f"{exc.failure.reason}: {exc.failure.message}"
        return True, "loaded"


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"redis-{v}")
def emulated(request: pytest.FixtureRequest) -> tuple[ServerSpec, Path, Platform]:
    if host_architecture() != "x86_64":
        pytest.skip("emulates aarch64 on an x86_64 machine")
    spec = require_prepared("aarch64", request.param)
    root = prepared_root(spec)
    return spec, root, emulated_machine(root)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_static_verdict_agrees_with_emulated_module_load(
    name: str, aarch64_fixtures: dict[str, Path], emulated: tuple[ServerSpec, Path, Platform]
) -> None:
    spec, root, machine = emulated
    path = aarch64_fixtures[name]
    predicted, reasons = predicted_to_load(path, machine, root)
    loaded, said = observed_load(path, spec)
    assert predicted == loaded, (
        f"modpack predicted {'load' if predicted else reasons}; redis-server {spec.version} (aarch64): {said}"
    )


def test_the_aarch64_fixtures_cover_both_verdicts(
    aarch64_fixtures: dict[str, Path], emulated: tuple[ServerSpec, Path, Platform]
) -> None:
    _spec, root, machine = emulated
    verdicts = {predicted_to_load(path, machine, root)[0] for path in aarch64_fixtures.values()}
    assert verdicts == {True, False}
