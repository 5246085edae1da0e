"""A file name over 255 bytes (ENAMETOOLONG) is a path the user gave that names no file.

Python 3.11's Path.is_dir() / is_file() / exists() swallow "no such file" errors but raise this
one, and every command that asked them before opening a file said "internal error ... report
it". Each command must name the file and the reason instead, with a finding (validate) or a
one-line error, and never an internal error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_modpack
from tests.support.paths import FIXTURES, HELLO

LONG = "x" * 300
EXAMPLE = FIXTURES / "example"


def _commands(tmp: Path) -> dict[str, list[str | Path]]:
    long = tmp / LONG
    return {
        "validate": ["validate", f"{long}.toml"],
        "validate bundle and folder": ["validate", f"{long}.zip", EXAMPLE],
        "validate --config": ["validate", EXAMPLE, "--config", f"{long}.toml"],
        "validate --load": ["validate", "--load", f"{long}.so"],
        "build": ["build", f"{long}.toml", "-o", tmp / "out"],
        "build --so": ["build", EXAMPLE, "--so", f"{long}.so", "-o", tmp / "out"],
        "inspect": ["inspect", f"{long}.zip"],
        "discover": ["discover", f"{long}.so"],
        "init": ["init", f"{long}.toml", "--name", "a", "--version", "1.0.0"],
        "ramp-pack": ["ramp-pack", "-o", tmp / "out.zip", f"{long}.so"],
    }


@pytest.mark.parametrize("command", sorted(_commands(Path("/"))))
def test_a_file_name_over_255_bytes_is_named_with_its_reason(command: str, tmp_path: Path) -> None:
    done = run_modpack(*_commands(tmp_path)[command], cwd=tmp_path)
    output = done.stdout + done.stderr
    assert "internal error" not in output and "Traceback" not in output, output
    assert done.returncode in (1, 2), output
    # click's own path check (ramp-pack's MODULE_SO) says "does not exist", as for a missing file
    assert "File name too long" in output or "does not exist" in output, output
    assert LONG[:40] in output, output  # the file is named (shortened where it is very long)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.zip").exists()


def test_a_link_to_a_name_over_255_bytes_is_a_finding_of_validate(tmp_path: Path) -> None:
    link = tmp_path / "longlink.toml"
    link.symlink_to(tmp_path / f"{LONG}.toml")
    done = run_modpack("validate", link)
    assert done.returncode == 1, done.stderr
    assert "error IN001 " in done.stdout and "cannot be read: File name too long" in done.stdout


def test_the_bundle_is_still_validated_beside_a_name_too_long(tmp_path: Path) -> None:
    """One unusable path is one finding: the other paths given are still checked."""
    done = run_modpack("validate", f"{tmp_path / LONG}.zip", HELLO, "--format", "json")
    assert done.returncode == 1, done.stderr
    assert '"IN001"' in done.stdout and "hello.so" in done.stdout
