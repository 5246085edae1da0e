"""What validate says of what it cannot read: never a pass, never a usage error that checks
nothing else.

A folder the user could not read was passed over in silence (os.walk ignores the error) and
validate passed a tree it had not read; a file named on the command line that could not be read
stopped the run with a usage error, and the other files given were not checked. The tests run as
root in CI, which reads everything: the permission error is raised where the operating system
raises it for another user (os.scandir, os.access and os.open on that path), and nowhere else.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from modpack.cli.app import main
from tests.support.paths import HELLO, ROOT


def _denied(path: Path) -> OSError:
    return PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ended:
        main(args)
    out = capsys.readouterr()
    return int(ended.value.code or 0), out.out + out.err


def project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "fixtures" / "example" / "modpack.toml", folder / "modpack.toml")
    shutil.copy(HELLO, folder / "hello.so")
    return folder


@pytest.mark.rule("IN001")
def test_a_folder_validate_cannot_read_is_an_error_not_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path / "tree" / "ok")
    hidden = project(tmp_path / "tree" / "hidden")
    real = os.scandir

    def scandir(path: str | os.PathLike[str] = ".") -> object:
        if not isinstance(path, int) and Path(path) == hidden:
            raise _denied(hidden)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, said = run(["validate", str(tmp_path / "tree")], capsys)
    assert code == 1, said
    assert f"{hidden}: error IN001 the folder {hidden} cannot be read: Permission denied" in said
    assert "3 files checked: 1 error," in said  # ok/'s modpack.toml and hello.so, and the folder

    # named again, and inside another folder named: one finding, as a readable file is checked once
    code, said = run(["validate", str(tmp_path / "tree"), str(tmp_path / "tree"), str(hidden)], capsys)
    assert code == 1, said
    assert said.count("error IN001") == 1, said
    assert "3 files checked: 1 error," in said


@pytest.mark.rule("IN001")
def test_a_file_named_that_cannot_be_read_is_reported_beside_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ok = project(tmp_path / "ok") / "modpack.toml"
    locked = project(tmp_path / "locked") / "modpack.toml"
    real_access, real_open = os.access, os.open

    def access(path: str | os.PathLike[str], mode: int, *args: object, **kwargs: object) -> bool:
        return False if Path(path) == locked else real_access(path, mode, *args, **kwargs)  # type: ignore[arg-type]

    def opened(path: str | os.PathLike[str], flags: int, *args: object, **kwargs: object) -> int:
        if Path(os.fsdecode(path)) == locked:
            raise _denied(locked)
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(os, "open", opened)
    code, said = run(["validate", str(locked), str(ok)], capsys)
    assert code == 1, said  # was 2: "Path '...' is not readable", and ok's file unchecked
    assert f"{locked}: error IN001" in said and "Permission denied" in said
    assert "2 files checked: 1 error" in said


@pytest.mark.redis
def test_a_cache_of_prepared_servers_that_cannot_be_read_leaves_the_machine_s_own_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A job run as another user, HOME kept: `modpack validate --load` and `discover` stopped with
    "modpack: /root/.cache/modpack/redis: Permission denied" and nothing else, though the
    machine's redis-server was there."""
    from tests.support.tools import require_redis

    require_redis()
    cache = tmp_path / "cache"
    (cache / "modpack" / "redis").mkdir(parents=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    real = os.scandir

    def scandir(path: str | os.PathLike[str] = ".") -> object:
        if not isinstance(path, int) and Path(path) == cache / "modpack" / "redis":
            raise _denied(Path(path))
        return real(path)

    real_listdir = os.listdir

    def listdir(path: str | os.PathLike[str] = ".") -> list[str]:  # Path.iterdir's, on Python 3.11
        if not isinstance(path, int) and Path(path) == cache / "modpack" / "redis":
            raise _denied(Path(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "listdir", listdir)
    code, said = run(["discover", str(HELLO)], capsys)
    assert code == 0, said
    assert "hello.set" in said
    code, said = run(["redis", "list"], capsys)
    assert code == 0, said
    assert "the prepared servers cannot be listed: Permission denied" in said


def test_a_bundle_build_cannot_read_is_not_said_to_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bundle already there held the very bytes build makes, and build, unable to read it,
    said it "exists with different content"."""
    example = ROOT / "fixtures" / "example"
    code, said = run(["build", str(example), "-o", str(tmp_path / "dist")], capsys)
    assert code == 0, said
    (bundle,) = (tmp_path / "dist").iterdir()
    real = Path.open

    def opened(self: Path, *args: object, **kwargs: object) -> object:
        if self == bundle:
            raise _denied(bundle)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", opened)
    code, said = run(["build", str(example), "-o", str(tmp_path / "dist")], capsys)
    assert code == 1, said
    assert (
        f"modpack: {bundle} exists, and cannot be read to compare with this build: Permission denied" in said
    )
    assert "different content" not in said
