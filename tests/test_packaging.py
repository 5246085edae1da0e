"""Packaging as users get it: the wheel carries schemas and data (pre-commit installs modpack into
its own venv), `python -m build` passes `twine check`, and the wheel alone runs the README."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import ROOT


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


def require_module(name: str) -> None:
    if importlib.util.find_spec(name) is None:
        pytest.fail(f"{name} is not installed; `pip install -e .[test]` installs it")


# A user's environment: no PYTHONPATH pointing into a checkout (pip would take that for an install).
USER_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=USER_ENV,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_built_wheel_in_a_fresh_venv_runs_the_readme_first_command(tmp_path: Path) -> None:
    """As users get it: `python -m build` (isolated), `twine check`, then the wheel alone in a new
    virtual environment builds the example bundle the README's first command promises."""
    require_module("build")
    require_module("twine")
    dist, source = tmp_path / "dist", tmp_path / "source"
    # What the package is built from, copied, so the build's egg-info never lands in the checkout.
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    caches = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("modpack", "schemas"):
        shutil.copytree(ROOT / folder, source / folder, ignore=caches)
    run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", dist, source)
    wheel, sdist = next(dist.glob("modpack-*.whl")), next(dist.glob("modpack-*.tar.gz"))
    checked = run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)
    assert checked.stdout.count("PASSED") == 2, checked.stdout
    with tarfile.open(sdist) as archive:
        names = {Path(n).relative_to(Path(n).parts[0]).as_posix() for n in archive.getnames() if "/" in n}
    assert {"README.md", "pyproject.toml", "modpack/data/rules/keys.json"} <= names

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q", wheel)
    reader = tmp_path / "reader"
    shutil.copytree(ROOT / "fixtures" / "example", reader / "fixtures" / "example")
    (reader / "fixtures" / "so" / "x86_64").mkdir(parents=True)
    shutil.copy2(ROOT / "fixtures" / "so" / "x86_64" / "hello.so", reader / "fixtures" / "so" / "x86_64")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = readme.split("```sh", 1)[1].split("```", 1)[0]
    command = next(line for line in first.splitlines() if line.startswith("python3 -m pip install"))
    build_step = command.split("&&", 1)[
        1
    ].split()  # after the install: `modpack build fixtures/example -o dist`
    assert build_step[0] == "modpack"
    result = run(venv / "bin" / "modpack", *build_step[1:], cwd=reader)
    promised = re.search(r"`(dist/hello\.[^`]+\.zip)`", readme)
    assert promised, "the README no longer names the bundle its first command writes"
    assert (reader / promised.group(1)).is_file(), result.stdout
    assert f"wrote {promised.group(1)}" in result.stdout
