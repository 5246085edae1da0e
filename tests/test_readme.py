"""The README's rule table is generated from the rule catalogue, and its commands exist."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT, run_modpack


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
