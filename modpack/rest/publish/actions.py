"""RS 7.x actions: a module call of the v2 API answers with an `action_uid`, followed on
`/v1/actions/<uid>` until it ends; and `DELETE /v2/modules/<uid>`, which starts one."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from modpack.rest import client
from modpack.rest.client import ClusterError
from modpack.rest.paths import ACTIONS, LEGACY_MODULES
from modpack.rest.publish.interruption import raise_dropped_stop

if TYPE_CHECKING:
    from modpack.rest.client import Api
    from modpack.types import JSON


ACTION_POLL = 0.2


DONE = "completed"


# The action lifecycle's ends other than completed (objects/action: failed, cancelled, aborted,
# https://redis.io/docs/latest/operate/rs/references/rest-api/objects/action/).
ENDED_BADLY = frozenset({"failed", "cancelled", "aborted"})


class ActionFailed(ClusterError):
    """A 7.x action the cluster had taken on ended badly, or did not end in time: unlike a refused
    call, it may have done part of its work."""


class ActionUnfinished(ActionFailed):
    """A 7.x action that did not end in time: it may still end well, after the run."""


def follow_action(api: Api, action_uid: object, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait for `/v1/actions/<uid>` to complete; ClusterError when it fails or takes too long."""
    if not isinstance(action_uid, str) or not action_uid:
        return  # nothing to follow: the answer was final
    url = f"{client.cluster_url(api.connection)}{ACTIONS}/{urllib.parse.quote(action_uid, safe='')}"
    deadline = time.monotonic() + api.connection.answer_timeout
    while True:
        raise_dropped_stop()
        answer = api.json("GET", url)
        action = answer if isinstance(answer, dict) else {}
        status = action.get("status")
        if status == DONE:
            return
        if status in ENDED_BADLY:
            raise ActionFailed(f"action {action_uid} ({action.get('name', '?')}) {status}: {_reason(action)}")
        if time.monotonic() > deadline:
            raise ActionUnfinished(
                f"action {action_uid} did not complete within {api.connection.answer_timeout:.0f} s"
            )
        sleep(ACTION_POLL)


def _reason(action: Mapping[str, JSON]) -> str:
    """A failed action's error_code and error_message (objects/action); older fields as a fallback."""
    message = action.get("error_message") or action.get("error") or action.get("description")
    code = action.get("error_code")
    text = f"{code}: {message}" if code and message else str(message or code or "no reason given")
    return text[:500]


def delete_legacy_module(api: Api, uid: str) -> bool:
    """`DELETE /v2/modules/<uid>` and follow its action; False when there was none."""
    quoted = urllib.parse.quote(uid, safe="")
    try:
        response = api.send("DELETE", f"{client.cluster_url(api.connection)}{LEGACY_MODULES}/{quoted}")
    except ClusterError as exc:
        if client.absent(exc, "module_not_found", lambda: client.uid_listed(api, uid)):
            return False
        raise
    body = response.json() if response.content else {}
    follow_action(api, body.get("action_uid") if isinstance(body, dict) else None)
    return True
