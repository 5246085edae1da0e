"""Declarations from a modpack.toml or a ramp.yml, chosen by the file's name."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from modpack.declarations import Declarations


def load(path: Path) -> Declarations:
    """modpack.toml or ramp.yml, by name."""
    if path.suffix in (".yml", ".yaml"):
        from modpack.ramp import reader

        return reader.load(path)
    from modpack.modpack_toml import load_toml

    return load_toml(path)
