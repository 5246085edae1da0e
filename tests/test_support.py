"""The shared test helpers themselves (tests/support/): what they build is what the tests assume."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from modpack.rest import auth
from tests.support.rest import ROLE_USERS, write_bundle, write_role_users


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
