"""`modpack serve` behaves as Redis Enterprise does, version by version (issue 14).

- 8.2 (re-docs release notes 8.2.0, objects/cluster): `allow_modules_upload` is false on a new
  data folder, both upload calls answer 403 modules_upload_disabled to every role while it is off;
- a trailing slash is the same path, authenticated, never a 307 (test_serve_hostile checks more);
- GET /v1/nodes: a stopped node is `down`; node objects carry the captured real node's fields;
- 7.22 (re-docs/operate__rs__7.22__...requests__modules___index.md): no user-defined endpoints,
  POST /v2/modules with an action followed on /v1/actions/<uid>; publish, list and unpublish
  work against it end to end.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import ssl
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modpack.rest import auth, client
from modpack.rest import publish as publishing
from modpack.rest.cluster import LocalCluster
from modpack.rest.paths import ACTIONS, ARTIFACTS, LEGACY_MODULES, MODULES
from modpack.rest.publish.identity import IdentityError, required_fields
from modpack.rest.publish.preflight import PreflightError
from tests.support.cli import run_modpack
from tests.support.paths import RE_DOCS
from tests.support.rest import (
    ADMIN,
    ROLE_USERS,
    cli,
    connection,
    http,
    module_json,
    rebuilt,
    running_cluster,
    serve_connection,
    serve_processes,
    wait_until,
    write_bundle,
    write_role_users,
)

# A real node object and the node object's documented field names (sources named in the file).
NODE_FACTS = Path(__file__).resolve().parent.parent / "fixtures" / "expected" / "rs-node-object.json"
# The cluster object's documented field names (source named in the file).
CLUSTER_FACTS = NODE_FACTS.with_name("rs-cluster-object.json")


# --- RS 8.2 -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster on a new data folder, started without --allow-modules-upload."""
    folder = tmp_path_factory.mktemp("fresh")
    users = write_role_users(folder / "users.json")
    with running_cluster(folder / "data", users, allow_modules_upload=None) as running:
        yield running


def test_a_module_object_is_listed_with_the_fields_every_real_listing_carries(tmp_path: Path) -> None:
    """Every module object of a real cluster's GET /v1/modules carries bigstore_version_2_support,
    config_command, crdb and dependencies (re-docs captured__redis-enterprise-rs__GET_v1_modules:
    false or true, "", {}, {}); serve listed an object POSTed without them without them."""
    module = module_json(module_name="fourfields")
    required = {k: module[k] for k in required_fields()}
    with running_cluster(tmp_path / "data", allow_modules_upload=True) as cluster, http(cluster) as session:
        made = session.post(MODULES, json=required)
        assert made.status_code == 200, made.text
        [listed] = [m for m in session.get("/v1/modules").json() if m["module_name"] == "fourfields"]
        one = session.get(f"/v1/modules/{listed['uid']}").json()
    expected = {"bigstore_version_2_support": False, "config_command": "", "crdb": {}, "dependencies": {}}
    assert {k: listed[k] for k in expected} == expected == {k: one[k] for k in expected}
    assert listed["commands"] == required["commands"]  # what was stored is listed as it was


CAPTURED_MODULES = RE_DOCS / "captured__redis-enterprise-rs__GET_v1_modules.json"


def _listed_by_serve(tmp_path: Path, name: str, *extra: str) -> tuple[list[dict[str, Any]], str]:
    """GET /v1/modules and `modpack modules list` of a `modpack serve` on a new data folder,
    after a publish and an unpublish of the example module beside what it lists."""
    bundle = write_bundle(tmp_path / f"{name}.zip", module_json(module_name="mine"))
    with serve_processes(tmp_path / name, *extra) as start:
        info = start()
        with client.Api(serve_connection(info)) as api:
            assert not publishing.publish(bundle, serve_connection(info)).failed
            assert [m["module_name"] for m in client.list_modules(api) if not m["is_bundled"]] == ["mine"]
            assert not publishing.unpublish("mine", 10203, serve_connection(info)).failed
            modules = client.list_modules(api)
        shown = run_modpack(
            "modules", "list", "--cluster", info["cluster"], "--ca-cert", info["ca_cert"],
            env={"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password},
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
    return modules, shown.stdout


def test_a_new_cluster_lists_the_modules_redis_enterprise_ships(tmp_path: Path) -> None:
    """A real 8.x cluster's GET /v1/modules lists the modules it ships (is_bundled: true) beside
    custom ones (re-docs captured__redis-enterprise-rs__GET_v1_modules: 16, bf, search, ReJSON and
    timeseries, one per Redis version); serve listed none, so a pipeline that read the list as
    its own modules only passed on serve. publish and unpublish leave them as they are."""
    modules, shown = _listed_by_serve(tmp_path, "shipped")
    captured = json.loads(CAPTURED_MODULES.read_text())
    assert len(captured) == 16
    assert sorted(modules, key=lambda m: m["uid"]) == sorted(captured, key=lambda m: m["uid"])
    assert all(m["is_bundled"] is True for m in modules)
    assert "b14385b09778a335835ee3ae380bbc77  bf 80001 (8.0.1)  bundled with Redis Enterprise\n" in shown
    assert len(shown.splitlines()) == 16


def test_without_the_shipped_modules_and_on_7_22_a_new_cluster_lists_none(tmp_path: Path) -> None:
    """--no-bundled-modules starts a new data folder empty; so does a 7.x one, whose shipped set no
    capture shows."""
    assert _listed_by_serve(tmp_path, "none", "--no-bundled-modules") == ([], "(no module objects)\n")
    legacy, _ = _listed_by_serve(tmp_path, "legacy", "--software-version", "7.22")
    assert legacy == []


def test_a_shipped_module_cannot_be_deleted_and_an_older_data_folder_gets_none(tmp_path: Path) -> None:
    """DELETE /v2/modules/user-defined/<uid> ("Delete custom module") deleted a shipped module's
    object for good; and a data folder an older modpack made, its modules in it, was given the
    shipped ones on its first start by this one. Both as a real `modpack serve` does it."""
    with serve_processes(tmp_path / "data") as start:
        info = start()
        with client.Api(serve_connection(info)) as api:
            bloom = "b14385b09778a335835ee3ae380bbc77"  # bf 8.0.1, shipped
            assert client.delete_module(api, bloom) is False  # 404: no custom module has that uid
            assert len(client.list_modules(api)) == 16
        answer = httpx.delete(
            f"{info['cluster']}{MODULES}/{bloom}",
            auth=(ADMIN.user, ADMIN.password),
            verify=ssl.create_default_context(cafile=info["ca_cert"]),
        )
        assert answer.status_code == 404, answer.text
        assert (
            "bf 80001) is bundled with Redis Enterprise, not a custom module" in answer.json()["description"]
        )
    # A folder an older modpack made, before serve stored the upload switch: its own module
    # objects in it, and no allow_modules_upload setting (today's serve writes one at every start).
    with serve_processes(tmp_path / "older", "--no-bundled-modules") as start:
        info = start()
        with client.Api(serve_connection(info)) as api:
            uid, _ = client.create_module(api, module_json(module_name="mine"))
        info["process"].terminate()
        info["process"].wait(timeout=30)
    with sqlite3.connect(tmp_path / "older" / "ccs.sqlite3") as db:
        db.execute("DELETE FROM settings WHERE key = 'allow_modules_upload'")
    db.close()
    with serve_processes(tmp_path / "older") as start:
        info = start()
        with client.Api(serve_connection(info)) as api:
            assert [m["uid"] for m in client.list_modules(api)] == [uid]


def test_uploads_start_switched_off_on_a_new_data_folder(fresh: LocalCluster) -> None:
    with http(fresh) as session:
        cluster = session.get(fresh.urls[0] + "/v1/cluster").json()
    assert cluster["allow_modules_upload"] is False


@pytest.mark.parametrize("role", auth.ROLES)
def test_both_upload_calls_answer_modules_upload_disabled_to_every_role(
    fresh: LocalCluster, role: str
) -> None:
    bundle = write_bundle(fresh.options.data.parent / f"{role}.zip")
    with http(fresh, ROLE_USERS[role]) as session:
        created = session.post(fresh.urls[0] + MODULES, json=module_json())
        uploaded = session.post(fresh.urls[1] + ARTIFACTS, files={"module": ("m.zip", bundle.read_bytes())})
        listed = session.get(fresh.urls[0] + "/v1/modules")
    for response in (created, uploaded):
        assert response.status_code == 403
        assert response.json()["error_code"] == "modules_upload_disabled"
    assert listed.status_code == (403 if role == "none" else 200)  # listing is unchanged


def test_without_credentials_the_upload_calls_still_answer_401(fresh: LocalCluster) -> None:
    with http(fresh, None) as session:
        assert session.post(fresh.urls[0] + MODULES, json=module_json()).status_code == 401
        assert session.post(fresh.urls[0] + ARTIFACTS, files={"module": ("m.zip", b"PK")}).status_code == 401


@pytest.mark.parametrize("credentials", [ROLE_USERS["admin"], None])
def test_the_7_x_upload_answers_405_from_8_0_on(fresh: LocalCluster, credentials: Any) -> None:
    """redis-enterprise.md §5.3: an RS 8.x cluster answers POST /v2/modules with 405 (the
    redis-enterprise-rs client says "not supported in this Redis Enterprise version"); serve
    answered 404, which that client reads as "try POST /v1/modules"."""
    with http(fresh, credentials) as session:
        answer = session.post(fresh.urls[0] + LEGACY_MODULES, files={"module": ("m.zip", b"PK")})
        v1 = session.post(fresh.urls[0] + "/v1/modules", files={"module": ("m.zip", b"PK")})
    assert answer.status_code == 405, answer.text
    assert answer.json()["error_code"] == "method_not_allowed"
    assert answer.json()["description"].startswith(
        "POST /v2/modules is not allowed on Redis Enterprise 8.2.0-25"
    )
    assert answer.headers["allow"] == ""
    assert v1.status_code == 405  # as the same client found it


def test_the_option_starts_uploads_open_and_a_restart_keeps_the_switch(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "data", allow_modules_upload=True) as opened:
        with http(opened) as session:
            assert session.get(opened.urls[0] + "/v1/cluster").json()["allow_modules_upload"] is True
            session.put(opened.urls[0] + "/v1/cluster", json={"allow_modules_upload": False})
    with running_cluster(tmp_path / "data", allow_modules_upload=None) as again, http(again) as session:
        assert session.get(again.urls[0] + "/v1/cluster").json()["allow_modules_upload"] is False


def test_a_trailing_slash_answers_like_the_path_after_authentication(fresh: LocalCluster) -> None:
    with http(fresh, None) as anonymous, http(fresh) as admin:
        assert anonymous.get(fresh.urls[0] + "/v1/modules/").status_code == 401
        assert anonymous.post(fresh.urls[0] + MODULES + "/", json={}).status_code == 401
        slash = admin.get(fresh.urls[0] + "/v1/nodes/")
        assert slash.status_code == 200
        plain = admin.get(fresh.urls[0] + "/v1/nodes").json()
        assert [n["uid"] for n in slash.json()] == [n["uid"] for n in plain]
        assert admin.post(fresh.urls[0] + MODULES + "/", json=module_json()).json()["error_code"] == (
            "modules_upload_disabled"
        )


def test_a_stopped_node_is_reported_down(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "data") as cluster:
        cluster.stop_node(3)
        with http(cluster) as session:
            statuses = [n["status"] for n in session.get(cluster.urls[0] + "/v1/nodes").json()]
        assert statuses == ["active", "active", "down"]
        cluster.start_node(3)
        with http(cluster) as session:
            statuses = [n["status"] for n in session.get(cluster.urls[2] + "/v1/nodes").json()]
        assert statuses == ["active", "active", "active"]


def test_a_node_on_every_address_gives_one_the_client_reaches(tmp_path: Path) -> None:
    """`serve --host 0.0.0.0` gave 0.0.0.0 as each node's addr (objects/node: "Internal IP address
    of node"), and announced it: publish refused "names nodes on other hosts (0.0.0.0)". The
    node gives the address the client reached it on, and serve announces the loopback one."""
    import ssl

    import httpx

    bundle = write_bundle(tmp_path / "wide.zip", module_json(module_name="wide"))
    with running_cluster(tmp_path / "data", host="0.0.0.0") as cluster:
        ports = [n.port for n in cluster.nodes]
        assert cluster.describe()["cluster"] == f"https://127.0.0.1:{ports[0]}"
        local = [f"https://127.0.0.1:{port}" for port in ports]
        context = ssl.create_default_context(cafile=str(cluster.ca_cert))
        with httpx.Client(verify=context, auth=(ADMIN.user, ADMIN.password), timeout=60) as session:
            nodes = session.get(f"{local[1]}/v1/nodes").json()
        assert [f"https://{n['addr']}:{n['port']}" for n in nodes] == local
        # another address of this machine (the whole of 127/8 is loopback), which the certificate
        # does not name: the node gives that one
        context.check_hostname = False
        with httpx.Client(verify=context, auth=(ADMIN.user, ADMIN.password), timeout=60) as session:
            other = session.get(f"https://127.0.0.2:{ports[0]}/v1/nodes").json()
        assert {n["addr"] for n in other} == {"127.0.0.2"}

        env = {"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password}
        done = run_modpack(
            "publish",
            bundle,
            "--cluster",
            local[0],
            "--ca-cert",
            str(cluster.ca_cert),
            "--retries",
            "0",
            env=env,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.count(": uploaded: wide.zip") == 3, done.stdout
        assert len(list(cluster.options.data.glob("node-*/wide/10203/module.zip"))) == 3


def test_node_objects_carry_the_real_nodes_fields_with_their_types(fresh: LocalCluster) -> None:
    facts = json.loads(NODE_FACTS.read_text())
    captured = facts["captured"]
    with http(fresh) as session:
        nodes = session.get(fresh.urls[0] + "/v1/nodes").json()
    allowed = set(facts["documented_fields"]) | set(captured) | {"port"}  # port: modpack's REST port
    for node in nodes:
        assert set(captured) <= set(node), set(captured) - set(node)
        assert set(node) <= allowed, set(node) - allowed
        for key, value in captured.items():
            assert type(node[key]) is type(value), key
    versions = nodes[0]["supported_database_versions"]
    assert {"db_type": "redis", "major": True, "redis_version": "8.2", "version": "8.2.1"} in versions
    # the real node lists its memcached databases' release too, an entry without redis_version
    memcached = [v for v in captured["supported_database_versions"] if v["db_type"] == "memcached"]
    assert memcached and all(entry in versions for entry in memcached)
    assert nodes[0]["software_version"] == "8.2.0-25"


def test_the_cluster_object_carries_only_documented_fields(tmp_path: Path) -> None:
    """GET and PUT /v1/cluster answer a cluster object: a field a real cluster does not have (a
    node count, say) would let a pipeline pass here and fail on the real one."""
    documented = set(json.loads(CLUSTER_FACTS.read_text())["documented_fields"])
    answers = []
    for version in ("8.2", "7.22"):
        with (
            running_cluster(tmp_path / version, software_version=version) as cluster,
            http(cluster) as session,
        ):
            answers.append(session.get(cluster.urls[0] + "/v1/cluster"))
            if version == "8.2":
                answers.append(
                    session.put(cluster.urls[0] + "/v1/cluster", json={"allow_modules_upload": True})
                )
    for answer in answers:
        assert answer.status_code == 200
        assert set(answer.json()) <= documented, set(answer.json()) - documented
        assert answer.json()["name"]


@pytest.mark.parametrize("query", ["dry_run=1", "dry_run"])
def test_a_dry_run_cluster_update_is_checked_and_not_applied(tmp_path: Path, query: str) -> None:
    """PUT /v1/cluster?dry_run validates the update and applies nothing (requests/cluster: "If
    called with the dry_run URL query string, the function will validate the cluster object, but
    will not apply the requested changes")."""
    with running_cluster(tmp_path / "data", allow_modules_upload=False) as cluster, http(cluster) as session:
        checked = session.put(f"{cluster.urls[0]}/v1/cluster?{query}", json={"allow_modules_upload": True})
        refused = session.put(f"{cluster.urls[0]}/v1/cluster?{query}", json={"allow_modules_upload": "yes"})
        after = session.get(cluster.urls[1] + "/v1/cluster").json()
        created = session.post(cluster.urls[0] + MODULES, json=module_json())
    assert checked.status_code == 200
    assert checked.json()["allow_modules_upload"] is False
    assert (refused.status_code, refused.json()["error_code"]) == (400, "invalid_cluster_update")
    assert after["allow_modules_upload"] is False
    assert (created.status_code, created.json()["error_code"]) == (403, "modules_upload_disabled")


def test_publish_reads_the_switch_and_restores_it(fresh: LocalCluster, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "fresh.zip", module_json(module_name="freshmod"))
    refused = cli(fresh, "publish", bundle)
    assert refused.returncode == 1
    assert "allow_modules_upload is false" in refused.stderr
    published = cli(fresh, "publish", bundle, "--allow-upload")
    assert published.returncode == 0, published.stderr
    assert published.stdout.count(": uploaded: fresh.zip") == 3
    with http(fresh) as session:
        assert session.get(fresh.urls[0] + "/v1/cluster").json()["allow_modules_upload"] is False


def test_before_8_2_there_is_no_switch(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "eighty.zip", module_json(module_name="eighty"))
    with running_cluster(tmp_path / "data", software_version="8.0", allow_modules_upload=False) as cluster:
        with http(cluster) as session:
            assert "allow_modules_upload" not in session.get(cluster.urls[0] + "/v1/cluster").json()
            put = session.put(cluster.urls[0] + "/v1/cluster", json={"allow_modules_upload": True})
        assert put.json()["error_code"] == "invalid_cluster_update"
        result = publishing.publish(bundle, connection(cluster))
    assert [o.status for o in result.nodes] == ["uploaded"] * 3
    assert not any("allow_modules_upload" in call for call in result.calls)


def test_serve_refuses_a_version_it_cannot_imitate(tmp_path: Path) -> None:
    result = run_modpack("serve", "--data", tmp_path / "d", "--port", "0", "--software-version", "6.4")
    assert result.returncode == 2
    assert "--software-version '6.4'" in result.stderr
    # 8.0's first release, with the user-defined endpoints, is 8.0.2-17: serve imitated an 8.0.0
    unreleased = run_modpack("serve", "--data", tmp_path / "e", "--port", "0", "--software-version", "8.0.1")
    assert unreleased.returncode == 2, unreleased.stdout + unreleased.stderr
    assert "Redis Enterprise 8.0 was first released as 8.0.2-17" in unreleased.stderr
    early = run_modpack("serve", "--data", tmp_path / "f", "--port", "0", "--software-version", "8.0.2-5")
    assert early.returncode == 2 and "first released as 8.0.2-17" in early.stderr, early.stderr


def test_8_0_is_its_first_release(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "data", software_version="8.0") as cluster, http(cluster) as session:
        [node, *_] = session.get(cluster.urls[0] + "/v1/nodes").json()
    assert node["software_version"] == "8.0.2-17"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # redis-enterprise.md §11.1-11.2: ARM64 from 8.0.10 on RHEL 9, Ubuntu 22.04 and AL2023 only,
        # AL2023 from 8.0.20, no AL2 packages from 8.0.22, RHEL 7 gone by 7.4, Ubuntu 24.04 in none
        (
            ["--software-version", "7.22", "--arch", "aarch64"],
            "node 1 (ubuntu22, aarch64, RS 7.22.0): Redis Enterprise has packages for ubuntu22 on aarch64"
            " from 8.0.10 on",
        ),
        (
            ["--arch", "aarch64", "--os", "rhel8"],
            "no Redis Enterprise release has packages for rhel8 on aarch64",
        ),
        (
            ["--os", "amzn2"],
            "node 1 (amzn2, x86_64, RS 8.2.0): Redis Enterprise has no packages for amzn2 from 8.0.22 on",
        ),
        (
            ["--os", "amzn2023", "--software-version", "8.0.10"],
            "packages for amzn2023 on x86_64 from 8.0.20 on",
        ),
        (
            ["--os", "3=rhel7"],
            "node 3 (rhel7, x86_64, RS 8.2.0): Redis Enterprise has no packages for rhel7 from 7.4",
        ),
        (["--os", "ubuntu24"], "no Redis Enterprise release has packages for ubuntu24 on x86_64"),
        # one node's architecture (--arch 3=aarch64), as one node's OS
        (
            ["--os", "rhel8", "--arch", "x86_64", "--arch", "3=aarch64"],
            "node 3 (rhel8, aarch64, RS 8.2.0): no Redis Enterprise release has packages for rhel8 on aarch64",
        ),
        (
            ["--os", "ubuntu20", "--arch", "2=aarch64"],
            "node 2 (ubuntu20, aarch64, RS 8.2.0): no Redis Enterprise release has packages for ubuntu20"
            " on aarch64",
        ),
        (
            ["--os", "rhel9", "--arch", "1=aarch64", "--software-version", "7.22"],
            "node 1 (rhel9, aarch64, RS 7.22.0): Redis Enterprise has packages for rhel9 on aarch64 from"
            " 8.0.10 on",
        ),
    ],
)
def test_serve_refuses_a_node_no_release_makes(tmp_path: Path, options: list[str], message: str) -> None:
    """serve imitated an aarch64 7.22 node, or Amazon Linux 2 on 8.2: a pipeline could pass against
    a cluster that cannot exist."""
    result = run_modpack("serve", "--data", tmp_path / "d", "--port", "0", *options)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "hint: " in result.stderr and not (tmp_path / "d").exists()  # refused before anything is made


def test_a_node_given_its_own_architecture_is_refused_with_a_hint_for_it(tmp_path: Path) -> None:
    """An aarch64 node 3 on rhel8, which has no ARM64 packages: the hint names node 3 alone, with an
    OS made for aarch64 or the architecture rhel8 is made for."""
    result = run_modpack(
        "serve", "--data", tmp_path / "d", "--port", "0", "--os", "rhel8", "--arch", "3=aarch64"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "modpack: node 3 (rhel8, aarch64, RS 8.2.0): no Redis Enterprise release has packages for rhel8"
        " on aarch64",
        "  hint: Choose node 3's OS among rhel9, ubuntu22, amzn2023 for aarch64 on this --software-version"
        " (--os 3=rhel9), or --arch 3=x86_64 for rhel8.",
    ], result.stderr
    assert not (tmp_path / "d").exists()
    unmade = run_modpack("serve", "--data", tmp_path / "e", "--port", "0", "--os", "2=ubuntu24")
    assert unmade.returncode == 2, unmade.stdout + unmade.stderr
    assert "(--os 2=rhel8)." in unmade.stderr and "--arch 2=" not in unmade.stderr, unmade.stderr


def test_serve_imitates_every_node_a_release_makes(tmp_path: Path) -> None:
    from modpack.rest.cluster import ServeOptions, _refuse_unreleased

    for os_id, arch, version in (
        ("amzn2023", "aarch64", "8.0.20-1"),
        ("amzn2", "x86_64", "8.0.10-0"),
        ("rhel9", "aarch64", "8.2.0-25"),
        ("rhel8", "x86_64", "7.22.0-0"),
    ):
        _refuse_unreleased(1, os_id, arch, version)  # no UsageError
    assert ServeOptions(data=tmp_path).default_os == "ubuntu22"


@pytest.mark.parametrize(
    ("options", "code", "message"),
    [
        # Each was accepted, or an internal error: node 9's OS was dropped in silence and the
        # cluster started; port 65536 was an OverflowError from bind(); a --data that cannot be
        # made a FileNotFoundError; a FIFO as --users blocked for ever; a ports file in a
        # missing folder a FileNotFoundError after the nodes started.
        (["--os", "9=rhel9"], 2, "--os 9=rhel9: there is no node 9 (--nodes 3 makes nodes 1 to 3)"),
        (["--os", "0=rhel9"], 2, "--os 0=rhel9: there is no node 0"),
        (["--arch", "9=aarch64"], 2, "--arch 9=aarch64: there is no node 9 (--nodes 3 makes nodes 1 to 3)"),
        (["--arch", "0=aarch64"], 2, "--arch 0=aarch64: there is no node 0"),
        (["--arch", "x=aarch64"], 2, "--arch 'x=aarch64': use ARCH or NODE=ARCH, e.g. --arch 3=aarch64"),
        (["--arch", "arm64"], 2, "unknown node architecture 'arm64'"),
        (["--arch", "2=ppc64le"], 2, "unknown node architecture 'ppc64le'"),
        (
            ["--port", "65535", "--nodes", "2"],
            2,
            "--port 65535 with --nodes 2: node 2 would listen on port 65536",
        ),
        (["--data", "/proc/modpack-none"], 1, "cannot create the folder /proc/modpack-none: No such file"),
        (["--users", "{fifo}"], 1, "cannot read the users file {fifo}: a named pipe (FIFO), not a regular"),
        (["--users", "{utf16}"], 1, "the users file {utf16} is UTF-16 (little-endian) text"),
        (["--ports-file", "{missing}/ports.json"], 1, "cannot write {missing}/ports.json: No such file"),
        (["--host", "no such host"], 1, "cannot listen on no such host:0: "),
        # a damaged store, or a folder at its name: internal errors (sqlite3.DatabaseError)
        (
            ["--data", "{damaged}"],
            1,
            "cannot open the configuration store {damaged}/ccs.sqlite3: file is not",
        ),
        (["--data", "{foldered}"], 1, "cannot open the configuration store {foldered}/ccs.sqlite3: unable"),
    ],
)
def test_serve_names_what_is_wrong_with_its_options(
    tmp_path: Path, options: list[str], code: int, message: str
) -> None:
    import os

    places = {
        "fifo": tmp_path / "users.json",
        "utf16": tmp_path / "u16.json",
        "missing": tmp_path / "none",
        "damaged": tmp_path / "damaged",
        "foldered": tmp_path / "foldered",
    }
    os.mkfifo(places["fifo"])
    places["damaged"].mkdir()
    (places["damaged"] / "ccs.sqlite3").write_bytes(b"not a database" * 400)
    (places["foldered"] / "ccs.sqlite3").mkdir(parents=True)
    places["utf16"].write_text('{"users": []}', encoding="utf-16")
    given = [o.format(**places) for o in options]
    data = [] if "--data" in given else ["--data", str(tmp_path / "d")]
    password = [] if "--users" in given else ["--admin-password", "pw"]
    port = [] if "--port" in given else ["--port", "0"]
    result = run_modpack("serve", *data, *port, *password, *given)
    assert result.returncode == code, result.stdout + result.stderr
    assert f"modpack: {message.format(**places)}" in result.stderr
    assert "internal error" not in result.stderr
    if "--host" in given:  # the hint was "Choose another --port."
        assert "hint: Check --host: an address of this machine." in result.stderr
    if "{fifo}" in options:  # there was no hint
        from modpack.regular import NOT_REGULAR_HINT

        assert f"hint: {NOT_REGULAR_HINT}" in result.stderr


# --- RS 7.22 ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    data = tmp_path_factory.mktemp("legacy") / "data"
    with running_cluster(data, software_version="7.22", node_os={3: "rhel9"}) as running:
        yield running


def test_the_7_22_api_has_no_user_defined_endpoints(legacy: LocalCluster) -> None:
    with http(legacy) as session:
        # /v2/modules/user-defined reads as DELETE /v2/modules/<uid> there: no such POST
        assert session.post(legacy.urls[0] + MODULES, json=module_json()).status_code in (404, 405)
        assert session.get(legacy.urls[0] + ARTIFACTS).status_code == 404
        assert "allow_modules_upload" not in session.get(legacy.urls[0] + "/v1/cluster").json()
        (node, *_) = session.get(legacy.urls[0] + "/v1/nodes").json()
    assert node["software_version"] == "7.22.0-0"
    redis = [v["redis_version"] for v in node["supported_database_versions"] if v["db_type"] == "redis"]
    assert redis == ["7.4", "7.2", "6.2"]


def test_7_22_errors_say_error_code_and_message(legacy: LocalCluster, fresh: LocalCluster) -> None:
    """The 7.22 modules page: "a JSON object with `error_code` and `message` fields"; serve's 7.x
    answers said `description`, the field of 8.x's cluster_Error."""
    from modpack.rest.guard import error_response

    for cluster, said in ((legacy, "message"), (fresh, "description")):
        with http(cluster) as session:
            missing = session.delete(
                f"{cluster.urls[0]}{LEGACY_MODULES if cluster is legacy else MODULES}/none"
            )
        with http(cluster, None) as anonymous:
            unknown = anonymous.get(f"{cluster.urls[1]}/v1/modules")
        for answer, code in ((missing, "module_not_found"), (unknown, "unauthorized")):
            body = answer.json()
            assert set(body) == {"error_code", said}, (cluster.shared.software_version, body)
            assert body["error_code"] == code
        with http(cluster) as session:
            schema = session.get(f"{cluster.urls[0]}/v1/openapi.json").json()["components"]["schemas"][
                "Error"
            ]
        assert schema["required"] == ["error_code", said]
    closing = error_response(503, "too_many_connections", "retry shortly", legacy=True)
    assert json.loads(closing.split(b"\r\n\r\n", 1)[1]) == {
        "error_code": "too_many_connections",
        "message": "retry shortly",
    }


def test_every_role_gets_the_7_22_tables_permissions(tmp_path: Path) -> None:
    """The 7.22 modules page: POST and DELETE /v2/modules (and their deprecated /v1/modules forms)
    need update_cluster (admin); the
    permissions page: view_status_of_cluster_action (GET /v1/actions/<uid>), view_cluster_modules,
    view_all_nodes_info and view_cluster_info belong to every role but none."""
    users = write_role_users(tmp_path / "users.json")
    bundle = write_bundle(tmp_path / "roles.zip", module_json(module_name="roles"))
    with running_cluster(tmp_path / "data", users, software_version="7.22") as cluster:
        with http(cluster) as admin:
            uploaded = admin.post(
                cluster.urls[0] + LEGACY_MODULES, files={"module": ("r.zip", bundle.read_bytes())}
            )
            assert uploaded.status_code == 200, uploaded.text
        uid, action = uploaded.json()["uid"], uploaded.json()["action_uid"]
        for role, credentials in ROLE_USERS.items():
            if role == "admin":
                continue  # the admin's own calls are the other tests'
            with http(cluster, credentials) as session:
                changes = [
                    session.post(cluster.urls[1] + LEGACY_MODULES, files={"module": ("r.zip", b"PK")}),
                    session.delete(cluster.urls[1] + f"{LEGACY_MODULES}/{uid}"),
                    session.post(cluster.urls[1] + "/v1/modules", files={"module": ("r.zip", b"PK")}),
                    session.delete(cluster.urls[1] + f"/v1/modules/{uid}"),
                ]
                views = [
                    session.get(cluster.urls[2] + f"{ACTIONS}/{action}"),
                    session.get(cluster.urls[2] + "/v1/modules"),
                    session.get(cluster.urls[2] + f"/v1/modules/{uid}"),
                    session.get(cluster.urls[2] + "/v1/nodes"),
                    session.get(cluster.urls[2] + "/v1/cluster"),
                ]
            for answer in changes:
                assert (answer.status_code, answer.json()["error_code"]) == (403, "forbidden"), role
                assert "update_cluster" in answer.json()["message"]
            for answer in views:
                assert answer.status_code == (403 if role == "none" else 200), (role, answer.url)
        with http(cluster) as admin:
            assert admin.get(cluster.urls[0] + f"/v1/modules/{uid}").status_code == 200  # nobody deleted it


def test_publish_list_and_unpublish_against_the_7_22_api(legacy: LocalCluster, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "old.zip", module_json(module_name="oldapi"))
    published = cli(legacy, "publish", bundle)
    assert published.returncode == 0, published.stderr
    assert "module object: created" in published.stdout
    assert published.stdout.count("uploaded: old.zip via POST /v2/modules") == 3
    for node in (1, 2, 3):
        stored = legacy.options.data / f"node-{node}" / "oldapi" / "10203" / "module.zip"
        assert stored.read_bytes() == bundle.read_bytes()
    listed = json.loads(cli(legacy, "modules", "list", "--format", "json").stdout)
    (module,) = [m for m in listed if m["module_name"] == "oldapi"]
    sha = module_json()["sha256"]
    assert module["platforms"] == {
        "ubuntu22/x86_64": {"dependencies": {}, "sha256": sha},
        "rhel9/x86_64": {"dependencies": {}, "sha256": sha},
    }

    again = publishing.publish(bundle, connection(legacy))  # the platforms map proves the content
    assert again.module_object == "present"
    assert [o.status for o in again.nodes] == ["present"] * 3

    gone = cli(legacy, "unpublish", "oldapi", "1.2.3")
    assert gone.returncode == 0, gone.stderr
    assert f"module objects deleted: {module['uid']}" in gone.stdout
    assert not any(
        m["module_name"] == "oldapi"
        for m in json.loads(cli(legacy, "modules", "list", "--format", "json").stdout)
    )
    assert not list(legacy.options.data.glob("node-*/oldapi/*"))


def test_a_changed_binary_is_refused_and_replaced_on_7_22(legacy: LocalCluster, tmp_path: Path) -> None:
    publishing.publish(
        write_bundle(tmp_path / "a.zip", module_json(module_name="oldident")), connection(legacy)
    )
    so = rebuilt(tmp_path / "b", b"rebuilt")
    changed = write_bundle(tmp_path / "b.zip", module_json(so, module_name="oldident"), so)
    with pytest.raises(IdentityError) as refused:
        publishing.publish(changed, connection(legacy))
    assert "sha256 for ubuntu22/x86_64" in refused.value.message
    replaced = publishing.publish(changed, connection(legacy), replace=True)
    assert [o.status for o in replaced.nodes] == ["uploaded"] * 3
    with client.Api(connection(legacy)) as api:
        (module,) = client.find_modules(api, "oldident", 10203)
    assert {p["sha256"] for p in module["platforms"].values()} == {module_json(so)["sha256"]}


def test_one_bundle_per_platform_on_7_22(legacy: LocalCluster, tmp_path: Path) -> None:
    ubuntu_so, rhel_so = rebuilt(tmp_path / "u", b"ubuntu"), rebuilt(tmp_path / "r", b"rhel")
    ubuntu = write_bundle(
        tmp_path / "u.zip",
        module_json(ubuntu_so, module_name="oldsplit", operating_systems=["ubuntu22"]),
        ubuntu_so,
    )
    rhel = write_bundle(
        tmp_path / "r.zip", module_json(rhel_so, module_name="oldsplit", operating_systems=["rhel9"]), rhel_so
    )
    result = publishing.publish([ubuntu, rhel], connection(legacy))
    assert [o.bundle for o in result.nodes] == [ubuntu, ubuntu, rhel]
    assert [o.status for o in result.nodes] == ["uploaded"] * 3
    node3 = legacy.options.data / "node-3" / "oldsplit" / "10203" / "module.zip"
    assert node3.read_bytes() == rhel.read_bytes()
    with client.Api(connection(legacy)) as api:
        (module,) = client.find_modules(api, "oldsplit", 10203)
    assert module["platforms"]["rhel9/x86_64"]["sha256"] == module_json(rhel_so)["sha256"]
    assert module["platforms"]["ubuntu22/x86_64"]["sha256"] == module_json(ubuntu_so)["sha256"]


def test_the_7_22_upload_answers_an_action_and_refuses_a_newer_pack_version(
    legacy: LocalCluster, tmp_path: Path
) -> None:
    newer = write_bundle(tmp_path / "n.zip", module_json(module_name="newer", min_redis_pack_version="8.0"))
    with pytest.raises(PreflightError, match=r"min_redis_pack_version is '8\.0'"):
        publishing.publish(newer, connection(legacy))
    with http(legacy) as session:
        refused = session.post(
            legacy.urls[0] + LEGACY_MODULES, files={"module": ("n.zip", newer.read_bytes())}
        )
        assert (refused.status_code, refused.json()["error_code"]) == (400, "min_redis_pack_version")
        good = write_bundle(tmp_path / "g.zip", module_json(module_name="actioned"))
        answer = session.post(legacy.urls[1] + LEGACY_MODULES, files={"module": ("g.zip", good.read_bytes())})
        assert answer.status_code == 200
        body = answer.json()
        assert body["module_name"] == "actioned"
        action_url = f"{legacy.urls[2]}{ACTIONS}/{body['action_uid']}"
        for _ in range(500):
            action = session.get(action_url).json()
            if action["status"] == "completed":
                break
        assert action["status"] == "completed"
        assert {"action_uid", "name", "progress", "status"} <= set(action)
        again = session.post(legacy.urls[1] + LEGACY_MODULES, files={"module": ("g.zip", good.read_bytes())})
        assert (again.status_code, again.json()["error_code"]) == (400, "module_exists")
        deleted = session.delete(f"{legacy.urls[0]}{LEGACY_MODULES}/{body['uid']}")
        assert "action_uid" in deleted.json()
        # the deletion is the action's ("scheduled module deletion"): the object goes when it ends
        action_url = f"{legacy.urls[2]}{ACTIONS}/{deleted.json()['action_uid']}"
        wait_until(lambda: session.get(action_url).json()["status"] == "completed")
        assert session.delete(f"{legacy.urls[0]}{LEGACY_MODULES}/{body['uid']}").status_code == 404


def with_dependency(path: Path, name: str) -> Path:
    """A valid bundle of module `name` with one dependency, `extra`, in its deps/ folder."""
    payload = b"a dependency"
    digest = hashlib.sha256(payload).hexdigest()
    dependencies = {"extra": {"url": "https://example.com/extra.tgz", "sha256": digest}}
    write_bundle(path, module_json(module_name=name, dependencies=dependencies))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("deps/extra.tgz", payload)
    return path


def test_the_deprecated_v1_upload_and_delete_of_7_22(legacy: LocalCluster, tmp_path: Path) -> None:
    """The 7.22 modules page lists POST /v1/modules and DELETE /v1/modules/<uid> (deprecated
    since 7.2, as in the 7.4 and 7.8 docs); serve answered both with 405."""
    bundle = write_bundle(tmp_path / "v1.zip", module_json(module_name="vone"))
    with http(legacy) as session:
        uploaded = session.post(
            legacy.urls[1] + "/v1/modules", files={"module": ("v1.zip", bundle.read_bytes())}
        )
        assert (uploaded.status_code, uploaded.content) == (200, b"")  # "Returns a status code"
        for node in (1, 2, 3):  # on every node before the answer: no action to follow
            stored = legacy.options.data / f"node-{node}" / "vone" / "10203" / "module.zip"
            assert stored.read_bytes() == bundle.read_bytes()
        (module,) = [
            m for m in session.get(legacy.urls[0] + "/v1/modules").json() if m["module_name"] == "vone"
        ]
        assert set(module["platforms"]) == {"ubuntu22/x86_64", "rhel9/x86_64"}
        again = session.post(
            legacy.urls[1] + "/v1/modules", files={"module": ("v1.zip", bundle.read_bytes())}
        )
        assert (again.status_code, again.json()["error_code"]) == (400, "module_exists")
        broken = session.post(legacy.urls[1] + "/v1/modules", files={"module": ("x.zip", b"PK not a zip")})
        assert (broken.status_code, broken.json()["error_code"]) == (400, "invalid_module")
        missing = session.post(legacy.urls[1] + "/v1/modules", files={"other": ("x.zip", b"PK")})
        assert (missing.status_code, missing.json()["error_code"]) == (400, "no_module")

        deleted = session.delete(f"{legacy.urls[2]}/v1/modules/{module['uid']}")
        assert (deleted.status_code, deleted.content) == (200, b"")
        assert session.get(f"{legacy.urls[0]}/v1/modules/{module['uid']}").status_code == 404
        assert not list(legacy.options.data.glob("node-*/vone/*"))  # gone from the nodes before the answer
        gone = session.delete(f"{legacy.urls[2]}/v1/modules/{module['uid']}")
        assert (gone.status_code, gone.json()["error_code"]) == (404, "module_not_found")


def test_the_v1_calls_of_7_22_refuse_a_module_with_dependencies(legacy: LocalCluster, tmp_path: Path) -> None:
    """ "This endpoint does not support dependencies, see v2" (dependencies_not_supported): a 400
    from POST /v1/modules, and from DELETE /v1/modules/<uid> the 406 its page lists."""
    bundle = with_dependency(tmp_path / "deps.zip", "withdeps")
    with http(legacy) as session:
        refused = session.post(
            legacy.urls[0] + "/v1/modules", files={"module": ("d.zip", bundle.read_bytes())}
        )
        assert (refused.status_code, refused.json()["error_code"]) == (400, "dependencies_not_supported")
        assert "POST /v2/modules uploads it" in refused.json()["message"]
        listed = session.get(legacy.urls[0] + "/v1/modules").json()
        assert not any(m["module_name"] == "withdeps" for m in listed)  # nothing was created
        assert not list(legacy.options.data.glob("node-*/withdeps"))

        uploaded = session.post(
            legacy.urls[0] + LEGACY_MODULES, files={"module": ("d.zip", bundle.read_bytes())}
        )
        assert uploaded.status_code == 200, uploaded.text
        uid = uploaded.json()["uid"]
        kept = session.delete(f"{legacy.urls[0]}/v1/modules/{uid}")
        assert (kept.status_code, kept.json()["error_code"]) == (406, "dependencies_not_supported")
        assert f"DELETE /v2/modules/{uid} deletes it" in kept.json()["message"]
        assert session.get(f"{legacy.urls[0]}/v1/modules/{uid}").status_code == 200
        assert "action_uid" in session.delete(f"{legacy.urls[0]}{LEGACY_MODULES}/{uid}").json()


def test_artifact_commands_explain_that_7_22_has_no_artifact_api(legacy: LocalCluster) -> None:
    for command in (("artifacts", "list"), ("artifacts", "delete", "hello", "1.2.3")):
        result = cli(legacy, *command)
        assert result.returncode == 1
        assert "before 8.0, which has no per-node artifact API" in result.stderr
        assert "modpack modules list" in result.stderr


def test_a_refused_7_22_upload_leaves_no_module(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "big.zip", module_json(module_name="oldbig"))
    with running_cluster(tmp_path / "data", software_version="7.22", max_upload=1024) as small:
        result = publishing.publish(bundle, connection(small))
        assert [o.status for o in result.nodes] == ["failed"] * 3
        assert "413 module_too_large" in result.nodes[0].detail
        assert result.module_object == "not created"
        with client.Api(connection(small)) as api:
            assert client.find_modules(api, "oldbig", 10203) == []


def test_the_switch_is_turned_off_again_when_publish_fails(fresh: LocalCluster, tmp_path: Path) -> None:
    with http(fresh) as session:
        session.put(fresh.urls[0] + "/v1/cluster", json={"allow_modules_upload": True})
        created = session.post(fresh.urls[0] + MODULES, json=module_json(module_name="switchback"))
        session.put(fresh.urls[0] + "/v1/cluster", json={"allow_modules_upload": False})
    assert created.status_code == 200
    so = rebuilt(tmp_path / "b", b"other build")
    changed = write_bundle(tmp_path / "switchback.zip", module_json(so, module_name="switchback"), so)
    refused = cli(fresh, "publish", changed, "--allow-upload")
    assert refused.returncode == 1
    assert "with different content: sha256 differs; nothing was changed" in refused.stderr
    with http(fresh) as session:
        assert session.get(fresh.urls[0] + "/v1/cluster").json()["allow_modules_upload"] is False
