"""Commands that live beside their library code, loaded only when they are used.

`modpack validate` must start fast (it runs in pre-commit hooks), so the main group knows these
commands by name and imports their module only when one of them runs or help lists them.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# command name -> "module:attribute"
LAZY_COMMANDS = {
    "serve": "modpack.rest.cli:serve",
    "publish": "modpack.rest.cli:publish",
    "unpublish": "modpack.rest.cli:unpublish",
    "artifacts": "modpack.rest.cli:artifacts",
    "modules": "modpack.rest.cli:modules",
    "discover": "modpack.redis.cli:discover",
    "redis": "modpack.redis.cli:redis_group",
    "init": "modpack.workflow_cli:init_command",
    "ramp-pack": "modpack.workflow_cli:ramp_pack_command",
}


class LazyGroup(click.Group):
    """A click group whose listed commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            module_name, attribute = LAZY_COMMANDS[cmd_name].split(":")
            command: Any = getattr(importlib.import_module(module_name), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)
