"""`modpack build --all/--target` with an option that shapes one bundle only is refused.

--so and --discover used to be silently dropped when [[targets]] were built (issue 15): each
target builds from its own `so`, and no command discovery ran, so the user got bundles other
than the ones asked for and no word about it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_modpack
from tests.support.paths import FIXTURES, SO
from tests.support.tools import require_redis

TARGETS = """
[[targets]]
name = "rhel9-x86_64"
operating_systems = ["rhel9"]
architecture = "x86_64"
so = "{so}/x86_64/hello.so"
"""


def project(tmp_path: Path) -> Path:
    text = (FIXTURES / "example" / "modpack.toml").read_text().replace('architecture = "x86_64"\n', "")
    toml = tmp_path / "modpack.toml"
    toml.write_text(text + TARGETS.format(so=SO))
    return toml


@pytest.mark.parametrize(
    ("chooser", "extra", "message", "hint"),
    [
        (
            ["--all"],
            ["--so", str(SO / "x86_64" / "hello.so")],
            "--so cannot be combined with --all: each [[targets]] entry builds from its own `so`",
            "drop --so",
        ),
        (
            ["--target", "rhel9-x86_64"],
            ["--so", str(SO / "x86_64" / "hello.so")],
            "--so cannot be combined with --target",
            "without --target",
        ),
        (
            ["--all"],
            ["--discover"],
            "--discover cannot be combined with --all: commands are not discovered per target",
            "Declare the commands in modpack.toml first: `modpack discover",
        ),
        (
            ["--target", "rhel9-x86_64"],
            ["--discover"],
            "--discover cannot be combined with --target",
            "then build the targets without --discover",
        ),
        (  # --all built every target, and --target went unheeded
            ["--all"],
            ["--target", "rhel9-x86_64"],
            "--all and --target cannot be combined",
            "Pass --all for every target, or --target NAME.",
        ),
    ],
)
def test_a_single_bundle_option_with_targets_is_a_usage_error(
    tmp_path: Path, chooser: list[str], extra: list[str], message: str, hint: str
) -> None:
    toml = project(tmp_path)
    dist = tmp_path / "dist"
    result = run_modpack("build", toml, *chooser, *extra, "-o", dist)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert hint in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not dist.exists() or not any(dist.iterdir())


def test_the_targets_still_build_without_those_options(tmp_path: Path) -> None:
    toml = project(tmp_path)
    result = run_modpack("build", toml, "--all", "-o", tmp_path / "dist")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [p.name for p in (tmp_path / "dist").iterdir()] == ["hello.Linux-rhel9-x86_64.1.2.3.zip"]


def test_a_build_that_picks_no_target_of_a_targets_only_file_says_how_to(tmp_path: Path) -> None:
    """A modpack.toml whose binaries are only in [[targets]] entries: a plain build said "Pass
    --so FILE, or set so under [build]", and not that its targets need --all or --target."""
    toml = project(tmp_path)
    toml.write_text(
        "\n".join(line for line in toml.read_text().splitlines() if not line.startswith('so = "..'))
    )
    result = run_modpack("build", toml, "-o", tmp_path / "dist")
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "no module binary to build from: modpack.toml builds its [[targets]] (rhel9-x86_64)" in result.stderr
    )
    assert "hint: Pass --all for every target, or --target NAME for some" in result.stderr
    assert not (tmp_path / "dist").exists()


def test_discover_with_targets_hints_a_discover_that_declares_the_commands_in_that_file(
    tmp_path: Path,
) -> None:
    """`build proj --all --discover` hinted "`modpack discover SO --write modpack.toml`, or `modpack
    build --discover` without --all": run from the folder above proj, the first wrote a new
    ./modpack.toml and left proj's without commands, and the second declares nothing (and, with
    [[targets]] and no --so, refuses to build). The hint names the file and a target's built
    binary, and run as printed it declares the commands there, after which the targets build."""
    import re
    import shlex
    import shutil

    require_redis()
    folder = tmp_path / "my module"
    (folder / "build").mkdir(parents=True)
    shutil.copy2(SO / "x86_64" / "hello.so", folder / "build" / "hello.so")
    text = (FIXTURES / "example" / "modpack.toml").read_text()
    text = re.sub(r"(?ms)^\[\[commands\]\].*?(?=^\[(?!\[commands)|\Z)", "", text)
    text = re.sub(r"(?ms)^\[build\].*?(?=^\[|\Z)", "", text).replace('architecture = "x86_64"\n', "")
    (folder / "modpack.toml").write_text(text + TARGETS.replace("{so}/x86_64", "build"))

    refused = run_modpack("build", "my module", "--all", "--discover", cwd=tmp_path)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    command = "modpack discover 'my module/build/hello.so' --write 'my module/modpack.toml'"
    assert f"hint: Declare the commands in modpack.toml first: `{command}` adds those" in refused.stderr
    ran = run_modpack(*shlex.split(command)[1:], cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert not (tmp_path / "modpack.toml").exists()
    assert "[[commands]]" in (folder / "modpack.toml").read_text()
    built = run_modpack("build", "my module", "--all", "-o", "dist", cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "CMD030" not in built.stdout
