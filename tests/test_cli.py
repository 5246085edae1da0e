"""The command line: lazy commands, start-up imports, and the exit-code boundary."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import ClassVar

import pytest

from modpack.cli.lazy import LAZY_COMMANDS
from tests.support.cli import modules_loaded, run_modpack
from tests.support.paths import CASES, HELLO, ROOT

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
    loaded = modules_loaded("validate", CASES / "good" / "module-json" / "module.json")
    assert sorted(m for m in loaded if m.startswith(HEAVY)) == []


def test_validate_of_a_module_json_imports_no_traceback_machinery() -> None:
    """traceback (with textwrap) is imported only where --debug or an internal error prints one;
    `modpack --debug` still shows the traceback (test_debug_is_the_groups_option...)."""
    loaded = modules_loaded("validate", CASES / "good" / "module-json" / "module.json")
    assert {"traceback", "textwrap"} & loaded == set()


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
        given = [w for w in words if not w.split(".")[0].isupper()]  # placeholders such as FILE.so
        ran = "--" in command and given == words  # else only its options are checked
        result = run_modpack(*given) if ran else run_modpack(*given, "--help")
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


def test_every_lazy_command_is_listed_by_the_real_group_and_shows_its_help() -> None:
    from click.testing import CliRunner

    from modpack.cli.app import main_group

    listed = CliRunner().invoke(main_group, ["--help"])
    assert listed.exit_code == 0
    for name in LAZY_COMMANDS:
        assert f"  {name} " in listed.output, name
        shown = CliRunner().invoke(main_group, [name, "--help"], prog_name="modpack")
        assert shown.exit_code == 0 and f"Usage: modpack {name}" in shown.output, name


def test_a_lazy_entry_that_is_not_a_command_is_refused_by_name() -> None:
    import click
    import pytest

    from modpack.cli.lazy import LazyCommandError, LazyGroup

    class Broken(LazyGroup):
        lazy: ClassVar[dict[str, str]] = {
            "oops": "modpack.errors:ModpackError",
            "gone": "modpack.errors:no_such_name",
        }

    group = Broken("modpack")
    with click.Context(group) as ctx:
        with pytest.raises(LazyCommandError, match=r"'oops': modpack\.errors:ModpackError is type, not a"):
            group.get_command(ctx, "oops")
        with pytest.raises(LazyCommandError, match=r"'gone': .* is NoneType, not a command"):
            group.get_command(ctx, "gone")


def test_debug_is_the_groups_option_and_a_commands_own_debug_shows_no_traceback(tmp_path: Path) -> None:
    """`modpack --debug` turns tracebacks on; ramp-pack's own --debug (RAMP's: print module.json)
    does not, as an argv scan once made it."""
    missing = tmp_path / "nowhere" / "modpack.toml"
    plain = run_modpack("build", missing)
    debug = run_modpack("--debug", "build", missing)
    assert plain.returncode == debug.returncode == 2
    assert "Traceback" not in plain.stderr and "Traceback" in debug.stderr
    so = tmp_path / "x.so"
    so.write_bytes(b"not an ELF file")
    ramp = run_modpack("ramp-pack", "--debug", "-o", tmp_path / "x.zip", so)
    assert ramp.returncode != 0 and "Traceback" not in ramp.stderr, ramp.stderr


def test_the_group_records_debug_in_its_typed_context() -> None:
    from click.testing import CliRunner

    from modpack.cli.app import CliContext, main_group

    state = CliContext()
    result = CliRunner().invoke(main_group, ["--debug", "schema", "module"], obj=state)
    assert result.exit_code == 0 and state.debug is True
    state = CliContext()
    CliRunner().invoke(main_group, ["schema", "module"], obj=state)
    assert state.debug is False


def test_a_redis_version_that_is_not_a_version_is_one_usage_error_for_validate_and_discover(
    tmp_path: Path,
) -> None:
    """One check of --redis-version (cli.output.checked_redis_version) for both commands that take it:
    the real group raises the usage error, and the entry point prints it and exits 2."""
    from click.testing import CliRunner

    from modpack.cli.app import main_group
    from modpack.errors import UsageError

    module_json = str(CASES / "good" / "module-json" / "module.json")
    so = tmp_path / "m.so"
    so.write_bytes(b"\x7fELF")
    for argv in (
        ["validate", "--redis-version", "7.x", module_json],
        ["discover", "--redis-version", "7.x", str(so)],
    ):
        result = CliRunner().invoke(main_group, argv, prog_name="modpack")
        assert isinstance(result.exception, UsageError), (argv, result.output)
        assert result.exception.exit_code == 2
        assert result.exception.message == "--redis-version '7.x' is not a version"
        assert result.exception.hint == "Give one like 8.0 or 7.0.15."
    for good in ("8", "8.0", "7.0.15"):
        result = CliRunner().invoke(main_group, ["validate", "--redis-version", good, module_json])
        assert result.exit_code == 0, (good, result.output)
    shown = run_modpack("validate", "--redis-version", "8.0.1.2", module_json)
    assert shown.returncode == 2 and "Traceback" not in shown.stderr
    assert (
        "modpack: --redis-version '8.0.1.2' is not a version\n  hint: Give one like 8.0 or 7.0.15."
        in shown.stderr
    )


def test_an_error_prints_its_message_each_detail_and_its_hint_on_lines_of_their_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Detail lines keep their own lines; a newline or escape inside any part, which may quote a
    value from the input, is shown as an escape and cannot forge a line or reach the terminal."""
    from modpack.cli.app import _fail
    from modpack.errors import ModpackError

    error = ModpackError("cannot take x\x1b[2J.zip:", "fix it", ["first\nforged", "second"])
    with pytest.raises(SystemExit) as ended:
        _fail(error, debug=False)
    assert ended.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "modpack: cannot take x\\x1b[2J.zip:",
        "  first\\nforged",
        "  second",
        "  hint: fix it",
    ]
    assert str(error) == "cannot take x\x1b[2J.zip:\n  first\nforged\n  second"


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["build", "--so", "a.so", "--so", "b.so"], "--so"),
        (["build", "-o", "a", "--output", "b"], "-o / --output"),
        (["validate", ".", "--format", "json", "--format", "text"], "--format"),
        (["modules", "list", "--cluster", "https://a:1", "--cluster", "https://b:1"], "--cluster"),
        (["artifacts", "delete", "x", "1", "--timeout", "1", "--timeout", "2"], "--timeout"),
    ],
)
def test_an_option_that_takes_one_value_given_twice_is_a_usage_error(
    tmp_path: Path, args: list[str], option: str
) -> None:
    """click kept the last value in silence: `--so old.so ... --so new.so` built new.so."""
    result = run_modpack(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"Error: {option} is given more than once; give it once" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_repeatable_options_flags_and_ramp_pack_keep_their_meaning(tmp_path: Path) -> None:
    (tmp_path / "module.json").write_text("{}")
    repeated = run_modpack(
        "validate", "module.json", "--select", "SCH", "--select", "IN", "--strict", "--strict", cwd=tmp_path
    )
    assert "given more than once" not in repeated.stderr, repeated.stderr
    assert repeated.returncode == 1  # the findings, not a usage error
    # ramp-pack keeps click's last-wins, as `ramp pack` does for the scripts it replaces
    packed = run_modpack("ramp-pack", HELLO, "-n", "first", "-n", "hello", "-o", "m.zip", cwd=tmp_path)
    assert packed.returncode == 0, packed.stdout + packed.stderr
    completion = run_modpack(
        cwd=tmp_path,
        env={
            "_MODPACK_COMPLETE": "bash_complete",
            "COMP_WORDS": "modpack build --so a --so b --col",
            "COMP_CWORD": "6",
        },
    )
    assert "--color" in completion.stdout


def test_no_rule_codes_to_check_reads_no_rule_table() -> None:
    """publish checked its (empty) --select/--ignore against every rule, importing the rules and
    reading their JSON before its first upload byte, which its validation only needs later."""
    from tests.support.cli import run_python

    code = (
        "import sys\n"
        "from modpack.config import check_codes\n"
        "check_codes((), 'given to --select')\n"
        "print('modpack.rules' in sys.modules)\n"
        "try:\n    check_codes(('NOPE999',), 'given to --select')\n"
        "except Exception as error:\n    print(type(error).__name__, error)\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["False", "UsageError no rule matches 'NOPE999' given to --select"]


def test_a_folder_validates_the_binary_its_declarations_name_once(tmp_path: Path) -> None:
    """`modpack validate project/` listed project/modpack.toml (which checks its [build] so) and
    project/hello.so again: every binary finding twice, and one file too many in the count. The
    binary's findings named it by its absolute path; they name it as the folder shows it."""
    import json

    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(HELLO, project / "hello.so")
    example = (ROOT / "fixtures" / "example" / "modpack.toml").read_text()
    declared = example.replace('so = "../so/x86_64/hello.so"', 'so = "hello.so"')
    # an x86_64 binary declared aarch64: ELF007, a finding of the binary, to count
    (project / "modpack.toml").write_text(
        declared.replace('architecture = "x86_64"', 'architecture = "aarch64"')
    )
    done = run_modpack("validate", "project", "--format", "json", cwd=tmp_path)
    report = json.loads(done.stdout)
    assert [f["path"] for f in report["files"]] == ["project/modpack.toml"]
    assert report["summary"]["files"] == 1
    text = run_modpack("validate", "project", cwd=tmp_path)
    binary = [line for line in text.stdout.splitlines() if "ELF007" in line]
    # said at the declared architecture, where it is fixed
    assert len(binary) == 1 and binary[0].startswith(
        "project/modpack.toml:21 [platform.architecture]: error ELF007"
    ), text.stdout
    alone = run_modpack("validate", "project/hello.so", cwd=tmp_path)  # named, it is validated
    assert "1 file checked" in alone.stdout


def test_a_folder_with_targets_and_a_link_loop_validates_each_file_once(tmp_path: Path) -> None:
    """The de-duplication read a [[targets]] so as written (build/${target}/hello.so), so the
    target's binary was listed again; and a loop of symbolic links among the folder's files was
    an internal error (Path.resolve raises RuntimeError on Python 3.11), where validate says IN001."""
    import json

    project = tmp_path / "project"
    (project / "build" / "t1").mkdir(parents=True)
    shutil.copy(HELLO, project / "build" / "t1" / "hello.so")
    example = (ROOT / "fixtures" / "example" / "modpack.toml").read_text()
    targets = '\n[[targets]]\nname = "t1"\noperating_systems = ["rhel9"]\nso = "build/${target}/hello.so"\n'
    (project / "modpack.toml").write_text(
        example.replace('so = "../so/x86_64/hello.so"\n', 'so = "build/main/hello.so"\n') + targets
    )
    (project / "loop.so").symlink_to("loop.so")
    done = run_modpack("validate", "project", "--format", "json", cwd=tmp_path)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    assert sorted(f["path"] for f in report["files"]) == ["project/loop.so", "project/modpack.toml"]
    [loop] = [f for f in report["files"] if f["path"] == "project/loop.so"]
    assert [f["code"] for f in loop["findings"]] == ["IN001"]


def test_build_and_init_show_a_path_on_one_line(tmp_path: Path) -> None:
    """build's `wrote PATH` printed a newline in the output folder's name as a line break (and the
    bytes of a name that is not UTF-8 raw), where validate's report escapes them."""
    from tests.support.paths import FIXTURES

    odd = tmp_path / "a\nb"
    done = run_modpack("build", FIXTURES / "example", "-o", odd)
    assert done.returncode == 0, done.stdout + done.stderr
    [line] = done.stdout.splitlines()
    assert line.startswith(f"wrote {tmp_path}/a\\nb/hello.") and line.endswith(")"), line
    made = run_modpack("init", odd / "modpack.toml", "--name", "x", "--version", "1.2.3")
    assert made.returncode == 0, made.stdout + made.stderr
    assert made.stdout.splitlines()[0] == f"wrote {tmp_path}/a\\nb/modpack.toml", made.stdout
    merged = run_modpack("discover", HELLO, "--write", odd / "modpack.toml")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert merged.stdout.splitlines()[0].startswith(f"wrote {tmp_path}/a\\nb/modpack.toml ("), merged.stdout


def test_an_internal_errors_hint_names_a_debug_run_that_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An internal error hinted "run again with --debug for the traceback", which reads as
    `modpack validate FILE --debug`: click refuses it (No such option: --debug, exit 2), and
    ramp-pack's own --debug (RAMP's) shows no traceback. The hint names where --debug goes
    (`modpack --debug validate ...`), and so run the command shows the traceback. The rest of the
    command line is not repeated, as it may hold a password."""
    import shlex

    import modpack.validate
    from modpack.cli.app import main

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(modpack.validate, "validate_paths", broken)
    given = ["validate", str(CASES / "good" / "module-json" / "module.json")]
    with pytest.raises(SystemExit) as failed:
        main(given)
    said = capsys.readouterr().err
    assert failed.value.code == 1 and "modpack: internal error: RuntimeError: a bug" in said
    assert (
        "hint: run it again as `modpack --debug validate ...` (--debug right after modpack, the rest as"
        " before) for the traceback, and report it." in said
    ), said
    hinted = shlex.split(re.search(r"`modpack ([^`]*) \.\.\.`", said).group(1))  # type: ignore[union-attr]
    with pytest.raises(SystemExit):
        main([*hinted, *given[1:]])
    assert "Traceback" in capsys.readouterr().err

    from modpack.cli.app import _debug_hint

    assert "`modpack --debug modules list ...`" in _debug_hint(["modules", "list", "--cluster", "x"])
    assert "`modpack --debug rules`" in _debug_hint(["rules"])
