"""A call the upload switch guards: tried once more when the switch was turned on again.

Kept apart from the switch (`switch.py`): the switch reports an interruption, which rolls back,
and rolling back makes these calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from modpack.rest.client import ClusterError

if TYPE_CHECKING:
    from modpack.rest.publish.switch import UploadsSwitchedOn


T = TypeVar("T")


def switched_on(switch: UploadsSwitchedOn | None, call: Callable[[], T]) -> T:
    """`call()`, once more after 403 modules_upload_disabled when `switch` turned uploads on again
    (both upload calls answer it while the switch is off: release notes 8.2.0)."""
    try:
        return call()
    except ClusterError as refused:
        if refused.error_code != "modules_upload_disabled" or switch is None or not switch.on_again():
            raise
    return call()
