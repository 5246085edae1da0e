"""Issue 18: prove a module where it will run, with the prepared redis-servers.

An aarch64 module is loaded into Debian's arm64 redis-server under qemu-user on this x86_64
machine, and a bundle that targets Redis 8.0 is proved by Debian trixie's redis-server 8.0.x,
through the real command line. The servers come from `modpack redis prepare` (scripts/test.sh
prepares them); a missing one fails these tests unless MODPACK_ALLOW_NO_REDIS=1.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from modpack import manifests, modpack_toml
from modpack.config import Settings
from modpack.redis import discover, servers
from modpack.redis.harness import RedisServer
from modpack.redis.spec import host_architecture
from tests.support.cli import build, run_modpack
from tests.support.paths import FIXTURES, SO
from tests.support.redis_prepared import require_prepared
from tests.support.tools import require_redis

pytestmark = [pytest.mark.redis, pytest.mark.slow]

AARCH64_HELLO = SO / "aarch64" / "hello.so"
HELLO_COMMANDS = ["hello.copy", "hello.get", "hello.mset", "hello.ping", "hello.set"]


@pytest.fixture(autouse=True)
def _on_x86_64() -> None:
    if host_architecture() != "x86_64":
        pytest.skip("these tests emulate aarch64 on an x86_64 machine")


def project(tmp_path: Path, so: Path, *, arch: str, drift: bool = False, redis: str = "7.4") -> Path:
    """fixtures/example's modpack.toml for `so`; `drift` declares what hello.so does not do."""
    text = (FIXTURES / "example" / "modpack.toml").read_text("utf-8")
    text = text.replace('so = "../so/x86_64/hello.so"', f'so = "{so}"')
    text = text.replace('architecture = "x86_64"', f'architecture = "{arch}"')
    text = text.replace('compatible_redis_version = "7.4"', f'compatible_redis_version = "{redis}"')
    if not redis.startswith("7."):  # VER008 wants one major in both (until issue 17 settles it)
        text = text.replace('min_redis_version = "7.0"', f'min_redis_version = "{redis}"')
    if drift:
        text = text[: text.rindex("[[commands]]")]  # hello.copy: registered, not declared
        text = text.replace('name = "hello.get"\narity = 2', 'name = "hello.get"\narity = 3')
    toml = tmp_path / "modpack.toml"
    toml.write_text(text, "utf-8")
    return toml


def bundle_of(tmp_path: Path, so: Path, **kwargs: object) -> Path:
    return build(project(tmp_path, so, **kwargs), tmp_path / "dist")  # type: ignore[arg-type]


# --- aarch64 on x86_64 ----------------------------------------------------------------------------


def test_matching_aarch64_bundle_is_loaded_under_emulation_and_passes(tmp_path: Path) -> None:
    require_prepared("aarch64", "7.0")
    bundle = bundle_of(tmp_path, AARCH64_HELLO, arch="aarch64")
    assert "aarch64" in bundle.name
    done = run_modpack("validate", "--load", bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LOAD003 hello 1.2.3 (10203) loaded into redis-server 7.0." in done.stdout
    assert "aarch64, Debian bookworm packages in" in done.stdout
    assert "emulated with qemu-aarch64-static" in done.stdout


def test_drifted_aarch64_bundle_names_the_commands_that_differ(tmp_path: Path) -> None:
    require_prepared("aarch64", "7.0")
    bundle = bundle_of(tmp_path, AARCH64_HELLO, arch="aarch64", drift=True)
    done = run_modpack("validate", "--load", bundle)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "warning LOAD017 hello.copy is registered, but not declared" in done.stdout
    assert "error LOAD019 hello.get: arity is 3, Redis registers 2" in done.stdout
    assert "emulated with qemu-aarch64-static" in done.stdout


def test_discover_lists_the_commands_of_an_aarch64_module() -> None:
    require_prepared("aarch64", "7.0")
    done = run_modpack("discover", AARCH64_HELLO, "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert [c["name"] for c in data["commands"]] == HELLO_COMMANDS
    assert data["redis"].startswith("aarch64, Debian") and data["redis"].endswith("emulated")
    # The same module, registered the same way as the x86_64 build on this machine's redis-server.
    require_redis()
    native = json.loads(run_modpack("discover", SO / "x86_64" / "hello.so", "--format", "json").stdout)
    assert data["commands"] == native["commands"]


def test_build_discover_fills_the_commands_from_an_aarch64_module(tmp_path: Path) -> None:
    require_prepared("aarch64", "7.0")
    toml = project(tmp_path, AARCH64_HELLO, arch="aarch64")
    text = toml.read_text("utf-8")
    toml.write_text(text[: text.index("[[commands]]")], "utf-8")
    done = run_modpack("build", toml, "--discover", "--output", tmp_path / "dist")
    assert done.returncode == 0, done.stdout + done.stderr
    (bundle,) = (tmp_path / "dist").glob("*.zip")
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    assert [c["command_name"] for c in module["commands"]] == HELLO_COMMANDS
    done = run_modpack("validate", "--load", bundle)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_x86_64_module_is_refused_by_the_aarch64_server_as_on_an_aarch64_node() -> None:
    from modpack.redis.harness import ModuleLoadError

    spec = require_prepared("aarch64", "7.0")
    with RedisServer(spec=spec) as server, pytest.raises(ModuleLoadError) as caught:
        server.load_module(SO / "x86_64" / "hello.so")
    assert caught.value.failure.reason == "wrong-binary"


# --- the Redis version the bundle targets --------------------------------------------------------


def test_bundle_for_redis_8_is_proved_by_redis_8(tmp_path: Path) -> None:
    require_prepared("x86_64", "8.0")
    bundle = bundle_of(tmp_path, SO / "x86_64" / "hello.so", arch="x86_64", redis="8.0")
    done = run_modpack("validate", "--load", bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "loaded into redis-server 8.0." in done.stdout
    assert "Debian trixie packages in" in done.stdout and "run through its own loader" in done.stdout
    assert "LOAD026" not in done.stdout


def test_aarch64_bundle_for_redis_8_is_proved_by_emulated_redis_8(tmp_path: Path) -> None:
    require_prepared("aarch64", "8.0")
    bundle = bundle_of(tmp_path, AARCH64_HELLO, arch="aarch64", redis="8.0")
    done = run_modpack("validate", "--load", bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "loaded into redis-server 8.0." in done.stdout and "emulated with qemu-aarch64-static" in done.stdout
    )


def test_redis_version_option_names_the_server(tmp_path: Path) -> None:
    require_redis()
    require_prepared("x86_64", "8.0")
    toml = project(tmp_path, SO / "x86_64" / "hello.so", arch="x86_64", redis="8.0")
    done = run_modpack("validate", "--load", "--redis-version", "7.0", toml)
    assert "loaded into redis-server 7.0." in done.stdout, done.stdout
    assert "warning LOAD026" in done.stdout  # proved by 7.0, the bundle targets 8.0
    done = run_modpack("validate", "--load", "--redis-version", "6.2", toml)
    assert done.returncode == 1
    assert "no x86_64 redis-server 6.2 is available" in done.stdout


def test_the_closest_version_to_the_target_is_chosen() -> None:
    require_redis()
    require_prepared("x86_64", "8.0")
    assert servers.choose("x86_64", target="8.0").version.startswith("8.0.")
    assert servers.choose("x86_64", target="7.2").version.startswith("7.0.")
    assert servers.choose("x86_64", target="9.0").version.startswith("8.0.")
    assert servers.choose("x86_64").release == ""  # without a target: this machine's own


def test_build_discover_uses_the_targeted_redis(tmp_path: Path) -> None:
    require_prepared("x86_64", "8.0")
    toml = tmp_path / "modpack.toml"
    toml.write_text(
        '[module]\nname = "subcmd"\nsemantic_version = "1.0.0"\ncompatible_redis_version = "8.0"\n'
    )
    decl = modpack_toml.load_toml(toml)
    found = discover.fill_commands(decl, SO / "x86_64" / "subcommands.so")
    assert found.redis_version.startswith("8.0.")
    assert [c["command_name"] for c in decl.module["commands"]] == ["sub.config", "sub.plain"]


def test_check_declarations_proves_with_the_targeted_redis(tmp_path: Path) -> None:
    from modpack.validate import check_declarations

    require_prepared("x86_64", "8.0")
    decl = manifests.load(project(tmp_path, SO / "x86_64" / "hello.so", arch="x86_64", redis="8.0"))
    check_declarations(decl, Settings(load=True))
    (loaded,) = [f for f in decl.sink.findings if f.code == "LOAD003"]
    assert "redis-server 8.0." in loaded.message
