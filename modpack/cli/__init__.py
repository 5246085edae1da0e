"""The command line: one module per command family, the group and exit codes in `app`.

`run` is the console entry point (pyproject.toml: `modpack = "modpack.cli:run"`) and what
`python -m modpack` runs: `main`, which tests call in their own process, then a quick exit.
The command modules are imported inside `run`, so that Ctrl+C during the start-up (0.1 s of
imports) ends as Ctrl+C does later, not with a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from modpack.cli.app import main

__all__ = ["main", "run"]


def run() -> NoReturn:
    try:
        from modpack.cli.app import run as run_app
    except KeyboardInterrupt:
        print("modpack: interrupted", file=sys.stderr)
        sys.exit(130)
    run_app()


def __getattr__(name: str) -> object:
    if name == "main":
        from modpack.cli.app import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
