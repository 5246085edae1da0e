"""The command line: lazy commands, start-up imports, and the exit-code boundary."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from modpack.command_registry import LAZY_COMMANDS
from tests.support.cli import run_modpack
from tests.support.paths import CASES, ROOT

HEAVY = (
    "httpx",
    "starlette",
    "uvicorn",
    "tomlkit",
    "yaml",
    "elftools",
    "jsonschema",
    "modpack.rest",
    "modpack.redis",
    "zlib_ng",  # the codec: only reading or writing a bundle needs it (modpack/codec.py)
    "isal",
)


def test_every_lazy_command_loads() -> None:
    for name in LAZY_COMMANDS:
        result = run_modpack(name, "--help")
        assert result.returncode == 0 and "Usage: modpack" in result.stdout, name


def test_validate_of_a_module_json_imports_nothing_heavy() -> None:
    script = (
        "import sys, runpy\n"
        f"sys.argv = ['modpack', 'validate', {str(CASES / 'good' / 'module-json' / 'module.json')!r}]\n"
        "try:\n    runpy.run_module('modpack', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_usage_errors_exit_2_and_internal_errors_never_show_a_traceback() -> None:
    assert run_modpack("nonsense").returncode == 2
    assert run_modpack("validate", "--format", "xml", "x").returncode == 2
    result = run_modpack("build", "/nonexistent/modpack.toml")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "does not exist" in result.stderr
    assert run_modpack("--version").stdout.startswith("modpack, version")


def test_every_command_a_rule_text_points_to_exists() -> None:
    from modpack.rules import all_rules

    quoted = {m for r in all_rules().values() for m in re.findall(r"`(modpack [^`]+)`", r.why + " " + r.fix)}
    assert quoted, "the rule texts name no command"
    for command in quoted:
        words = command.split()[1:]
        words = [w for w in words if not w.isupper()]  # placeholders such as FILE.so
        result = run_modpack(*words) if "--" in command else run_modpack(*words, "--help")
        assert result.returncode == 0, (command, result.stderr)


def test_build_findings_follow_color(tmp_path: Path) -> None:
    """build prints its warnings in colour only when asked (or on a terminal), like validate."""
    shutil.copytree(ROOT / "fixtures" / "example", tmp_path / "fixtures" / "example")
    (tmp_path / "fixtures" / "so" / "x86_64").mkdir(parents=True)
    shutil.copy2(ROOT / "fixtures" / "so" / "x86_64" / "hello.so", tmp_path / "fixtures" / "so" / "x86_64")
    toml = tmp_path / "fixtures" / "example" / "modpack.toml"
    toml.write_text(re.sub(r"(?m)^compatible_redis_version.*\n", "", toml.read_text()))
    plain = run_modpack("build", "fixtures/example", "-o", "dist", cwd=tmp_path, env={"FORCE_COLOR": ""})
    assert plain.returncode == 0 and "VER006" in plain.stdout and "\x1b[" not in plain.stdout
    coloured = run_modpack("build", "fixtures/example", "-o", "dist", "--color", "always", cwd=tmp_path)
    assert coloured.returncode == 0 and "\x1b[33mwarning\x1b[0m" in coloured.stdout
