"""Validation settings: [validate] in modpack.toml, then the command line on top."""

from __future__ import annotations

from pathlib import Path

from modpack.declarations import Settings
from modpack.errors import UsageError


def find_config(start: Path) -> Path | None:
    """The nearest modpack.toml in `start` or its parents, as ruff finds pyproject.toml."""
    for folder in (start, *start.parents):
        candidate = folder / "modpack.toml"
        if candidate.is_file():
            return candidate
    return None


def file_settings(path: Path) -> Settings:
    import tomllib

    from modpack.declarations import settings_from

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: TOML syntax, undecodable text, a 4301-digit int
        raise UsageError(
            f"cannot read settings from {path}: {exc}", "Fix the file or pass --config."
        ) from exc
    return settings_from(data.get("validate"))


def settings_for(
    config: Path | None,
    *,
    select: tuple[str, ...] = (),
    ignore: tuple[str, ...] = (),
    strict: bool = False,
    load: bool = False,
    load_if_available: bool = False,
    redis_server: str | None = None,
    redis_version: str | None = None,
) -> Settings:
    if config is not None and not config.is_file():
        raise UsageError(f"--config {config} does not exist")
    path = config or find_config(Path.cwd())
    base = file_settings(path) if path else Settings()
    return Settings(
        select=select or base.select,
        ignore=base.ignore + ignore,
        strict=strict or base.strict,
        # --load on the command line insists on loading, whatever [validate] load says
        load=load or load_if_available or base.load,
        load_if_available=load_if_available or (base.load_if_available and not load),
        redis_server=redis_server,
        redis_version=redis_version,
    )
