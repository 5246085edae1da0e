"""The command line: one module per command family, the group and exit codes in `app`.

`run` is the console entry point (pyproject.toml: `modpack = "modpack.cli:run"`) and what
`python -m modpack` runs: `main`, which tests call in their own process, then a quick exit.
"""

from modpack.cli.app import main, run

__all__ = ["main", "run"]
