"""The command line: one module per command family, the group and exit codes in `app`.

`main` is the console entry point (pyproject.toml: `modpack = "modpack.cli:main"`) and what
`python -m modpack` runs.
"""

from modpack.cli.app import main

__all__ = ["main"]
