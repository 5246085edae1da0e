"""What CI sees: SARIF that code scanning accepts, annotations on the right file, no injected commands.

The SARIF output is validated against the published SARIF 2.1.0 schema (tests/schemas/).
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from modpack.findings import Example, Rule, Severity, Source
from modpack.reporters import _sarif_rule, colour_enabled, workspace_root
from tests.support.cli import run_modpack
from tests.support.paths import CASES, SO

SARIF_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json").read_text())
# RFC 3986 characters and well-formed percent escapes. jsonschema checks the schema's "uri" and
# "uri-reference" formats only with optional packages, so the test checks them itself.
URI_REFERENCE = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
INJECTED = "evil\n::error title=pwned::owned\n\x1b[2J.so"


def sarif_validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(SARIF_SCHEMA, format_checker=jsonschema.FormatChecker())


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A checkout with findings in a nested module.json, a bundle and a binary."""
    (tmp_path / "sub" / "dir").mkdir(parents=True)
    shutil.copyfile(CASES / "bad" / "zero-step" / "module.json", tmp_path / "sub" / "dir" / "module.json")
    (tmp_path / "dist").mkdir()
    shutil.copyfile(CASES / "bad" / "sha256-mismatch" / "bundle.zip", tmp_path / "dist" / "bundle.zip")
    shutil.copyfile(SO / "x86_64" / "text.so", tmp_path / "dist" / "text.so")
    shutil.copyfile(SO / "x86_64" / "text.so", tmp_path / "dist" / "my module:1%.so")
    return tmp_path


def sarif_of(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    result = run_modpack("validate", *args, "--format", "sarif", cwd=cwd, env=env)
    assert result.returncode == 1, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_sarif_is_valid_against_the_published_schema(workspace: Path) -> None:
    document = sarif_of("sub", "dist", cwd=workspace, env={"GITHUB_WORKSPACE": ""})
    errors = sorted(sarif_validator().iter_errors(document), key=str)
    assert errors == [], [e.message for e in errors]
    run = document["runs"][0]  # type: ignore[index]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": workspace.resolve().as_uri() + "/"}}
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert uris == {"sub/dir/module.json", "dist/bundle.zip", "dist/text.so", "dist/my%20module%3A1%25.so"}
    base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert all(URI_REFERENCE.fullmatch(uri) for uri in [*uris, base]), uris
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    for result in run["results"]:
        assert rules[result["ruleId"]] is run["tool"]["driver"]["rules"][result["ruleIndex"]]
        assert result["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1
        assert result["partialFingerprints"]["modpackFinding/v1"]
    zero_step = next(r for r in run["results"] if r["ruleId"] == "KEY002")
    assert zero_step["locations"][0]["physicalLocation"]["region"]["startLine"] == 42
    assert zero_step["message"]["text"].startswith("[commands[0].step] ")
    sha = next(r for r in run["results"] if r["ruleId"] == "ZIP006")
    assert sha["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    described = rules["KEY002"]
    assert described["shortDescription"]["text"] == "Zero step"
    assert described["fullDescription"]["text"] and "Fix:" in described["help"]["text"]


def test_a_file_outside_the_workspace_is_an_absolute_file_uri(
    workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "module.json"
    shutil.copyfile(CASES / "bad" / "zero-step" / "module.json", elsewhere)
    document = sarif_of(elsewhere, cwd=workspace, env={"GITHUB_WORKSPACE": ""})
    assert list(sarif_validator().iter_errors(document)) == []
    location = document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]  # type: ignore[index]
    assert location["artifactLocation"] == {"uri": elsewhere.resolve().as_uri()}


def test_github_workspace_is_the_root_wherever_modpack_runs(workspace: Path) -> None:
    env = {"GITHUB_WORKSPACE": str(workspace)}
    document = sarif_of("dir/module.json", cwd=workspace / "sub", env=env)
    result = document["runs"][0]["results"][0]  # type: ignore[index]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "sub/dir/module.json"
    github = run_modpack("validate", "dir/module.json", "--format", "github", cwd=workspace / "sub", env=env)
    assert github.stdout.startswith("::error file=sub/dir/module.json,line=42,title=KEY002 zero-step::")


def test_github_annotations_are_relative_to_the_current_folder(workspace: Path) -> None:
    result = run_modpack(
        "validate", workspace / "sub", "--format", "github", cwd=workspace, env={"GITHUB_WORKSPACE": ""}
    )
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        "::error file=sub/dir/module.json,line=42,title=KEY002 zero-step::[commands[0].step] "
        "command 'hello.set' has keys (1,1) but step 0. Fix: Use step 1 (or 2 for key/value pairs)."
    )


def test_a_hostile_file_name_injects_no_workflow_command(tmp_path: Path) -> None:
    (tmp_path / INJECTED).write_bytes(b"junk")
    for fmt in ("text", "github"):
        result = run_modpack("validate", ".", "--format", fmt, cwd=tmp_path, env={"GITHUB_WORKSPACE": ""})
        assert result.returncode == 1, result.stderr
        lines = result.stdout.splitlines()
        assert not any(line.startswith("::error title=pwned") for line in lines), fmt
        assert "\x1b" not in result.stdout, fmt
        assert sum("ELF001" in line for line in lines) == 1, fmt
    github = run_modpack("validate", ".", "--format", "github", cwd=tmp_path, env={"GITHUB_WORKSPACE": ""})
    # GitHub's own escaping: the runner decodes %0A back, so the annotation names the real file.
    assert github.stdout.startswith("::error file=evil%0A%3A%3Aerror title=pwned%3A%3Aowned%0A\\x1b[2J.so,")


def test_a_file_name_starting_with_colons_starts_no_text_line(tmp_path: Path) -> None:
    (tmp_path / "::warning::x.so").write_bytes(b"junk")
    result = run_modpack("validate", "::warning::x.so", cwd=tmp_path)
    assert result.stdout.startswith("./::warning::x.so: error ELF001")


def test_hostile_command_names_stay_on_one_line(tmp_path: Path) -> None:
    module = json.loads((CASES / "bad" / "zero-step" / "module.json").read_text())
    module["commands"][0]["command_name"] = "x\n::error::pwned\r\x07"
    (tmp_path / "module.json").write_text(json.dumps(module))
    for fmt in ("text", "github"):
        result = run_modpack("validate", "module.json", "--format", fmt, cwd=tmp_path)
        assert not any(line.startswith("::error::pwned") for line in result.stdout.splitlines()), fmt
        assert "\x07" not in result.stdout and "\r" not in result.stdout


def test_a_rule_with_sources_gets_help_uri_and_valid_metadata() -> None:
    rule = Rule(
        "KEY002",
        "zero-step",
        Severity.ERROR,
        "A zero step never advances.",
        "Use step 1.",
        sources=(Source("https://redis.io/docs/latest/commands/command/", "COMMAND"),),
        example_bad=Example('{"step": 0}'),
    )
    descriptor = _sarif_rule(rule)
    assert descriptor["helpUri"] == "https://redis.io/docs/latest/commands/command/"
    assert "[COMMAND](https://redis.io/docs/latest/commands/command/)" in descriptor["help"]["markdown"]
    schema = {**SARIF_SCHEMA, "$ref": "#/definitions/reportingDescriptor"}
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(descriptor)


# --- colour ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "tty", "env", "expected"),
    [
        ("auto", True, {}, True),
        ("auto", False, {}, False),
        ("auto", True, {"NO_COLOR": ""}, True),  # empty counts as unset (no-color.org)
        ("auto", True, {"NO_COLOR": "1"}, False),
        ("auto", False, {"FORCE_COLOR": "1"}, True),
        ("auto", False, {"FORCE_COLOR": ""}, False),
        ("auto", True, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
        ("auto", True, {"TERM": "dumb"}, False),
        ("always", False, {"NO_COLOR": "1"}, True),
        ("never", True, {"FORCE_COLOR": "1"}, False),
    ],
)
def test_colour_decision(choice: str, tty: bool, env: dict[str, str], expected: bool) -> None:
    assert colour_enabled(choice, tty, env) is expected  # type: ignore[arg-type]


def run_in_terminal(*args: str, env: dict[str, str]) -> str:
    """The CLI with a pseudo-terminal as stdout, as a user's shell runs it."""
    primary, secondary = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    process = subprocess.Popen(
        [sys.executable, "-m", "modpack", *args],
        stdout=secondary,
        stderr=subprocess.DEVNULL,
        env={**environ, "TERM": "xterm", **env},
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO once the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(primary)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_follows_no_color_only_when_non_empty() -> None:
    bad = str(CASES / "bad" / "zero-step" / "module.json")
    assert "\x1b[31m" in run_in_terminal("validate", bad, env={})
    assert "\x1b[31m" in run_in_terminal("validate", bad, env={"NO_COLOR": ""})
    assert "\x1b[" not in run_in_terminal("validate", bad, env={"NO_COLOR": "1"})
    assert "\x1b[" not in run_in_terminal("validate", bad, "--color", "never", env={})


def test_colour_when_piped_only_when_forced() -> None:
    bad = CASES / "bad" / "zero-step" / "module.json"
    clean = {"NO_COLOR": "", "FORCE_COLOR": ""}
    assert "\x1b[" not in run_modpack("validate", bad, env=clean).stdout
    assert "\x1b[31m" in run_modpack("validate", bad, env={**clean, "FORCE_COLOR": "1"}).stdout
    assert "\x1b[31m" in run_modpack("validate", bad, "--color", "always", env=clean).stdout
    assert run_modpack("validate", bad, "--color", "sometimes").returncode == 2


def test_workspace_root_prefers_github_workspace(tmp_path: Path) -> None:
    assert workspace_root({"GITHUB_WORKSPACE": str(tmp_path)}) == tmp_path.resolve()
    assert workspace_root({"GITHUB_WORKSPACE": ""}) == Path.cwd().resolve()


def test_a_workspace_reached_through_a_symlink_keeps_relative_paths(
    workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    link = tmp_path_factory.mktemp("links") / "checkout"
    link.symlink_to(workspace)
    result = run_modpack(
        "validate", link / "sub" / "dir" / "module.json", "--format", "github", cwd=workspace,
        env={"GITHUB_WORKSPACE": str(workspace)},
    )  # fmt: skip
    assert result.stdout.startswith("::error file=sub/dir/module.json,line=42,"), result.stdout


def test_sarif_of_a_file_whose_name_is_not_utf8_names_its_bytes(tmp_path: Path) -> None:
    """urllib's quote() encodes a str as strict UTF-8: a name in another encoding (a surrogate
    escape) was an internal error and no SARIF at all (exit 1 with empty output)."""
    from tests.support.cli import CHECKOUT

    (tmp_path / "g\udcfe.json").write_bytes(b"{")
    done = subprocess.run(
        [sys.executable, "-m", "modpack", "validate", "g\udcfe.json", "--format", "sarif"],
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": CHECKOUT},
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert b"internal error" not in done.stderr
    log = json.loads(done.stdout)
    (result,) = log["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "g%FE.json", "uriBaseId": "%SRCROOT%"}


def test_a_bundle_members_line_is_in_the_text_not_on_the_zip(tmp_path: Path) -> None:
    """github and SARIF put module.json's line numbers on the .zip (`file=bundle.zip,line=116`),
    a binary file with no such line: the member's line is now in the message, beside its name."""
    from tests.support.rest import module_json, write_bundle

    document = module_json()
    document["version"] = 10203.0  # VER011, at a line of module.json
    bundle = write_bundle(tmp_path / "b.zip", module_bytes=json.dumps(document, indent=2).encode())
    env = {"GITHUB_WORKSPACE": str(tmp_path)}
    github = run_modpack("validate", bundle, "--format", "github", cwd=tmp_path, env=env)
    [annotation] = [line for line in github.stdout.splitlines() if "VER011" in line]
    assert annotation.startswith("::warning file=b.zip,title=VER011 ")
    line = next(
        n for n, text in enumerate(json.dumps(document, indent=2).splitlines(), 1) if '"version"' in text
    )
    assert f"::[module.json:{line} version] " in annotation
    sarif = json.loads(run_modpack("validate", bundle, "--format", "sarif", cwd=tmp_path, env=env).stdout)
    [result] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "VER011"]
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    assert result["message"]["text"].startswith(f"[module.json:{line} version] ")


def test_a_file_name_that_is_not_utf8_is_valid_utf8_in_the_json_report(tmp_path: Path) -> None:
    """It carried Python's surrogate escapes as lone surrogates ("\\udcff"), which strict JSON
    parsers refuse and jq turns into U+FFFD; SARIF percent-encoded the same path correctly."""
    folder = os.fsencode(tmp_path) + b"/bad\xff\xfename"
    os.makedirs(folder)
    with open(folder + b"/module.json", "w") as written:
        written.write("{}")
    done = subprocess.run(
        [sys.executable, "-m", "modpack", "validate", "bad\udcff\udcfename", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        check=False,
    )
    assert done.returncode == 1, done.stderr
    text = done.stdout.decode("utf-8")  # strict: a lone surrogate's escape is still legal JSON text
    assert "\\ud" not in text, text
    document = json.loads(text)
    assert document["files"][0]["path"] == "bad\\xff\\xfename/module.json"


def test_sarif_fingerprints_do_not_depend_on_the_current_folder(tmp_path: Path) -> None:
    """DECL010's message names the binary as the command line reached it (build/hello.so from the
    module's folder, noso/build/hello.so from the workspace): the fingerprint hashed it whole, so
    a workflow whose working-directory changed made code scanning close and reopen every alert."""
    module = tmp_path / "noso"
    module.mkdir()
    text = (CASES.parent.parent / "fixtures" / "example" / "modpack.toml").read_text()
    (module / "modpack.toml").write_text(
        text.replace('so = "../so/x86_64/hello.so"', 'so = "build/hello.so"')
    )
    env = {"GITHUB_WORKSPACE": str(tmp_path)}
    prints = {}
    for cwd, path in ((tmp_path, "noso/modpack.toml"), (module, "modpack.toml")):
        done = run_modpack("validate", path, "--format", "sarif", cwd=cwd, env=env)
        [result] = [r for r in json.loads(done.stdout)["runs"][0]["results"] if r["ruleId"] == "DECL010"]
        prints[str(cwd)] = result["partialFingerprints"]["modpackFinding/v1"]
    assert len(set(prints.values())) == 1, prints
