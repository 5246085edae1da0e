"""The README cannot drift: its rule table is generated, and every `sh` example block runs.

Each ```sh block runs with bash -e in a fresh folder laid out like the README's reader's: the
example module and its .so under fixtures/, the bundle the README's first command builds in dist/,
a module.json and a ramp.yml. A block that needs what a test cannot have says so in an HTML
comment on the line before its fence, which the reader does not see:
  <!-- readme-test: skip (why) -->   not run; the reason shows in pytest's summary
  <!-- readme-test: serve (note) --> run against a `modpack serve` started for it: its URL
                                      replaces https://cluster.example.com:9443, its CA is
                                      ./ca.pem, its admin password replaces MODPACK_PASSWORD=...
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import run_modpack
from tests.support.paths import CASES, FIXTURES, ROOT


def test_rule_table_matches_the_catalogue() -> None:
    spec = importlib.util.spec_from_file_location("update_readme", ROOT / "scripts" / "update_readme.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert module.updated(text) == text, "run `python scripts/update_readme.py`"


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert commands == [
        "python3 -m pip install . && modpack build fixtures/example -o dist",
        "./scripts/test.sh",
    ]


def test_every_documented_command_has_help() -> None:
    for command in ("validate", "build", "inspect", "rules", "schema", "init", "ramp-pack"):
        assert run_modpack(command, "--help").returncode == 0, command


# --- every sh block runs ------------------------------------------------------------------------

FENCE = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"<!-- readme-test: (skip|serve) \((.+)\) -->")
CLUSTER = "https://cluster.example.com:9443"
PASSWORD = "MODPACK_PASSWORD=..."


@dataclass(frozen=True)
class Block:
    line: int
    mode: str  # run, skip or serve
    reason: str
    text: str


def sh_blocks(readme: str) -> list[Block]:
    blocks = []
    for match in FENCE.finditer(readme):
        before = readme[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.fullmatch(before.strip())
        mode, reason = (marker.group(1), marker.group(2)) if marker else ("run", "")
        blocks.append(Block(readme.count("\n", 0, match.start()) + 1, mode, reason, match.group(1)))
    return blocks


BLOCKS = sh_blocks((ROOT / "README.md").read_text(encoding="utf-8"))


def reader_folder(folder: Path) -> dict[str, str]:
    """The files the README's examples name, and an environment whose `modpack` is this checkout."""
    (folder / "fixtures" / "so" / "x86_64").mkdir(parents=True)
    shutil.copytree(FIXTURES / "example", folder / "fixtures" / "example")
    shutil.copy2(FIXTURES / "so" / "x86_64" / "hello.so", folder / "fixtures" / "so" / "x86_64")
    built = run_modpack("build", "fixtures/example", "-o", "dist", cwd=folder)
    assert built.returncode == 0, built.stdout + built.stderr
    shutil.copyfile(CASES / "good" / "module-json" / "module.json", folder / "module.json")
    shutil.copyfile(CASES / "good" / "ramp-yml" / "ramp.yml", folder / "ramp.yml")
    shim = folder.parent / f"{folder.name}-bin"
    shim.mkdir()
    (shim / "modpack").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m modpack "$@"\n')
    (shim / "modpack").chmod(0o755)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MODPACK_", "GITHUB_"))}
    return {**environ, "PATH": f"{shim}{os.pathsep}{environ['PATH']}", "PYTHONPATH": str(ROOT)}


def run_block(text: str, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", text],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def with_cluster(text: str, folder: Path) -> tuple[str, object]:
    """The block pointed at a local `modpack serve`; returns the text and the context to close."""
    from contextlib import ExitStack

    from tests.support.rest import ADMIN, serve_processes

    assert CLUSTER in text and PASSWORD in text, "the serve block lost its documented placeholders"
    assert f"MODPACK_USER={ADMIN.user} " in text, "the README's user is not modpack serve's"
    stack = ExitStack()
    info = stack.enter_context(serve_processes(folder.parent / f"{folder.name}-cluster"))()
    shutil.copyfile(info["ca_cert"], folder / "ca.pem")
    text = text.replace(CLUSTER, info["cluster"]).replace(PASSWORD, f"MODPACK_PASSWORD={ADMIN.password}")
    return text, stack


def test_every_sh_block_is_run_or_says_why_not() -> None:
    assert BLOCKS, "no sh block found"
    assert sum(b.mode != "skip" for b in BLOCKS) >= 2
    assert all(b.reason for b in BLOCKS if b.mode != "run")


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"line{b.line}-{b.mode}")
def test_readme_sh_block_runs(block: Block, tmp_path: Path) -> None:
    if block.mode == "skip":
        pytest.skip(f"README line {block.line}: {block.reason}")
    folder = tmp_path / "reader"
    folder.mkdir()
    env = reader_folder(folder)
    text, stack = with_cluster(block.text, folder) if block.mode == "serve" else (block.text, None)
    try:
        result = run_block(text, folder, env)
    finally:
        if stack is not None:
            stack.close()  # type: ignore[attr-defined]
    assert result.returncode == 0, f"README line {block.line}:\n{result.stdout}\n{result.stderr}"


def test_the_nodes_serve_refuses_are_all_listed() -> None:
    """The README lists the nodes serve refuses before an OS's first release; it left out RHEL 9
    before 7.4.2 (serve --software-version 7.2 --os rhel9 is refused). Every first release from
    7.2 on (the oldest --software-version serve takes) in platforms.json is named there."""
    from modpack import policy
    from modpack.versions import parse_redis_version

    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    listed = re.search(r"one before its first release \(([^)]*)\)", text)
    assert listed is not None
    for os_id, system in policy.operating_systems().items():
        if system["status"] == "not-yet":
            continue
        for architecture, first in system.get("since", {}).items():
            if (parse_redis_version(first) or ()) <= (7, 2):
                continue
            said = f"before {first}"
            assert said in listed[1], f"{os_id} on {architecture} {said} is not listed: {listed[1]}"
