"""What this machine's (or a prepared server's) system libraries define, read with pyelftools."""

from __future__ import annotations

from pathlib import Path

from modpack import elf


def newest_defined(path: str | None, family: str) -> tuple[int, ...]:
    """The newest `family` version node a system library defines (its .gnu.version_d)."""
    if path is None:
        return (0,)
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerDefSection

    versions: list[tuple[int, ...]] = [(0,)]
    with Path(path).open("rb") as stream:
        for section in ELFFile(stream).iter_sections():
            if isinstance(section, GNUVerDefSection):
                for _verdef, names in section.iter_versions():
                    split = elf.split_version_name(next(names).name)
                    if split and split[0] == family:
                        versions.append(split[1])
    return max(versions, key=elf.version_key)


def newest_required(info: elf.ElfInfo) -> dict[str, elf.Version]:
    """The newest version a module requires per family: {"GLIBC": (2, 34), "GLIBCXX": (3, 4, 30)}."""
    return {family: pairs[0][0] for family, pairs in elf.versions_by_family(info).items()}
