"""modpack: package, validate and publish custom Redis modules for Redis Enterprise Software."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

HERE = Path(__file__).parent


def packaged(*parts: str) -> Path:
    """The path of one of modpack's own data files (data/, schemas/), beside this file.

    Not importlib.resources: importing it (with tempfile, shutil and random, which it imports)
    cost every `modpack validate` of a modpack.toml 7 to 15 ms of start-up (python -X importtime),
    for files that pip always installs as files."""
    return HERE.joinpath(*parts)


def read_packaged(*parts: str) -> str:
    """The text of one of modpack's own data files."""
    return packaged(*parts).read_text(encoding="utf-8")
