"""The upload switch: allow_modules_upload turned on for a run (--allow-upload), and off again."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from modpack.errors import ModpackError
from modpack.rest import client
from modpack.rest.client import ClusterError
from modpack.rest.publish.interruption import interrupted

if TYPE_CHECKING:
    from modpack.rest.client import Api
    from modpack.rest.publish.results import PublishOptions, PublishResult
    from modpack.rest.publish.view import ClusterView


class UploadsSwitchedOn:
    """Turns allow_modules_upload on for the run when asked to, and off again whatever happens."""

    def __init__(self, api: Api, view: ClusterView, options: PublishOptions, result: PublishResult) -> None:
        self.url = f"{client.cluster_url(api.connection)}/v1/cluster"
        self.api, self.result = api, result
        self.allowed = options.allow_upload  # may turn it on again (turn says whether it did)
        self.turn = view.uploads_switch is False and options.allow_upload
        self.dry_run = options.dry_run
        self._again = threading.Lock()
        self._said = False  # the note that the switch went off during this run

    def __enter__(self) -> UploadsSwitchedOn:
        if self.turn:
            self.result.calls.append(f'PUT {self.url} {{"allow_modules_upload": true}}')
            if not self.dry_run:
                try:
                    self.api.json("PUT", self.url, {"allow_modules_upload": True})
                except KeyboardInterrupt as signal:
                    # The PUT may have reached the cluster, its answer unread: `with` runs no
                    # __exit__ for an __enter__ that raised, and the switch stayed on unsaid.
                    self.__exit__(type(signal), signal, None)
                    raise interrupted(self.api, self.result, signal) from None
                except ClusterError as failed:
                    if failed.status is None or failed.status >= 500:  # no answer: it may have landed
                        self.__exit__(type(failed), failed, None)
                    raise
        return self

    def on_again(self) -> bool:
        """After a node answered 403 modules_upload_disabled: the switch went off during this run
        (another run's --allow-upload ending, or an operator). With --allow-upload it is turned
        on again (each time: it may go off twice; the PUT is idempotent, and each refused call is
        retried once), and off at the end as this run's own; True when it is on."""
        with self._again:
            said = (
                "allow_modules_upload was turned off while this run was uploading (by another run's"
                " --allow-upload ending, or by an operator)"
            )
            if self.allowed:
                self.result.calls.append(f'PUT {self.url} {{"allow_modules_upload": true}} (again)')
                self.api.json("PUT", self.url, {"allow_modules_upload": True})
                self.turn = True  # turned on by this run now: off again at its end
                said += ": it was turned on again for the uploads it had stopped"
            if not self._said:
                self._said = True
                self.result.notes.append(said)
            return self.allowed

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        if not self.turn:
            return
        self.result.calls.append(f'PUT {self.url} {{"allow_modules_upload": false}}')
        if self.dry_run:
            return
        try:
            self.api.json("PUT", self.url, {"allow_modules_upload": False})
        except ModpackError as failed:
            note = (
                f"allow_modules_upload could NOT be turned off again ({failed.message}): turn it off with"
                ' PUT /v1/cluster {"allow_modules_upload": false}'
            )
        else:
            note = "allow_modules_upload was turned on for this run and off again after"
        self.result.notes.append(note)
        if isinstance(error, ModpackError):
            # the run ends on this error, whose lines were written before the switch was turned
            # back, and a failed run prints no notes: one more line says what became of it
            error.details = (*error.details, note)
