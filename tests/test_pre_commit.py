"""The real pre-commit runs this checkout's hook on good and bad files in a fresh git repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.cli import run_modpack
from tests.support.paths import CASES, FIXTURES, ROOT, SO


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def hook_revision() -> str:
    """HEAD, or a commit object of the dirty working tree (git stash create leaves the tree alone)."""
    return git("stash", "create", cwd=ROOT) or git("rev-parse", "HEAD", cwd=ROOT)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("pre-commit") is None:
        pytest.fail("pre-commit is not installed; `pip install -e .[test]` installs it")
    return new_repository(tmp_path_factory.mktemp("repo"))


def new_repository(repo: Path) -> Path:
    """A git repository at `repo` whose .pre-commit-config.yaml runs this checkout's hook."""
    repo.mkdir(exist_ok=True)
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
    return pre_commit(repo, "--files", *files)


def pre_commit(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`pre-commit run ARGS` in `repo`, with a cache of its own beside it and no colours."""
    env = {**os.environ, "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home"), "NO_COLOR": "1"}
    return subprocess.run(
        ["pre-commit", "run", *args],
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


def test_hook_reads_each_module_s_own_validate_table_as_build_does(repository: Path, tmp_path: Path) -> None:
    """The hooks run from the repository's root: [validate] was read from the modpack.toml nearest
    there (none), so a module's own `strict = true` passed the commit of what `modpack build` of it
    refused, and its `ignore` failed what build accepted."""
    strict = tmp_path / "strict.toml"
    lenient = tmp_path / "lenient.toml"
    example = (FIXTURES / "example" / "modpack.toml").read_text().replace('"7.4"', '"7.4.1"')  # VER009
    example = example.replace('so = "../so/x86_64/hello.so"', 'so = "build/hello.so"')  # DECL010, an info
    strict.write_text(example + "\n[validate]\nstrict = true\n")
    lenient.write_text(example + '\n[validate]\nstrict = true\nignore = ["VER009"]\n')
    refused = run_hook(repository, {"strict/modpack.toml": strict})
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "VER009" in refused.stdout
    built = run_modpack(
        "build", repository / "strict", "--so", SO / "x86_64" / "hello.so", "-o", tmp_path / "a"
    )
    assert built.returncode == 1 and "[validate] strict is set" in built.stderr, built.stdout + built.stderr
    (repository / "strict" / "modpack.toml").unlink()
    passed = run_hook(repository, {"lenient/modpack.toml": lenient})
    assert passed.returncode == 0, passed.stdout + passed.stderr
    made = run_modpack(
        "build", repository / "lenient", "--so", SO / "x86_64" / "hello.so", "-o", tmp_path / "b"
    )
    assert made.returncode == 0, made.stdout + made.stderr


def test_hook_passes_over_files_that_only_share_a_module_files_name(repository: Path, tmp_path: Path) -> None:
    """docs/screenshots.zip and .github/workflows/ramp-release.yml match the hook's names; they
    were validated as a bundle and a RAMP manifest (ZIP005, VER006) and blocked the commit. A
    bundle that is one is still checked beside them."""
    import zipfile

    screenshots = tmp_path / "screenshots.zip"
    with zipfile.ZipFile(screenshots, "w") as archive:
        archive.writestr("a.png", b"\x89PNG\r\n\x1a\n")
    workflow = tmp_path / "ramp-release.yml"
    workflow.write_text("name: release\non: [push]\njobs:\n  pack:\n    runs-on: ubuntu-latest\n")
    compose = tmp_path / "ramp.yml"  # a docker-compose file of that name (UMiamiLibraries/docker-ramp)
    compose.write_text("version: '3'\nservices:\n  ramp:\n    image: ramp:latest\n")
    plugin = tmp_path / "module.json"  # a HumHub module's (humhub/rest), 8 errors where the hook ran
    plugin.write_text('{"id": "rest", "name": "RESTful API", "description": "x", "version": "0.10.0"}')
    result = run_hook(
        repository,
        {
            "docs/screenshots.zip": screenshots,
            ".github/workflows/ramp-release.yml": workflow,
            "deploy/ramp.yml": compose,
            "protected/modules/rest/module.json": plugin,
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout  # pre-commit shows a passing hook's output only with --verbose
    told = run_modpack(
        "validate", "--skip-unrelated", "docs", ".github", "deploy", "protected", cwd=repository
    )
    assert told.returncode == 0, told.stdout + told.stderr
    for line in (
        "modpack: skipped docs/screenshots.zip: a zip with no module.json and no .so: not a module bundle",
        "modpack: skipped .github/workflows/ramp-release.yml: YAML with none of the keys a RAMP manifest"
        " has: not a RAMP manifest",
        "modpack: skipped deploy/ramp.yml: YAML with none of the keys a RAMP manifest has",
        "modpack: skipped protected/modules/rest/module.json: JSON with none of the keys a Redis module's"
        " module.json has",
    ):
        assert line in told.stderr, told.stderr
    assert run_modpack("validate", "docs", cwd=repository).returncode == 1  # asked for: validated
    bad = run_hook(repository, {"dist/bad.zip": CASES / "bad" / "no-module-json" / "bundle.zip"})
    assert bad.returncode == 1 and "ZIP" in bad.stdout, bad.stdout


def test_a_file_named_like_an_option_is_validated_as_a_file(tmp_path: Path) -> None:
    """A staged -release.zip made the hook's modpack see the option -r ("No such option: -r",
    exit 2), and no file of the commit was checked, an error in ramp.yml among them."""
    repo = new_repository(tmp_path / "repo")
    shutil.copyfile(CASES / "good" / "module-json" / "module.json", repo / "module.json")
    (repo / "m").mkdir()
    shutil.copyfile(CASES / "bad" / "yaml-syntax" / "ramp.yml", repo / "m" / "ramp.yml")
    built = run_modpack("build", FIXTURES / "example", "-o", tmp_path / "dist")
    assert built.returncode == 0, built.stdout + built.stderr
    [bundle] = (tmp_path / "dist").glob("*.zip")
    shutil.copyfile(bundle, repo / "-release.zip")
    git("add", "-A", "--", ".", cwd=repo)
    result = pre_commit(repo, "--all-files")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "No such option" not in result.stdout and "IN004" in result.stdout, result.stdout
    assert "3 files checked" in result.stdout, result.stdout


def test_readme_example_names_real_hooks_and_no_missing_tag() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.DOTALL) if "repos:" in b)
    config = yaml.safe_load(block)
    hooks = {hook["id"] for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    for repo in config["repos"]:
        assert {hook["id"] for hook in repo["hooks"]} <= hooks
        if re.fullmatch(r"v?\d+(\.\d+)*", str(repo["rev"])):  # a release tag must exist
            assert str(repo["rev"]) in git("tag", "--list", cwd=ROOT).split(), repo["rev"]


def test_skip_unrelated_leaves_a_file_it_cannot_read_to_validation(tmp_path: Path) -> None:
    """A zip of a version zipfile cannot read, or YAML nested past Python's recursion limit, ended
    the hooks' run in "internal error" where plain validate reports ZIP001 and IN004."""
    deep = tmp_path / "ramp-deep.yml"
    deep.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    damaged = ROOT / "tests" / "regressions" / "bundle" / "zip-version-25.zip"
    done = run_modpack("validate", "--skip-unrelated", damaged, deep)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "internal error" not in done.stderr and "skipped" not in done.stderr, done.stderr
    assert "error ZIP001" in done.stdout and "error IN004" in done.stdout, done.stdout


def test_a_skipped_file_s_name_is_shown_on_one_line(tmp_path: Path) -> None:
    """The `skipped` line printed the file name as it is: a zip in a folder whose name held a
    newline and `::error file=x::` started a line of its own, a workflow command in GitHub
    Actions, though every other place a name is shown escapes it."""
    import zipfile

    folder = tmp_path / "docs\n::error file=ramp.yml::injected"
    folder.mkdir()
    with zipfile.ZipFile(folder / "screenshots.zip", "w") as archive:
        archive.writestr("a.png", b"\x89PNG\r\n\x1a\n")
    done = run_modpack("validate", "--skip-unrelated", "--format", "github", "--", folder.name, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not any(line.startswith("::") for line in done.stderr.splitlines()), done.stderr
    shown = "modpack: skipped docs\\n::error file=ramp.yml::injected/screenshots.zip: a zip with no"
    assert shown in done.stderr, done.stderr


def test_hook_passes_over_another_kind_of_module_s_release_zip(repository: Path, tmp_path: Path) -> None:
    """A Foundry VTT module's release zip holds its own module.json (id, title, esmodules) and no
    .so: the hook validated it as a bundle and blocked the commit with 20 findings (ZIP003, ZIP005,
    SCH001...). A zip whose module.json is a Redis module's is still checked, .so or not."""
    import zipfile

    foundry = tmp_path / "module.zip"
    with zipfile.ZipFile(foundry, "w") as archive:
        archive.writestr(
            "module.json",
            '{"id": "my-module", "title": "My Module", "version": "1.0.0", "esmodules": ["scripts/module.js"],'
            ' "compatibility": {"minimum": "11", "verified": "12"}}',
        )
        archive.writestr("scripts/module.js", "Hooks.once('init', () => {});\n")
    unbuilt = tmp_path / "unbuilt.zip"
    with zipfile.ZipFile(unbuilt, "w") as archive:
        archive.write(CASES / "good" / "module-json" / "module.json", "module.json")
    passed = run_hook(repository, {"foundry/dist/module.zip": foundry})
    assert passed.returncode == 0, passed.stdout + passed.stderr
    told = run_modpack("validate", "--skip-unrelated", "foundry", cwd=repository)
    assert told.returncode == 0, told.stdout + told.stderr
    assert "modpack: skipped foundry/dist/module.zip: a zip whose module.json has none" in told.stderr
    (repository / "foundry" / "dist" / "module.zip").unlink()
    refused = run_hook(repository, {"dist/unbuilt.zip": unbuilt})
    assert refused.returncode == 1 and "ZIP003" in refused.stdout, refused.stdout + refused.stderr
    (repository / "dist" / "unbuilt.zip").unlink()


def test_hook_passes_over_an_ansible_playbook_named_ramp_yml(repository: Path, tmp_path: Path) -> None:
    """An Ansible playbook named ramp.yml (a list of plays: hosts, become, roles) was validated as
    a RAMP manifest and blocked the commit with DECL007; --skip-unrelated passed over YAML of
    another kind only when it was a mapping. A list that holds a RAMP key is still validated."""
    playbook = tmp_path / "ramp.yml"
    playbook.write_text("# ramp up the redis hosts\n- hosts: redis\n  become: true\n  roles:\n    - ramp\n")
    listed = tmp_path / "ramp-listed.yml"
    listed.write_text("- module_name: hello\n  semantic_version: 1.2.3\n")
    passed = run_hook(repository, {"ansible/ramp.yml": playbook})
    assert passed.returncode == 0, passed.stdout + passed.stderr
    told = run_modpack("validate", "--skip-unrelated", "ansible", cwd=repository)
    assert told.returncode == 0, told.stdout + told.stderr
    assert "modpack: skipped ansible/ramp.yml: a YAML list of mappings with none of the keys" in told.stderr
    (repository / "ansible" / "ramp.yml").unlink()
    refused = run_hook(repository, {"pack/ramp-listed.yml": listed})
    assert refused.returncode == 1 and "DECL007" in refused.stdout, refused.stdout + refused.stderr
    (repository / "pack" / "ramp-listed.yml").unlink()
