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
