"""`modpack discover FILE.so --write PATH`, as a user sees it: what it refuses, and that the
modpack.toml it writes or merges into is one `modpack validate` passes, laid out as a person
would write it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.cli import run_modpack
from tests.support.paths import CASES, HELLO
from tests.support.tools import require_redis

RAMP_YML = CASES / "good" / "ramp-yml" / "ramp.yml"


@pytest.mark.redis
def test_write_to_a_ramp_manifest_points_to_init(tmp_path: Path) -> None:
    """It said "cannot merge into ramp.yml: TOML syntax error ... hint: Fix the file first." of a
    valid manifest; the command it now names converts it."""
    require_redis()
    manifest = tmp_path / "ramp.yml"
    shutil.copyfile(RAMP_YML, manifest)
    refused = run_modpack("discover", HELLO, "--write", "ramp.yml", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr == (
        "modpack: --write takes a modpack.toml, not ramp.yml (a RAMP manifest)\n"
        f"  hint: Convert it with the commands discovered: `modpack init --from ramp.yml --discover {HELLO}`.\n"
    )
    assert manifest.read_bytes() == RAMP_YML.read_bytes()
    converted = run_modpack("init", "--from", "ramp.yml", "--discover", HELLO, cwd=tmp_path)
    assert converted.returncode == 0, converted.stderr
    checked = run_modpack("validate", tmp_path / "modpack.toml")
    assert checked.returncode == 0, checked.stdout
    assert "0 errors, 0 warnings" in checked.stdout
    # a module.json or a bundle is no modpack.toml either, and is refused before anything loads
    for name, kind in (("module.json", "a module.json"), ("hello.zip", "a bundle")):
        other = run_modpack("discover", tmp_path / "missing.so", "--write", name, cwd=tmp_path)
        assert other.returncode == 2
        assert other.stderr.startswith(f"modpack: --write takes a modpack.toml, not {name} ({kind})\n")
        assert f"`modpack init --from {name}`" in other.stderr
        assert not (tmp_path / name).exists()


@pytest.mark.redis
def test_a_new_file_is_the_one_init_writes(tmp_path: Path) -> None:
    """A new file held only [module] name and semantic_version and the commands: its first
    validate failed (SCH001 min_redis_version is missing), and [build] so was left out although
    the binary was known. It is now the file `modpack init --discover` writes."""
    require_redis()
    folder = tmp_path / "project"
    folder.mkdir()
    done = run_modpack("discover", HELLO, "--write", folder / "new.toml")
    assert done.returncode == 0, done.stderr
    notes = done.stdout.splitlines()[1:]
    assert notes[0].startswith("  changed: min_redis_version and compatible_redis_version are ")
    assert notes[1:] == ["  to do: list the module's capabilities (`modpack rules --capabilities`)"]
    text = (folder / "new.toml").read_text()
    initialised = run_modpack("init", folder / "init.toml", "--discover", HELLO)
    assert initialised.returncode == 0, initialised.stderr
    assert text == (folder / "init.toml").read_text()  # the same file, commands and all
    checked = run_modpack("validate", folder / "new.toml")
    assert checked.returncode == 0, checked.stdout
    assert " 0 errors," in checked.stdout  # CAP004, the capabilities init leaves to declare, at most
    assert "SCH001" not in checked.stdout
    built = run_modpack("build", folder / "new.toml", "-o", tmp_path / "dist")  # [build] so found it
    assert built.returncode == 0, built.stdout + built.stderr


MODULE_ONLY = '[module]\nname = "hello"\nsemantic_version = "1.2.3"'
WITH_A_COMMAND = (
    MODULE_ONLY
    + '\n\n[[commands]]\nname = "hello.get"\narity = 2\nflags = ["readonly", "fast"]\nfirst_key = 1\nlast_key = 1\nstep = 1'
)


@pytest.mark.redis
@pytest.mark.parametrize("given", [MODULE_ONLY, MODULE_ONLY + "\n", WITH_A_COMMAND, WITH_A_COMMAND + "\n\n"])
def test_each_table_added_has_one_blank_line_above_it(tmp_path: Path, given: str) -> None:
    """A file ending without a blank line got its first [[commands]] right under its last line,
    and tables after it two blank lines apart."""
    require_redis()
    toml = tmp_path / "modpack.toml"
    toml.write_text(given)
    done = run_modpack("discover", HELLO, "--write", toml)
    assert done.returncode == 0, done.stderr
    text = toml.read_text()
    assert text.startswith(given.rstrip("\n") + "\n\n[[commands]]\n")
    assert text.count("[[commands]]") == 5 == text.count("\n\n[[commands]]\n")
    assert "\n\n\n" not in text and text.endswith("step = 1\n")


@pytest.mark.redis
@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('[module]\nname = "hello"\nname = "x"\n', "Cannot overwrite a value (at line 3, column 11)"),
        ('[module]\nname = "hello"\n[module]\n', "Cannot declare ('module',) twice (at line 3, column 8)"),
    ],
    ids=["key twice", "table twice"],
)
def test_a_file_tomlkit_refuses_is_named_with_where(tmp_path: Path, text: str, said: str) -> None:
    """A key given twice in a table ended `discover --write` in 'internal error: KeyAlreadyPresent'
    (a table twice was a syntax error already); both now say where, and change nothing."""
    require_redis()
    toml = tmp_path / "modpack.toml"
    toml.write_text(text)
    done = run_modpack("discover", HELLO, "--write", toml)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"modpack: cannot merge into {toml}: TOML syntax error: {said}" in done.stderr, done.stderr
    assert toml.read_text() == text


def test_prune_without_write_is_a_usage_error(tmp_path: Path) -> None:
    """--prune drops declared commands from the file --write merges into: without --write it was
    ignored in silence, and the listing printed."""
    done = run_modpack("discover", HELLO, "--prune", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "modpack: --prune works with --write" in done.stderr and done.stdout == ""
