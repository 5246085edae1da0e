"""The wheel carries the schemas and the data (pre-commit installs modpack into its own venv)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_wheel_contains_schemas_and_rule_data(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("modpack-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for schema in ("module", "modpack", "report"):
        assert f"modpack/schemas/{schema}.schema.json" in names
    for data in ("platforms", "capabilities", "flags"):
        assert f"modpack/data/{data}.json" in names
    rule_files = {n for n in names if n.startswith("modpack/data/rules/")}
    assert {Path(n).name for n in rule_files} >= {"schema.json", "command.json", "keys.json", "bundle.json"}
    assert any(
        n.endswith("entry_points.txt") and "modpack" in zipfile.ZipFile(wheel).read(n).decode() for n in names
    )
