"""`modpack redis prepare`: a redis-server of another version or architecture, from Debian's packages.

Debian publishes redis-server for amd64 and arm64 in each release (bookworm: 7.0.15, trixie:
8.0.x). `prepare` fetches one release's package list into private apt folders (the system's own
apt setup, its lists and its dpkg database are never touched), downloads the redis-tools package
(which holds the redis-server binary) and the libraries it needs, and unpacks them with
`dpkg -x` into a private root under the user's cache folder:

    $XDG_CACHE_HOME/modpack/redis/<release>-<debian arch>/root/...
    $XDG_CACHE_HOME/modpack/redis/<release>-<debian arch>/server.json   (what it is)

The server runs through that root's own dynamic loader (`root/.../ld-linux-*.so --library-path
... root/usr/bin/redis-server`) when it is of this machine's architecture, and under qemu-user
(`qemu-aarch64-static -L root root/usr/bin/redis-server`) when it is not, so a module loads
against the libraries of the distribution that ships that Redis.

Only the packages a running redis-server needs are fetched: redis-server, redis-tools and the
closure of their library dependencies (packages named lib*; the others, such as adduser, are only used by the
maintainer scripts, which `dpkg -x` never runs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from modpack.errors import ModpackError, UsageError
from modpack.redis.spec import ServerSpec, host_architecture

MANIFEST = "server.json"
MANIFEST_VERSION = 1
DEBIAN_MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"  # package debian-archive-keyring
# redis-tools holds the binary (/usr/bin/redis-check-rdb); redis-server the link to it that
# picks the server's personality from argv[0], and the default config (not used here).
PACKAGES = ("redis-server", "redis-tools")
# Debian release -> the Redis major.minor it ships (packages.debian.org/source/<release>/redis).
RELEASES = {"bookworm": "7.0", "trixie": "8.0"}
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
QEMU = {"x86_64": "qemu-x86_64-static", "aarch64": "qemu-aarch64-static"}
LOADER = {"x86_64": "ld-linux-x86-64.so.2", "aarch64": "ld-linux-aarch64.so.1"}
TRIPLET = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}
APT_TIMEOUT = 900.0  # seconds for one apt-get step on a slow mirror


class ProvisionError(ModpackError):
    """A server could not be prepared (apt, dpkg or qemu failed, or is missing)."""


def cache_root() -> Path:
    """$XDG_CACHE_HOME/modpack/redis, or ~/.cache/modpack/redis."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modpack" / "redis"


@dataclass(frozen=True)
class Prepared:
    """One prepared server, as its manifest describes it."""

    folder: Path
    release: str
    architecture: str
    version: str
    packages: tuple[str, ...]

    @property
    def root(self) -> Path:
        return self.folder / "root"

    @property
    def binary(self) -> Path:
        return self.root / "usr" / "bin" / "redis-server"

    @property
    def emulated(self) -> bool:
        return self.architecture != host_architecture()

    def command(self) -> tuple[str, ...] | None:
        """The argv prefix that runs this redis-server here; None when it cannot run here."""
        if self.emulated:
            qemu = shutil.which(QEMU.get(self.architecture, ""))
            return (qemu, "-L", str(self.root), str(self.binary)) if qemu else None
        loader = _find_loader(self.root, self.architecture)
        if loader is None:
            return None
        return (str(loader), "--library-path", library_path(self.root, self.architecture), str(self.binary))

    def spec(self) -> ServerSpec | None:
        command = self.command()
        if command is None:
            return None
        how = f"emulated with {QEMU[self.architecture]}" if self.emulated else "run through its own loader"
        origin = f"{self.architecture}, Debian {self.release} packages in {self.folder}, {how}"
        return ServerSpec(
            command, self.architecture, self.version, origin, emulated=self.emulated, release=self.release
        )


def library_path(root: Path, architecture: str) -> str:
    triplet = TRIPLET[architecture]
    folders = [root / "lib" / triplet, root / "usr" / "lib" / triplet, root / "lib", root / "usr" / "lib"]
    return ":".join(str(f) for f in folders)


def _find_loader(root: Path, architecture: str) -> Path | None:
    name = LOADER[architecture]
    for folder in ("usr/lib", "lib", f"usr/lib/{TRIPLET[architecture]}", f"lib/{TRIPLET[architecture]}"):
        candidate = root / folder / name
        if candidate.exists():
            return candidate
    return None


def read_prepared(folder: Path) -> Prepared | None:
    """The manifest of one prepared server; None when it is missing or unreadable."""
    try:
        data = json.loads((folder / MANIFEST).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format_version") != MANIFEST_VERSION:
        return None
    fields = (data.get("release"), data.get("architecture"), data.get("version"))
    if not all(isinstance(v, str) and v for v in fields):
        return None
    packages = data.get("packages")
    names = tuple(p for p in packages if isinstance(p, str)) if isinstance(packages, list) else ()
    return Prepared(folder, str(fields[0]), str(fields[1]), str(fields[2]), names)


def prepared() -> list[Prepared]:
    """Every prepared server in the cache folder, sorted by folder name."""
    root = cache_root()
    if not root.is_dir():
        return []
    found = (read_prepared(folder) for folder in sorted(root.iterdir()) if folder.is_dir())
    return [p for p in found if p is not None]


def installed() -> list[ServerSpec]:
    """The prepared servers that can run on this machine now: none when the cache folder cannot be
    read (a job run as another user with HOME kept), whose servers could not be run either. Such
    a cache stopped discover and validate --load with "Permission denied" alone, though the
    machine's own redis-server was there. `modpack redis list` names the error."""
    try:
        found = prepared()
    except OSError:
        return []
    specs = (p.spec() for p in found)
    return [s for s in specs if s is not None]


# --- preparing ----------------------------------------------------------------------------------


def release_for(version: str | None) -> str:
    """The Debian release that ships Redis `version` (major.minor); the newest when None."""
    if version is None:
        return list(RELEASES)[-1]
    wanted = ".".join(version.split(".")[:2])
    for release, shipped in RELEASES.items():
        if shipped == wanted:
            return release
    known = ", ".join(f"{v} ({r})" for r, v in RELEASES.items())
    raise UsageError(f"no Debian release ships Redis {version}", f"Choose one of: {known}.")


def prepare(architecture: str, version: str | None = None, *, force: bool = False) -> Prepared:
    """Fetch and unpack Debian's redis-server of `architecture` and Redis `version` (major.minor)."""
    if architecture not in DEBIAN_ARCH:
        raise UsageError(f"unknown architecture {architecture!r}", "Choose x86_64 or aarch64.")
    release = release_for(version)
    folder = cache_root() / f"{release}-{DEBIAN_ARCH[architecture]}"
    existing = read_prepared(folder)
    if existing is not None and not force:
        return existing
    _require_tools(architecture)
    work = folder.with_name(folder.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    try:
        work.mkdir(parents=True)
        apt = _Apt(work / "apt", release, DEBIAN_ARCH[architecture])
        apt.update()
        packages = apt.closure(PACKAGES)
        debs = apt.download(packages)
        root = work / "root"
        for deb in debs:
            _run(["dpkg-deb", "-x", str(deb), str(root)], f"unpack {deb.name}")
        _merge_usr(root)
        made = Prepared(work, release, architecture, _version_of(apt, PACKAGES[0]), tuple(sorted(packages)))
        shutil.rmtree(work / "apt", ignore_errors=True)  # package lists and .debs: 20 MB, not needed
        _check_runs(made)
        _write_manifest(made)
        shutil.rmtree(folder, ignore_errors=True)
        work.rename(folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    done = read_prepared(folder)
    if done is None:  # pragma: no cover - written just above
        raise ProvisionError(f"{folder / MANIFEST} cannot be read back")
    return done


def _require_tools(architecture: str) -> None:
    missing = [tool for tool in ("apt-get", "apt-cache", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        raise ProvisionError(
            f"preparing a redis-server needs Debian's package tools; missing: {', '.join(missing)}",
            "Run it on Debian or Ubuntu (or in a Debian container).",
        )
    if not Path(KEYRING).is_file():
        raise ProvisionError(
            f"{KEYRING} is missing, so Debian's package lists cannot be verified",
            "Install it: apt-get install debian-archive-keyring.",
        )
    if architecture != host_architecture() and shutil.which(QEMU[architecture]) is None:
        raise ProvisionError(
            f"running an {architecture} redis-server on this {host_architecture()} machine needs "
            f"{QEMU[architecture]}, which is not installed",
            "Install it: apt-get install qemu-user-static.",
        )


class _Apt:
    """apt-get and apt-cache on private folders: their own sources, lists, cache and status."""

    def __init__(self, folder: Path, release: str, debian_arch: str) -> None:
        self.folder = folder
        self.debian_arch = debian_arch
        for sub in ("etc/sources.list.d", "etc/preferences.d", "lists/partial", "cache/archives/partial"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / "status").write_text("")
        (folder / "etc" / "sources.list").write_text(
            f"deb [signed-by={KEYRING}] {DEBIAN_MIRROR} {release} main\n"
        )

    def options(self) -> list[str]:
        f = self.folder
        settings = {
            "Dir::Etc::SourceList": f / "etc" / "sources.list",
            "Dir::Etc::SourceParts": f / "etc" / "sources.list.d",
            "Dir::Etc::Preferences": f / "etc" / "preferences",
            "Dir::Etc::PreferencesParts": f / "etc" / "preferences.d",
            "Dir::State::Lists": f / "lists",
            "Dir::State::status": f / "status",
            "Dir::Cache": f / "cache",
            "APT::Architecture": self.debian_arch,
            "APT::Architectures::": self.debian_arch,
            "Acquire::Languages": "none",
            # Private folders need no lock of the system's; root's apt would otherwise download as
            # the _apt user, which cannot write into a folder of the user's.
            "Debug::NoLocking": "1",
            "APT::Sandbox::User": "root" if os.geteuid() == 0 else "",
        }
        return [arg for key, value in settings.items() if str(value) for arg in ("-o", f"{key}={value}")]

    def update(self, attempts: int = 3) -> None:
        """apt-get update; a mirror caught mid-sync fails with a hash mismatch, so retry."""
        for attempt in range(attempts):
            try:
                _run(["apt-get", "-q", *self.options(), "update"], "apt-get update (Debian's package list)")
                return
            except ProvisionError:
                if attempt == attempts - 1:
                    raise
                time.sleep(5.0 * (attempt + 1))

    def closure(self, packages: tuple[str, ...]) -> set[str]:
        """`packages` and every library package they need, transitively (first of alternatives).

        A library package is one in Debian's `libs` section (zlib1g) or named lib*; the others
        (adduser, init-system-helpers) serve the maintainer scripts only."""
        wanted, frontier, rejected = set(packages), list(packages), set()
        while frontier:
            output = _run(
                ["apt-cache", *self.options(), "depends", "--no-recommends", "--no-suggests",
                 "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *frontier],
                "apt-cache depends",
            )  # fmt: skip
            new = sorted({n for n in _dependencies(output) if n not in wanted and n not in rejected})
            sections = self.sections(new) if new else {}
            frontier = [n for n in new if n.startswith("lib") or sections.get(n, "").endswith("libs")]
            wanted.update(frontier)
            rejected.update(set(new) - set(frontier))
        return wanted

    def sections(self, packages: list[str]) -> dict[str, str]:
        """package -> Debian section (`libs`, `admin`, ...), from the package records."""
        output = _run(
            ["apt-cache", *self.options(), "show", "--no-all-versions", *packages], "apt-cache show"
        )
        found: dict[str, str] = {}
        name = ""
        for line in output.splitlines():
            key, _, value = line.partition(": ")
            if key == "Package":
                name = value.strip()
            elif key == "Section" and name:
                found[name] = value.strip()
        return found

    def download(self, packages: set[str]) -> list[Path]:
        target = self.folder / "cache" / "archives"
        _run(
            ["apt-get", "-q", *self.options(), "download", *sorted(packages)], "apt-get download", cwd=target
        )
        debs = sorted(target.glob("*.deb"))
        if len(debs) < len(packages):
            raise ProvisionError(f"apt-get download fetched {len(debs)} of {len(packages)} packages")
        return debs

    def version(self, package: str) -> str:
        output = _run(["apt-cache", *self.options(), "show", "--no-all-versions", package], "apt-cache show")
        for line in output.splitlines():
            if line.startswith("Version:"):
                return line.partition(":")[2].strip()
        raise ProvisionError(f"apt-cache show {package} gives no version")


def _dependencies(output: str) -> list[str]:
    """Package names after `Depends:`/`PreDepends:` in apt-cache depends output, alternatives'
    first choice only (a `|Depends:` line is followed by its alternative); virtual ones skipped."""
    names: list[str] = []
    alternative = False
    for line in output.splitlines():
        stripped = line.strip()
        kind, _, name = stripped.partition(": ")
        if kind.lstrip("|") not in ("Depends", "PreDepends") or not name:
            continue
        if not alternative and not name.startswith("<"):
            names.append(name.split(":")[0])
        alternative = kind.startswith("|")
    return names


def _version_of(apt: _Apt, package: str) -> str:
    """The upstream Redis version of the Debian package: `5:8.0.2-3+deb13u3` -> `8.0.2`."""
    debian = apt.version(package)
    upstream = debian.split(":", 1)[-1].split("-", 1)[0]
    return upstream.split("+", 1)[0]


def _merge_usr(root: Path) -> None:
    """/lib, /lib64, /bin point into /usr on a merged-/usr system; packages of trixie ship under
    /usr only, while binaries still name /lib/ld-linux-*.so as their interpreter."""
    for name in ("lib", "lib64", "bin", "sbin"):
        link, target = root / name, root / "usr" / name
        if not link.exists() and not link.is_symlink() and target.is_dir():
            link.symlink_to(Path("usr") / name)


def _check_runs(made: Prepared) -> None:
    from modpack.redis.harness import HarnessError, binary_version

    command = made.command()
    if command is None:
        raise ProvisionError(f"the prepared redis-server in {made.folder} cannot be run here")
    try:
        found = ".".join(str(n) for n in binary_version(command, timeout=120.0))
    except HarnessError as exc:
        raise ProvisionError(f"the prepared redis-server does not run: {exc.message}") from None
    if found != made.version:
        raise ProvisionError(f"the prepared redis-server reports {found}, its package says {made.version}")


def _write_manifest(made: Prepared) -> None:
    data = {
        "format_version": MANIFEST_VERSION,
        "release": made.release,
        "architecture": made.architecture,
        "version": made.version,
        "packages": list(made.packages),
        "source": f"{DEBIAN_MIRROR} {made.release} main ({DEBIAN_ARCH[made.architecture]})",
    }
    (made.folder / MANIFEST).write_text(json.dumps(data, indent=2) + "\n", "utf-8")


def _run(args: list[str], what: str, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=APT_TIMEOUT, check=False, cwd=cwd,
            env={**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"},
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProvisionError(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip().splitlines()[-8:]
        raise ProvisionError(
            f"{what} failed (exit status {done.returncode})" + ("; the end of its output:" if said else ""),
            f"Check that {DEBIAN_MIRROR} is reachable.",
            said,
        )
    return done.stdout


def remove(folder: Path) -> None:
    """Delete one prepared server."""
    shutil.rmtree(folder)
