"""`python -m modpack`."""

from modpack.cli import run

run()
