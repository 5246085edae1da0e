"""RAMP compatibility: real manifests, `modpack init --from`, `modpack ramp-pack`, and real RAMP."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from modpack.validate import validate_paths
from tests.conftest import CASES, ROOT, SO, require_redis, run_modpack

MANIFESTS = ROOT.parent / "shared" / "reference" / "examples" / "ramp"
HELLO = SO / "x86_64" / "hello.so"

# The findings each real manifest deserves, and why.
MANIFEST_FINDINGS = {
    # RAMP's own examples: no compatible_redis_version (RAMP then writes "7.4" silently), and an
    # override and an addition that carry only command_name: module.json would lack the arity
    # the Redis Enterprise proxy reads as a required key (ramp.md §3.2).
    "RAMP__example.manifest.yml": ["VER006", "CMD005", "CMD006", "CMD005", "CMD006"],
    "RAMP__example2.manifest.yml": ["VER006", "CMD005", "CMD006", "CMD005", "CMD006"],
    # Module repositories keep the "99.99" development placeholder in compatible_redis_version.
    # RediSearch's negative-step routing overrides are accepted as routing policies.
    "RediSearch__pack__ramp-enterprise.yml": ["VER010"],
    "RedisBloom__pack__ramp.yml": ["VER010"],
    "RedisJSON__pack__ramp.yml": ["VER010"],
}

HELLO_MANIFEST = (CASES / "good" / "ramp-yml" / "ramp.yml").read_text()

needs_manifests = pytest.mark.skipif(
    not MANIFESTS.is_dir(), reason="../shared/reference is not beside this checkout"
)


@needs_manifests
@pytest.mark.parametrize("name", sorted(MANIFEST_FINDINGS))
def test_real_manifest_gets_what_it_deserves(name: str) -> None:
    report = validate_paths([MANIFESTS / name])
    assert sorted(f.code for f in report.findings()) == sorted(MANIFEST_FINDINGS[name])


@needs_manifests
@pytest.mark.parametrize("name", sorted(MANIFEST_FINDINGS))
def test_init_from_real_manifest(tmp_path: Path, name: str) -> None:
    target = tmp_path / "modpack.toml"
    result = run_modpack("init", target, "--from", MANIFESTS / name, "--name", "mod", "--version", "1.0.0")
    assert result.returncode == 0, result.stderr
    text = target.read_text()
    assert 'name = "mod"' in text and 'semantic_version = "1.0.0"' in text
    codes = [f.code for f in validate_paths([target]).findings()]
    if name.startswith("RAMP__"):
        assert (
            "to do: exclude_commands (1 name) applies to the commands the module registers" in result.stdout
        )
        assert "not carried over" not in result.stdout and "exclude_commands:" not in result.stdout
        assert sorted(codes) == ["CMD005", "CMD005", "VER006"]  # the same defects, carried over
    elif name.startswith("RediSearch"):
        assert codes == ["VER010"]
    else:  # no overide_command or add_command: nothing declares a command until --discover
        assert sorted(codes) == ["CMD030", "VER010"]
    if name.startswith("RediSearch"):
        assert "step = -3" in text and 'name = "FT.CURSOR"' in text


def test_init_from_manifest_without_name_reports_it(tmp_path: Path) -> None:
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(HELLO_MANIFEST + "run_command_line_args: \"{os.getenv('ARGS')}\"\n")
    result = run_modpack("init", tmp_path / "modpack.toml", "--from", manifest)
    assert result.returncode == 0
    assert "to do: set [module] name (the name the module passes to RedisModule_Init)" in result.stdout
    assert "to do: set [module] semantic_version" in result.stdout
    assert "dropped: run_command_line_args" in result.stdout
    text = (tmp_path / "modpack.toml").read_text()
    assert "# name = ...  # to do:" in text and 'name = ""' not in text  # never an empty value to trip on
    found = validate_paths([tmp_path / "modpack.toml"]).findings()
    # What is missing, by name, with how to fill it; and no command is declared (RAMP discovers them).
    assert sorted((f.code, f.location.path) for f in found) == [
        ("CMD030", "commands"),
        ("SCH001", "module.name"),
        ("SCH001", "module.semantic_version"),
    ]
    assert "RedisModule_Init" in next(f.fix for f in found if f.location.path == "module.name")


def test_init_from_module_json_and_bundle(tmp_path: Path) -> None:
    for source in (CASES / "good" / "module-json" / "module.json", CASES / "good" / "bundle" / "bundle.zip"):
        target = tmp_path / f"{source.suffix[1:]}.toml"
        result = run_modpack("init", target, "--from", source)
        assert result.returncode == 0, result.stderr
        assert validate_paths([target]).findings() == []
        text = target.read_text()
        assert 'name = "hello"' in text and "[[commands]]" in text and "arity = -3" in text


def test_init_new_module_non_interactive(tmp_path: Path) -> None:
    target = tmp_path / "modpack.toml"
    assert run_modpack("init", target, "--name", "mymod", "--version", "0.1.0").returncode == 0
    # The template declares no capability and no command yet: both are said, neither is an error.
    assert sorted(f.code for f in validate_paths([target]).findings()) == ["CAP004", "CMD030"]
    assert run_modpack("init", target, "--name", "x", "--version", "1.0.0").returncode == 2  # exists
    assert run_modpack("init", tmp_path / "other.toml").returncode == 2  # no TTY to ask on


@pytest.mark.redis
def test_ramp_edits_applied_to_discovered_commands(tmp_path: Path) -> None:
    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        HELLO_MANIFEST
        + "exclude_commands:\n    - hello.copy\n"
        + 'overide_command:\n    - {"command_name": "hello.ping", "command_arity": 1, "flags": ["module", "fast"], "first_key": 0, "last_key": 0, "step": -1}\n'
        + 'add_command:\n    - {"command_name": "hello.extra", "command_arity": -1, "flags": ["module"], "first_key": 0, "last_key": 0, "step": 0}\n'
    )
    target = tmp_path / "modpack.toml"
    result = run_modpack("init", target, "--from", manifest, "--discover", HELLO)
    assert result.returncode == 0, result.stderr
    text = target.read_text()
    assert 'name = "hello"' in text and 'semantic_version = "1.2.3"' in text
    assert "hello.copy" not in text and 'name = "hello.extra"' in text and "step = -1" in text
    # operating_systems is left to the build, which fills it from the binary: nothing to say
    assert [f.code for f in validate_paths([target]).findings()] == []


@pytest.mark.redis
def test_override_matching_nothing_is_an_error(tmp_path: Path) -> None:
    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(HELLO_MANIFEST + "exclude_commands:\n    - hello.nothing\n")
    result = run_modpack("init", tmp_path / "modpack.toml", "--from", manifest, "--discover", HELLO)
    assert result.returncode == 1
    assert "DECL004" in result.stdout and "hello.nothing" in result.stdout
    result = run_modpack("ramp-pack", "-m", manifest, "-o", tmp_path / "x.zip", HELLO)
    assert result.returncode == 1 and "DECL004" in result.stdout
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.redis
def test_ramp_pack_takes_ramp_options(tmp_path: Path) -> None:
    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(HELLO_MANIFEST)
    out = tmp_path / "out" / "{module_name}.{os}-{architecture}.{semantic_version}.zip"
    result = run_modpack(
        "ramp-pack", "-m", manifest, "-o", out, "-C", "types,clustering,flash", "-cr", "7.4", HELLO
    )
    assert result.returncode == 0, result.stdout + result.stderr
    bundle = tmp_path / "out" / "hello.Linux-x86_64.1.2.3.zip"
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    assert module["capabilities"] == ["types", "clustering", "flash"] and module["version"] == 10203
    assert validate_paths([bundle]).findings() == []
    printed = run_modpack("ramp-pack", "-P", "-m", manifest, "-o", out, HELLO)
    assert printed.stdout.strip() == bundle.name


def ramp_available() -> bool:
    return (
        subprocess.run(
            [sys.executable, "-c", "import RAMP.ramp"], capture_output=True, check=False
        ).returncode
        == 0
    )


@pytest.mark.redis
def test_real_ramp_zip_differs_only_by_ramps_defects(tmp_path: Path) -> None:
    """A bundle packed by the real RAMP (ramp-packer from PyPI) and one by modpack, same manifest."""
    require_redis()
    if not ramp_available():
        pytest.fail("ramp-packer is not installed; `pip install -e .[test]` installs it")
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(HELLO_MANIFEST)
    (tmp_path / "ramp").mkdir()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "RAMP.ramp",
            "pack",
            "-m",
            str(manifest),
            "-o",
            str(tmp_path / "ramp" / "{module_name}.zip"),
            str(HELLO),
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    ours = run_modpack("ramp-pack", "-m", manifest, "-o", tmp_path / "ours" / "{module_name}.zip", HELLO)
    assert ours.returncode == 0, ours.stderr
    ramp_codes = {f.code for f in validate_paths([tmp_path / "ramp" / "hello.zip"]).findings()}
    our_codes = {f.code for f in validate_paths([tmp_path / "ours" / "hello.zip"]).findings()}
    # RAMP's defects: a float version, and operating_systems taken from the packing host (Debian
    # here, not a Redis Enterprise OS), which also leaves no declared OS to check the binary against.
    ramp_defects = {"VER011", "PLT002", "ELF029"}
    assert "VER011" in ramp_codes
    assert ramp_codes - ramp_defects == our_codes
