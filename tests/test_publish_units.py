"""Units of publish: platforms and versions from node objects, identity, agreement, actions."""

from __future__ import annotations

import json
import urllib.parse
import zipfile
from pathlib import Path
from typing import Any

import pytest

from modpack.rest import client, platforms
from modpack.rest.client import Api, ClusterError, Connection
from modpack.rest.publish.actions import follow_action
from modpack.rest.publish.bundles import Bundle, disagreements
from modpack.rest.publish.identity import differences
from modpack.rest.publish.removal import _some_nodes_only
from modpack.rest.transport import Request, Response
from tests.support.cli import modules_loaded
from tests.support.rest import (
    ADMIN,
    FakeTransport,
    connection,
    json_reply,
    module_json,
    running_cluster,
    write_bundle,
)

CAPTURED = Path(__file__).resolve().parent.parent / "fixtures" / "expected" / "rs-node-object.json"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("8.2.0-25", (8, 2, 0)),
        ("7.22", (7, 22, 0)),
        ("100.0.21-16135", (100, 0, 21)),
        ("x", None),
        (None, None),
    ],
)
def test_software_versions_parse_to_tuples(text: Any, parsed: Any) -> None:
    assert platforms.version_tuple(text) == parsed


@pytest.mark.parametrize(
    ("name", "semantic", "family", "expected"),
    [
        ("ubuntu", "22.04", "ubuntu", "ubuntu22"),
        ("rhel", "9.4", "rhel", "rhel9"),
        ("rocky", "8.10", "rhel", "rhel8"),
        ("amzn", "2023", "amzn", "amzn2023"),
        ("plan9", "4", "plan9", None),
    ],
)
def test_node_os_is_named_as_modules_name_it(name: str, semantic: str, family: str, expected: Any) -> None:
    assert platforms.os_id(name, semantic, family) == expected


def test_the_captured_real_node_reads_as_ubuntu22_aarch64_with_its_redis_versions() -> None:
    facts = platforms.node_facts(json.loads(CAPTURED.read_text())["captured"])
    assert (facts.os, facts.architecture, facts.status) == ("ubuntu22", "aarch64", "active")
    assert facts.redis_versions == ("7.4", "7.2", "6.2", "8.0")  # memcached is not a Redis version


@pytest.mark.parametrize(
    ("module", "node_os", "arch", "why"),
    [
        ({"operating_systems": ["rhel9"], "architecture": "x86_64"}, "rhel9", "x86_64", None),
        ({"operating_systems": ["rocky9"]}, "rhel9", "aarch64", None),  # an alias; no architecture: any
        ({"operating_systems": ["ubuntu22"]}, "rhel9", "x86_64", "os"),
        ({"architecture": "aarch64"}, "rhel9", "x86_64", "architecture"),
        ({}, None, None, None),
    ],
)
def test_a_bundle_fits_a_node_by_os_and_architecture(
    module: dict[str, Any], node_os: Any, arch: Any, why: Any
) -> None:
    assert platforms.misfit(module, node_os, arch) == why


def bundle(**changes: Any) -> Bundle:
    return Bundle(Path(f"{changes.get('sha256', 'a')[:4]}.zip"), module_json(**changes))


def test_identity_ignores_what_the_server_adds_and_empty_defaults() -> None:
    sent = module_json()
    stored = {**sent, "uid": "u1", "is_bundled": False, "author": "", "crdb": {}, "platforms": {}}
    assert differences(stored, [Bundle(Path("a.zip"), sent)]) == []


def test_identity_names_each_differing_field() -> None:
    stored = {**module_json(), "uid": "u1", "capabilities": [], "sha256": "0" * 64, "extra": 1}
    assert differences(stored, [Bundle(Path("a.zip"), module_json())]) == ["capabilities", "extra", "sha256"]


def test_identity_accepts_the_stored_build_of_any_platform_given() -> None:
    ubuntu = bundle(sha256="1" * 64, operating_systems=["ubuntu22"])
    rhel = bundle(sha256="2" * 64, operating_systems=["rhel9"])
    assert differences({**rhel.module, "uid": "u"}, [ubuntu, rhel]) == []
    other = {**rhel.module, "uid": "u", "sha256": "3" * 64}
    assert differences(other, [ubuntu, rhel]) == ["sha256"]


def test_identity_judges_only_what_the_cluster_keeps() -> None:
    """A field a real cluster's module object always has (KEPT_FIELDS) proves a change even when
    absent; any other one only where the stored object has it."""
    from modpack.rest.publish.identity import KEPT_FIELDS, unproven

    sent = module_json()
    lean = {k: v for k, v in sent.items() if k in KEPT_FIELDS} | {"uid": "u1", "is_bundled": False}
    given = [Bundle(Path("a.zip"), {**sent, "sha256": "9" * 64})]
    assert differences(lean, given) == []
    assert "sha256" in unproven(lean, given) and "commands" in unproven(lean, given)
    filled = {k for k, v in given[0].module.items() if v not in ("", [], {}, None, False)}
    assert unproven(lean, given) == sorted(filled - KEPT_FIELDS)
    assert differences({k: v for k, v in lean.items() if k != "capabilities"}, given) == ["capabilities"]
    assert unproven({**sent, "uid": "u1"}, given) == []  # a cluster keeping everything proves everything


def test_identity_takes_capabilities_in_any_order() -> None:
    """RS matches capabilities by name; a cluster that keeps them in another order than sent
    had every re-publish of the same bundle refused ('capabilities differs')."""
    sent = module_json(capabilities=["types", "clustering", "backup_restore"])
    stored = {**sent, "uid": "u1", "capabilities": ["backup_restore", "types", "clustering"]}
    assert differences(stored, [Bundle(Path("a.zip"), sent)]) == []
    fewer = {**stored, "capabilities": ["backup_restore", "types"]}
    assert differences(fewer, [Bundle(Path("a.zip"), sent)]) == ["capabilities"]
    other_order = Bundle(Path("b.zip"), {**sent, "capabilities": ["clustering", "types", "backup_restore"]})
    assert disagreements([Bundle(Path("a.zip"), sent), other_order]) == []


@pytest.mark.parametrize(
    ("version", "held", "named"),
    [
        (10203, (), "(10204 for 1.2.4)"),
        (10299, (), "(10300 for 1.3.0)"),
        (999999, (), "(1000000 for 100.0.0)"),
        (2147479998, (), "(2147479999 for 214747.99.99)"),
        (10203, (10204, 10205), "(10206 for 1.2.6)"),
    ],
)
def test_a_rebuild_is_named_the_next_version_it_can_take(
    version: int, held: tuple[int, ...], named: str
) -> None:
    from modpack.rest.publish.identity import identity_error
    from modpack.rest.publish.results import PublishResult

    refused = identity_error(
        PublishResult("m", version), ["sha256"], {"uid": "u1", "sha256": "0" * 64}, held={version, *held}
    )
    assert f"RedisModule_Init in the module's source {named} and recompile" in str(refused.hint)


@pytest.mark.parametrize("held", [(), (2147479999,)])
def test_a_rebuild_of_the_largest_version_is_not_named_one_past_it(held: tuple[int, ...]) -> None:
    """214747.99.99 is the largest version whose number RedisModule_Init takes (VER002): a rebuild
    of it, or of 214747.99.98 beside it, was told to take 214748.0.0, which init, build and
    validate refuse."""
    from modpack.rest.publish.identity import identity_error
    from modpack.rest.publish.results import PublishResult

    version = 2147479998 if held else 2147479999
    refused = identity_error(
        PublishResult("m", version), ["sha256"], {"uid": "u1", "sha256": "0" * 64}, held={version, *held}
    )
    assert "214748" not in str(refused.hint), refused.hint
    assert str(refused.hint).startswith(
        "A rebuilt module needs a new version, but there is none above 214747.99.99, the largest whose"
        " number RedisModule_Init takes (a C int); re-run with --replace to delete the module object"
    ), refused.hint


def test_a_version_0_is_not_an_absent_version() -> None:
    assert differences({**module_json(), "version": 0}, [Bundle(Path("a.zip"), module_json())]) == ["version"]


def test_bundles_may_differ_only_per_platform() -> None:
    ubuntu = bundle(sha256="1" * 64, operating_systems=["ubuntu22"], module_file="a.so")
    assert disagreements([ubuntu, bundle(sha256="2" * 64, operating_systems=["rhel9"])]) == []
    changed = bundle(sha256="3" * 64, semantic_version="1.2.4", commands=[])
    assert disagreements([ubuntu, changed]) == [
        "3333.zip: commands differs from 1111.zip's",
        "3333.zip: semantic_version differs from 1111.zip's",
    ]


def _api(answers: list[dict[str, Any]]) -> tuple[Api, list[str]]:
    seen: list[str] = []

    def handler(request: Request) -> Response:
        seen.append(request.url)
        return json_reply(200, answers[min(len(seen), len(answers)) - 1])

    return Api(Connection(cluster="https://c:9443"), transport=FakeTransport(handler)), seen


def test_an_action_is_followed_until_it_completes() -> None:
    api, seen = _api([{"status": "pending"}, {"status": "active"}, {"status": "completed"}])
    follow_action(api, "a-1", sleep=lambda _: None)
    assert seen == ["https://c:9443/v1/actions/a-1"] * 3


def test_a_failed_action_is_an_error_with_its_reason() -> None:
    api, _ = _api([{"status": "failed", "name": "module_upload", "error": "disk full"}])
    with pytest.raises(ClusterError, match="action a-2 \\(module_upload\\) failed: disk full"):
        follow_action(api, "a-2", sleep=lambda _: None)


def test_a_failed_action_names_its_error_code_and_message() -> None:
    # objects/action (7.22): "When a task fails, the error_code and error_message fields describe the error."
    failed = {"status": "failed", "name": "module_upload", "error_code": "insufficient_resources"}
    api, _ = _api([{"status": "running"}, {**failed, "error_message": "no space left on node 2"}])
    with pytest.raises(ClusterError, match="failed: insufficient_resources: no space left on node 2"):
        follow_action(api, "a-3", sleep=lambda _: None)


@pytest.mark.parametrize("ended", ["cancelled", "aborted"])
def test_a_cancelled_or_aborted_action_is_an_error_not_a_wait(ended: str) -> None:
    api, seen = _api([{"status": ended, "name": "module_upload"}])
    with pytest.raises(ClusterError, match=f"action a-4 \\(module_upload\\) {ended}: no reason given"):
        follow_action(api, "a-4", sleep=lambda _: None)
    assert len(seen) == 1


def test_publish_speaks_http_through_the_standard_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start-up matters for publish: an HTTP library's import (httpx with httpcore, h11, idna,
    certifi: about 60 ms) was paid before the first upload byte. A real publish, to real nodes,
    loads none of them, and every node then lists the artifact."""
    bundle = write_bundle(tmp_path / "hello.zip")
    monkeypatch.setenv("MODPACK_USER", ADMIN.user)
    monkeypatch.setenv("MODPACK_PASSWORD", ADMIN.password)
    with running_cluster(tmp_path / "data") as cluster:
        given = ("--cluster", cluster.urls[0], "--ca-cert", cluster.ca_cert)
        loaded = modules_loaded("publish", bundle, *given)
        with Api(connection(cluster)) as api:
            listed = [client.has_artifact(api, node, "hello", 10203) for node in client.nodes(api)]
    assert listed == [True, True, True]
    assert "modpack.rest.transport" in loaded
    assert loaded.isdisjoint({"httpx", "httpcore", "h11", "idna", "certifi", "anyio"})


def test_a_7x_rollback_that_cannot_delete_says_so_and_keeps_the_result(tmp_path: Path) -> None:
    """The action failed and the DELETE that would undo the upload is refused: publish must still
    return its result (every node failed) with a note naming the module left behind, not raise."""
    from modpack.rest.client import NodeRef
    from modpack.rest.publish.legacy import LegacyPublish
    from modpack.rest.publish.preflight import Route
    from modpack.rest.publish.results import PublishOptions, PublishResult

    path = write_bundle(tmp_path / "left.zip", module_json(module_name="left"))
    module = json.loads(zipfile.ZipFile(path).read("module.json"))
    stored = {**module, "uid": "u1", "is_bundled": False}
    uploaded: list[bool] = []

    def cluster(request: Request) -> Response:
        route = (request.method, urllib.parse.urlsplit(request.url).path)
        if route == ("GET", "/v1/modules"):
            return json_reply(200, [stored] if uploaded else [])
        if route == ("POST", "/v2/modules"):
            uploaded.append(True)
            return json_reply(200, {**stored, "action_uid": "a1"})
        if route == ("GET", "/v1/actions/a1"):
            failed = {"error_code": "internal_error", "error_message": "node 3 is down"}
            return json_reply(
                200, {"action_uid": "a1", "name": "module_upload", "status": "failed", **failed}
            )
        return json_reply(403, {"error_code": "forbidden", "description": "not today"})

    api = Api(Connection(cluster="https://c:9443", retries=0), transport=FakeTransport(cluster))
    bundle = Bundle(path, module)
    result = PublishResult("left", module["version"])
    node = NodeRef("node 1", "https://c:9443", "1")
    LegacyPublish(api, [bundle], [Route(node, None, bundle)], PublishOptions(), result).run()

    assert [o.status for o in result.nodes] == ["failed"]
    assert "internal_error: node 3 is down" in result.nodes[0].detail
    assert result.module_object == "created, rollback failed"  # the cluster still lists it
    assert any(
        "deleting module object u1, created by this run, failed" in note and "forbidden" in note
        for note in result.notes
    )


def _dropping_7x_cluster(stored: dict[str, Any], installed: bool) -> FakeTransport:
    """A 7.22 cluster holding `stored` (from the first POST /v2/modules, unless `installed`) whose
    upload action fails, and which drops the module object at DELETE /v2/modules/<uid> although
    the delete action then fails on node 2: what a cluster may do, which serve does not."""
    held: list[dict[str, Any]] = [stored] if installed else []
    node = {"uid": 1, "addr": "c", "software_version": "7.22.0-28", "status": "active"}

    def failed(name: str, why: str) -> Response:
        answer = {"name": name, "status": "failed", "error_code": "internal_error", "error_message": why}
        return json_reply(200, {"action_uid": name, **answer})

    def cluster(request: Request) -> Response:
        route = (request.method, urllib.parse.urlsplit(request.url).path)
        if route == ("GET", "/v1/modules"):
            return json_reply(200, held)
        if route == ("GET", "/v1/nodes"):
            return json_reply(200, [node])
        if route == ("POST", "/v2/modules"):
            held.append(stored)
            return json_reply(200, {**stored, "action_uid": "module_upload"})
        if route == ("DELETE", f"/v2/modules/{stored['uid']}"):
            held.clear()
            return json_reply(200, {"action_uid": "module_delete"})
        if route == ("GET", "/v1/actions/module_upload"):
            return failed("module_upload", "installing on node 3 failed")
        if route == ("GET", "/v1/actions/module_delete"):
            return failed("module_delete", "removing on node 2 failed: Operation not permitted")
        return json_reply(404, {"error_code": "not_found", "message": route[1]})

    return FakeTransport(cluster)


def test_a_7x_rollback_the_cluster_did_in_part_says_what_is_left(tmp_path: Path) -> None:
    """The cluster no longer lists the module object this run created, but its delete action
    failed: the status was empty and the hint said the module object was not created."""
    from modpack.rest.client import NodeRef
    from modpack.rest.publish.legacy import LegacyPublish
    from modpack.rest.publish.preflight import Route
    from modpack.rest.publish.results import PublishOptions, PublishResult

    path = write_bundle(tmp_path / "part.zip", module_json(module_name="part"))
    module = json.loads(zipfile.ZipFile(path).read("module.json"))
    api = Api(
        Connection(cluster="https://c:9443", retries=0),
        transport=_dropping_7x_cluster({**module, "uid": "u1"}, installed=False),
    )
    bundle = Bundle(path, module)
    result = PublishResult("part", module["version"])
    node = NodeRef("node 1", "https://c:9443", "1")
    LegacyPublish(api, [bundle], [Route(node, None, bundle)], PublishOptions(), result).run()

    assert result.module_object == "created, rolled back in part"
    assert result.uid == "u1"
    assert result.notes == [
        "no node took the artifact; the cluster deleted module object u1, created by this run, but the"
        " deletion failed (action module_delete (module_delete) failed: internal_error: removing on node 2"
        " failed: Operation not permitted): the nodes it names may still hold files of part 10203"
    ]


def test_a_7x_unpublish_the_cluster_did_in_part_says_what_is_left() -> None:
    """The cluster dropped the module object, and its delete action failed on node 2: unpublish
    said only the action's failure, and a second one "none found", exit 0."""
    from modpack.errors import ModpackError
    from modpack.rest import publish as publishing
    from modpack.rest.publish import removal

    stored = {**module_json(module_name="part"), "uid": "u1", "is_bundled": False}
    connection = Connection(cluster="https://c:9443", retries=0)
    transport = _dropping_7x_cluster(stored, installed=True)
    real = removal.Api

    def faked(connection: Connection) -> Api:
        return real(connection, transport=transport)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(removal, "Api", faked)
        with pytest.raises(ModpackError) as failed:
            publishing.unpublish("part", 10203, connection)
    assert failed.value.message == (
        "the cluster deleted module object u1 of part 10203, but not from every node (action"
        " module_delete (module_delete) failed: internal_error: removing on node 2 failed: Operation not"
        " permitted): the nodes named there may still hold its files"
    )
    assert "publish part 10203 again, then `modpack unpublish part 10203`" in failed.value.hint


# --- Ctrl+C while the module object's POST is out ----------------------------------------------


def _settled(monkeypatch: pytest.MonkeyPatch, answers: list[Any]) -> tuple[Any, list[float]]:
    """_settle_creation against a cluster whose module listing gives `answers` in turn."""
    from modpack.rest.publish import interruption
    from modpack.rest.publish.results import PublishResult

    def listing(api: Any, name: str, version: int) -> list[dict[str, Any]]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    monkeypatch.setattr(client, "find_modules", listing)
    result = PublishResult("late", 10203, module_object="creating")
    pauses: list[float] = []
    interruption._settle_creation(None, result, sleep=pauses.append)  # type: ignore[arg-type]
    return result, pauses


def test_an_object_stored_after_the_interrupt_is_found_and_so_can_be_taken_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, pauses = _settled(monkeypatch, [[], [], [{"uid": "7", "module_name": "late"}]])
    assert (result.module_object, result.uid, len(pauses)) == ("created", "7", 2)


def test_an_object_never_stored_is_not_created_after_about_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    from modpack.rest.publish.interruption import SETTLE_TRIES

    result, pauses = _settled(monkeypatch, [[]] * SETTLE_TRIES)
    assert result.module_object == "not created"
    assert 0.5 <= sum(pauses) <= 2


def test_a_cluster_that_does_not_answer_leaves_the_object_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    from modpack.rest.publish.interruption import interrupted

    result, _ = _settled(monkeypatch, [ClusterError("no answer")])
    assert result.module_object == "creating"

    def no_answer(api: Any, name: str, version: int) -> list[dict[str, Any]]:
        raise ClusterError("no answer")

    monkeypatch.setattr(client, "find_modules", no_answer)
    error = interrupted(None, result, KeyboardInterrupt())  # type: ignore[arg-type]
    assert error.message == "interrupted: late 10203 was not uploaded"
    assert error.details[0].startswith("module object: unknown: the run stopped while creating it")


@pytest.mark.parametrize(
    ("listed", "given", "reached"),
    [
        # two nodes sharing a uid: matching by uid took reaching one for reaching both
        (
            [{"uid": 1, "addr": "10.0.0.1"}, {"uid": 1, "addr": "10.0.0.2"}],
            ["https://10.0.0.1:9443"],
            "1 of the 2",
        ),
        (
            [{"uid": 1, "addr": "10.0.0.1"}, {"uid": 2, "addr": "10.0.0.2"}],
            ["https://10.0.0.1:9443"] * 2,
            "1 of the 2",
        ),
        (
            [{"addr": "node-a.example"}, {"addr": "node-b.example"}],
            ["https://NODE-A.example:9443"],
            "1 of the 2",
        ),
        ([], ["https://10.0.0.1:9443"], "0 of the 0"),  # nothing listed proves nothing
    ],
)
def test_unpublish_node_reach_is_decided_by_address(
    listed: list[Any], given: list[str], reached: str
) -> None:
    connection = Connection(cluster="https://10.0.0.1:9443", nodes=tuple(given))
    assert f"--node reached {reached} nodes GET /v1/nodes lists" in _some_nodes_only(connection, listed)


def test_unpublish_node_reaching_every_listed_address_deletes() -> None:
    listed = [{"uid": 1, "addr": "node-a.example"}, {"uid": 2, "addr": "node-b.example"}]
    given = ("https://node-b.example:9443", "https://Node-A.example:9443")
    connection = Connection(cluster="https://node-a.example:9443", nodes=given)
    assert _some_nodes_only(connection, listed) == ""


@pytest.mark.parametrize(
    ("granted", "switch", "allow", "legacy", "lacking"),
    [
        ({"manage_cluster_modules"}, True, False, False, ""),
        ({"manage_cluster_modules"}, False, True, False, "update_cluster"),  # --allow-upload turns it on
        ({"view_cluster_modules"}, False, True, False, "manage_cluster_modules and update_cluster"),
        ({"manage_cluster_modules"}, None, False, True, "update_cluster"),  # POST /v2/modules before 8.0
        (None, False, True, False, ""),  # the cluster did not say: the calls will
    ],
)
def test_a_role_is_told_what_it_lacks_for_the_calls_the_run_makes(
    granted: set[str] | None, switch: bool | None, allow: bool, legacy: bool, lacking: str
) -> None:
    from modpack.rest.publish.preflight import _role_lacks
    from modpack.rest.publish.results import PublishOptions
    from modpack.rest.publish.view import ClusterView

    cluster: dict[str, Any] = {} if switch is None else {"allow_modules_upload": switch}
    view = ClusterView([], cluster, "7.22.0-28" if legacy else "8.2.0-25", role="somebody")
    view.permissions = None if granted is None else frozenset(granted)
    said = _role_lacks(view, PublishOptions(allow_upload=allow))
    if not lacking:
        assert said == []
        return
    assert said == [
        f"the user's role, somebody, lacks {lacking}, which publishing needs: run it as a user whose role"
        f" has {'them' if ' and ' in lacking else 'it'} (admin does)"
    ]


def test_a_rollback_whose_listing_cannot_be_read_does_not_claim_what_it_did_not_see(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the listing after a failed rollback could not be read, the note still said "the
    cluster still lists it" (found by a review): it says that is not known."""
    from modpack.errors import ModpackError
    from modpack.rest import client
    from modpack.rest.publish.results import PublishResult
    from modpack.rest.publish.rollback import delete_own

    def unreadable(*_args: object, **_kwargs: object) -> list[dict[str, object]]:
        raise ModpackError("the cluster did not answer")

    monkeypatch.setattr(client, "find_modules", unreadable)
    result = PublishResult("m", 10203)
    result.uid = "u1"

    def refused() -> None:
        raise ModpackError("timed out")

    assert delete_own(Api(Connection(cluster="https://c:9443", retries=0)), result, refused) is None
    assert result.module_object == "created, rollback failed"
    assert result.notes == [
        "no node took the artifact, and deleting module object u1, created by this run, failed (timed out):"
        " whether the cluster still lists it is not known"
    ]


def test_a_replace_stopped_between_uploads_says_which_nodes_hold_the_build_it_replaced() -> None:
    """`publish --replace` stopped after two nodes of five took the new build: the other three
    were 'not uploaded ... nothing was placed', while they held the build the deleted module
    object described, under the same version as the new one."""
    from modpack.rest.client import Api, Connection, NodeOutcome, NodeRef
    from modpack.rest.publish.interruption import interrupted
    from modpack.rest.publish.results import PublishResult

    nodes = [NodeRef(f"node {n}", f"https://n{n}:9443") for n in range(1, 6)]
    result = PublishResult("mix", 10203, module_object="replaced", uid="new", replaced="old")
    result.replaced_object = {"uid": "old", "sha256": "b4e1" + "0" * 60}
    result.nodes = [NodeOutcome(n, "uploaded" if i < 2 else "failed", "stopped") for i, n in enumerate(nodes)]
    api = Api(Connection(cluster="https://c:9443", ca_cert=None, insecure=True))
    error = interrupted(api, result, KeyboardInterrupt())
    assert error.message == "interrupted: mix 10203 is on 2 of 5 nodes"
    assert (
        "node 3, node 4 and node 5 still hold the build module object old described (sha256 b4e100000000...),"
        " which --replace deleted: module object new describes this run's"
    ) in error.details
    result.replaced = ""  # no --replace: nothing of the kind to say
    assert not any("still hold" in line for line in interrupted(api, result, KeyboardInterrupt()).details)


@pytest.mark.parametrize(
    ("code", "listed", "gone"), [("not_found", True, None), ("module_not_found", True, False)]
)
def test_a_7x_delete_answered_404_is_absence_only_where_the_cluster_agrees(
    code: str, listed: bool, gone: bool | None
) -> None:
    """DELETE /v2/modules/<uid> answered 404 by a proxy (error_code not_found) while the cluster
    still lists the module: unpublish said "module objects deleted: none found", exit 0, the
    module left in place. Only module_not_found, or a list without it, is absence (as on 8.x)."""
    from modpack.rest.publish.actions import delete_legacy_module

    def cluster(request: Request) -> Response:
        if request.method == "DELETE":
            return json_reply(404, {"error_code": code, "message": "no"})
        return json_reply(200, [{"uid": "u1", "module_name": "hello", "version": 10203}] if listed else [])

    api = Api(Connection(cluster="https://c:9443", retries=0), transport=FakeTransport(cluster))
    if gone is None:
        with pytest.raises(ClusterError) as refused:
            delete_legacy_module(api, "u1")
        assert refused.value.status == 404
    else:
        assert delete_legacy_module(api, "u1") is gone


def test_a_node_taken_just_as_the_run_stops_is_not_asked() -> None:
    """A worker that had taken its node when the stop came sent its DELETE all the same, while
    the summary said "not asked: the run stopped first"."""
    removal = client.Removal(targets=[client.NodeRef("node 1", "https://n1")])
    removal.stop()
    assert removal.begin("https://n1") is False
    assert removal.lines() == ["node 1: not asked: the run stopped first"]
    assert not removal.changed and not removal.unknown
