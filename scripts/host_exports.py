"""Regenerates modpack/data/host_exports.json: every name the libraries of a redis-server
process define: glibc's, and those redis-server itself links (OpenSSL, libatomic, libstdc++...).

    python scripts/host_exports.py [ROOT ...]

A module's undefined symbol that carries no version is looked up at dlopen in the global scope:
redis-server (linked -rdynamic, scripts/redis_server_exports.py) and the libraries loaded with it,
glibc's among them. An unversioned reference binds to a versioned definition too (glibc
elf/dl-lookup.c, check_match: with no version asked for, the base version or the only
non-hidden one is taken), which is how `sqrt` from a module built without -lm loads: redis-server
needs libm. So the names kept are every defined dynamic symbol of each library, whatever its
version, as `nm -D --defined-only` lists them; the version nodes themselves (type A) are not names.

Beside glibc's, the libraries each root's redis-server needs (its DT_NEEDED: Debian's links
libssl, libcrypto, libatomic, libsystemd, liblzf, libjemalloc, and 8.x libstdc++) are loaded
into the same global scope, so a module's name one of them defines may bind too: such a name is
not one nothing defines (a module relying on it is ELF025's to warn of).

The list is a union over every root given (the machine's own, `/`, and the Debian roots
`modpack redis prepare` unpacks in $XDG_CACHE_HOME/modpack/redis/), so a name a newer glibc or
the other architecture adds is never taken for one nothing defines. Each root's glibc version and
files are recorded in the output's $comment and `sources`.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "modpack" / "data" / "host_exports.json"
# The libraries of glibc a process may hold: libc, libm, libpthread, libdl, librt, the loader,
# and the smaller ones (libresolv, libutil, libanl) a server links for DNS or ptys.
LIBRARIES = (
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libresolv.so.2",
    "libutil.so.1",
    "libanl.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
)
FOLDERS = (
    "lib/x86_64-linux-gnu",
    "usr/lib/x86_64-linux-gnu",
    "lib/aarch64-linux-gnu",
    "usr/lib/aarch64-linux-gnu",
)


sys.path.insert(0, str(OUTPUT.parent.parent.parent))  # this checkout's modpack: its ELF reader, its cache

from modpack.elf import read_elf  # noqa: E402
from modpack.redis.provision import cache_root, prepared  # noqa: E402

CACHE = cache_root()


def prepared_roots() -> list[Path]:
    return [p.folder / "root" for p in prepared() if (p.folder / "root").is_dir()]


def shown(root: Path) -> str:
    """The root as recorded: a prepared one relative to the cache, not this machine's home."""
    try:
        return f"$XDG_CACHE_HOME/modpack/redis/{root.relative_to(CACHE)}"
    except ValueError:
        return str(root)


def redis_server_needs(root: Path) -> list[str]:
    """The sonames `root`'s redis-server loads: its DT_NEEDED and theirs, as the loader follows
    them (libstdc++ brings libgcc_s, libsystemd liblz4 and more), read by modpack's own reader."""
    server = root / "usr" / "bin" / "redis-server"
    if not server.exists():
        return []
    seen: set[str] = set()
    queue = list(read_elf(server).needed)
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        found = next((root / f / name for f in FOLDERS if (root / f / name).exists()), None)
        if found is not None:
            queue += read_elf(found.resolve()).needed
    return sorted(seen)


def library_files(root: Path) -> list[Path]:
    """Each glibc library of `root`, and each its redis-server needs, once (lib/ is often a link
    to usr/lib/)."""
    found: dict[Path, Path] = {}
    names = (*LIBRARIES, *redis_server_needs(root))
    for folder in FOLDERS:
        for name in names:
            path = root / folder / name
            if path.exists():
                found.setdefault(path.resolve(), path)
    return sorted(found.values())


def defined_names(path: Path) -> set[str]:
    """`nm -D --defined-only`, names without their @VERSION, the version nodes left out."""
    listing = subprocess.run(
        ["nm", "-D", "--defined-only", str(path)], capture_output=True, text=True, check=True
    ).stdout
    names = set()
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] != "A":
            names.add(fields[2].split("@", 1)[0])
    return names


def glibc_version(root: Path) -> str:
    changelog = root / "usr/share/doc/libc6/changelog.Debian.gz"
    if changelog.exists():
        with gzip.open(changelog, "rt", encoding="utf-8") as text:
            return text.readline().split(")", 1)[0].replace(" (", " ")  # "glibc 2.41-12+deb13u5"
    return "glibc (version unknown)"


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv[1:]] or [Path("/"), *prepared_roots()]
    names: set[str] = set()
    sources = []
    for root in roots:
        files = library_files(root)
        if not files:
            print(f"no libraries under {root}", file=sys.stderr)
            continue
        for path in files:
            names |= defined_names(path)
        files_in_root = [str(p.relative_to(root)) for p in files]
        sources.append({"root": shown(root), "glibc": glibc_version(root), "files": files_in_root})
    described = "; ".join(f"{s['glibc']} ({s['root']})" for s in sources)
    data = {
        "$comment": (
            "Every name the libraries of a redis-server process define (nm -D --defined-only, any"
            " version): glibc's, and those its redis-server needs; a union over: "
            f"{described}. An unversioned undefined symbol of a module may bind to one of these at "
            "dlopen. Regenerate with scripts/host_exports.py."
        ),
        "sources": sources,
        "names": sorted(names),
    }
    OUTPUT.write_text(json.dumps(data, indent=0) + "\n", encoding="utf-8")
    print(f"{len(names)} names from {len(sources)} roots -> {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
