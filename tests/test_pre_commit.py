"""The real pre-commit runs this checkout's hook on good and bad files in a fresh git repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.paths import CASES, ROOT


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def hook_revision() -> str:
    """HEAD, or a commit object of the dirty working tree (git stash create leaves the tree alone)."""
    return git("stash", "create", cwd=ROOT) or git("rev-parse", "HEAD", cwd=ROOT)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("pre-commit") is None:
        pytest.fail("pre-commit is not installed; `pip install -e .[test]` installs it")
    repo = tmp_path_factory.mktemp("repo")
    git("init", "-q", cwd=repo)
    git("config", "user.email", "test@example.com", cwd=repo)
    git("config", "user.name", "test", cwd=repo)
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {ROOT}\n  rev: {hook_revision()}\n  hooks:\n  - id: modpack-validate\n"
    )
    return repo


def run_hook(repo: Path, files: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    for name, source in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    git("add", "-A", cwd=repo)
    env = {**os.environ, "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home"), "NO_COLOR": "1"}
    return subprocess.run(
        ["pre-commit", "run", "--files", *files],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_hook_passes_good_files(repository: Path) -> None:
    result = run_hook(
        repository,
        {
            "module.json": CASES / "good" / "module-json" / "module.json",
            "pack/ramp.yml": CASES / "good" / "ramp-yml" / "ramp.yml",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "modpack validate" in result.stdout and "Passed" in result.stdout


def test_hook_fails_bad_files_and_prints_findings(repository: Path) -> None:
    result = run_hook(
        repository,
        {
            "bad/module.json": CASES / "bad" / "zero-step" / "module.json",
            "other/ramp.yml": CASES / "bad" / "yaml-syntax" / "ramp.yml",
        },
    )
    assert result.returncode == 1
    assert "Failed" in result.stdout
    assert "KEY002" in result.stdout and "IN004" in result.stdout


def test_readme_example_names_real_hooks_and_no_missing_tag() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.DOTALL) if "repos:" in b)
    config = yaml.safe_load(block)
    hooks = {hook["id"] for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    for repo in config["repos"]:
        assert {hook["id"] for hook in repo["hooks"]} <= hooks
        if re.fullmatch(r"v?\d+(\.\d+)*", str(repo["rev"])):  # a release tag must exist
            assert str(repo["rev"]) in git("tag", "--list", cwd=ROOT).split(), repo["rev"]
