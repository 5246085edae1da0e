"""Regenerates modpack/data/redis_server_exports.json from a real redis-server binary.

    python scripts/redis_server_exports.py [REDIS_SERVER ...]

Without arguments: /usr/bin/redis-server and each server `modpack redis prepare` unpacked in
$XDG_CACHE_HOME/modpack/redis/ (other Redis versions, aarch64). `names` is the union of them all,
so a name only a newer Redis exports is never taken for one nothing defines (ELF036).

redis-server is linked -rdynamic, so every global function and object of the executable is in
its dynamic symbol table, and a module loaded with RTLD_LOCAL looks names up there first
(elf.md §1.10). The names kept are the ones a module's lookup can land on: defined, global or
weak, default or protected visibility, a function or an object (NOTYPE linker marks such as
_end are left out), and unversioned. Versioned definitions are libc data the executable holds a
copy of (stdout@GLIBC_2.2.5, environ, ...): binding to those is what the copy relocation is for.

The list differs between Redis versions and builds (Debian's package links the system jemalloc,
upstream builds link jemalloc with the je_ prefix statically), so the file records its sources;
`supplement` lists names documented for other builds, with their source.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "modpack" / "data" / "redis_server_exports.json"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "modpack" / "redis"
KEPT_TYPES = {"STT_FUNC", "STT_OBJECT", "STT_TLS", "STT_GNU_IFUNC", "STT_COMMON"}
KEPT_BINDS = {"STB_GLOBAL", "STB_WEAK", "STB_GNU_UNIQUE"}
# Start-up code every executable carries (crt1.o, crti.o): no module refers to these.
STARTUP = {"_start", "_init", "_fini", "_IO_stdin_used"}
# Upstream Redis builds jemalloc from deps/ with --with-jemalloc-prefix=je_ and links it
# statically (redis/redis deps/Makefile, src/zmalloc.h), so with -rdynamic its public API is
# exported under these names; Debian's package links libjemalloc.so.2 instead.
JEMALLOC_API = [
    "je_malloc",
    "je_calloc",
    "je_posix_memalign",
    "je_aligned_alloc",
    "je_realloc",
    "je_free",
    "je_mallocx",
    "je_rallocx",
    "je_xallocx",
    "je_sallocx",
    "je_dallocx",
    "je_sdallocx",
    "je_nallocx",
    "je_mallctl",
    "je_mallctlnametomib",
    "je_mallctlbymib",
    "je_malloc_stats_print",
    "je_malloc_usable_size",
    "je_memalign",
    "je_valloc",
    "je_malloc_conf",
    "je_malloc_message",
]


def exported_names(path: Path) -> list[str]:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerSymSection
    from elftools.elf.sections import SymbolTableSection

    with path.open("rb") as stream:
        elf = ELFFile(stream)
        dynsym = next(
            s for s in elf.iter_sections() if isinstance(s, SymbolTableSection) and s.name == ".dynsym"
        )
        versym = next((s for s in elf.iter_sections() if isinstance(s, GNUVerSymSection)), None)
        names = []
        for index, symbol in enumerate(dynsym.iter_symbols()):
            entry = symbol.entry
            if entry.st_shndx == "SHN_UNDEF" or not symbol.name or symbol.name in STARTUP:
                continue
            if entry.st_info.bind not in KEPT_BINDS or entry.st_info.type not in KEPT_TYPES:
                continue
            if entry.st_other.visibility not in ("STV_DEFAULT", "STV_PROTECTED"):
                continue
            if versym is not None:
                ndx = versym.get_symbol(index).entry["ndx"]
                if ndx not in ("VER_NDX_LOCAL", "VER_NDX_GLOBAL") and int(ndx) & 0x7FFF >= 2:
                    continue
            names.append(symbol.name)
    return sorted(set(names))


def describe(path: Path) -> dict[str, str]:
    """Where the names came from: a prepared server by its record (it may not run here: another
    architecture, or a newer glibc than this machine's), this machine's by asking it."""
    digest = hashlib.sha256(path.resolve().read_bytes()).hexdigest()
    try:
        folder = path.resolve().relative_to(CACHE).parts[0]
    except ValueError:
        return {**run_version(path), "binary": str(path.resolve()), "binary_sha256": digest}
    record = json.loads((CACHE / folder / "server.json").read_text(encoding="utf-8"))
    changelog = CACHE / folder / "root/usr/share/doc/redis-server/changelog.Debian.gz"
    with gzip.open(changelog, "rt", encoding="utf-8") as text:
        package = text.readline().split(";", 1)[0]  # "redis (5:8.0.2-3+deb13u3) trixie-security"
    return {
        "redis_version": record["version"],
        "package": f"{package} {record['architecture']}",
        "binary": f"$XDG_CACHE_HOME/modpack/redis/{folder}/root/usr/bin/{path.resolve().name}",
        "binary_sha256": digest,
    }


def run_version(path: Path) -> dict[str, str]:
    # Run by the name given: Debian's redis-server is a link to redis-check-rdb, which names
    # itself after argv[0].
    version = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True).stdout
    package = ""
    try:
        owner = subprocess.run(
            ["dpkg", "-S", str(path.resolve())], capture_output=True, text=True, check=True
        )
        name = owner.stdout.split(":", 1)[0]
        package = subprocess.run(
            ["dpkg-query", "-W", "-f=${Package} ${Version} ${Architecture}", name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pass
    match = re.search(r"v=(\S+)", version)
    return {
        "redis_version": match.group(1) if match else version.strip(),
        "server_version_line": version.strip(),
        "package": package,
    }


def prepared_servers() -> list[Path]:
    return sorted(p for p in CACHE.glob("*/root/usr/bin/redis-server") if p.exists())


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv[1:]] or [Path("/usr/bin/redis-server"), *prepared_servers()]
    names: set[str] = set()
    for path in paths:
        names.update(exported_names(path.resolve()))
    sources = [describe(path) for path in paths]
    described = "; ".join(f"Redis {s['redis_version']} ({s['package'] or s['binary']})" for s in sources)
    data = {
        "$comment": (
            "Names redis-server exports to the modules it loads (it is linked -rdynamic): defined, "
            "global or weak, default or protected visibility, functions and objects, unversioned. "
            "Regenerate with scripts/redis_server_exports.py. The set differs between Redis "
            f"versions and builds; `names` is the union of {described}; `supplement` names "
            "documented for other builds."
        ),
        "sources": sources,
        "names": sorted(names),
        "supplement": {
            "source": "upstream builds: jemalloc linked statically with the je_ prefix (redis deps/Makefile)",
            "names": JEMALLOC_API,
        },
    }
    OUTPUT.write_text(json.dumps(data, indent=0) + "\n", encoding="utf-8")
    print(f"{len(names)} names from {len(paths)} servers -> {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
