"""Commands loaded only when they are used.

`modpack validate` must start fast (it runs in pre-commit hooks), so the main group knows these
commands by name and imports their module only when one of them runs or help lists them. What is
imported is checked: a name that does not lead to a click command is an internal error naming
the entry, not an AttributeError deep inside click.
"""

from __future__ import annotations

import importlib
from typing import ClassVar

import click

from modpack.cli.output import OnceGroup

# command name -> "module:attribute"
LAZY_COMMANDS = {
    "serve": "modpack.cli.rest:serve",
    "publish": "modpack.cli.rest:publish",
    "unpublish": "modpack.cli.rest:unpublish",
    "artifacts": "modpack.cli.rest:artifacts",
    "modules": "modpack.cli.rest:modules",
    "discover": "modpack.cli.redis:discover",
    "redis": "modpack.cli.redis:redis_group",
    "init": "modpack.cli.authoring:init_command",
    "ramp-pack": "modpack.cli.authoring:ramp_pack_command",
}


class LazyCommandError(RuntimeError):
    """A LAZY_COMMANDS entry that does not name a click command: a bug in modpack, not in the input."""


def load_command(name: str, target: str) -> click.Command:
    """The click command `target` ("module:attribute") names, checked to be one."""
    module_name, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(command, click.Command):
        raise LazyCommandError(f"lazy command {name!r}: {target} is {type(command).__name__}, not a command")
    return command


class LazyGroup(OnceGroup):
    """A click group whose `lazy` commands (name -> "module:attribute") are imported on first use."""

    lazy: ClassVar[dict[str, str]] = LAZY_COMMANDS

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(load_command(cmd_name, self.lazy[cmd_name]), cmd_name)
        return super().get_command(ctx, cmd_name)
