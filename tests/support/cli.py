"""The real command line in a subprocess: exit codes, stdout and stderr as a user sees them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import produced

# The checkout under test, first on the import path: with `cwd` elsewhere, `python -m modpack`
# would otherwise import whatever modpack is installed, which may be another checkout's.
CHECKOUT = str(Path(__file__).resolve().parents[2])


def run_modpack(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m modpack ARGS` with this interpreter, text output captured, a generous hang guard."""
    done = subprocess.run(
        [sys.executable, "-m", "modpack", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {}), "PYTHONPATH": _import_path(env)},
        timeout=120,
        check=False,
    )
    produced.note_output(done.stdout)
    return done


def start_modpack(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """`python -m modpack ARGS`, started and left running, as a user runs it in a terminal: Ctrl+C
    is SIGINT's even when the tests run in the background, which passes SIGINT on ignored (and
    Python keeps it so): coreutils' env gives it back. stdout and stderr piped, as text."""
    return subprocess.Popen(
        ["env", "--default-signal=INT", sys.executable, "-m", "modpack", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {}), "PYTHONPATH": _import_path(env)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _import_path(env: dict[str, str] | None) -> str:
    given = (env or {}).get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    return os.pathsep.join([CHECKOUT, *filter(None, given.split(os.pathsep))])


def build(project: Path, out: Path, *extra: str | Path) -> Path:
    """`modpack build PROJECT -o OUT EXTRA...` in a subprocess, which must succeed (else the test
    fails showing its output); the one bundle it wrote."""
    done = run_modpack("build", project, "-o", out, *extra)
    assert done.returncode == 0, done.stdout + done.stderr
    (bundle,) = out.glob("*.zip")
    return bundle


# cli.main, not `python -m modpack`: the process's entry point (cli.run) ends with os._exit,
# which would leave nothing to print the modules; main is the same command line without that.
_MODULES_LOADED = (
    "import sys\n"
    "before = set(sys.modules)\n"
    "sys.argv = ['modpack', *sys.argv[1:]]\n"
    "from modpack.cli import main\n"
    "code = 0\n"
    "try:\n    main()\n"
    "except SystemExit as done:\n    code = done.code\n"
    "print(' '.join(sorted(set(sys.modules) - before)))\n"
)


def modules_loaded_as_installed(*args: str | Path) -> set[str]:
    """modules_loaded, in an interpreter started as a user's installation starts: the .pth files
    of site-packages are not run (python -S, site-packages on the path). Here an editable
    install's .pth imports importlib.resources, tempfile and more before modpack starts, which
    hid any import of them by modpack itself from modules_loaded."""
    import site

    # exiting as the command did: a failed command imports less, and would pass for a lean one
    done = run_python(_MODULES_LOADED + "sys.exit(code)\n", *args, no_site=site.getsitepackages())
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stdout}{done.stderr}"
    return set(done.stdout.strip().splitlines()[-1].split())


def run_python(
    code: str, *args: str | Path, timeout: float = 120, no_site: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -c CODE ARGS` in a child with the checkout under test first on the import path; the
    timeout guards code that may block (a reader opening a FIFO). `no_site`: run it with -S, these
    folders on the path after the checkout."""
    path = os.pathsep.join([_import_path(None), *(no_site or [])])
    return subprocess.run(
        [sys.executable, *(["-S"] if no_site is not None else []), "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=timeout,
        check=False,
    )


def modules_loaded(*args: str | Path) -> set[str]:
    """The modules `modpack ARGS` imports in a fresh interpreter, beyond those the interpreter had
    imported before modpack started (site's own .pth imports, say): what start-up costs a user."""
    done = run_python(_MODULES_LOADED, *args)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.strip().splitlines()[-1].split())
