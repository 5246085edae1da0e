"""The local cluster's API against the reference: endpoints, status codes, roles, bundles, races.

One 3-node HTTPS cluster (generated certificate, users of every role) serves the whole module.
"""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modpack.rest import auth, client
from modpack.rest import publish as publishing
from modpack.rest.client import Credentials
from modpack.rest.cluster import LocalCluster
from modpack.rest.paths import ARTIFACTS, MODULES
from modpack.rest.publish.preflight import PreflightError
from tests.support.rest import (
    ROLE_USERS,
    SO,
    connection,
    http,
    module_json,
    running_cluster,
    write_bundle,
)


@pytest.fixture(scope="module")
def cluster(role_users_cluster: LocalCluster) -> LocalCluster:
    """The role-users cluster of tests/conftest.py, under this module's short name."""
    return role_users_cluster


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bundles")


def upload(cluster: LocalCluster, bundle: Path, node: int = 0) -> httpx.Response:
    with http(cluster) as session, bundle.open("rb") as data:
        return session.post(cluster.urls[node] + ARTIFACTS, files={"module": (bundle.name, data)})


def node_listing(cluster: LocalCluster, node: int) -> list[dict[str, Any]]:
    with http(cluster) as session:
        response = session.get(cluster.urls[node] + ARTIFACTS)
    assert response.status_code == 200
    listing: list[dict[str, Any]] = response.json()
    return listing


def ensure_module_object(cluster: LocalCluster, document: dict[str, Any] | None = None) -> None:
    with client.Api(connection(cluster)) as api:
        client.create_module(api, document or module_json())


def leftovers(cluster: LocalCluster) -> list[Path]:
    return [p for node in cluster.shared.nodes for p in node.artifacts.temp.iterdir()]


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert set(body) == {"error_code", "description"}
    return response.status_code, body["error_code"], body["description"]


# --- publishing a good bundle -----------------------------------------------------------------


def test_good_bundle_lands_on_every_node_and_is_listed(cluster: LocalCluster, bundles: Path) -> None:
    bundle = write_bundle(bundles / "hello.zip")
    result = publishing.publish(bundle, connection(cluster))
    assert [o.status for o in result.nodes] == ["uploaded"] * 3
    assert result.module_object in ("created", "present")
    for node in range(3):
        assert {"module_name": "hello", "version": 10203, "dependencies": []} in node_listing(cluster, node)
    with client.Api(connection(cluster)) as api:
        (listed,) = client.find_modules(api, "hello", 10203)
    assert listed["uid"] == result.uid
    assert listed["is_bundled"] is False
    stored = cluster.options.data / "node-2" / "hello" / "10203"
    assert sorted(p.name for p in stored.iterdir()) == ["module.json", "module.zip"]
    assert (stored / "module.zip").read_bytes() == bundle.read_bytes()
    assert leftovers(cluster) == []


def test_publishing_again_keeps_the_object_and_uploads_what_cannot_be_proven(
    cluster: LocalCluster, bundles: Path
) -> None:
    """A node's listing names no content, so the artifact is sent again; the object is proven equal."""
    bundle = write_bundle(bundles / "hello.zip")
    first = publishing.publish(bundle, connection(cluster))
    again = publishing.publish(bundle, connection(cluster))
    assert again.module_object == "present"
    assert again.uid == first.uid
    assert [o.status for o in again.nodes] == ["uploaded"] * 3
    for node in range(3):
        assert [a for a in node_listing(cluster, node) if a["module_name"] == "hello"] == [
            {"module_name": "hello", "version": 10203, "dependencies": []}
        ]
        stored = cluster.options.data / f"node-{node + 1}" / "hello" / "10203" / "module.zip"
        assert stored.read_bytes() == bundle.read_bytes()
    with client.Api(connection(cluster)) as api:
        assert len(client.find_modules(api, "hello", 10203)) == 1
    assert leftovers(cluster) == []


def test_get_module_by_uid_and_unknown_uid(cluster: LocalCluster) -> None:
    ensure_module_object(cluster)
    with http(cluster) as session:
        (module,) = [m for m in session.get(cluster.urls[0] + "/v1/modules").json() if m["version"] == 10203]
        assert session.get(f"{cluster.urls[1]}/v1/modules/{module['uid']}").json() == module
        missing = session.get(f"{cluster.urls[0]}/v1/modules/0123456789abcdef0123456789abcdef")
    assert error_of(missing)[:2] == (404, "module_not_found")


def test_nodes_give_address_port_and_os(cluster: LocalCluster) -> None:
    with http(cluster) as session:
        nodes = session.get(cluster.urls[2] + "/v1/nodes").json()
    assert [f"https://{n['addr']}:{n['port']}" for n in nodes] == cluster.urls
    assert {(n["os_name"], n["os_semantic_version"], n["architecture"]) for n in nodes} == {
        ("ubuntu", "22.04", "x86_64")
    }


def test_unpublish_leaves_nothing(cluster: LocalCluster, bundles: Path) -> None:
    document = module_json(module_name="goodbye", display_name="Goodbye")
    publishing.publish(write_bundle(bundles / "goodbye.zip", document), connection(cluster))
    result = publishing.unpublish("goodbye", 10203, connection(cluster))
    assert [o.status for o in result.nodes] == ["deleted"] * 3
    assert len(result.module_objects) == 1
    for node in range(3):
        assert all(a["module_name"] != "goodbye" for a in node_listing(cluster, node))
        assert not (cluster.options.data / f"node-{node + 1}" / "goodbye" / "10203").exists()
    with client.Api(connection(cluster)) as api:
        assert client.find_modules(api, "goodbye", 10203) == []
    assert leftovers(cluster) == []
    again = publishing.unpublish("goodbye", 10203, connection(cluster))
    assert [o.status for o in again.nodes] == ["absent"] * 3


# --- module objects ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "body", "named"),
    [
        ("missing-fields", {"module_name": "x"}, "semantic_version"),
        ("version-not-integer", {**module_json(), "version": "10203"}, "version"),
        ("not-an-object", [1, 2], "array"),
        ("unsafe-name", {**module_json(), "module_name": "../etc"}, "module_name"),
    ],
)
def test_invalid_module_object_is_406_naming_the_field(
    cluster: LocalCluster, case: str, body: Any, named: str
) -> None:
    with http(cluster) as session:
        response = session.post(cluster.urls[0] + MODULES, json=body)
    status, code, description = error_of(response)
    assert (status, code) == (406, "invalid_module_object")
    assert named in description


def test_module_object_body_must_be_json(cluster: LocalCluster) -> None:
    with http(cluster) as session:
        wrong_type = session.post(
            cluster.urls[0] + MODULES, content=b"{}", headers={"Content-Type": "text/plain"}
        )
        broken = session.post(
            cluster.urls[0] + MODULES, content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert error_of(wrong_type)[:2] == (400, "invalid_content_type")
    assert error_of(broken)[:2] == (406, "invalid_module_object")


def test_duplicate_module_object_is_406_module_exists(cluster: LocalCluster) -> None:
    ensure_module_object(cluster)
    with http(cluster) as session:
        response = session.post(cluster.urls[0] + MODULES, json=module_json())
    assert error_of(response)[:2] == (406, "module_exists")


def test_warnings_do_not_refuse_a_module_object(cluster: LocalCluster) -> None:
    document = module_json(module_name="warned")
    del document["operating_systems"]  # PLT005, a warning
    with http(cluster) as session:
        created = session.post(cluster.urls[0] + MODULES, json=document)
        assert created.status_code == 200
        uid = created.json()["uid"]
        # "Returns a module object": the one GET lists, not the document sent with a uid (the
        # POST's lacked the fields a cluster fills, crdb, dependencies, config_command, ...)
        assert created.json() == session.get(f"{cluster.urls[0]}/v1/modules/{uid}").json()
        assert session.delete(f"{cluster.urls[0]}{MODULES}/{uid}").status_code == 200


def test_deleting_what_does_not_exist_is_404(cluster: LocalCluster) -> None:
    with http(cluster) as session:
        module = session.delete(f"{cluster.urls[0]}{MODULES}/no-such-uid")
        artifact = session.delete(f"{cluster.urls[0]}{ARTIFACTS}/nothing/1")
    assert error_of(module)[:2] == (404, "module_not_found")
    assert error_of(artifact)[:2] == (404, "artifact_not_found")


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("hello", "abc"),
        ("hello", "1.5"),
        ("hello", "-1"),
        ("hello", "99999999999999999999"),
        ("%2e%2e", "1"),
        ("a%00b", "1"),
        (".hidden", "1"),
        ("a%20b", "1"),
    ],
)
def test_unsafe_path_parameters_are_406(cluster: LocalCluster, name: str, version: str) -> None:
    with http(cluster) as session:
        response = session.delete(f"{cluster.urls[0]}{ARTIFACTS}/{name}/{version}")
    assert error_of(response)[:2] == (406, "invalid_request")


@pytest.mark.parametrize("name", ["..%2F..%2Fetc", "%2Fetc", "%2e%2e%2f"])
def test_encoded_slashes_never_reach_a_handler(cluster: LocalCluster, name: str) -> None:
    with http(cluster) as session:
        response = session.delete(f"{cluster.urls[0]}{ARTIFACTS}/{name}/1")
    assert error_of(response)[:2] == (404, "not_found")


# --- bad bundles ------------------------------------------------------------------------------


def _not_a_zip(folder: Path) -> Path:
    path = folder / "text.zip"
    path.write_text("this is not a zip\n")
    return path


def _without_module_json(folder: Path) -> Path:
    return write_bundle(folder / "no-module-json.zip", with_module_json=False)


def _module_json_not_json(folder: Path) -> Path:
    return write_bundle(folder / "broken-json.zip", module_bytes=b'{"module_name": "hello",')


def _module_json_missing_fields(folder: Path) -> Path:
    document = module_json()
    del document["commands"]
    del document["capabilities"]
    return write_bundle(folder / "missing-fields.zip", document)


def _sha256_mismatch(folder: Path) -> Path:
    return write_bundle(folder / "sha.zip", module_json(sha256="0" * 64))


def _no_module_object(folder: Path) -> Path:
    return write_bundle(folder / "orphan.zip", module_json(module_name="orphan", display_name="Orphan"))


def _other_os(folder: Path) -> Path:
    return write_bundle(folder / "rhel.zip", module_json(operating_systems=["rhel9"]))


def _other_architecture(folder: Path) -> Path:
    so = SO / "aarch64" / "hello.so"
    return write_bundle(folder / "arm.zip", module_json(so, architecture="aarch64"), so)


BAD_BUNDLES: list[tuple[str, Callable[[Path], Path], int, str, str]] = [
    ("not-a-zip", _not_a_zip, 400, "invalid_module", "ZIP001"),
    ("without-module-json", _without_module_json, 400, "invalid_module", "module.json"),
    ("module-json-not-json", _module_json_not_json, 406, "invalid_module_metadata", "IN002"),
    ("module-json-missing-fields", _module_json_missing_fields, 406, "invalid_module_metadata", "commands"),
    ("sha256-mismatch", _sha256_mismatch, 400, "invalid_module", "sha256"),
    ("no-module-object", _no_module_object, 406, "no_module_object", "orphan"),
    ("os-not-supported", _other_os, 406, "os_not_supported", "ubuntu22"),
    ("other-architecture", _other_architecture, 406, "module_architecture_not_supported", "aarch64"),
]


@pytest.mark.parametrize(
    ("case", "make", "status", "code", "says"), BAD_BUNDLES, ids=[case[0] for case in BAD_BUNDLES]
)
def test_bad_bundle_gets_its_documented_status(
    cluster: LocalCluster,
    bundles: Path,
    case: str,
    make: Callable[[Path], Path],
    status: int,
    code: str,
    says: str,
) -> None:
    ensure_module_object(cluster)
    response = upload(cluster, make(bundles), node=1)
    got_status, got_code, description = error_of(response)
    assert (got_status, got_code) == (status, code), description
    assert says in description
    assert leftovers(cluster) == []
    assert not (cluster.options.data / "node-2" / "orphan").exists()


def test_upload_without_module_field_is_400_no_module(cluster: LocalCluster) -> None:
    with http(cluster) as session:
        other_field = session.post(cluster.urls[0] + ARTIFACTS, files={"file": ("x.zip", b"PK")})
        not_multipart = session.post(cluster.urls[0] + ARTIFACTS, json={"module": "x"})
    assert error_of(other_field)[:2] == (400, "no_module")
    assert error_of(not_multipart)[:2] == (400, "no_module")
    assert leftovers(cluster) == []


def test_publish_refuses_an_invalid_bundle_before_any_call(cluster: LocalCluster, bundles: Path) -> None:
    from modpack.errors import FindingsError

    with pytest.raises(FindingsError) as caught:
        publishing.publish(_module_json_missing_fields(bundles), connection(cluster))
    assert "nothing was published" in caught.value.message
    assert any(f.code == "SCH001" for f in caught.value.findings)


# --- size limit -------------------------------------------------------------------------------


def test_size_limit_is_enforced_while_streaming(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "hello.zip")
    limit = 1024  # the bundle is a few KiB
    with running_cluster(tmp_path / "data", max_upload=limit) as small:
        ensure_module_object(small)
        declared = upload(small, bundle)

        def chunks() -> Iterator[bytes]:
            yield b'--b\r\nContent-Disposition: form-data; name="module"; filename="m.zip"\r\n\r\n'
            for _ in range(64):
                yield b"x" * 1024
            yield b"\r\n--b--\r\n"

        with http(small) as session:
            streamed = session.post(
                small.urls[0] + ARTIFACTS,
                content=chunks(),
                headers={"Content-Type": "multipart/form-data; boundary=b"},
            )
        assert leftovers(small) == []
        assert node_listing(small, 0) == []
    for response in (declared, streamed):
        status, code, description = error_of(response)
        assert (status, code) == (413, "module_too_large")
        assert str(limit) in description


# --- roles and permissions --------------------------------------------------------------------

VIEW = auth.VIEW_CLUSTER_MODULES
MANAGE = auth.MANAGE_CLUSTER_MODULES

# (method, path, request kwargs, permission, status for a permitted role that changes nothing)
ENDPOINTS: list[tuple[str, str, dict[str, Any], str, int]] = [
    ("GET", ARTIFACTS, {}, VIEW, 200),
    ("GET", "/v1/modules", {}, VIEW, 200),
    ("GET", "/v1/modules/nope", {}, VIEW, 404),
    ("POST", MODULES, {"json": {}}, MANAGE, 406),
    ("DELETE", MODULES + "/nope", {}, MANAGE, 404),
    ("POST", ARTIFACTS, {"files": {"other": ("a", b"b")}}, MANAGE, 400),
    ("DELETE", ARTIFACTS + "/nothing/1", {}, MANAGE, 404),
    ("GET", "/v1/nodes", {}, auth.VIEW_ALL_NODES_INFO, 200),
    ("GET", "/v1/cluster", {}, auth.VIEW_CLUSTER_INFO, 200),
    ("PUT", "/v1/cluster", {"json": {"allow_modules_upload": True}}, auth.UPDATE_CLUSTER, 200),
]

# The reference's tables (permissions.md, "Roles list per permission").
TABLE = {
    VIEW: {"admin", "cluster_member", "cluster_viewer", "db_member", "db_viewer", "user_manager"},
    auth.VIEW_ALL_NODES_INFO: {
        "admin",
        "cluster_member",
        "cluster_viewer",
        "db_member",
        "db_viewer",
        "user_manager",
    },
    auth.VIEW_CLUSTER_INFO: {
        "admin",
        "cluster_member",
        "cluster_viewer",
        "db_member",
        "db_viewer",
        "user_manager",
    },
    MANAGE: {"admin"},
    auth.UPDATE_CLUSTER: {"admin"},
}


@pytest.mark.parametrize("role", auth.ROLES)
def test_every_role_gets_exactly_the_tables_permissions(cluster: LocalCluster, role: str) -> None:
    with http(cluster, ROLE_USERS[role]) as session:
        for method, path, kwargs, permission, permitted_status in ENDPOINTS:
            response = session.request(method, cluster.urls[0] + path, **kwargs)
            if role in TABLE[permission]:
                assert response.status_code == permitted_status, (method, path, response.text)
            else:
                assert error_of(response)[:2] == (403, "forbidden"), (method, path)
                assert permission in error_of(response)[2]


@pytest.mark.parametrize(
    "credentials",
    [None, Credentials("admin", "wrong"), Credentials("nobody", "admin-secret-pw")],
    ids=["none", "wrong-password", "unknown-user"],
)
def test_missing_or_wrong_credentials_are_401(cluster: LocalCluster, credentials: Credentials | None) -> None:
    with http(cluster, credentials) as session:
        for method, path, kwargs, _, _ in ENDPOINTS:
            response = session.request(method, cluster.urls[0] + path, **kwargs)
            assert error_of(response)[:2] == (401, "unauthorized"), (method, path)
            assert response.headers["www-authenticate"].startswith("Basic")


def test_openapi_description_is_served_without_credentials(cluster: LocalCluster) -> None:
    with http(cluster, None) as session:
        response = session.get(cluster.urls[0] + "/v1/openapi.json")
    assert response.status_code == 200
    description = response.json()
    assert description["openapi"].startswith("3.1")
    assert ARTIFACTS in description["paths"]


# --- the 8.2 switch ---------------------------------------------------------------------------


def test_uploads_refused_while_allow_modules_upload_is_off(cluster: LocalCluster, bundles: Path) -> None:
    bundle = write_bundle(bundles / "switch.zip", module_json(module_name="switch"))
    with http(cluster) as session:
        assert (
            session.put(cluster.urls[0] + "/v1/cluster", json={"allow_modules_upload": False}).status_code
            == 200
        )
        assert session.get(cluster.urls[1] + "/v1/cluster").json()["allow_modules_upload"] is False
        created = session.post(cluster.urls[0] + MODULES, json=module_json(module_name="switch"))
    assert error_of(created)[:2] == (403, "modules_upload_disabled")
    assert error_of(upload(cluster, bundle))[:2] == (403, "modules_upload_disabled")
    try:
        with pytest.raises(PreflightError) as refused:
            publishing.publish(bundle, connection(cluster))
        assert "allow_modules_upload is false" in str(refused.value)
        assert "--allow-upload" in str(refused.value)
        assert 'PUT /v1/cluster {"allow_modules_upload": true}' in str(refused.value)
        result = publishing.publish(bundle, connection(cluster), allow_upload=True)
        assert [o.status for o in result.nodes] == ["uploaded"] * 3
        assert "turned on for this run and off again" in " ".join(result.notes)
        with http(cluster) as session:
            assert session.get(cluster.urls[0] + "/v1/cluster").json()["allow_modules_upload"] is False
    finally:
        with http(cluster) as session:  # the other tests of this module upload
            session.put(cluster.urls[0] + "/v1/cluster", json={"allow_modules_upload": True})


@pytest.mark.parametrize("body", [{"allow_modules_upload": "yes"}, {"other": 1}, [True]])
def test_cluster_update_takes_only_the_switch(cluster: LocalCluster, body: Any) -> None:
    with http(cluster) as session:
        response = session.put(cluster.urls[0] + "/v1/cluster", json=body)
    assert error_of(response)[:2] == (400, "invalid_cluster_update")


# --- races ------------------------------------------------------------------------------------


def _artifact_is_whole_or_absent(cluster: LocalCluster, node: int, name: str, bundle: Path) -> bool:
    folder = cluster.options.data / f"node-{node + 1}" / name / "10203"
    if not folder.exists():
        return True
    stored = json.loads((folder / "module.json").read_text())
    return stored["module_name"] == name and (folder / "module.zip").read_bytes() == bundle.read_bytes()


def test_two_uploads_of_one_artifact_leave_one_whole_artifact(cluster: LocalCluster, bundles: Path) -> None:
    document = module_json(module_name="twice")
    ensure_module_object(cluster, document)
    bundle = write_bundle(bundles / "twice.zip", document)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: upload(cluster, bundle).status_code, range(8)))
    assert answers == [200] * 8
    assert [a for a in node_listing(cluster, 0) if a["module_name"] == "twice"] == [
        {"module_name": "twice", "version": 10203, "dependencies": []}
    ]
    assert _artifact_is_whole_or_absent(cluster, 0, "twice", bundle)
    assert leftovers(cluster) == []


def test_upload_racing_delete_leaves_a_consistent_state(cluster: LocalCluster, bundles: Path) -> None:
    document = module_json(module_name="race")
    ensure_module_object(cluster, document)
    bundle = write_bundle(bundles / "race.zip", document)

    def delete(_: int) -> int:
        with http(cluster) as session:
            return session.delete(f"{cluster.urls[0]}{ARTIFACTS}/race/10203").status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        uploads = [pool.submit(upload, cluster, bundle) for _ in range(6)]
        deletes = [pool.submit(delete, i) for i in range(6)]
        assert {f.result().status_code for f in uploads} == {200}
        assert {f.result() for f in deletes} <= {200, 404}
    assert _artifact_is_whole_or_absent(cluster, 0, "race", bundle)
    listed = [a for a in node_listing(cluster, 0) if a["module_name"] == "race"]
    on_disk = (cluster.options.data / "node-1" / "race" / "10203").exists()
    assert len(listed) == int(on_disk)
    assert leftovers(cluster) == []


# --- more good bundles, node OS per node, plain HTTP ------------------------------------------


def test_bundle_with_a_dependency_lists_it(cluster: LocalCluster, bundles: Path) -> None:
    import hashlib
    import zipfile

    payload = b"dependency payload"
    document = module_json(
        module_name="withdeps",
        dependencies={
            "libextra": {
                "url": "https://example.com/libextra.tgz",
                "sha256": hashlib.sha256(payload).hexdigest(),
            }
        },
    )
    bundle = write_bundle(bundles / "withdeps.zip", document)
    with zipfile.ZipFile(bundle, "a") as archive:
        archive.writestr("deps/libextra.tgz", payload)
    result = publishing.publish(bundle, connection(cluster))
    assert [o.status for o in result.nodes] == ["uploaded"] * 3
    assert {"module_name": "withdeps", "version": 10203, "dependencies": ["libextra"]} in node_listing(
        cluster, 2
    )


def test_node_os_is_configurable_per_node(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "hello.zip", module_json(operating_systems=["ubuntu22", "rhel9"]))
    with running_cluster(tmp_path / "data", node_os={2: "rhel9", 3: "amzn2023"}) as mixed:
        with http(mixed) as session:
            systems = [
                (n["os_name"], n["os_semantic_version"])
                for n in session.get(mixed.urls[0] + "/v1/nodes").json()
            ]
        assert systems == [("ubuntu", "22.04"), ("rhel", "9"), ("amzn", "2023")]
        with pytest.raises(PreflightError) as refused:  # publish sees the uncovered node first
            publishing.publish(bundle, connection(mixed))
        assert f"node 3 ({mixed.urls[2]}) runs amzn2023/x86_64" in str(refused.value)
        ensure_module_object(mixed)
        answers = [upload(mixed, bundle, node) for node in range(3)]  # the node itself refuses too
    assert [a.status_code for a in answers[:2]] == [200, 200]
    status, code, description = error_of(answers[2])
    assert (status, code) == (406, "os_not_supported")
    assert "not compatible with this node's OS 'amzn2023'" in description


def test_plain_http_when_asked_for(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "hello.zip")
    with running_cluster(tmp_path / "data", https=False) as plain:
        assert plain.urls[0].startswith("http://")
        assert plain.ca_cert is None
        result = publishing.publish(bundle, connection(plain))
    assert [o.status for o in result.nodes] == ["uploaded"] * 3
