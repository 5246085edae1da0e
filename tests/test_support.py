"""The shared test helpers themselves (tests/support/): what they build is what the tests assume."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from modpack.rest import auth
from modpack.rest.cluster import LocalCluster
from tests.support.cli import build
from tests.support.elf import crafted, info_of, needing
from tests.support.paths import FIXTURES, HELLO
from tests.support.rest import ROLE_USERS, cli, http, rebuilt, write_bundle, write_role_users


def test_write_bundle_holds_module_json_and_executable_so(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "hello.zip")
    with zipfile.ZipFile(bundle) as archive:
        assert sorted(archive.namelist()) == ["hello.so", "module.json"]
        assert (archive.getinfo("hello.so").external_attr >> 16) & 0o777 == 0o755
        assert json.loads(archive.read("module.json"))["version"] == 10203


def test_role_users_cover_every_role(tmp_path: Path) -> None:
    users = auth.read_users(write_role_users(tmp_path / "users.json"))
    for role, credentials in ROLE_USERS.items():
        user = users.authenticate(credentials.user, credentials.password)
        assert user is not None
        assert user.role == role


def test_http_sends_a_path_to_node_1_and_a_full_url_where_it_says(role_users_cluster: LocalCluster) -> None:
    cluster = role_users_cluster
    with http(cluster) as admin, http(cluster, None) as anonymous:
        relative = admin.get("/v1/modules")
        other_node = admin.get(cluster.urls[2] + "/v1/modules")
        refused = anonymous.get("/v1/modules")
    assert relative.status_code == 200 and str(relative.url) == cluster.urls[0] + "/v1/modules"
    assert other_node.status_code == 200 and str(other_node.url) == cluster.urls[2] + "/v1/modules"
    assert refused.status_code == 401


def test_cli_runs_the_command_against_the_cluster_as_the_admin(role_users_cluster: LocalCluster) -> None:
    for retries in (0, None):
        listed = cli(role_users_cluster, "modules", "list", "--format", "json", retries=retries)
        assert listed.returncode == 0, listed.stderr
        assert isinstance(json.loads(listed.stdout), list)


def test_rebuilt_is_hello_so_with_other_bytes(tmp_path: Path) -> None:
    so = rebuilt(tmp_path / "new", b"tail")
    assert so.read_bytes() == HELLO.read_bytes() + b"tail"
    assert hashlib.sha256(so.read_bytes()).digest() != hashlib.sha256(HELLO.read_bytes()).digest()


def test_needing_crafts_a_module_requiring_exactly_those_versions(tmp_path: Path) -> None:
    info = info_of(tmp_path, needing("GLIBC_2.17", "GLIBC_2.35", library="libc.so.6"))
    assert [(n.library, n.versions) for n in info.version_needs] == [
        ("libc.so.6", ("GLIBC_2.17", "GLIBC_2.35"))
    ]
    assert crafted(tmp_path, name="other.so").name == "other.so"


def test_build_returns_the_one_bundle_written_and_fails_the_test_on_a_failed_build(tmp_path: Path) -> None:
    bundle = build(FIXTURES / "example", tmp_path / "out")
    assert bundle.parent == tmp_path / "out" and zipfile.is_zipfile(bundle)
    with pytest.raises(AssertionError, match=r"missing\.toml"):
        build(tmp_path / "missing.toml", tmp_path / "none")


def test_modules_loaded_reports_what_modpack_imports_not_what_the_interpreter_had() -> None:
    from tests.support.cli import modules_loaded
    from tests.support.paths import CASES

    loaded = modules_loaded("validate", CASES / "good" / "module-json" / "module.json")
    assert {"click", "modpack.cli.app"} <= loaded  # the command ran, through the real CLI
    assert "sys" not in loaded and "runpy" not in loaded  # the interpreter's own, left out


def test_modules_loaded_as_installed_fails_the_test_on_a_failed_command(tmp_path: Path) -> None:
    """It said nothing of the command's exit: test_start_up's publish to a cluster that refused it
    passed, having imported none of the modules an upload imports, as it never uploaded."""
    from tests.support.cli import modules_loaded_as_installed
    from tests.support.paths import CASES

    assert "modpack.cli.app" in modules_loaded_as_installed(
        "validate", CASES / "good" / "module-json" / "module.json"
    )
    with pytest.raises(AssertionError, match=r"missing\.json"):
        modules_loaded_as_installed("validate", tmp_path / "missing.json")
