"""modpack.elf: each question answered on modules compiled at test time, on fixtures, on crafted files."""

from __future__ import annotations

import io
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modpack import elf
from tests.elf_cases import builder
from tests.elf_cases.builder import Spec, Sym
from tests.elf_cases.compile import ONLOAD_C, compile_so
from tests.support.elf import crafted
from tests.support.libraries import newest_required
from tests.support.paths import SO
from tests.support.tools import require

FIXTURES = SO
HOST_X86_64 = platform.machine() == "x86_64"


def fixture(name: str, arch: str = "x86_64") -> Path:
    path = FIXTURES / arch / name
    assert path.exists(), f"fixture {arch}/{name} is missing: run fixtures/build.sh"
    return path


# --- compiled with the host compiler ---------------------------------------------------------


def test_good_module(tmp_path: Path) -> None:
    info = elf.read_elf(compile_so(tmp_path, "good.so", ONLOAD_C, "-Wl,--build-id"))
    assert info.elf_class == 64
    assert info.e_type == "ET_DYN"
    assert info.has_dynamic
    assert not info.is_pie
    assert not info.has_interp
    assert info.onload.exported_function
    assert info.onload.type == "FUNC"
    assert info.gnu_stack
    assert not info.executable_stack
    assert info.build_id is not None
    assert len(info.build_id) == 40
    assert info.has_symtab
    assert not info.has_debug_info
    if HOST_X86_64:
        assert info.architecture == "x86_64"
        assert info.machine == "EM_X86_64"


def test_hidden_onload_is_defined_locally(tmp_path: Path) -> None:
    info = elf.read_elf(compile_so(tmp_path, "hidden.so", ONLOAD_C, "-fvisibility=hidden"))
    assert not info.onload.in_dynsym
    assert info.onload.defined_locally
    assert not info.onload.exported_function


def test_stripped_hidden_onload_is_indistinguishable_from_missing(tmp_path: Path) -> None:
    path = compile_so(tmp_path, "hidden.so", ONLOAD_C, "-fvisibility=hidden")
    require(shutil.which("strip") is not None, "strip (apt-get install binutils)")
    subprocess.run(["strip", "--strip-all", str(path)], check=True)
    info = elf.read_elf(path)
    assert not info.has_symtab
    assert not info.onload.in_dynsym
    assert not info.onload.defined_locally


def test_onload_as_a_variable(tmp_path: Path) -> None:
    info = elf.read_elf(compile_so(tmp_path, "object.so", "int RedisModule_OnLoad = 1;\n"))
    assert info.onload.in_dynsym
    assert info.onload.defined
    assert info.onload.type == "OBJECT"
    assert not info.onload.exported_function


def test_required_versions_and_the_symbols_that_pull_them_in(tmp_path: Path) -> None:
    source = ONLOAD_C + "#include <pthread.h>\nvoid *start(void *a) { pthread_t t;"
    source += " pthread_create(&t, 0, start, a); return a; }\n"
    info = elf.read_elf(compile_so(tmp_path, "threads.so", source, "-pthread"))
    glibc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    if not glibc.startswith("glibc 2.") or elf.parse_version(glibc.split()[1]) < (2, 34):
        pytest.skip("pthread_create@GLIBC_2.34 needs a glibc >= 2.34 host")
    assert newest_required(info)["GLIBC"] >= (2, 34)
    assert "pthread_create" in elf.symbols_by_version(info)["GLIBC_2.34"]
    assert elf.libc_family(info) == "glibc"
    create = next(s for s in info.undefined if s.name == "pthread_create")
    assert create.library == "libc.so.6"
    assert create.label == "pthread_create@GLIBC_2.34"


def test_unversioned_undefined_symbol(tmp_path: Path) -> None:
    # sqrt without -lm: undefined, unversioned, and no libm in DT_NEEDED (elf.md §1.6).
    source = ONLOAD_C + "double sqrt(double);\ndouble root(double x) { return sqrt(x); }\n"
    info = elf.read_elf(compile_so(tmp_path, "sqrt.so", source, "-fno-builtin"))
    assert "sqrt" in elf.unversioned_undefined(info)
    assert "libm.so.6" not in info.needed


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["-Wl,-rpath,/home/build/lib", "-Wl,--enable-new-dtags"], "runpath"),
        (["-Wl,-rpath,/home/build/lib", "-Wl,--disable-new-dtags"], "rpath"),
    ],
)
def test_search_paths(tmp_path: Path, flags: list[str], field: str) -> None:
    info = elf.read_elf(compile_so(tmp_path, "rpath.so", ONLOAD_C, *flags))
    assert getattr(info, field) == ("/home/build/lib",)


def test_executable_stack_and_bind_now(tmp_path: Path) -> None:
    info = elf.read_elf(
        compile_so(tmp_path, "exec.so", ONLOAD_C, "-Wl,-z,execstack", "-Wl,-z,now", "-Wl,-z,relro")
    )
    assert info.executable_stack
    assert info.bind_now
    assert info.relro


def test_pie_executable(tmp_path: Path) -> None:
    path = compile_so(tmp_path, "prog", "int main(void) { return 0; }\n", "-fPIE", "-pie", shared=False)
    info = elf.read_elf(path)
    assert info.e_type == "ET_DYN"
    assert info.is_pie
    assert info.has_interp
    assert info.interp is not None


def test_relocatable_object(tmp_path: Path) -> None:
    info = elf.read_elf(compile_so(tmp_path, "onload.o", ONLOAD_C, "-c", "-fPIC", shared=False))
    assert info.e_type == "ET_REL"
    assert not info.has_dynamic


def test_debug_info_is_detected_without_loading_dwarf(tmp_path: Path) -> None:
    info = elf.read_elf(compile_so(tmp_path, "debug.so", ONLOAD_C, "-g"))
    assert info.has_debug_info


def test_preemptible_definitions_are_looked_up(tmp_path: Path) -> None:
    source = ONLOAD_C + (
        "__attribute__((noinline)) char *sdsnew(const char *s) { return (char *)s; }\n"
        "__attribute__((noinline)) int lua_gettop(void *L) { return !L; }\n"
        "int use(void) { return sdsnew(0) == 0 && lua_gettop(0); }\n"
    )
    info = elf.read_elf(compile_so(tmp_path, "collide.so", source))
    assert info.lookups is not None
    assert {lookup.name for lookup in info.lookups if lookup.defined} == {"sdsnew", "lua_gettop"}
    symbolic = elf.read_elf(compile_so(tmp_path, "symbolic.so", source, "-Wl,-Bsymbolic"))
    assert symbolic.symbolic and symbolic.lookups is not None
    assert not [lookup for lookup in symbolic.lookups if lookup.defined]


def test_cxx_module_needs_glibcxx(tmp_path: Path) -> None:
    source = '#include <string>\nextern "C" int RedisModule_OnLoad(void *, void **, int argc) {'
    source += " std::string s(argc + 40, 'x'); return (int)s.size(); }\n"
    info = elf.read_elf(compile_so(tmp_path, "cxx.so", source, cxx=True))
    assert "GLIBCXX" in newest_required(info)
    assert "libstdc++.so.6" in info.needed
    assert info.onload.exported_function


# --- fixtures -------------------------------------------------------------------------------


def test_fixture_hello() -> None:
    info = elf.read_elf(fixture("hello.so"))
    assert info.architecture == "x86_64"
    assert info.needed == ("libc.so.6",)
    assert newest_required(info) == {"GLIBC": (2, 2, 5)}
    assert info.onload.exported_function
    assert elf.unversioned_undefined(info) == ()


def test_fixture_aarch64() -> None:
    info = elf.read_elf(fixture("hello.so", "aarch64"))
    assert info.architecture == "aarch64"
    assert info.machine == "EM_AARCH64"
    assert newest_required(info) == {"GLIBC": (2, 17)}


def test_fixture_elf32() -> None:
    info = elf.read_elf(fixture("elf32.so"))
    assert info.elf_class == 32
    assert info.architecture is None
    assert info.machine == "EM_ARM"
    assert info.onload.exported_function  # the 32-bit symbol layout is read too


def test_fixture_glibc_future_and_cxx() -> None:
    future = elf.read_elf(fixture("glibc_future.so"))
    assert newest_required(future)["GLIBC"] == (2, 99)
    assert elf.symbols_by_version(future)["GLIBC_2.99"] == ("modpack_future_symbol",)
    cxx = elf.read_elf(fixture("cxx_module.so"))
    assert newest_required(cxx)["GLIBCXX"] == (3, 4, 30)


def test_fixture_needs_lib_and_execstack() -> None:
    assert "libmodpack_absent.so.1" in elf.read_elf(fixture("needs_lib.so")).needed
    assert elf.read_elf(fixture("execstack.so")).executable_stack


# --- crafted ----------------------------------------------------------------------------------


def test_crafted_versions_special_and_private(tmp_path: Path) -> None:
    spec = Spec(
        symbols=(
            Sym("RedisModule_OnLoad"),
            Sym("memcpy", defined=False, version="GLIBC_2.14"),
            Sym("_dl_x", defined=False, version="GLIBC_PRIVATE"),
        ),
        verneed={
            "libc.so.6": ("GLIBC_2.2.5", "GLIBC_2.14", "GLIBC_ABI_DT_RELR", "GLIBC_PRIVATE"),
            "libgcc_s.so.1": ("GCC_3.0", "GCC_7.0.0"),
            "libstdc++.so.6": ("CXXABI_1.3.9", "CXXABI_TM_1"),
        },
    )
    info = elf.read_elf(crafted(tmp_path, spec))
    required = newest_required(info)
    assert required["GLIBC"] == (2, 36)  # GLIBC_ABI_DT_RELR, via the policy's special_versions
    assert required["GCC"] == (7, 0, 0)
    assert required["CXXABI"] == (1, 3, 9)
    assert elf.private_versions(info) == ("GLIBC_PRIVATE",)
    assert elf.versions_by_family(info)["GLIBC"][0][1] == "GLIBC_ABI_DT_RELR"


def test_version_order_is_numeric() -> None:
    assert elf.parse_version("2.2.5") < elf.parse_version("2.17")
    assert elf.version_key((11, 0)) == elf.version_key((11, 0, 0))
    assert elf.split_version_name("GLIBCXX_3.4.30") == ("GLIBCXX", (3, 4, 30))
    assert elf.split_version_name("GLIBC_PRIVATE") is None


def test_crafted_dynamic_facts(tmp_path: Path) -> None:
    spec = Spec(
        needed=("libc.so.6", "libz.so.1"),
        soname="libmod.so",
        rpath="/a:$ORIGIN/lib",
        textrel=True,
        flags_1=0x08000001,
        stack_flags=None,
    )
    info = elf.read_elf(crafted(tmp_path, spec))
    assert info.needed == ("libc.so.6", "libz.so.1")
    assert info.soname == "libmod.so"
    assert info.rpath == ("/a", "$ORIGIN/lib")
    assert info.textrel
    assert info.is_pie
    assert info.bind_now
    assert not info.gnu_stack
    assert info.executable_stack  # no PT_GNU_STACK on x86_64 means an executable stack


def test_missing_stack_header_is_not_executable_on_aarch64(tmp_path: Path) -> None:
    info = elf.read_elf(crafted(tmp_path, Spec(machine=builder.EM_AARCH64, stack_flags=None)))
    assert info.architecture == "aarch64"
    assert not info.executable_stack


def test_crafted_big_endian_reads(tmp_path: Path) -> None:
    info = elf.read_elf(crafted(tmp_path, Spec(little=False, machine=builder.EM_AARCH64)))
    assert not info.little_endian
    assert info.architecture is None  # big-endian aarch64 is not shipped
    assert info.onload.exported_function
    assert newest_required(info) == {"GLIBC": (2, 2, 5)}


def test_musl_detection(tmp_path: Path) -> None:
    info = elf.read_elf(crafted(tmp_path, Spec(needed=("libc.musl-x86_64.so.1",), verneed={})))
    assert elf.libc_family(info) == "musl"
    none = elf.read_elf(crafted(tmp_path, Spec(needed=(), verneed={}), "bare.so"))
    assert elf.libc_family(none) is None


def test_nothing_imports_pyelftools_at_import_time() -> None:
    code = (
        "import sys, modpack.elf, modpack.loadability, modpack.inspection, modpack.checks.elf\n"
        "assert 'elftools' not in sys.modules, sorted(m for m in sys.modules if 'elftools' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- streams ----------------------------------------------------------------------------------


class HoleyStream(io.BytesIO):
    """A stream that fails like the bundle reader's image outside the byte ranges it kept."""

    def __init__(self, data: bytes, hole: tuple[int, int]) -> None:
        super().__init__(data)
        self.hole = hole

    def read(self, size: int | None = -1, /) -> bytes:
        start = self.tell()
        end = len(self.getbuffer()) if size is None or size < 0 else start + size
        if start < self.hole[1] and end > self.hole[0]:
            raise OSError(5, f"byte {start} was not kept")
        return super().read(size)


def test_stream_source_matches_path_and_stays_open(tmp_path: Path) -> None:
    path = fixture("hello.so")
    stream = io.BytesIO(path.read_bytes())
    assert elf.read_elf(stream) == elf.read_elf(path)
    assert not stream.closed


def test_stream_missing_the_static_symbols_only_loses_the_hidden_detail(tmp_path: Path) -> None:
    spec = Spec(symbols=(), static_symbols=(Sym("RedisModule_OnLoad", bind=builder.LOCAL),))
    data, layout = builder.build(spec)
    _index, offset, size = layout.sections[".symtab"]
    assert elf.read_elf(io.BytesIO(data)).onload.defined_locally
    info = elf.read_elf(HoleyStream(data, (offset, offset + size)))
    assert not info.onload.defined_locally


def test_stream_missing_a_needed_table_is_unreadable() -> None:
    data, layout = builder.build()
    _index, offset, size = layout.sections[".dynsym"]
    with pytest.raises(elf.ElfError) as raised:
        elf.read_elf(HoleyStream(data, (offset, offset + size)))
    assert raised.value.kind == "unreadable"
