"""What `modpack validate BUNDLE.zip` loads and how it reads (issue 16: at most 0.7x the CPU of
Python's zipfile + sha256). Structural, never timed: bench/bench_elf.py measures the speed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import build, modules_loaded, run_modpack, run_python
from tests.support.paths import HELLO, ROOT, SO


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The modules a validate of a real bundle imports, beyond those the interpreter started with."""
    out = tmp_path_factory.mktemp("bundle")
    bundle = build(ROOT / "fixtures" / "example" / "modpack.toml", out, "--so", HELLO)
    assert run_modpack("validate", bundle).returncode == 0  # a clean bundle: every check ran
    return modules_loaded("validate", bundle)


def test_isa_l_inflates_a_bundle_and_zlib_ng_is_not_loaded(imported: set[str]) -> None:
    # ISA-L inflates and computes the CRC in 0.84x zlib-ng's CPU (modpack/codec.py).
    assert "isal.igzip_lib" in imported
    assert not {m for m in imported if m.startswith("zlib_ng")}


def test_the_bundle_path_imports_no_third_party_package_but_click_and_isal(imported: set[str]) -> None:
    packages = {m.partition(".")[0] for m in imported} - set(sys.stdlib_module_names)
    assert packages <= {"modpack", "click", "isal"}, packages - {"modpack", "click", "isal"}


# --- the ELF reader opens only regular files, checked on the open descriptor (issue 15) ---------

HANG_GUARD = 60  # seconds: the old reader blocked forever opening a FIFO


def _read_elf_in_child(path: Path, setup: str = "") -> str:
    code = (
        "import sys\n" + setup + "from modpack.elf import ElfError, read_elf\n"
        "try: read_elf(sys.argv[1])\n"
        "except ElfError as exc: print(exc.kind, exc.message)\n"
    )
    result = run_python(code, path, timeout=HANG_GUARD)  # in a child: the timeout guards a reader that blocks
    return result.stdout + result.stderr


def test_read_elf_refuses_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "module.so"
    os.mkfifo(fifo)
    out = _read_elf_in_child(fifo)
    assert f"unreadable cannot open {fifo}: a named pipe (FIFO), not a regular file" in out, out


def test_read_elf_refuses_a_fifo_swapped_in_after_any_check_of_the_path(tmp_path: Path) -> None:
    """Every check of the path sees a regular file, as when the FIFO replaces it after the check.

    A writer holds the FIFO open, so a reader that opens it anyway does not block: it reads the
    pipe and fails on something else (the old reader said 'Illegal seek')."""
    fifo = tmp_path / "module.so"
    os.mkfifo(fifo)
    regular = SO / "x86_64" / "hello.so"
    setup = (
        "import os, pathlib\n"
        f"_real = os.stat({str(regular)!r})\n"
        "pathlib.Path.stat = lambda self, **kw: _real\n"
        "os.stat = lambda *a, **kw: _real\n"
        "_writer = os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK)\n"
        "os.write(_writer, b'\\x7fELF' + bytes(60))\n"
    )
    out = _read_elf_in_child(fifo, setup)
    assert f"unreadable cannot open {fifo}: a named pipe (FIFO), not a regular file" in out, out


# --- the section table is read from the kept pieces without joining them all -------------------


def test_a_sparse_image_reads_exactly_the_kept_bytes_without_joining_them() -> None:
    import random

    from modpack import bundle

    rng = random.Random(16)
    data = bytes(rng.randrange(256) for _ in range(4000))
    for _ in range(300):
        kept: dict[int, bytes] = {}
        for _ in range(rng.randrange(1, 5)):  # pieces that may overlap, touch or leave gaps
            low = rng.randrange(4000)
            kept[low] = data[low : low + rng.randrange(1, 1500)]
        low, length = rng.randrange(4000), rng.randrange(1, 700)
        end = min(low + length, len(data))
        covered = all(
            any(start <= at < start + len(piece) for start, piece in kept.items()) for at in range(low, end)
        )
        image = bundle.SparseImage(len(data), kept)
        image.seek(low)
        if covered:
            assert image.read(length) == data[low:end], (sorted(kept), low, length)
        else:
            with pytest.raises(OSError, match="were not kept"):
                image.read(length)
    pieces = {0: b"a" * 100, 100: b"b" * 100}
    image = bundle.SparseImage(200, pieces)
    assert [data for _, data in image.pieces] == [pieces[0], pieces[100]]  # kept as they came
    assert all(data is pieces[start] for start, data in image.pieces)


# --- the records on the bundle path cost little to define: they are imported by every validate ---


def test_no_module_a_bundle_validate_imports_defines_a_dataclass(imported: set[str]) -> None:
    """A dataclass compiles its methods when its module is imported (about 0.6 ms each): nineteen of
    them, across findings, rules, loadability, report, reporters, config and the CLI, were 11 ms
    of each bundle's validate (issue 16). Records there are NamedTuples or plain classes."""
    import dataclasses
    import importlib
    import inspect

    ours = sorted(m for m in imported if m.partition(".")[0] == "modpack")
    assert {"modpack.elf", "modpack.findings", "modpack.loadability", "modpack.reporters"} <= set(ours)
    defined = [
        f"{name}.{c.__name__}"
        for name in ours
        for _, c in inspect.getmembers(importlib.import_module(name), inspect.isclass)
        if c.__module__ == name and dataclasses.is_dataclass(c)
    ]
    assert defined == []


def test_records_on_the_bundle_path_cannot_be_changed_and_compare_by_value() -> None:
    from modpack import elf, findings, rules

    entry = elf.EntryPoint(in_dynsym=True)
    with pytest.raises(AttributeError):
        entry.defined = True  # type: ignore[misc]
    assert entry == elf.EntryPoint(True) and len({entry, elf.EntryPoint(True)}) == 1
    where = findings.Location("module.json", "commands[0]", 3)
    with pytest.raises(AttributeError):
        where.line = 4  # type: ignore[misc]
    assert str(where) == "module.json:3 [commands[0]]"
    found = findings.Finding(rules.rule("CMD005"), "m", where)
    assert found == findings.Finding(
        rules.rule("CMD005"), "m", findings.Location("module.json", "commands[0]", 3)
    )
    assert found.severity is rules.Severity.ERROR and found.code == "CMD005"
    with pytest.raises(AttributeError):
        found.message = "other"  # type: ignore[misc]


def test_the_bundle_path_imports_no_traceback_module(imported: set[str]) -> None:
    """traceback prints only with --debug: imported there, not at every start (about 1 ms)."""
    assert "traceback" not in imported


# --- one inflating pass when the sections the ELF reader never reads lie past the kept head -----


def test_unloaded_sections_past_the_kept_head_cost_no_second_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debug data or comments in the middle of a large module: the ELF reader never reads them
    (only read-only loaded PROGBITS), so keeping them sent the whole .so through a second pass."""
    import shutil
    import zipfile

    from modpack import bundle, elf

    assert shutil.which("objcopy"), "objcopy is needed (Debian package binutils)"
    big, small = tmp_path / "big.bin", tmp_path / "small.bin"
    big.write_bytes(bytes(5 << 20))
    small.write_bytes(b"debug" * 20_000)
    module = tmp_path / "m.so"
    flags = ["--set-section-flags", ".debug_x=noload,readonly"]
    # objcopy lays added sections out in reverse order: .head_big, then .debug_x, then .tail_big
    added = [f".tail_big={big}", f".debug_x={small}", f".head_big={big}"]
    command = ["objcopy", *[a for s in added for a in ("--add-section", s)], *flags]
    subprocess.run([*command, str(SO / "x86_64" / "hello.so"), str(module)], check=True)
    data = module.read_bytes()
    offset = data.find(b"debug" * 20_000)
    assert bundle.HEAD_KEEP < offset < len(data) - bundle.TAIL_KEEP - 100_000  # neither head nor tail
    zipped = tmp_path / "m.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("m.so", data)
    passes = []
    inflate = bundle.member_chunks
    monkeypatch.setattr(bundle, "member_chunks", lambda *args: passes.append(1) or inflate(*args))
    with zipfile.ZipFile(zipped) as archive:
        streamed = bundle.stream_binary(archive, archive.getinfo("m.so"))
    assert len(passes) == 1
    assert elf.read_elf(streamed.image) == elf.read_elf(module)  # the same facts as from the file
