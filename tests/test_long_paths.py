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


def test_a_name_with_control_characters_is_shown_escaped(tmp_path: Path) -> None:
    """The fallback printed the name as it is: a newline split the message and an escape
    sequence reached the terminal."""
    done = run_modpack("build", "x\n\x1b[31mRED" + "a" * 300, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("modpack: x\\n\\x1b[31mREDaaa") and done.stderr.count("\n") == 1, (
        done.stderr
    )


def test_an_error_on_modpacks_own_file_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file of modpack's own (a schema) missing is modpack's fault, to report, not a usage error."""
    import modpack
    from modpack import validate
    from modpack.cli.app import main

    own = Path(modpack.__file__).parent / "schemas" / "gone.schema.json"

    def broken(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError(2, "No such file or directory", str(own))

    monkeypatch.setattr(validate, "validate_paths", broken)
    with pytest.raises(SystemExit) as ended:
        main(["validate", str(HELLO)])
    err = capsys.readouterr().err
    assert ended.value.code == 1
    assert "internal error: FileNotFoundError" in err and "report it" in err, err
