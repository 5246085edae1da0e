"""Crafted ELF modules (tests.elf_cases.builder) written to a test's folder and read back."""

from __future__ import annotations

from pathlib import Path

from modpack import elf
from tests.elf_cases import builder
from tests.elf_cases.builder import Spec, Sym


def crafted(tmp_path: Path, spec: Spec | None = None, name: str = "module.so") -> Path:
    """The module `spec` describes (the builder's default module without one), as tmp_path/name."""
    data, _layout = builder.build(spec)
    path = tmp_path / name
    path.write_bytes(data)
    return path


def info_of(tmp_path: Path, spec: Spec) -> elf.ElfInfo:
    """What modpack's ELF reader reads of the crafted module."""
    return elf.read_elf(crafted(tmp_path, spec))


def needing(*versions: str, library: str = "libc.so.6", machine: int = builder.EM_X86_64) -> Spec:
    """A module whose undefined symbol f_<version> requires each version of `library`."""
    symbols = (Sym("RedisModule_OnLoad"), *(Sym(f"f_{v}", defined=False, version=v) for v in versions))
    return Spec(machine=machine, symbols=symbols, verneed={library: versions})
