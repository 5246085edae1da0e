"""A publish run: which way it goes (pipelined for large bundles on RS 8.x, else in order), and
the steps of the in-order way, on RS 8.x and on RS 7.x."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from modpack.rest.client import Api
from modpack.rest.publish.bundles import disagreements, load_bundles, peek
from modpack.rest.publish.identity import judge_module_object, with_identity
from modpack.rest.publish.legacy import LegacyPublish
from modpack.rest.publish.preflight import PreflightError, preflight, route_notes, routed, unread_role_note
from modpack.rest.publish.results import PublishOptions, result_for
from modpack.rest.publish.switch import UploadsSwitchedOn
from modpack.rest.publish.user_defined import pipelined, publish_user_defined
from modpack.rest.publish.view import read_cluster, read_role, refuse_node_choice

if TYPE_CHECKING:
    from modpack.config import NearestSettings, Settings
    from modpack.rest.client import Connection, Progress
    from modpack.rest.publish.results import PublishResult


# Bundles this large stream to the nodes while they are still being validated (see `pipelined`).
PIPELINE_MIN = 8 * 1024 * 1024


def publish(
    bundles: Path | Sequence[Path],
    connection: Connection,
    *,
    dry_run: bool = False,
    allow_upload: bool = False,
    replace: bool = False,
    settings: Settings | NearestSettings | None = None,
    progress: Progress | None = None,
    typed: Sequence[str] = (),
) -> PublishResult:
    """Validate, look, preflight, then create the module object and upload each node's bundle.
    `settings`: the validation settings, or NearestSettings giving each bundle's. `typed`: the
    run's own options as typed (`--dry-run`, `--config PATH`), which a hint naming this run again
    repeats."""
    paths = [bundles] if isinstance(bundles, Path) else list(bundles)
    options = PublishOptions(dry_run, allow_upload, replace, settings, progress, tuple(typed))
    return _publish(paths, connection, options)


def _publish(paths: Sequence[Path], connection: Connection, options: PublishOptions) -> PublishResult:
    peeked = peek(paths)
    large = sum(p.stat().st_size for p in paths) >= PIPELINE_MIN
    if peeked is not None and large and not options.dry_run and not disagreements(peeked):
        with Api(connection) as api:
            view = read_cluster(api)
            if not view.legacy and view.uploads_switch is not False:
                return pipelined(api, paths, peeked, view, options)
    return _in_order(paths, connection, options)


def _in_order(paths: Sequence[Path], connection: Connection, options: PublishOptions) -> PublishResult:
    """Validate, look, preflight, then change things: one step after the other."""
    given = load_bundles(paths, options.settings)
    result = result_for(given)
    with Api(connection) as api:
        view = read_cluster(api)
        if view.legacy:
            refuse_node_choice(
                connection, view.software_version, ["publish", *map(str, paths), *options.typed]
            )
        if options.dry_run or view.uploads_switch is False:
            # with the switch off, whether the role may turn it on decides what to advise
            read_role(api, view)
        try:
            routes = preflight(given, view, options, connection)
        except PreflightError as refused:
            if view.legacy:  # 7.x: identity is judged per platform, on the way (LegacyPublish)
                raise
            raise with_identity(refused, api, given, options, result) from None
        bundles = routed(given, routes)
        result.notes += route_notes(given, routes, view, result)
        if view.legacy:
            with UploadsSwitchedOn(api, view, options, result):
                result.api = "v2 (RS 7.x)"
                LegacyPublish(api, bundles, routes, options, result).run()
        else:
            # Judged before the upload switch is turned on: a refusal then changes nothing at all.
            judged = judge_module_object(api, bundles, options, result)
            with UploadsSwitchedOn(api, view, options, result) as switch:
                publish_user_defined(api, bundles, routes, options, result, judged=judged, switch=switch)
    if options.dry_run and view.permissions is None and result.calls:
        result.notes.append(unread_role_note(view, options))
    return result
