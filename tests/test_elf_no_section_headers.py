"""A module whose section header table was stripped (strip --strip-sections, sstrip) is read
through its dynamic segment, as glibc's loader reads it: every check runs on it."""

from __future__ import annotations

import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from modpack import elf
from modpack.checks.elf import check_binary
from modpack.findings import Sink
from tests.support.cli import run_modpack
from tests.support.modules import compile_module, observe
from tests.support.paths import SO
from tests.support.tools import require

# dlopen is GLIBC_2.34 since libdl moved into libc: rhel8 (2.28) cannot load the module
BODY = "extern void *dlopen(const char *, int); if (!dlopen(0, 1)) return REDISMODULE_ERR;"
SAME = ("size", "has_symtab", "has_debug_info", "onload")


def without_sections(so: Path, name: str) -> Path:
    stripped = so.with_name(name)
    shutil.copy(so, stripped)
    strip = shutil.which("llvm-strip")
    require(strip is not None, "llvm-strip (Debian: apt-get install llvm; scripts/test.sh installs it)")
    assert strip is not None
    subprocess.run([strip, "--strip-sections", str(stripped)], check=True)
    assert struct.unpack_from("<Q", stripped.read_bytes(), 40)[0] == 0  # e_shoff
    return stripped


@pytest.mark.rule("ELF012")
def test_a_module_without_section_headers_gets_every_check(tmp_path: Path) -> None:
    """It got ELF003 ("modpack needs it to read the exported symbols") and build refused it,
    though redis-server loads it; the GLIBC_2.34 it needs went unsaid."""
    stripped = without_sections(compile_module(tmp_path, BODY, "hello"), "hello_noshdr.so")
    assert observe(stripped).loaded

    done = run_modpack("validate", stripped)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ELF003" not in done.stdout
    shown = run_modpack("inspect", stripped)
    assert "GLIBC 2.34 (dlopen@GLIBC_2.34)" in shown.stdout, shown.stdout
    assert "loads on      rhel9, ubuntu22, amzn2023 (oldest: rhel9)" in shown.stdout
    sink = Sink(str(stripped))
    check_binary(stripped, sink, {"architecture": "x86_64", "operating_systems": ["rhel8", "rhel9"]})
    assert [(f.code, f.location.path) for f in sink.findings] == [("ELF012", "operating_systems[0]")]
    assert "needs GLIBC_2.34 (required by dlopen@GLIBC_2.34)" in sink.findings[0].message


@pytest.mark.parametrize(
    "fixture", ["x86_64/hello.so", "x86_64/cxx_module.so", "x86_64/keyspecs.so", "aarch64/hello.so"]
)
def test_the_dynamic_segment_says_what_the_section_headers_say(tmp_path: Path, fixture: str) -> None:
    whole = elf.read_elf(SO / fixture)
    stripped = elf.read_elf(without_sections(shutil.copy(SO / fixture, tmp_path / "m.so"), "n.so"))
    for field in whole._fields:
        if field not in SAME:
            assert getattr(stripped, field) == getattr(whole, field), field
    assert stripped.onload._replace(defined_locally=False) == whole.onload._replace(defined_locally=False)
    assert not stripped.has_symtab


def dynamic_entry(data: bytes, tag: int) -> int:
    """The file offset of the value of the first dynamic entry `tag` (a 64-bit LE file)."""
    phoff, phentsize, phnum = struct.unpack_from("<Q", data, 32)[0], *struct.unpack_from("<HH", data, 54)
    for index in range(phnum):
        kind, _flags, offset, _vaddr, _paddr, filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + index * phentsize
        )
        if kind == elf.PT_DYNAMIC:
            for at in range(offset, offset + filesz, 16):
                if struct.unpack_from("<q", data, at)[0] == tag:
                    return at + 8
    raise AssertionError(f"no dynamic tag {tag}")


@pytest.mark.parametrize(
    ("tag", "value", "said"),
    [
        (elf.DT_SYMTAB, 0x7FFF0000, "DT_SYMTAB (address 0x7fff0000) lies in no loaded segment"),
        (elf.DT_STRSZ, 1 << 40, "DT_STRTAB (address"),
        (elf.DT_GNU_HASH, 0x7FFF0000, "DT_GNU_HASH (address 0x7fff0000) lies in no loaded segment"),
    ],
)
def test_a_lying_dynamic_tag_is_malformed_and_quick(tmp_path: Path, tag: int, value: int, said: str) -> None:
    stripped = without_sections(compile_module(tmp_path, BODY, "hello"), "n.so")
    data = bytearray(stripped.read_bytes())
    struct.pack_into("<Q", data, dynamic_entry(bytes(data), tag), value)
    stripped.write_bytes(bytes(data))
    started = time.process_time()
    with pytest.raises(elf.ElfError) as raised:
        elf.read_elf(stripped)
    assert time.process_time() - started < 1.0
    assert raised.value.kind == "malformed" and said in raised.value.message


def test_a_gnu_hash_chain_without_an_end_is_malformed(tmp_path: Path) -> None:
    """Every hash of the last chain with its low bit clear: the count never ends."""
    stripped = without_sections(compile_module(tmp_path, BODY, "hello"), "n.so")
    data = bytearray(stripped.read_bytes())
    address = struct.unpack_from("<Q", data, dynamic_entry(bytes(data), elf.DT_GNU_HASH))[0]
    buckets, _offset, bloom, _shift = struct.unpack_from(
        "<IIII", data, address
    )  # first segment: offset = address
    chains = address + 16 + 8 * bloom + 4 * buckets
    for at in range(chains, len(data) - 4, 4):
        struct.pack_into("<I", data, at, struct.unpack_from("<I", data, at)[0] & ~1)
    stripped.write_bytes(bytes(data))
    with pytest.raises(elf.ElfError) as raised:
        elf.read_elf(stripped)
    assert raised.value.kind == "malformed"


def test_a_large_module_without_section_headers_reads_from_its_bundle(tmp_path: Path) -> None:
    """A bundle keeps only the head, the tail and what the reader needs of a module over 32 MiB,
    and it found what the reader needs in the section headers: without them, build wrote the
    bundle and then validate, inspect and publish refused it (IN001 'bytes ... were not kept')."""
    from tests.support.rest import module_json, write_bundle

    body = (
        "static const char big[20 << 20] = {1}; static volatile char data[20 << 20] = {1};"
        " if (big[argc] + data[argc] == 7) return REDISMODULE_ERR;"
    )
    stripped = without_sections(compile_module(tmp_path, body, "hello"), "hello_big.so")
    assert stripped.stat().st_size > 40 * 1024 * 1024
    # the dynamic segment lies past the head and before the tail a bundle keeps of such a module
    head = stripped.read_bytes()[:4096]
    phoff, phnum = struct.unpack_from("<Q", head, 32)[0], struct.unpack_from("<H", head, 56)[0]
    (dynamic,) = [
        struct.unpack_from("<Q", head, phoff + 56 * n + 8)[0]
        for n in range(phnum)
        if struct.unpack_from("<I", head, phoff + 56 * n)[0] == 2
    ]
    assert 8 << 20 < dynamic < stripped.stat().st_size - (8 << 20)
    bundle = write_bundle(tmp_path / "big.zip", module_json(stripped), stripped)
    done = run_modpack("validate", bundle)
    assert "IN001" not in done.stdout and "ELF003" not in done.stdout, done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    shown = run_modpack("inspect", bundle)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "OnLoad        exported" in shown.stdout
