"""modpack.inspection: the description of a module binary, as data and as text."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from modpack import elf
from modpack.inspection import describe_binary, format_description, sha256_of
from tests.elf_cases import builder
from tests.elf_cases.builder import Spec, Sym
from tests.support.cli import run_modpack
from tests.support.paths import HELLO, SO


def test_describe_the_good_fixture() -> None:
    path = SO / "x86_64" / "hello.so"
    described = describe_binary(path)
    assert json.loads(json.dumps(described)) == described  # plain JSON-able data
    assert described["architecture"] == "x86_64"
    assert described["elf_class"] == 64
    assert described["needed"] == ["libc.so.6"]
    assert described["onload"] == "exported"
    assert described["symbol_versions"] == {
        "GLIBC": {"max": "2.2.5", "required": ["GLIBC_2.2.5"], "symbols": ["__cxa_finalize@GLIBC_2.2.5"]}
    }
    assert described["loadable_on"] == ["rhel8", "rhel9", "ubuntu20", "ubuntu22", "amzn2023"]
    assert described["oldest_os"] == "rhel8"
    assert described["size"] == path.stat().st_size
    assert described["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert described["build_id"] is not None
    assert described["execstack"] is False
    assert described["textrel"] is False


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("x86_64/cxx_module.so", "loadable_on", ["ubuntu22"]),
        ("x86_64/glibc_future.so", "loadable_on", []),
        ("x86_64/glibc_future.so", "oldest_os", None),
        ("x86_64/no_onload.so", "onload", "missing"),
        ("x86_64/hidden_onload.so", "onload", "hidden"),
        ("x86_64/execstack.so", "execstack", True),
        ("x86_64/needs_lib.so", "needed", ["libmodpack_absent.so.1", "libc.so.6"]),
        ("aarch64/hello.so", "loadable_on", ["rhel9", "ubuntu22", "amzn2023"]),
        ("x86_64/elf32.so", "architecture", None),
        ("x86_64/elf32.so", "loadable_on", []),
    ],
)
def test_describe_fixtures(name: str, field: str, value: object) -> None:
    assert describe_binary(SO / name)[field] == value


def test_cxx_versions_per_family() -> None:
    versions = describe_binary(SO / "x86_64" / "cxx_module.so")["symbol_versions"]
    assert versions["GLIBCXX"]["max"] == "3.4.30"
    assert versions["GLIBC"]["max"] == "2.2.5"


def test_onload_states(tmp_path: Path) -> None:
    cases = [
        ("not-a-function", Spec(symbols=(Sym("RedisModule_OnLoad", type=builder.OBJECT),))),
        ("undefined", Spec(symbols=(Sym("RedisModule_OnLoad", defined=False),))),
        ("hidden", Spec(symbols=(Sym("RedisModule_OnLoad", visibility=builder.HIDDEN),))),
        # an object file (topk.o): its global RedisModule_OnLoad was shown as "hidden"
        ("not-a-library", Spec(e_type=builder.ET_REL)),
        ("not-a-library", Spec(flags_1=0x08000000)),  # a PIE: glibc refuses to dlopen it
        # a library of a machine Redis Enterprise does not run is still a library
        ("exported", Spec(machine=builder.EM_RISCV)),
    ]
    for number, (state, spec) in enumerate(cases):
        path = tmp_path / f"{number}.so"
        path.write_bytes(builder.build(spec)[0])
        assert describe_binary(path)["onload"] == state, spec


def test_not_an_elf_raises_the_elf_error() -> None:
    with pytest.raises(elf.ElfError) as raised:
        describe_binary(SO / "x86_64" / "text.so")
    assert raised.value.kind == "not-elf"


def test_text_format() -> None:
    text = format_description(describe_binary(SO / "x86_64" / "cxx_module.so"))
    lines = text.splitlines()
    assert lines[0].endswith("cxx_module.so")
    assert "  architecture  x86_64 (64-bit little-endian EM_X86_64, ET_DYN)" in lines
    assert "  OnLoad        exported" in lines
    assert any(line.startswith("  versions      GLIBC 2.2.5") for line in lines)
    assert any("GLIBCXX 3.4.30" in line for line in lines)
    assert "  loads on      ubuntu22 (oldest: ubuntu22)" in lines
    nowhere = format_description(describe_binary(SO / "x86_64" / "glibc_future.so"))
    assert "  loads on      none of the supported Redis Enterprise OSes" in nowhere.splitlines()


def test_sha256_streams_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 9000  # more than two 1 MiB chunks
    path.write_bytes(data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()


def test_a_bundle_inspect_cannot_read_is_told_apart_from_one_with_several_binaries(tmp_path: Path) -> None:
    """Both said "is not a bundle with one .so": a bundle holding exactly one .so that cannot be
    read safely (here an entry name leaving the folder, ZIP008) got it too, beside its finding."""
    import zipfile

    unsafe = tmp_path / "unsafe.zip"
    with zipfile.ZipFile(unsafe, "w") as archive:
        archive.writestr("module.json", "{}")
        archive.writestr("../hello.so", HELLO.read_bytes())
    result = run_modpack("inspect", unsafe)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ZIP008" in result.stdout
    assert f"modpack: {unsafe} cannot be read as a bundle" in result.stderr
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("module.json", "{}")
        archive.writestr("a.so", HELLO.read_bytes())
        archive.writestr("b.so", HELLO.read_bytes())
    result = run_modpack("inspect", two)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"modpack: {two} holds 2 .so files; inspect reads a bundle with one" in result.stderr
    # --format json: stdout stays JSON or empty (the text report of the findings was printed there)
    for bundle, code in ((two, "ZIP003"), (unsafe, "ZIP008")):
        machine = run_modpack("inspect", "--format", "json", bundle, env={"FORCE_COLOR": "1"})
        assert machine.returncode == 1 and machine.stdout == "", machine.stdout
        assert f"{bundle}: error {code} " in machine.stderr, machine.stderr


def test_a_zip_named_file_that_is_no_zip_is_called_so(tmp_path: Path) -> None:
    """inspect said "not an ELF file" of a .zip of random bytes: what validate's ZIP001 says instead."""
    bogus = tmp_path / "bundle.zip"
    bogus.write_bytes(hashlib.sha256(b"x").digest() * 200)
    done = run_modpack("inspect", bogus)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{bogus} is not a zip archive (no end-of-central-directory record)" in done.stderr
    assert "ELF" not in done.stderr
    binary = tmp_path / "module.so"
    binary.write_bytes(bogus.read_bytes())
    assert "not an ELF file" in run_modpack("inspect", binary).stderr


@pytest.mark.parametrize("name", ["module.so", "module"])
def test_an_elf_file_ending_like_a_zip_is_read_as_a_binary(tmp_path: Path, name: str) -> None:
    """Debian's /usr/bin/zip, zipnote, zipsplit and zipcloak hold a zip end-of-central-directory
    record near their end: inspect took each for a bundle ("ZIP018 the archive declares 25710
    entries", "cannot be read as a bundle") where validate reads it as the ELF file it is."""
    import io
    import zipfile

    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w"):
        pass  # an empty archive: just the 22-byte end-of-central-directory record
    binary = tmp_path / name
    binary.write_bytes(builder.build()[0] + empty.getvalue())
    assert zipfile.is_zipfile(binary)
    result = run_modpack("inspect", "--format", "json", binary)
    assert result.returncode == 0, result.stdout + result.stderr
    described = json.loads(result.stdout)
    assert described["architecture"] == "x86_64" and "bundle" not in described
    assert described["onload"] == "exported"


def test_a_file_name_with_control_characters_is_shown_escaped(tmp_path: Path) -> None:
    """inspect printed a file name as it is, so an escape sequence in it reached the terminal
    (validate shows it escaped)."""
    import shutil

    named = tmp_path / "bad\x1b[2Jname.so"
    shutil.copy(HELLO, named)
    done = run_modpack("inspect", named)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "\x1b" not in done.stdout
    assert done.stdout.splitlines()[0] == f"{tmp_path}/bad\\x1b[2Jname.so"
