"""Commands that live beside their library code, added to the main click group.

Each module imports only click at the top; its heavy libraries (httpx, starlette, uvicorn, the
redis harness) load inside the command that needs them, so `modpack validate` stays fast.
"""

from __future__ import annotations

import importlib

import click

PLUGIN_MODULES = ("modpack.rest.cli", "modpack.redis.cli", "modpack.workflow_cli")


def register(group: click.Group) -> None:
    for name in PLUGIN_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not exc.name or not name.startswith(exc.name):
                raise
            continue  # that part of modpack is not installed in this checkout yet
        for command in getattr(module, "COMMANDS", ()):
            group.add_command(command)
