"""`python -m modpack`."""

from modpack.cli import main

main()
