"""`modpack validate`: reference examples, output formats, options, and properties on any input."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modpack import schema as schema_module
from modpack.checks.document import check_module_document
from modpack.config import Settings
from modpack.findings import Sink
from modpack.validate import validate_bundle, validate_paths
from tests.support.cli import run_modpack
from tests.support.paths import CASES, ROOT
from tests.support.strategies import json_values
from tests.support.tools import require

REFERENCE = ROOT.parent / "shared" / "reference" / "examples" / "module-json"
GOOD = CASES / "good" / "module-json" / "module.json"

# What each real module.json deserves, and why (see the closing note of the validator issue).
REFERENCE_FINDINGS = {
    # The documented POST body: its capabilities are placeholders; no compatible_redis_version.
    "redis-docs__content__operate__rs__references__rest-api__requests__modules__user-defined.md__post-body.json": [
        "VER006",
        "CAP001",
        "CAP001",
        "CAP001",
    ],
    # RAMP's bundles: a float version, no compatible_redis_version, and (2019) packed on a Mac.
    "RAMP@a353cfc__test_module.zip__module.json": ["VER011", "VER006", "PLT006"],
    # An override replaced graph.EXPLAIN wholesale with a bare name: no arity for the proxy.
    "RAMP@c3455df__test_module.zip__module.json": ["VER011", "VER006", "CMD005", "CMD006"],
    "RAMP@d3de40a__test_module.zip__module.json": ["SCH003", "VER011", "VER006", "CMD005", "CMD006"],
    "RAMP__test_module.zip__module.json": ["VER011", "VER006", "CMD005", "CMD006"],
    # 2020-04: "dependencies": null and no capabilities at all.
    "RAMP@ef5b2b5__test_module.zip__module.json": ["SCH002", "VER011", "VER006", "CAP004"],
}


@pytest.mark.parametrize("name", sorted(REFERENCE_FINDINGS))
def test_reference_module_json_gets_what_it_deserves(name: str) -> None:
    require(REFERENCE.is_dir(), f"{REFERENCE} (shared/reference beside this checkout) is missing")
    report = validate_paths([REFERENCE / name])
    assert sorted(f.code for f in report.findings()) == sorted(REFERENCE_FINDINGS[name])


def test_json_output_follows_its_published_schema(tmp_path: Path) -> None:
    result = run_modpack(
        "validate", "--format", "json", *sorted((CASES / "bad").glob("*/module.json"))[:10], GOOD
    )
    assert result.returncode == 1
    document = json.loads(result.stdout)
    published = json.loads(run_modpack("schema", "report").stdout)
    jsonschema.Draft202012Validator.check_schema(published)
    jsonschema.validate(document, published)
    assert document["summary"]["errors"] > 0


def test_github_format_prints_workflow_annotations() -> None:
    result = run_modpack("validate", "--format", "github", CASES / "bad" / "zero-step" / "module.json")
    line = result.stdout.splitlines()[0]
    assert line.startswith("::error file=") and ",line=" in line and "KEY002" in line


def test_sarif_format_is_sarif() -> None:
    result = run_modpack("validate", "--format", "sarif", CASES / "bad" / "zero-step" / "module.json")
    document = json.loads(result.stdout)
    assert document["version"] == "2.1.0"
    assert document["runs"][0]["results"][0]["ruleId"] == "KEY002"


def test_exit_codes_select_ignore_strict() -> None:
    warning_case = CASES / "bad" / "no-capabilities" / "module.json"
    assert run_modpack("validate", GOOD).returncode == 0
    assert run_modpack("validate", warning_case).returncode == 0
    assert run_modpack("validate", "--strict", warning_case).returncode == 1
    assert run_modpack("validate", "--strict", "--ignore", "CAP004", warning_case).returncode == 0
    assert (
        run_modpack("validate", "--select", "KEY", CASES / "bad" / "zero-step" / "module.json").returncode
        == 1
    )
    assert (
        run_modpack("validate", "--select", "CAP", CASES / "bad" / "zero-step" / "module.json").returncode
        == 0
    )
    assert run_modpack("validate", "--select", "NOPE999", GOOD).returncode == 2
    assert run_modpack("validate").returncode == 2


def test_settings_from_modpack_toml(tmp_path: Path) -> None:
    (tmp_path / "modpack.toml").write_text(
        '[module]\nname = "x"\nsemantic_version = "1.0.0"\n'
        'min_redis_version = "7.0"\n[validate]\nstrict = true\n'
    )
    target = tmp_path / "module.json"
    target.write_text((CASES / "bad" / "no-capabilities" / "module.json").read_text())
    assert run_modpack("validate", "module.json", cwd=tmp_path).returncode == 1


def test_rule_codes_in_modpack_toml_read_as_on_the_command_line(tmp_path: Path) -> None:
    """`--ignore ver006` was accepted while `ignore = ["ver006"]` in [validate] was "no rule matches"."""
    target = tmp_path / "module.json"
    target.write_text((CASES / "bad" / "no-capabilities" / "module.json").read_text())
    found = run_modpack("validate", target, "--format", "json")
    codes = {f["code"] for f in json.loads(found.stdout)["files"][0]["findings"]}
    assert codes, found.stdout
    listed = ", ".join(f'"{c.lower()}"' for c in sorted(codes))
    (tmp_path / "modpack.toml").write_text(f"[validate]\nignore = [{listed}]\n")
    quiet = run_modpack("validate", target, "--config", tmp_path / "modpack.toml")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "0 errors, 0 warnings" in quiet.stdout


@pytest.mark.parametrize(
    ("line", "message", "hint"),
    [
        (
            'ignore = "VER006"',
            '[validate.ignore]: `validate.ignore` is a string ("VER006"); expected an array',
            "lists",
        ),
        (
            "select = [1, 2]",
            "[validate.select[0]]: `validate.select[0]` is an integer (1); expected a string",
            "lists",
        ),
        (
            'strict = "yes"',
            '[validate.strict]: `validate.strict` is a string ("yes"); expected a boolean',
            "strict",
        ),
        (
            "load = 1",
            '[validate.load]: `validate.load` is 1; expected one of true, false, "if-available"',
            "load",
        ),
        ('ignroe = ["VER006"]', "[validate.ignroe]: unknown key 'ignroe'", "Did you mean 'ignore'?"),
    ],
)
def test_a_setting_of_the_wrong_type_is_a_usage_error_not_dropped(
    tmp_path: Path, line: str, message: str, hint: str
) -> None:
    """`ignore = "VER006"` (a string, not a list) or a misspelt key was silently dropped: the
    warning it meant to silence still failed the run, and nothing said why. modpack.schema.json
    decides, as it does when modpack.toml itself is validated."""
    config = tmp_path / "modpack.toml"
    config.write_text(f"[validate]\n{line}\n")
    result = run_modpack("validate", GOOD, "--config", config)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{config} {message}" in result.stderr
    assert hint in result.stderr and "Traceback" not in result.stderr


def test_one_call_reports_every_file_and_never_stops_early() -> None:
    paths = [CASES / "bad" / "zero-step" / "module.json", CASES / "bad" / "json-syntax" / "module.json", GOOD]
    report = validate_paths(paths)
    assert [len(f.findings) for f in report.files] == [1, 1, 0]


def test_text_output_names_file_line_path_and_fix() -> None:
    result = run_modpack("validate", CASES / "bad" / "zero-step" / "module.json")
    first, fix = result.stdout.splitlines()[:2]
    assert "zero-step/module.json:" in first and "[commands[0].step]" in first and "KEY002" in first
    assert fix.strip().startswith("fix:")
    assert "\033[" not in result.stdout  # no colour when not a terminal


# --- properties -------------------------------------------------------------------------------

good_module = json.loads(GOOD.read_text())
module_keys = st.sampled_from(sorted(good_module) + ["commands", "dependencies", "unknown"])
mutated_modules = st.builds(
    lambda changes: {**good_module, **changes}, st.dictionaries(module_keys, json_values, max_size=4)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, mutated_modules))
def test_any_json_value_yields_findings_never_an_exception(document: Any) -> None:
    sink = Sink("module.json")
    check_module_document(document, sink)
    for finding in sink.resolved():
        assert finding.code and finding.message


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, mutated_modules))
def test_schema_interpreter_agrees_with_jsonschema(document: Any) -> None:
    published = schema_module.load_schema("module")
    ours = schema_module.check(document, "module")
    theirs = list(jsonschema.Draft202012Validator(published).iter_errors(document))
    assert bool(ours) == bool(theirs), (ours, [e.message for e in theirs])


def test_any_text_as_module_json_never_raises(tmp_path: Path) -> None:
    @settings(max_examples=150, deadline=None)
    @given(st.text(max_size=300))
    def check(text: str) -> None:
        target = tmp_path / "module.json"
        target.write_text(text, encoding="utf-8")
        validate_paths([target])

    check()


good_bundle = (CASES / "good" / "bundle" / "bundle.zip").read_bytes()


@st.composite
def mutated_zips(draw: st.DrawFn) -> bytes:
    data = bytearray(good_bundle)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[: cut or len(data)])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=400), mutated_zips()))
def test_any_bytes_as_a_bundle_yield_findings_never_an_exception(tmp_path: Path, data: bytes) -> None:
    target = tmp_path / "bundle.zip"
    target.write_bytes(data)
    validate_bundle(target)


def test_zip_with_a_directory_entry_and_deps_is_accepted(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good_bundle)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr("deps/", b"")
    path = tmp_path / "bundle.zip"
    path.write_bytes(out.getvalue())
    assert [f.code for f in validate_paths([path], Settings()).findings()] == []


def test_published_schemas_use_only_what_the_interpreter_implements() -> None:
    for name in ("module", "modpack"):
        assert schema_module.interpretable(name), name


def test_a_schema_with_a_list_of_types_goes_to_jsonschema() -> None:
    """The report schema says `"type": ["string", "null"]`, which the interpreter does not
    implement: checking against it is jsonschema's (compiling it once raised a TypeError)."""
    assert not schema_module.interpretable("report")
    violations = schema_module.check({"files": "x"}, "report")
    assert violations and {v.code for v in violations} <= {"SCH001", "SCH002"}


def test_a_schema_beyond_the_interpreter_goes_to_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    extended = {**schema_module.load_schema("module"), "minProperties": 100}
    monkeypatch.setattr(schema_module, "load_schema", lambda name: extended)
    schema_module.interpretable.cache_clear()
    try:
        violations = schema_module.check(json.loads(GOOD.read_text()), "module")
    finally:
        schema_module.interpretable.cache_clear()
    assert [v.code for v in violations] == ["SCH002"] and "properties" in violations[0].message


def test_bundled_dependency_found_by_its_url_file_name(tmp_path: Path) -> None:
    import hashlib

    archive_bytes = b"a dependency archive"
    module = json.loads(GOOD.read_text())
    module["dependencies"] = {
        "gears_python": {
            "url": "http://example.com/redisgears-python.linux-x64.1.2.1.tgz",
            "sha256": hashlib.sha256(archive_bytes).hexdigest(),
        }
    }
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good_bundle)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = json.dumps(module).encode() if info.filename == "module.json" else source.read(info)
            target.writestr(info, data)
        target.writestr("deps/redisgears-python.linux-x64.1.2.1.tgz", archive_bytes)
    path = tmp_path / "bundle.zip"
    path.write_bytes(out.getvalue())
    assert [f.code for f in validate_paths([path]).findings()] == []


def test_a_clean_modpack_toml_validates_with_no_finding_at_all() -> None:
    """The bundled example leaves operating_systems to the build: no ELF029 note on every run."""
    result = run_modpack("validate", ROOT / "fixtures" / "example" / "modpack.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("1 file checked: 0 errors, 0 warnings, 0 infos"), result.stdout


def test_a_module_json_that_is_not_there_is_in001_decided_by_the_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Missing, a dangling link, a link loop and a file where a folder should be: each 'does not
    exist', as Path.exists() says, found by opening the file (no stat per module.json first)."""
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere")
    (tmp_path / "loop.json").symlink_to(tmp_path / "loop.json")
    (tmp_path / "plain").write_text("")
    names = ["missing.json", "dangling.json", "loop.json", "plain/x/module.json"]
    paths = [tmp_path / name for name in names] + [GOOD]

    def no_stat(self: Path, *args: Any, **kwargs: Any) -> bool:
        raise AssertionError(f"{self} was stat'ed before it was opened")

    monkeypatch.setattr(Path, "exists", no_stat)
    report = validate_paths(paths, Settings())
    found = [(f.code, f.message) for f in report.findings()]
    assert found == [("IN001", f"{path} does not exist") for path in paths[:-1]]
    assert [file.kind for file in report.files] == ["module.json"] * 5


def test_the_key_ramp_leaks_from_runcmdargs_is_not_called_a_typo(tmp_path: Path) -> None:
    """`ramp pack --runcmdargs ...` leaves run_command_line_args in module.json (ramp.md §2):
    SCH003 said "Did you mean 'command_line_args'?", a key the file already has, whose value the
    rename would have replaced with the discovery-only arguments."""
    document = json.loads((CASES / "good" / "module-json" / "module.json").read_text())
    document["command_line_args"] = "ARG1 2"
    document["run_command_line_args"] = ""
    path = tmp_path / "module.json"
    path.write_text(json.dumps(document, indent=2))
    [finding] = [f for f in validate_paths([path]).findings() if f.code == "SCH003"]
    assert "run_command_line_args" in finding.message
    assert finding.fix == (
        "RAMP copies it from --runcmdargs, which only its discovery load uses; remove it"
        " (command_line_args holds the module's arguments)."
    )


def test_a_file_named_twice_is_checked_once(tmp_path: Path) -> None:
    """`validate a a/module.json ./a/module.json` checked one file three times: every finding
    printed, and annotated on the pull request, three times."""
    folder = tmp_path / "a"
    folder.mkdir()
    shutil.copyfile(CASES / "bad" / "zero-step" / "module.json", folder / "module.json")
    done = run_modpack(
        "validate", "a", "a/module.json", "./a/module.json", "--format", "github", cwd=tmp_path
    )
    assert done.returncode == 1
    assert done.stdout.count("title=KEY002 ") == 1, done.stdout


@pytest.mark.rule("IN005")
def test_a_bundle_or_binary_not_named_so_is_read_by_its_bytes(tmp_path: Path) -> None:
    """A bundle saved as hello.zip.1 (a second download) or a CI artifact without .zip was IN005
    'is not a bundle', while inspect read it, publish uploaded it and Redis Enterprise, which never
    looks at the name, took it. A file that is neither zip nor ELF stays IN005."""
    good = CASES / "good" / "bundle" / "bundle.zip"
    hello = ROOT / "fixtures" / "so" / "x86_64" / "hello.so"
    renamed = {"hello.zip.1": good, "artifact": good, "hello-module": hello}
    for name, source in renamed.items():
        shutil.copyfile(source, tmp_path / name)
        done = run_modpack("validate", "--format", "json", tmp_path / name)
        report = json.loads(done.stdout)
        assert report["files"][0]["kind"] == ("binary" if source == hello else "bundle"), done.stdout
        assert "IN005" not in done.stdout, done.stdout
    (tmp_path / "notes").write_text("not a bundle")
    done = run_modpack("validate", tmp_path / "notes")
    assert done.returncode == 1
    assert "error IN005 notes is not a bundle, module.json, modpack.toml, ramp.yml or .so" in done.stdout


@pytest.mark.redis
def test_a_bundle_not_named_zip_proves_a_ramp_yml_s_load(tmp_path: Path) -> None:
    """`validate --load ramp.yml artifact`, the bundle not named .zip: the bundle was loaded, and the
    ramp.yml still said LOAD025 'nothing was loaded' (a ramp.yml names no binary, and a bundle of
    the run proves it only when told by its name). It is told by its bytes, as validating it does."""
    from tests.support.tools import require_redis

    require_redis()
    shutil.copyfile(CASES / "good" / "ramp-yml" / "ramp.yml", tmp_path / "ramp.yml")
    shutil.copyfile(CASES / "good" / "bundle" / "bundle.zip", tmp_path / "artifact")
    done = run_modpack("validate", "--load", "ramp.yml", "artifact", cwd=tmp_path)
    assert "info LOAD003 " in done.stdout, done.stdout + done.stderr
    assert "LOAD025" not in done.stdout and done.returncode == 0, done.stdout + done.stderr


def test_no_commands_fix_names_a_discover_that_runs(tmp_path: Path) -> None:
    """CMD030's fix said "`modpack discover` (with --write modpack.toml) lists them", and a bare
    `modpack discover` refuses to run (Missing argument 'SO', exit 2). The fix names the .so
    (FILE.so), and run with the module's binary put in, each form does what it says."""
    import re
    import shlex
    import shutil
    import tomllib

    from tests.support.cli import run_modpack
    from tests.support.paths import HELLO
    from tests.support.tools import require_redis

    require_redis()
    shutil.copy2(HELLO, tmp_path / "hello.so")
    (tmp_path / "modpack.toml").write_text(
        '[module]\nname = "hello"\nsemantic_version = "1.2.3"\ncapabilities = ["types"]\n'
        'min_redis_version = "7.0"\ncompatible_redis_version = "7.4"\n\n[build]\nso = "hello.so"\n'
    )
    done = run_modpack("validate", "modpack.toml", cwd=tmp_path)
    assert "warning CMD030" in done.stdout, done.stdout
    commands = re.findall(r"`(modpack discover [^`]*)`", done.stdout)
    assert commands == ["modpack discover FILE.so", "modpack discover FILE.so --write modpack.toml"]
    listed = run_modpack(
        *[w.replace("FILE.so", "hello.so") for w in shlex.split(commands[0])[1:]], cwd=tmp_path
    )
    assert listed.returncode == 0 and 'name = "hello.copy"' in listed.stdout, listed.stdout + listed.stderr
    added = run_modpack(
        *[w.replace("FILE.so", "hello.so") for w in shlex.split(commands[1])[1:]], cwd=tmp_path
    )
    assert added.returncode == 0, added.stdout + added.stderr
    assert len(tomllib.loads((tmp_path / "modpack.toml").read_text())["commands"]) == 5
    assert "CMD030" not in run_modpack("validate", "modpack.toml", cwd=tmp_path).stdout
