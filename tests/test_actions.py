"""The GitHub Action (action.yml) and the README's workflows pass actionlint.

actionlint checks workflows, not action metadata; so the action is checked twice: a workflow that
calls it with `uses: ./` (actionlint reads action.yml and checks its inputs), and its composite
steps run as a reusable workflow with the same inputs (expressions, contexts, and the shell
scripts through shellcheck when it is installed).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

ACTION = yaml.safe_load((ROOT / "action.yml").read_text())


def actionlint() -> str:
    found = shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint is not installed; `pip install -e .[test]` installs it")
    return found


def readme_workflows() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    return [b for b in blocks if re.search(r"^jobs:", b, flags=re.MULTILINE)]


def lint(repo: Path, workflows: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """actionlint over `workflows` in a fresh repository holding this checkout's action.yml."""
    folder = repo / ".github" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "action.yml", repo / "action.yml")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    for name, text in workflows.items():
        (folder / name).write_text(text)
    return subprocess.run(
        [actionlint(), "-no-color", *(f".github/workflows/{n}" for n in workflows)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def caller(inputs: dict[str, str]) -> str:
    return yaml.safe_dump(
        {
            "name": "call",
            "on": ["push"],
            "permissions": {"contents": "read", "security-events": "write"},
            "jobs": {
                "validate": {
                    "runs-on": "ubuntu-latest",
                    "steps": [{"uses": "actions/checkout@v5"}, {"uses": "./", "with": inputs}],
                }
            },
        },
        sort_keys=False,
    )


def composite_as_workflow(action: dict[str, Any]) -> str:
    """The action's steps as a reusable workflow whose inputs are the action's."""
    inputs = {
        name: {"type": "string", "required": False, "default": spec.get("default", "")}
        for name, spec in action["inputs"].items()
    }
    return yaml.safe_dump(
        {
            "name": "composite steps",
            "on": {"workflow_call": {"inputs": inputs}},
            "jobs": {"steps": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}},
        },
        sort_keys=False,
    )


def test_readme_workflows_pass_actionlint(tmp_path: Path) -> None:
    workflows = readme_workflows()
    assert len(workflows) >= 2, "the README shows a build workflow and the action"
    result = lint(tmp_path, {f"readme-{i}.yml": w for i, w in enumerate(workflows)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_inputs_and_steps_pass_actionlint(tmp_path: Path) -> None:
    assert ACTION["runs"]["using"] == "composite"
    every_input = {name: spec.get("default", "x") for name, spec in ACTION["inputs"].items()}
    result = lint(tmp_path, {"call.yml": caller(every_input), "steps.yml": composite_as_workflow(ACTION)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_wrong_input_and_a_bad_expression(tmp_path: Path) -> None:
    """The checks above can fail: the same harness on a broken call and broken steps."""
    broken = dict(ACTION, runs={"using": "composite", "steps": [{"run": "echo ${{ inputs.nope }}"}]})
    result = lint(tmp_path, {"call.yml": caller({"pathz": "."}), "steps.yml": composite_as_workflow(broken)})
    assert result.returncode == 1
    assert 'input "pathz" is not defined' in result.stdout
    assert 'property "nope" is not defined' in result.stdout
