"""`modpack redis prepare|list` and the choice of a redis-server, without the network.

Preparing itself (apt on Debian's mirror) is proved by scripts/test.sh and by the tests that use the
prepared servers (test_redis_emulated.py, test_elf_truth_aarch64.py); here the parts that decide:
reading apt's dependency output, the manifests of the cache folder, and which server proves which
module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modpack.errors import UsageError
from modpack.redis import provision, servers
from modpack.redis.harness import RedisNotFoundError
from modpack.redis.spec import ServerSpec, host_architecture
from tests.support.cli import run_modpack

DEPENDS = """\
redis-tools
  Depends: adduser
  Depends: libatomic1
 |Depends: libssl3t64
  Depends: libssl3
  PreDepends: libc6
  Depends: <libjemalloc-virtual>
  Recommends: lua-bitop
zlib1g
  PreDepends: libc6
"""


def test_dependencies_take_the_first_alternative_and_skip_virtual_packages() -> None:
    assert provision._dependencies(DEPENDS) == ["adduser", "libatomic1", "libssl3t64", "libc6", "libc6"]


def test_release_of_a_redis_version() -> None:
    assert provision.release_for("7.0") == "bookworm"
    assert provision.release_for("8.0.2") == "trixie"
    assert provision.release_for(None) == "trixie"
    with pytest.raises(UsageError, match=r"no Debian release ships Redis 6\.2"):
        provision.release_for("6.2")


def manifest(folder: Path, **fields: object) -> Path:
    data = {"format_version": 1, "release": "trixie", "architecture": "aarch64", "version": "8.0.2", **fields}
    folder.mkdir(parents=True)
    (folder / "server.json").write_text(json.dumps(data))
    return folder


def test_the_cache_folder_lists_only_well_formed_servers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    base = tmp_path / "modpack" / "redis"
    manifest(base / "trixie-arm64", packages=["redis-tools", 3])
    manifest(base / "broken", version="")
    (base / "empty").mkdir()
    (base / "garbage").mkdir()
    (base / "garbage" / "server.json").write_text("{not json")
    (found,) = provision.prepared()
    assert (found.release, found.architecture, found.version) == ("trixie", "aarch64", "8.0.2")
    assert found.packages == ("redis-tools",)
    assert found.binary == base / "trixie-arm64" / "root" / "usr" / "bin" / "redis-server"


def test_an_emulated_server_needs_its_emulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(servers, "host_architecture", lambda: "x86_64")
    monkeypatch.setattr(provision, "host_architecture", lambda: "x86_64")
    manifest(tmp_path / "modpack" / "redis" / "trixie-arm64")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no qemu-aarch64-static
    assert provision.installed() == []
    (tmp_path / "bin").mkdir()
    qemu = tmp_path / "bin" / "qemu-aarch64-static"
    qemu.write_text("#!/bin/sh\n")
    qemu.chmod(0o755)
    (spec,) = provision.installed()
    root = tmp_path / "modpack" / "redis" / "trixie-arm64" / "root"
    assert spec.command == (str(qemu), "-L", str(root), str(root / "usr" / "bin" / "redis-server"))
    assert spec.emulated and spec.summary == "aarch64, Debian trixie, emulated"


def fake(arch: str, version: str, *, release: str = "", emulated: bool = False) -> ServerSpec:
    return ServerSpec((f"/fake/{arch}-{version}",), arch, version, f"{arch} {version}", emulated, release)


@pytest.fixture
def catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine: x86_64 with redis-server 7.0.15; prepared: 8.0.2 for both, 7.0.15 for aarch64."""
    monkeypatch.setattr(servers, "host_architecture", lambda: "x86_64")
    monkeypatch.setattr(servers, "system_server", lambda explicit=None: fake("x86_64", "7.0.15"))
    prepared = [
        fake("x86_64", "8.0.2", release="trixie"),
        fake("aarch64", "7.0.15", release="bookworm", emulated=True),
        fake("aarch64", "8.0.2", release="trixie", emulated=True),
    ]
    monkeypatch.setattr(provision, "installed", lambda: prepared)


@pytest.mark.usefixtures("catalogue")
def test_a_module_goes_to_a_server_of_its_architecture_closest_to_its_target() -> None:
    assert servers.choose("x86_64").version == "7.0.15"  # no target: this machine's own
    assert servers.choose("x86_64", target="8.0").version == "8.0.2"
    assert servers.choose("x86_64", target="7.4").version == "7.0.15"
    assert servers.choose("x86_64", target="8.2").version == "8.0.2"
    assert servers.choose("aarch64").version == "8.0.2"  # no target and none of this machine: newest
    assert servers.choose("aarch64", target="8.0").architecture == "aarch64"
    assert servers.choose("aarch64", target="8.0").version == "8.0.2"
    assert servers.choose(None, target="8.0").architecture == "x86_64"  # unknown: this machine's


@pytest.mark.usefixtures("catalogue")
def test_a_named_version_must_exist() -> None:
    assert servers.choose("aarch64", target="8.0", wanted="7.0").version == "7.0.15"
    assert servers.choose("x86_64", wanted="8").version == "8.0.2"
    with pytest.raises(RedisNotFoundError) as caught:
        servers.choose("aarch64", wanted="7.2")
    assert "no aarch64 redis-server 7.2 is available (found: 7.0.15, 8.0.2)" in caught.value.message
    # Debian ships no Redis 7.2: `modpack redis prepare --version 7.2` (what the hint said) refuses it
    assert caught.value.hint.startswith("No redis-server 7.2 is here, and `modpack redis prepare` offers 7.0")


def test_no_server_for_another_architecture_names_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers, "host_architecture", lambda: "x86_64")
    monkeypatch.setattr(provision, "installed", list)
    with pytest.raises(RedisNotFoundError) as caught:
        servers.choose("aarch64")
    assert "built for aarch64 and this machine runs x86_64" in caught.value.message
    assert "modpack redis prepare --arch aarch64" in caught.value.hint


def test_a_named_server_is_used_as_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """--redis-server or $MODPACK_REDIS_SERVER naming nothing fails, even with prepared servers."""
    missing = str(tmp_path / "redis-server")
    monkeypatch.setattr(provision, "installed", lambda: [fake(host_architecture(), "8.0.2")])
    with pytest.raises(RedisNotFoundError, match="is not an executable file"):
        servers.choose(host_architecture(), explicit=missing)
    monkeypatch.setenv("MODPACK_REDIS_SERVER", missing)
    with pytest.raises(RedisNotFoundError, match="is not an executable file"):
        servers.choose(host_architecture(), target="8.0")


def test_prepare_refuses_what_it_cannot_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(UsageError, match="unknown architecture 'riscv64'"):
        provision.prepare("riscv64", "8.0")
    other = "aarch64" if host_architecture() == "x86_64" else "x86_64"
    monkeypatch.setattr(
        provision.shutil, "which", lambda name: None if "qemu" in name else f"/usr/bin/{name}"
    )
    with pytest.raises(provision.ProvisionError) as caught:
        provision.prepare(other, "8.0")
    assert "apt-get install qemu-user-static" in caught.value.hint
    assert not (tmp_path / "modpack" / "redis").exists() or not any(
        (tmp_path / "modpack" / "redis").iterdir()
    )


def test_redis_list_and_prepare_through_the_command_line(tmp_path: Path) -> None:
    manifest(tmp_path / "modpack" / "redis" / "bookworm-arm64", release="bookworm", version="7.0.15")
    done = run_modpack("redis", "list", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "7.0.15   aarch64" in done.stdout
    assert f"prepared servers live in {tmp_path / 'modpack' / 'redis'}" in done.stdout
    done = run_modpack("redis", "prepare", "--version", "6.2", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert done.returncode == 2 and "'6.2' is not one of '7.0', '8.0'" in done.stderr
    # An already prepared server is reported, not fetched again.
    done = run_modpack(
        "redis", "prepare", "--arch", "aarch64", "--version", "7.0", env={"XDG_CACHE_HOME": str(tmp_path)}
    )
    assert done.returncode == 0, done.stderr
    assert "redis-server 7.0.15" in done.stdout and "bookworm-arm64" in done.stdout


def test_discover_of_another_architecture_without_its_server_says_how(tmp_path: Path) -> None:
    if host_architecture() != "x86_64":
        pytest.skip("the aarch64 fixture is the other architecture only on x86_64")
    aarch64 = Path(__file__).resolve().parent.parent / "fixtures" / "so" / "aarch64" / "hello.so"
    done = run_modpack("discover", aarch64, env={"XDG_CACHE_HOME": str(tmp_path)})
    assert done.returncode == 1
    assert "hello.so is built for aarch64 and this machine runs x86_64" in done.stderr
    assert "modpack redis prepare --arch aarch64" in done.stderr
