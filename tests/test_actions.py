"""The GitHub Action (action.yml) and the README's workflows pass actionlint.

actionlint checks workflows, not action metadata; so the action is checked twice: a workflow that
calls it with `uses: ./` (actionlint reads action.yml and checks its inputs), and its composite
steps run as a reusable workflow with the same inputs (expressions, contexts, and the shell
scripts through shellcheck when it is installed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import CASES, ROOT

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


def step(name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in ACTION["runs"]["steps"] if s.get("name") == name)
    return found


def run_step(
    name: str, inputs: dict[str, str], workspace: Path, shim: Path
) -> subprocess.CompletedProcess[str]:
    """One `run:` step of the action as the runner runs it: bash -e, its env with the inputs
    substituted, GITHUB_OUTPUT and GITHUB_WORKSPACE set, modpack being this checkout."""
    values = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()} | inputs
    env = {
        key: re.sub(r"\$\{\{ inputs\.([\w-]+) \}\}", lambda m: values[m.group(1)], value)
        for key, value in step(name).get("env", {}).items()
    }
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step(name)["run"]],
        cwd=workspace,
        env={
            **os.environ,
            **env,
            "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT),
            "GITHUB_OUTPUT": str(workspace.parent / "github-output"),
            "GITHUB_WORKSPACE": str(workspace),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def shim(tmp_path: Path) -> Path:
    """A folder whose `modpack` is this checkout's, as the action's install step would provide."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "modpack").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m modpack "$@"\n')
    (folder / "modpack").chmod(0o755)
    return folder


def test_the_validate_step_annotates_writes_sarif_and_passes_the_status_on(
    tmp_path: Path, shim: Path
) -> None:
    workspace = tmp_path / "repo"
    (workspace / "mods" / "bad").mkdir(parents=True)
    shutil.copyfile(CASES / "bad" / "zero-step" / "module.json", workspace / "mods" / "bad" / "module.json")
    shutil.copyfile(CASES / "good" / "ramp-yml" / "ramp.yml", workspace / "ramp.yml")
    inputs = {"paths": "mods\nramp.yml", "args": "--strict --ignore CMD013", "sarif": "true"}
    result = run_step("Validate", inputs, workspace, shim)
    assert result.returncode == 0, result.stderr  # the status is passed on, not raised here
    assert result.stdout.startswith("::error file=mods/bad/module.json,line=42,title=KEY002 zero-step::")
    assert "2 files checked" in result.stdout
    assert (tmp_path / "github-output").read_text() == "exit-code=1\n"
    sarif = json.loads((workspace / "modpack.sarif").read_text())
    uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "mods/bad/module.json"
    final = subprocess.run(
        ["bash", "-c", step("Fail on findings")["run"]], env={"STATUS": "1"}, check=False, timeout=30
    )
    assert final.returncode == 1


def test_a_usage_error_writes_no_sarif(tmp_path: Path, shim: Path) -> None:
    workspace = tmp_path / "repo"
    workspace.mkdir()
    result = run_step("Validate", {"paths": ".", "args": "--select NOPE", "sarif": "true"}, workspace, shim)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "github-output").read_text() == "exit-code=2\n"
    assert not (workspace / "modpack.sarif").exists()


def test_quotes_keep_a_path_with_spaces_and_an_option_s_value_whole(tmp_path: Path, shim: Path) -> None:
    """The inputs were split at every space and quotes were kept as characters: `paths: "My
    Module"` validated `"My` and `Module"` (IN001 twice, the module.json never looked at), and
    `args: --ignore "CMD013"` was a usage error (no rule matches '"CMD013"')."""
    workspace = tmp_path / "repo"
    (workspace / "My Module").mkdir(parents=True)
    shutil.copyfile(CASES / "bad" / "zero-step" / "module.json", workspace / "My Module" / "module.json")
    inputs = {"paths": '"My Module"', "args": '--ignore "CMD013" --strict'}
    result = run_step("Validate", inputs, workspace, shim)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("::error file=My Module/module.json,line=42,title=KEY002 zero-step::")
    assert "IN001" not in result.stdout and "1 file checked" in result.stdout, result.stdout
    assert (tmp_path / "github-output").read_text() == "exit-code=1\n"


def test_an_unclosed_quote_is_a_usage_error(tmp_path: Path, shim: Path) -> None:
    workspace = tmp_path / "repo"
    workspace.mkdir()
    result = run_step("Validate", {"paths": "'My Module", "sarif": "true"}, workspace, shim)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "::error title=modpack::a quote in the paths or args input is not closed\n"
    assert (tmp_path / "github-output").read_text() == "exit-code=2\n"
    assert not (workspace / "modpack.sarif").exists()


def test_a_pattern_in_paths_is_expanded_as_on_a_run_line(tmp_path: Path, shim: Path) -> None:
    """`paths: dist/*.zip` (the README's `modpack validate dist/*.zip`, moved into the action)
    reached modpack as it was written: "dist/*.zip does not exist" (IN001), and no bundle checked.
    A pattern that matches nothing is still passed on, for modpack to name."""
    workspace = tmp_path / "repo"
    (workspace / "dist" / "x86_64").mkdir(parents=True)
    shutil.copyfile(CASES / "bad" / "no-module-json" / "bundle.zip", workspace / "dist" / "a b.zip")
    shutil.copyfile(CASES / "bad" / "no-module-json" / "bundle.zip", workspace / "dist" / "x86_64" / "c.zip")
    result = run_step("Validate", {"paths": "dist/*.zip\ndist/**/c.zip build/*.zip"}, workspace, shim)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("::error file=dist/a b.zip,title=ZIP002 ") for line in lines), result.stdout
    assert any(line.startswith("::error file=dist/x86_64/c.zip,title=ZIP002 ") for line in lines)
    assert "::error file=build/*.zip,title=IN001 unreadable-file::build/*.zip does not exist" in result.stdout
    assert "IN001" not in result.stdout.replace("build/*.zip,title=IN001", ""), result.stdout
    assert "3 files checked" in result.stdout, result.stdout


def test_the_steps_use_no_bash_4_or_gnu_only_feature() -> None:
    """The validate step split its inputs with mapfile -d '' (bash 4.4), globstar (bash 4) and
    xargs -r (GNU): macOS's own bash is 3.2 and its xargs BSD's. The splitting is Python's now;
    the shell scripts of the steps must keep to what every runner's bash and tools have."""
    gnu_or_bash4 = re.compile(r"\b(mapfile|readarray|globstar|declare -A|xargs -r)\b|\$\{\w+(,,|\^\^)")
    for each in ACTION["runs"]["steps"]:
        found = gnu_or_bash4.search(each.get("run", ""))
        assert found is None, f"step {each.get('name')!r} uses {found.group(0)!r}" if found else ""


def test_a_path_that_begins_with_a_dash_is_a_path(tmp_path: Path, shim: Path) -> None:
    """The step passed the paths before the options with no `--`: a folder named `-mods` was read
    as an option (a usage error, exit code 2) and nothing was validated."""
    workspace = tmp_path / "repo"
    (workspace / "-mods").mkdir(parents=True)
    shutil.copyfile(CASES / "bad" / "zero-step" / "module.json", workspace / "-mods" / "module.json")
    result = run_step("Validate", {"paths": "-mods", "args": "--ignore CMD013"}, workspace, shim)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("::error file=-mods/module.json,line=42,title=KEY002 zero-step::")
    assert (tmp_path / "github-output").read_text() == "exit-code=1\n"
