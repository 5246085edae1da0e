"""How a `modpack` process ends (cli.app.run): atexit handlers run, output flushed, status kept.

run() skips Python's own shutdown with os._exit once a command has ended. What a user would lose
if it skipped too much: a temporary folder left behind, output cut short when it goes to a file
or a pipe, a wrong exit status. Each is checked on a real process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modpack.cli import app
from tests.support.cli import CHECKOUT, run_modpack, run_python
from tests.support.paths import HELLO

ENV = {**os.environ, "PYTHONPATH": CHECKOUT}  # the checkout under test, from any working folder


def _process(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_python(textwrap.dedent(script), *args, timeout=60)


def test_atexit_handlers_and_temporary_folders_are_done_before_the_quick_exit(tmp_path: Path) -> None:
    script = """
        import atexit, pathlib, sys, tempfile
        from modpack.cli import run
        marker = pathlib.Path(sys.argv[1])
        atexit.register(marker.write_text, "ran")
        kept = tempfile.TemporaryDirectory(dir=marker.parent)  # cleaned by its atexit finalizer
        (marker.parent / "folder").write_text(kept.name)
        sys.argv = ["modpack", "rules", "ZIP001"]
        run()
    """
    done = _process(script, str(tmp_path / "marker"))
    assert done.returncode == 0, done.stderr
    assert "ZIP001" in done.stdout
    assert (tmp_path / "marker").read_text() == "ran"
    assert not Path((tmp_path / "folder").read_text()).exists()


def test_output_redirected_to_a_file_is_whole(tmp_path: Path) -> None:
    """Every rule as JSON (tens of kilobytes, more than one buffer) reaches the file whole."""
    target = tmp_path / "rules.json"
    with target.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "modpack", "rules", "--format", "json"],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    rules = json.loads(target.read_text())
    assert len(rules) >= 150
    assert target.stat().st_size > 64 * 1024


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["rules", "ZIP001"], 0),
        (["validate", "does-not-exist.zip"], 1),
        (["validate", "--no-such-option"], 2),
    ],
)
def test_exit_status_is_the_commands(tmp_path: Path, args: list[str], status: int) -> None:
    done = run_modpack(*args, cwd=tmp_path)
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr


def test_a_closed_pipe_at_the_final_flush_is_status_1_without_a_traceback() -> None:
    script = """
        import os, sys
        from modpack.cli import run
        reader, writer = os.pipe()
        os.close(reader)
        os.dup2(writer, 1)  # stdout: a pipe whose reader is gone; what `rules` prints stays buffered
        sys.argv = ["modpack", "rules", "ZIP001"]
        run()
    """
    done = _process(script)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_ctrl_c_while_the_commands_are_imported_is_interrupted_not_a_traceback() -> None:
    """Ctrl+C in the first tenth of a second (the imports of the CLI) printed a traceback."""
    script = """
        import sys
        from importlib.abc import MetaPathFinder

        class CtrlC(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "modpack.cli.app":
                    raise KeyboardInterrupt
                return None

        sys.meta_path.insert(0, CtrlC())
        from modpack.cli import run
        sys.argv = ["modpack", "rules", "ZIP001"]
        run()
    """
    done = _process(script)
    assert done.returncode == 130, done.stderr
    assert done.stderr == "modpack: interrupted\n"


class _Ended(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def _record_exit(status: int) -> None:
    raise _Ended(status)


def test_run_leaves_through_os_exit_with_mains_status(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no other thread alive. In a test worker an earlier test's thread may still be alive
    (an AnyIO worker of an in-process serve), and run() then rightly leaves through SystemExit:
    the test failed by the order the tests happened to run in (the case of a live thread is the
    next test's)."""
    ran: list[str] = []
    monkeypatch.setattr(app.threading, "active_count", lambda: 1)
    monkeypatch.setattr(sys, "argv", ["modpack", "validate", "--no-such-option"])
    monkeypatch.setattr(app.atexit, "_run_exitfuncs", lambda: ran.append("atexit"))
    monkeypatch.setattr(app.os, "_exit", _record_exit)
    with pytest.raises(_Ended) as ended:
        app.run()
    assert ended.value.status == 2
    assert ran == ["atexit"]


def test_run_leaves_a_live_thread_to_pythons_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread still running is waited for by Python's shutdown: no os._exit under it."""
    monkeypatch.setattr(sys, "argv", ["modpack", "rules", "ZIP001"])
    monkeypatch.setattr(app.threading, "active_count", lambda: 2)
    monkeypatch.setattr(app.os, "_exit", _record_exit)
    with pytest.raises(SystemExit) as ended:
        app.run()
    assert ended.value.code == 0


@pytest.mark.parametrize(
    ("code", "status"), [(None, 0), (0, 0), (2, 2), (130, 130), (256 + 1, 1), ("boom", 1)]
)
def test_exit_status_of_a_system_exit(code: object, status: int) -> None:
    assert app._exit_status(code) == status


@pytest.mark.parametrize(
    "args",
    [
        ["validate", ""],
        ["validate", "module.json", ""],
        ["inspect", ""],
        ["build", ".", "-o", ""],
        ["publish", "", "--cluster", "https://127.0.0.1:1"],
        ["init", ""],
        ["ramp-pack", "x.so", "-o", ""],
        ["validate", "--load", "--redis-server", "", "x.so"],
        ["discover", "x.so", "--redis-server", ""],
    ],
    ids=[
        "validate",
        "validate-second",
        "inspect",
        "build-output",
        "publish",
        "init",
        "ramp-pack-o",
        "redis-server",
        "discover",
    ],
)
def test_an_empty_path_is_a_usage_error_not_the_current_folder(tmp_path: Path, args: list[str]) -> None:
    """Path("") is the current folder: `validate ""` (an unset variable in a CI script) checked the
    folder it ran in, and passed where that held a good bundle; `build -o ""` wrote into it."""
    if "x.so" in args:
        shutil.copy(HELLO, tmp_path / "x.so")
    before = sorted(tmp_path.iterdir())
    done = run_modpack(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "is empty (an unset variable?): give a" in done.stderr, done.stderr
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    "arguments",
    [
        ("inspect", "nope.so"),
        ("discover", "nope.so"),
        ("build", "nope.toml"),
        ("ramp-pack", "nope.so"),
        ("init", "--from", "nope.yml"),
    ],
)
def test_a_missing_input_is_a_usage_error_for_every_command(
    tmp_path: Path, arguments: tuple[str, ...]
) -> None:
    """inspect and discover of a missing file exited 1 ("findings") where build, publish,
    ramp-pack and init exit 2: a script could not tell a wrong invocation from a failed check."""
    done = run_modpack(*arguments, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "nope" in done.stderr and "does not exist" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
