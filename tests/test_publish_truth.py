"""`modpack publish` tells the truth (issue 14), against `modpack serve` on loopback over real HTTPS.

- identity: "present" only for a module object equal to the bundle; a changed binary under the
  same version is refused naming the fields, and replaced with --replace;
- preflight: a bundle no node fits, a Redis or Redis Enterprise version the cluster lacks, the
  8.2 switch off: refused before anything is created, one line per problem;
- rollback: when no node took the artifact, the module object this run created is deleted;
- one bundle per platform: on a rhel9 + ubuntu22 cluster each node gets its own bundle;
- `unpublish 1.2.3`, and publish's --select/--ignore/--strict with validate's semantics.
"""

from __future__ import annotations

import json
import random
import re
import shlex
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modpack.errors import UsageError
from modpack.rest import client
from modpack.rest import publish as publishing
from modpack.rest.cluster import LocalCluster
from modpack.rest.publish import run as publish_run
from modpack.rest.publish import user_defined
from modpack.rest.publish.identity import KEPT_FIELDS, IdentityError, required_fields
from modpack.rest.publish.interruption import PublishInterrupted
from modpack.rest.publish.preflight import PreflightError
from modpack.rest.publish.removal import parse_version
from tests.support.cli import run_modpack, start_modpack
from tests.support.modules import compile_module
from tests.support.rest import (
    ADMIN,
    SO,
    as_printed,
    cli,
    cli_options,
    connection,
    hinted,
    http,
    module_json,
    rebuilt,
    running_cluster,
    wait_until,
    write_bundle,
)
from tests.support.tools import require_redis


def modules_named(cluster: LocalCluster, name: str) -> list[dict[str, Any]]:
    with client.Api(connection(cluster)) as api:
        return [m for m in client.list_modules(api) if m.get("module_name") == name]


def stored_zip(cluster: LocalCluster, node: int, name: str, version: int = 10203) -> Path:
    return cluster.options.data / f"node-{node}" / name / str(version) / "module.zip"


def nothing_of(cluster: LocalCluster, name: str) -> bool:
    """No module object, no artifact folder and no temporary file anywhere in the cluster."""
    data = cluster.options.data
    temp = [p for n in cluster.nodes for p in n.artifacts.temp.iterdir()]
    folders = list(data.glob(f"node-*/{name}/*"))
    return not modules_named(cluster, name) and not folders and not temp


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("truth") / "data") as running:
        yield running


# --- identity ---------------------------------------------------------------------------------


def test_a_changed_binary_under_the_same_version_is_refused_then_replaced(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    document = module_json(module_name="ident")
    original = write_bundle(tmp_path / "ident.zip", document)
    assert cli(cluster, "publish", original).returncode == 0
    so = rebuilt(tmp_path / "rebuilt")
    changed = write_bundle(tmp_path / "ident-rebuilt.zip", module_json(so, module_name="ident"), so)

    refused = cli(cluster, "publish", changed)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "already has module ident version 10203" in refused.stderr
    assert "with different content: sha256 differs; nothing was changed" in refused.stderr
    assert "--replace" in refused.stderr
    assert stored_zip(cluster, 2, "ident").read_bytes() == original.read_bytes()  # nothing changed

    previewed = cli(cluster, "publish", changed, "--replace", "--dry-run")
    assert previewed.returncode == 0, previewed.stderr
    assert "note: would replace module object" in previewed.stdout and "sha256 differ" in previewed.stdout
    assert "replaced module object" not in previewed.stdout  # a dry run replaces nothing
    assert len(modules_named(cluster, "ident")) == 1

    replaced = cli(cluster, "publish", changed, "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert "module object: replaced" in replaced.stdout
    assert "sha256 differed" in replaced.stdout
    for node in (1, 2, 3):
        assert stored_zip(cluster, node, "ident").read_bytes() == changed.read_bytes()
    (stored,) = modules_named(cluster, "ident")
    assert stored["sha256"] == module_json(so)["sha256"]


def test_a_rebuild_refused_with_uploads_off_is_said_with_that_refusal(tmp_path: Path) -> None:
    """On a cluster with uploads off, publish of a rebuild under a published version said only
    that uploads were off; re-run with --allow-upload, it then said the cluster holds another
    build. Both are said in the first refusal, one line each, and nothing is changed."""
    document = module_json(module_name="offbuild")
    original = write_bundle(tmp_path / "offbuild.zip", document)
    so = rebuilt(tmp_path / "rebuilt")
    changed = write_bundle(tmp_path / "offbuild-2.zip", module_json(so, module_name="offbuild"), so)
    with running_cluster(tmp_path / "data", allow_modules_upload=False) as closed:
        assert cli(closed, "publish", original, "--allow-upload").returncode == 0
        refused = cli(closed, "publish", changed)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        lines = refused.stderr.splitlines()
        assert lines[0] == "modpack: the cluster cannot take offbuild-2.zip; nothing was changed:", (
            refused.stderr
        )
        assert any("custom module uploads are off on this cluster" in line for line in lines[1:])
        (identity,) = [line for line in lines[1:] if "already has module offbuild version 10203" in line]
        assert "with different content: sha256 differs; nothing was changed." in identity
        assert "pass one to RedisModule_Init in the module's source (10204 for 1.2.4)" in identity
        assert "--replace" in identity
        (stored,) = modules_named(closed, "offbuild")
        assert stored["sha256"] == document["sha256"]
        # the same cluster with an identical bundle: the switch is the one problem
        same = cli(closed, "publish", original)
        assert same.returncode == 1 and "already has module" not in same.stderr, same.stderr


def test_a_role_that_cannot_turn_uploads_on_is_not_told_to_use_allow_upload(tmp_path: Path) -> None:
    """A cluster_viewer publishing to a cluster with uploads off was told only that uploads were
    off, "re-run with --allow-upload"; that run then failed with PUT /v1/cluster: 403 forbidden.
    The first refusal now says both what the role lacks and that --allow-upload cannot help, and
    the --allow-upload run is refused before its PUT, the switch left off."""
    from tests.support.rest import ROLE_USERS, http, write_role_users

    bundle = write_bundle(tmp_path / "viewer.zip", module_json(module_name="viewer"))
    users = write_role_users(tmp_path / "users.json")
    viewer = ROLE_USERS["cluster_viewer"]
    env = {"MODPACK_USER": viewer.user, "MODPACK_PASSWORD": viewer.password}
    with running_cluster(tmp_path / "data", users, allow_modules_upload=False) as closed:
        options = cli_options(closed)
        refused = run_modpack("publish", bundle, *options, env=env)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        lines = refused.stderr.splitlines()
        assert lines[0] == "modpack: the cluster cannot take viewer.zip; nothing was changed:", refused.stderr
        (role,) = [line for line in lines if "which publishing needs" in line]
        assert "the user's role, cluster_viewer, lacks manage_cluster_modules, which" in role, role
        (switch,) = [line for line in lines if "custom module uploads are off" in line]
        assert switch.endswith(
            "--allow-upload cannot, as the user's role, cluster_viewer, lacks update_cluster"
        )
        assert "re-run with --allow-upload" not in refused.stderr
        turning = run_modpack("publish", bundle, "--allow-upload", *options, env=env)
        assert turning.returncode == 1, turning.stdout + turning.stderr
        assert "lacks manage_cluster_modules and update_cluster" in turning.stderr, turning.stderr
        assert "PUT" not in turning.stderr  # refused in the preflight, not by the cluster
        with http(closed) as session:
            assert session.get(closed.urls[0] + "/v1/cluster").json()["allow_modules_upload"] is False
        assert nothing_of(closed, "viewer")


HINTVER_TOML = """\
[module]
name = "hintver"
semantic_version = "1.2.3"
display_name = "hintver"
capabilities = []
min_redis_version = "7.0"
compatible_redis_version = "7.4"

[build]
so = "hintver.so"

[[commands]]
name = "hintver.get"
arity = -1
flags = ["readonly"]
first_key = 1
last_key = 1
step = 1
"""


@pytest.mark.redis
def test_a_rebuild_refused_under_its_version_is_told_to_give_its_binary_the_new_version_too(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """A rebuild refused under the version it was published as was told "bump semantic_version in
    modpack.toml and build again". The binary still passed the old version to RedisModule_Init: the
    bundle so built said 1.2.4 of a module that registers 1.2.3, which `validate --load` refuses
    (LOAD015). The hint says to pass the new version to RedisModule_Init and recompile too; done
    as it says, the bundle loads as the version it declares, and publishes."""
    require_redis()
    get = 'CC("hintver.get", "readonly", 1, 1, 1);'
    rebuild = f"if (argc > 100) return REDISMODULE_ERR;\n    {get}"  # other code, the same module
    toml = tmp_path / "modpack.toml"
    toml.write_text(HINTVER_TOML)
    compile_module(tmp_path, get, module="hintver", version=10203)
    first = run_modpack("build", "-o", "first", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert cli(cluster, "publish", *(tmp_path / "first").glob("*.zip")).returncode == 0

    compile_module(tmp_path, rebuild, module="hintver", version=10203)
    second = run_modpack("build", "-o", "second", cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    refused = cli(cluster, "publish", *(tmp_path / "second").glob("*.zip"))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "already has module hintver version 10203" in refused.stderr
    # the version only in the declarations: a bundle validate --load refuses
    toml.write_text(HINTVER_TOML.replace('"1.2.3"', '"1.2.4"'))
    bumped = run_modpack("build", "-o", "bumped", cwd=tmp_path)
    assert bumped.returncode == 0, bumped.stdout + bumped.stderr
    loaded = run_modpack("validate", *(tmp_path / "bumped").glob("*.zip"), "--load")
    assert loaded.returncode == 1, loaded.stdout + loaded.stderr
    assert "error LOAD015 version is 10204 (1.2.4), the module registers 10203 (1.2.3)" in loaded.stdout

    said = re.search(r"RedisModule_Init in the module's source \((\d+) for (\d+\.\d+\.\d+)\)", refused.stderr)
    assert said is not None, refused.stderr
    number, semantic = int(said[1]), said[2]
    assert (number, semantic) == (10204, "1.2.4")
    compile_module(tmp_path, rebuild, module="hintver", version=number)
    toml.write_text(HINTVER_TOML.replace('"1.2.3"', f'"{semantic}"'))
    third = run_modpack("build", "-o", "third", cwd=tmp_path)
    assert third.returncode == 0, third.stdout + third.stderr
    (bundle,) = (tmp_path / "third").glob("*.zip")
    loaded = run_modpack("validate", bundle, "--load")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "LOAD003 hintver 1.2.4 (10204) loaded" in loaded.stdout
    published = cli(cluster, "publish", bundle)
    assert published.returncode == 0, published.stdout + published.stderr
    assert sorted(m["version"] for m in modules_named(cluster, "hintver")) == [10203, 10204]


def test_a_rebuild_is_not_told_to_take_a_version_the_cluster_holds(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """The cluster holds 1.2.3 and 1.2.4, and a rebuild of 1.2.3 was told to take 1.2.4 ("10204
    for 1.2.4"), which publish then refused as another build of a version the cluster holds. The
    hint names the next version the cluster does not hold."""
    assert (
        cli(cluster, "publish", write_bundle(tmp_path / "a.zip", module_json(module_name="held"))).returncode
        == 0
    )
    so = rebuilt(tmp_path / "next", b"1.2.4")
    later = module_json(so, module_name="held", version=10204, semantic_version="1.2.4")
    assert cli(cluster, "publish", write_bundle(tmp_path / "b.zip", later, so)).returncode == 0
    again = rebuilt(tmp_path / "again", b"1.2.3 again")
    refused = cli(
        cluster, "publish", write_bundle(tmp_path / "c.zip", module_json(again, module_name="held"), again)
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "already has module held version 10203" in refused.stderr
    assert "RedisModule_Init in the module's source (10205 for 1.2.5)" in refused.stderr, refused.stderr


def _made_meanwhile(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch, name: str, interrupt_at: int = 0
) -> None:
    """Another run's build of `name` in the cluster, which this run's first lookup did not see
    yet (find_modules answers [] once); with `interrupt_at`, that call raises KeyboardInterrupt."""
    with client.Api(connection(cluster)) as api:
        client.create_module(api, module_json(module_name=name, description="another build"))
    real, calls = client.find_modules, []

    def late(api: client.Api, name: str, version: int) -> list[dict[str, Any]]:
        calls.append(name)
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return [] if len(calls) == 1 else real(api, name, version)

    monkeypatch.setattr(client, "find_modules", late)


def test_an_object_another_run_made_meanwhile_is_proven_too(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another publish of the same name and version created its object between this run's
    lookup and its POST: create_module found it and this run said 'present' of another build
    without comparing anything."""
    _made_meanwhile(cluster, monkeypatch, "raced")
    ours = write_bundle(tmp_path / "raced.zip", module_json(module_name="raced"))
    with pytest.raises(IdentityError) as refused:
        publishing.publish(ours, connection(cluster))
    assert "with different content: description differs" in refused.value.message
    (stored,) = modules_named(cluster, "raced")
    assert stored["description"] == "another build"
    assert not stored_zip(cluster, 1, "raced").exists()


def test_ctrl_c_while_proving_an_object_made_meanwhile_leaves_it_alone(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The object another run made between this run's lookup and its POST is not this run's: a
    Ctrl+C while it was being compared left the run 'creating', so the interruption asked the
    cluster, took the object found for this run's own and deleted the other run's object."""
    _made_meanwhile(cluster, monkeypatch, "racedc", interrupt_at=3)  # 3: while it is compared
    ours = write_bundle(tmp_path / "racedc.zip", module_json(module_name="racedc"))
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish(ours, connection(cluster))
    assert "module object: present" in "\n".join(stopped.value.details)
    (stored,) = modules_named(cluster, "racedc")
    assert stored["description"] == "another build"


def test_replace_refused_by_an_object_made_meanwhile_says_the_old_one_is_gone(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--replace deleted the object it found, then another run's build appeared before the POST:
    the refusal said 'nothing was changed' of a cluster that had just lost its module object."""
    with client.Api(connection(cluster)) as api:
        old_uid, _ = client.create_module(api, module_json(module_name="racedr", description="old build"))
    real = client.delete_module

    def then_theirs(api: client.Api, uid: str) -> bool:
        deleted = real(api, uid)
        client.create_module(api, module_json(module_name="racedr", description="their build"))
        return deleted

    monkeypatch.setattr(client, "delete_module", then_theirs)
    ours = write_bundle(tmp_path / "racedr.zip", module_json(module_name="racedr"))
    with pytest.raises(IdentityError) as refused:
        publishing.publish(ours, connection(cluster), replace=True)
    assert "description differs" in refused.value.message
    assert "nothing was changed" not in refused.value.message
    assert f"--replace had deleted module object {old_uid} before it appeared" in refused.value.message
    (stored,) = modules_named(cluster, "racedr")
    assert stored["description"] == "their build"


def test_any_differing_field_is_named_and_an_identical_object_is_present(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    bundle = write_bundle(tmp_path / "fields.zip", module_json(module_name="fields"))
    first = publishing.publish(bundle, connection(cluster))
    assert first.module_object == "created"
    again = publishing.publish(bundle, connection(cluster))
    assert (again.module_object, again.uid) == ("present", first.uid)

    other = module_json(module_name="fields", display_name="Other", command_line_args="x 1")
    with pytest.raises(IdentityError) as refused:
        publishing.publish(write_bundle(tmp_path / "other.zip", other), connection(cluster))
    assert "with different content: command_line_args and display_name differ;" in refused.value.message
    assert modules_named(cluster, "fields")[0]["display_name"] == "Hello"


def test_a_module_object_made_from_the_required_fields_only_is_not_called_a_rebuild(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """A module object POSTed with the request body's required fields only (by hand, or by another
    tool): publish said author, description, ... "differ" and "A rebuilt module needs a new
    version", of a build that is the same."""
    module = module_json(module_name="minimal", author="Ada", license="MIT", bigstore_version_2_support=True)
    required = required_fields()
    with http(cluster) as session:
        made = session.post("/v2/modules/user-defined", json={k: module[k] for k in required if k in module})
        assert made.status_code == 200, made.text
    done = cli(cluster, "publish", write_bundle(tmp_path / "minimal.zip", module))
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "with different content: it has no author, bigstore_version_2_support, compatible_redis_version and"
        " license, which this bundle's module.json gives; nothing was changed"
    ) in done.stderr
    assert "differ" not in done.stderr.split("with different content:", 1)[1].split("\n", 1)[0]
    assert (
        "hint: If the nodes hold this build, and its module object was made from fewer fields (by hand or"
        " by another tool), re-run with --replace"
    ) in done.stderr
    assert "A rebuilt module needs a new version" not in done.stderr
    assert (
        "if this is a rebuild, give it a new version in its binary and in its declarations: pass one to"
        " RedisModule_Init in the module's source (10204 for 1.2.4) and recompile"
    ) in done.stderr


def test_the_identity_check_works_on_the_dry_run_too(cluster: LocalCluster, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "dry.zip", module_json(module_name="drycheck"))
    publishing.publish(bundle, connection(cluster))
    so = rebuilt(tmp_path / "rebuilt", b"\1" * 8)
    changed = write_bundle(tmp_path / "dry2.zip", module_json(so, module_name="drycheck"), so)
    with pytest.raises(IdentityError):
        publishing.publish(changed, connection(cluster), dry_run=True)
    planned = publishing.publish(changed, connection(cluster), dry_run=True, replace=True)
    assert planned.module_object == "would replace"
    assert any(call.startswith("DELETE ") for call in planned.calls)
    assert modules_named(cluster, "drycheck")[0]["sha256"] == module_json()["sha256"]


def _keep_only(cluster: LocalCluster, name: str, fields: frozenset[str]) -> None:
    """Rewrite the stored module object `name` as a cluster keeping only `fields` would hold it."""
    (stored,) = modules_named(cluster, name)
    kept = {k: v for k, v in stored.items() if k in fields or k in ("uid", "is_bundled")}
    cluster.shared.store.update_module(kept)


def test_fields_the_cluster_does_not_keep_prove_nothing(cluster: LocalCluster, tmp_path: Path) -> None:
    """objects/module documents neither commands nor the platform fields, and calls sha256
    deprecated. On a cluster that drops them, a re-publish of the very same bundle was refused
    ('architecture, commands, operating_systems and sha256 differ'): identity compared them with
    nothing. Now they are compared where the cluster kept them, and the note says which were not."""
    document = module_json(module_name="lean")
    first = write_bundle(tmp_path / "lean.zip", document)
    assert cli(cluster, "publish", first).returncode == 0
    _keep_only(cluster, "lean", KEPT_FIELDS)

    again = cli(cluster, "publish", first)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "module object: present" in again.stdout
    assert (
        "note: the cluster's module object does not keep architecture, commands, module_file," in again.stdout
    )
    assert "so they could not be compared; every node is sent this build" in again.stdout
    dry = cli(cluster, "publish", first, "--dry-run")  # sends nothing, and says so
    assert "could not be compared; every node would be sent this build" in dry.stdout, dry.stdout

    so = rebuilt(tmp_path / "rebuilt")  # another sha256 the cluster cannot see: uploaded, not refused
    changed = write_bundle(tmp_path / "lean2.zip", module_json(so, module_name="lean"), so)
    took = cli(cluster, "publish", changed)
    assert took.returncode == 0, took.stdout + took.stderr
    assert all(stored_zip(cluster, n, "lean").read_bytes() == changed.read_bytes() for n in (1, 2, 3))

    described = write_bundle(tmp_path / "lean3.zip", {**document, "description": "another"})
    refused = cli(cluster, "publish", described)  # a field every cluster keeps still proves a change
    assert refused.returncode == 1 and "it has no description, which this bundle's module.json gives" in (
        refused.stderr
    )


def test_a_bundled_module_is_never_replaced_or_removed(cluster: LocalCluster, tmp_path: Path) -> None:
    """A real cluster lists the modules it ships (is_bundled: true) beside custom ones: `unpublish`
    and `publish --replace` of the same name and version would have deleted Redis Enterprise's own."""
    bundle = write_bundle(tmp_path / "shipped.zip", module_json(module_name="shipped"))
    assert cli(cluster, "publish", bundle).returncode == 0
    (stored,) = modules_named(cluster, "shipped")
    cluster.shared.store.update_module({**stored, "is_bundled": True})
    other = write_bundle(tmp_path / "shipped2.zip", module_json(module_name="shipped", description="mine"))

    replaced = cli(cluster, "publish", other, "--replace")
    removed = cli(cluster, "unpublish", "shipped", "10203")
    deleted = cli(cluster, "modules", "delete", stored["uid"])
    listed = cli(cluster, "modules", "list")

    assert replaced.returncode == 1
    assert "shipped version 10203 is a module bundled with Redis Enterprise" in replaced.stderr
    assert removed.returncode == 1 and "nothing was removed" in removed.stderr
    assert deleted.returncode == 1 and "is a module bundled with Redis Enterprise" in deleted.stderr
    assert f"{stored['uid']}  shipped 10203 (1.2.3)  bundled with Redis Enterprise" in listed.stdout
    assert [m["uid"] for m in modules_named(cluster, "shipped")] == [stored["uid"]]
    assert all(stored_zip(cluster, n, "shipped").read_bytes() == bundle.read_bytes() for n in (1, 2, 3))


# --- preflight --------------------------------------------------------------------------------


def test_a_bundle_no_node_fits_leaves_nothing_behind(cluster: LocalCluster, tmp_path: Path) -> None:
    arm = SO / "aarch64" / "hello.so"
    document = module_json(arm, module_name="armonly", architecture="aarch64")
    result = cli(cluster, "publish", write_bundle(tmp_path / "arm.zip", document, arm))
    assert result.returncode == 1
    # What the user reads: the refusal, one line per problem (the nodes sharing it on one line),
    # the hint. Each problem once was glued into the message with "\n" shown as an escape.
    lines = result.stderr.splitlines()
    assert lines[0] == "modpack: the cluster cannot take arm.zip; nothing was changed:"
    nodes = ", ".join(f"node {i} ({url})" for i, url in enumerate(cluster.urls, 1))
    nodes = " and ".join(nodes.rsplit(", ", 1))
    platform = "rhel9,ubuntu22/aarch64"
    assert lines[1:] == [
        f"  {nodes} run ubuntu22/x86_64, which no bundle given is built for (arm.zip ({platform})):"
        " give a bundle built for ubuntu22/x86_64 too",
        f"  arm.zip ({platform}) fits no node of this cluster",
        "  hint: Fix each line above, then run the same command again.",
    ]
    assert nothing_of(cluster, "armonly")


def test_a_node_reported_down_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    """A node GET /v1/nodes reports down got the module object created, the other nodes'
    uploads, and its own failed after every retry: the module on some nodes only, exit 1 after
    4.6 s here (a real cluster waits for a connect timeout each time). Now it is a preflight line."""
    bundle = write_bundle(tmp_path / "down.zip", module_json(module_name="downed"))
    with running_cluster(tmp_path / "data") as cluster:
        cluster.stop_node(3)
        refused = cli(cluster, "publish", bundle, retries=None)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert refused.stderr.splitlines()[1] == (
            f"  node 3 ({cluster.urls[2]}) is down (status in GET /v1/nodes), so no upload to it can"
            " succeed: run the same command once the cluster reports it active"
        )
        assert not modules_named(cluster, "downed")
        cluster.start_node(3)
        assert cli(cluster, "publish", bundle).returncode == 0
        assert all(stored_zip(cluster, n, "downed").read_bytes() == bundle.read_bytes() for n in (1, 2, 3))


def test_every_preflight_problem_is_listed_before_anything_is_created(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    document = module_json(
        module_name="preflight",
        operating_systems=["rhel9"],
        compatible_redis_version="7.0",
        min_redis_pack_version="99.1",
    )
    with pytest.raises(PreflightError) as refused:
        publishing.publish(write_bundle(tmp_path / "pre.zip", document), connection(cluster))
    lines = refused.value.details
    nodes = " and ".join([", ".join(f"node {i} ({url})" for i, url in enumerate(cluster.urls[:-1], 1)),
                          f"node {len(cluster.urls)} ({cluster.urls[-1]})"])  # fmt: skip
    assert lines == (  # one line per problem, the nodes that share it named on it
        f"{nodes} run ubuntu22/x86_64, which no bundle given is built for (pre.zip (rhel9/x86_64)):"
        " give a bundle built for ubuntu22/x86_64 too",
        "pre.zip (rhel9/x86_64) fits no node of this cluster",
        f"pre.zip: compatible_redis_version '7.0' is not a Redis version {nodes} offer databases of"
        " (supported_database_versions: 8.6, 8.4, 8.2, 8.0, 7.4, 7.2, 6.2); no database could load it",
        "min_redis_pack_version is '99.1' but the cluster runs Redis Enterprise 8.2.0-25 (its oldest"
        " node): upgrade the cluster or lower the field",
    )
    assert nothing_of(cluster, "preflight")


def test_a_redis_version_the_nodes_do_not_offer_is_refused(cluster: LocalCluster, tmp_path: Path) -> None:
    document = module_json(module_name="oldredis", compatible_redis_version="7.0")
    with pytest.raises(PreflightError) as refused:
        publishing.publish(write_bundle(tmp_path / "old.zip", document), connection(cluster))
    (line,) = refused.value.details  # the three nodes offer the same versions: one line
    assert "compatible_redis_version '7.0' is not a Redis version node 1 (" in line
    assert "8.6, 8.4, 8.2, 8.0, 7.4, 7.2, 6.2" in line  # the node objects' supported versions
    assert nothing_of(cluster, "oldredis")


def test_without_compatible_redis_version_min_redis_version_is_judged_as_rs_falls_back(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """With no compatible_redis_version RS picks a module by min_redis_version and the same major
    (redis-enterprise.md §9): a 9.0 floor fits no database of these nodes, and a dry run said
    "would create", "would upload", exit 0."""
    document = module_json(module_name="fallback", min_redis_version="9.0")
    del document["compatible_redis_version"]
    bundle = write_bundle(tmp_path / "fallback.zip", document)

    refused = cli(cluster, "publish", bundle, "--dry-run", "--allow-upload")

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "would upload" not in refused.stdout
    nodes = ", ".join(f"node {i} ({url})" for i, url in enumerate(cluster.urls[:-1], 1))
    assert (
        f"fallback.zip: no compatible_redis_version, so Redis Enterprise picks it by min_redis_version"
        f" '9.0', for a database of Redis 9.x from 9.0 on, and {nodes} and node 3 ({cluster.urls[2]})"
        " offer none (supported_database_versions: 8.6, 8.4, 8.2, 8.0, 7.4, 7.2, 6.2); no database"
        " could load it"
    ) in refused.stderr
    assert nothing_of(cluster, "fallback")

    document["min_redis_version"] = "8.4"  # 8.4 and 8.6 databases take it
    fits = write_bundle(tmp_path / "fits.zip", document)
    looked = cli(cluster, "publish", fits, "--dry-run")
    assert looked.returncode == 0, looked.stdout + looked.stderr
    assert "would upload" in looked.stdout


# --- rollback ---------------------------------------------------------------------------------


def test_when_no_node_takes_the_artifact_the_created_object_is_deleted(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "big.zip", module_json(module_name="toolarge"))
    with running_cluster(tmp_path / "data", max_upload=1024) as small:  # every node answers 413
        result = cli(small, "publish", bundle)
        assert result.returncode == 1
        assert result.stdout.count("failed: POST") == 3
        assert "413 module_too_large" in result.stdout
        assert "module object: rolled back" in result.stdout
        assert "created by this run, was deleted again" in result.stdout
        assert nothing_of(small, "toolarge")


def test_a_rollback_that_fails_says_the_object_may_still_be_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hint said the object "is kept, for the nodes that took the artifact" when no node had
    and the DELETE of the rollback had failed. The DELETE's failure is simulated (the cluster
    going away between the uploads and it): serve answers a DELETE it can serve."""
    from modpack.cli.app import main

    def unreachable(api: client.Api, uid: str) -> bool:
        raise client.ClusterError("cannot reach the cluster: connection refused")

    bundle = write_bundle(tmp_path / "big.zip", module_json(module_name="notrolled"))
    with running_cluster(tmp_path / "data", max_upload=1024) as small:  # every node answers 413
        monkeypatch.setattr(client, "delete_module", unreachable)
        monkeypatch.setenv("MODPACK_USER", "admin")
        monkeypatch.setenv("MODPACK_PASSWORD", small.options.admin_password or "")
        options = ["--cluster", small.urls[0], "--ca-cert", str(small.ca_cert), "--retries", "0"]
        with pytest.raises(SystemExit) as ended:
            main(["publish", str(bundle), *options])
        (uid,) = [m["uid"] for m in modules_named(small, "notrolled")]
        output = capsys.readouterr()
        assert ended.value.code == 1, output
        assert f"  module object: created, rollback failed (uid {uid})\n" in output.out
        assert f"deleting module object {uid}, created by this run, failed (cannot reach" in output.out
        said = f"({uid}) failed: `modpack unpublish notrolled 10203 {shlex.join(options)}` removes it"
        assert said in output.err
        assert "for the nodes that took" not in output.err
        # as printed, with the cluster named by the command alone
        done = as_printed(hinted(output.err, "modpack unpublish"))
        assert done.returncode == 0, done.stdout + done.stderr
        assert modules_named(small, "notrolled") == []


def test_an_object_that_was_there_before_is_never_rolled_back(tmp_path: Path) -> None:
    document = module_json(module_name="kept")
    with running_cluster(tmp_path / "data", max_upload=1024) as small:
        with client.Api(connection(small)) as api:
            uid, _ = client.create_module(api, document)
        result = publishing.publish(write_bundle(tmp_path / "kept.zip", document), connection(small))
        assert (result.module_object, result.uid) == ("present", uid)
        assert len(result.failed) == 3
        assert [m["uid"] for m in modules_named(small, "kept")] == [uid]


# --- one bundle per platform ------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    data = tmp_path_factory.mktemp("mixed") / "data"
    with running_cluster(data, nodes=2, node_os={1: "rhel9", 2: "ubuntu22"}) as running:
        yield running


def platform_bundles(folder: Path, name: str = "split", **changes: Any) -> tuple[Path, Path]:
    ubuntu_so = rebuilt(folder / "ubuntu", b"ubuntu build")
    rhel_so = rebuilt(folder / "rhel", b"rhel build")
    ubuntu = module_json(ubuntu_so, module_name=name, operating_systems=["ubuntu22"])
    rhel = module_json(rhel_so, module_name=name, operating_systems=["rhel9"], **changes)
    return (
        write_bundle(folder / f"{name}.Linux-ubuntu22.04-x86_64.zip", ubuntu, ubuntu_so),
        write_bundle(folder / f"{name}.Linux-rhel9-x86_64.zip", rhel, rhel_so),
    )


def test_each_node_gets_the_bundle_built_for_it(mixed: LocalCluster, tmp_path: Path) -> None:
    ubuntu, rhel = platform_bundles(tmp_path)
    result = cli(mixed, "publish", ubuntu, rhel)
    assert result.returncode == 0, result.stderr
    assert f"node 1 ({mixed.urls[0]}): uploaded: {rhel.name}" in result.stdout
    assert f"node 2 ({mixed.urls[1]}): uploaded: {ubuntu.name}" in result.stdout
    assert stored_zip(mixed, 1, "split").read_bytes() == rhel.read_bytes()
    assert stored_zip(mixed, 2, "split").read_bytes() == ubuntu.read_bytes()
    again = publishing.publish([ubuntu, rhel], connection(mixed))  # the object holds one of the two builds
    assert again.module_object == "present"


def test_a_rebuild_for_the_platform_the_module_object_does_not_describe_is_said(
    mixed: LocalCluster, tmp_path: Path
) -> None:
    """`publish rhel.zip ubuntu.zip`, then the same with another ubuntu22 binary under the same
    version: node 2's binary was replaced, exit 0 and no note, as the module object describes the
    rhel9 build only. Nothing the cluster keeps says what node 2 holds, so it is uploaded, and said."""
    ubuntu, rhel = platform_bundles(tmp_path, name="remix")
    assert cli(mixed, "publish", rhel, ubuntu).returncode == 0
    so = rebuilt(tmp_path / "ubuntu2", b"another ubuntu build")
    document = module_json(so, module_name="remix", operating_systems=["ubuntu22"])
    other = write_bundle(tmp_path / "remix2.Linux-ubuntu22.04-x86_64.zip", document, so)
    said = (
        "note: the cluster's module object describes the build for rhel9/x86_64 alone, so"
        f" {other.name} (ubuntu22/x86_64) could not be compared with the build the nodes of its platform"
        " hold (a node's artifact list names no content): it {} uploaded over it, replacing any other"
        " build of remix 10203 there"
    )

    dry = cli(mixed, "publish", rhel, other, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert said.format("would be") in dry.stdout, dry.stdout
    done = cli(mixed, "publish", rhel, other)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "module object: present" in done.stdout
    assert said.format("is") in done.stdout, done.stdout
    assert stored_zip(mixed, 2, "remix").read_bytes() == other.read_bytes()


def test_one_bundle_alone_does_not_cover_a_mixed_cluster(mixed: LocalCluster, tmp_path: Path) -> None:
    ubuntu, _ = platform_bundles(tmp_path, name="half")
    with pytest.raises(PreflightError) as refused:
        publishing.publish(ubuntu, connection(mixed))
    assert f"node 1 ({mixed.urls[0]}) runs rhel9/x86_64, which no bundle given is built for" in str(
        refused.value
    )
    assert nothing_of(mixed, "half")


def by_name(url: str) -> str:
    """The node's URL with its host name in place of its address: how pipelines reach nodes."""
    return url.replace("127.0.0.1", "localhost")


def named(cluster: LocalCluster, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password}
    options = ["--cluster", by_name(cluster.urls[0]), "--ca-cert", str(cluster.ca_cert), "--retries", "0"]
    return run_modpack(*args, *options, env=env)


def test_nodes_reached_by_host_name_are_checked_as_their_node_objects(
    mixed: LocalCluster, tmp_path: Path
) -> None:
    """`--node https://localhost:PORT` matched no node object (GET /v1/nodes gives 127.0.0.1): a
    rhel9-only bundle passed the preflight (the dry run said "would upload"), the module object
    was made, the ubuntu22 node answered 406; two bundles were refused, "which bundle fits it
    is unknown"."""
    ubuntu, rhel = platform_bundles(tmp_path, name="byname")
    nodes = [item for url in mixed.urls for item in ("--node", by_name(url))]
    for dry in (["--dry-run"], []):
        refused = named(mixed, "publish", *dry, *nodes, rhel)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert (
            f"node 2 ({by_name(mixed.urls[1])}) runs ubuntu22/x86_64, which no bundle given is built for"
            in (refused.stderr)
        )
        assert nothing_of(mixed, "byname")
    done = named(mixed, "publish", *nodes, ubuntu, rhel)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"node 1 ({by_name(mixed.urls[0])}): uploaded: {rhel.name}" in done.stdout
    assert stored_zip(mixed, 2, "byname").read_bytes() == ubuntu.read_bytes()
    # No --node: the cluster is localhost, its nodes 127.0.0.1, which is not the host the user named
    alone = named(mixed, "publish", ubuntu, rhel)
    assert alone.returncode == 1 and "names nodes on other hosts (127.0.0.1)" in alone.stderr, alone.stderr
    # A URL that matches no node object (a port-forward would not): said, not passed over in silence.
    stray = named(
        mixed, "publish", "--dry-run", "--node", by_name(mixed.urls[0]), "--node", "https://localhost:1", rhel
    )
    assert stray.returncode == 0, stray.stdout + stray.stderr
    assert (
        "note: node https://localhost:1 matches no node GET /v1/nodes lists (by address), so whether the bundle"
        " fits it was not checked; node 2, which GET /v1/nodes lists, gets no artifact unless that URL reaches it"
    ) in stray.stdout


def test_bundles_that_are_not_one_module_version_are_refused(mixed: LocalCluster, tmp_path: Path) -> None:
    ubuntu, rhel = platform_bundles(tmp_path, name="apart", display_name="Another", capabilities=[])
    result = cli(mixed, "publish", ubuntu, rhel)
    assert result.returncode == 2
    assert f"{rhel.name}: capabilities differs from {ubuntu.name}'s" in result.stderr
    assert f"{rhel.name}: display_name differs" in result.stderr
    assert nothing_of(mixed, "apart")


def test_bundles_of_one_file_name_are_named_by_their_paths(mixed: LocalCluster, tmp_path: Path) -> None:
    """dist-a/m.zip and dist-b/m.zip: the refusal named "m.zip, m.zip", which says nothing."""
    for folder in ("dist-a", "dist-b"):
        (tmp_path / folder).mkdir()
        write_bundle(tmp_path / folder / "same.zip", module_json(module_name="samename"))
    done = cli(mixed, "publish", Path("dist-a/same.zip"), Path("dist-b/same.zip"), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    several = "which several bundles fit (dist-a/same.zip, dist-b/same.zip): give one per platform"
    assert done.stderr.count(several) == 2, done.stderr  # the rhel9 node's line and the ubuntu22 node's
    assert nothing_of(mixed, "samename")


def test_two_bundles_for_one_node_are_refused(mixed: LocalCluster, tmp_path: Path) -> None:
    ubuntu, rhel = platform_bundles(tmp_path, name="twice")
    both = module_json(
        rebuilt(tmp_path / "both"), module_name="twice", operating_systems=["rhel9", "ubuntu22"]
    )
    generic = write_bundle(tmp_path / "twice-generic.zip", both, tmp_path / "both" / "hello.so")
    with pytest.raises(PreflightError) as refused:
        publishing.publish([ubuntu, rhel, generic], connection(mixed))
    assert refused.value.details == (  # not also "fits no node": each bundle fits a node
        f"node 1 ({mixed.urls[0]}) runs rhel9/x86_64, which several bundles fit ({rhel.name},"
        f" {generic.name}): give one per platform",
        f"node 2 ({mixed.urls[1]}) runs ubuntu22/x86_64, which several bundles fit ({ubuntu.name},"
        f" {generic.name}): give one per platform",
    )
    assert nothing_of(mixed, "twice")


# --- unpublish 1.2.3, --select/--ignore/--strict ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"), [("10203", 10203), ("1.2.3", 10203), ("0.4.0", 400), ("12.0.99", 120099)]
)
def test_versions_are_numbers_or_semantic_versions(text: str, number: int) -> None:
    assert parse_version(text) == number


@pytest.mark.parametrize("text", ["1.2", "1.100.0", "v1.2.3", "-1", ""])
def test_other_versions_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="not a module version"):
        parse_version(text)


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_during_unpublish_says_to_run_it_again(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It printed only 'interrupted', with one node's artifact deleted and the rest in place."""
    publishing.publish(
        write_bundle(tmp_path / "halfgone.zip", module_json(module_name="halfgone")), connection(cluster)
    )
    real = client.delete_artifact

    def stopped_on_node_2(api: client.Api, node: client.NodeRef, name: str, version: int) -> bool:
        if node.uid == "2":
            raise KeyboardInterrupt
        return real(api, node, name, version)

    monkeypatch.setattr(client, "delete_artifact", stopped_on_node_2)
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.unpublish("halfgone", 10203, connection(cluster))
    assert stopped.value.exit_code == 130
    assert stopped.value.message.startswith("interrupted: unpublish of halfgone 10203 stopped part-way")
    assert stopped.value.hint.startswith("Run `modpack unpublish halfgone 10203` again to finish")
    # the module object went first: the re-run finds the artifacts left without it
    assert stored_zip(cluster, 2, "halfgone").is_file() and modules_named(cluster, "halfgone") == []
    monkeypatch.setattr(client, "delete_artifact", real)
    again = publishing.unpublish("halfgone", 10203, connection(cluster))  # what the hint says to do
    assert not again.failed and nothing_of(cluster, "halfgone")


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_during_unpublish_starts_no_other_node(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+C while unpublish waited for its nodes let the nodes not yet started (those beyond the
    few it works on at once) start all the same, and the stop came only once every node was done
    (or had timed out, when down). Now no other starts, and the stop waits for none under way:
    that node's deletion ends on its own, and the summary says it is not known."""
    import signal
    import threading
    import time

    publishing.publish(
        write_bundle(tmp_path / "ctrlcrm.zip", module_json(module_name="ctrlcrm")), connection(cluster)
    )
    real, main, started = client.delete_artifact, threading.main_thread().ident, []
    summarized = threading.Event()

    def interrupted_on_the_first(api: client.Api, node: client.NodeRef, name: str, version: int) -> bool:
        started.append(node.uid)
        if len(started) == 1:  # once the main thread waits for the nodes
            assert main is not None
            time.sleep(0.3)
            signal.pthread_kill(main, signal.SIGINT)
            summarized.wait(30)  # this node's deletion runs on only once the run has said its summary
        return real(api, node, name, version)

    monkeypatch.setattr(client, "delete_artifact", interrupted_on_the_first)
    try:
        with pytest.raises(PublishInterrupted) as stopped:
            publishing.unpublish("ctrlcrm", 10203, connection(cluster, jobs=1))
    finally:
        summarized.set()
    assert stopped.value.message == "interrupted: unpublish of ctrlcrm 10203 stopped part-way"
    assert list(stopped.value.details[1:]) == [
        f"node 1 ({cluster.urls[0]}): unknown: the run stopped while its DELETE was out",
        f"node 2 ({cluster.urls[1]}): not asked: the run stopped first",
        f"node 3 ({cluster.urls[2]}): not asked: the run stopped first",
    ]

    def held() -> list[int]:
        return [node for node in (1, 2, 3) if stored_zip(cluster, node, "ctrlcrm").is_file()]

    wait_until(lambda: len(held()) == 2)  # the deletion under way, done on its own
    assert len(started) == 1, started
    monkeypatch.setattr(client, "delete_artifact", real)
    assert not publishing.unpublish("ctrlcrm", 10203, connection(cluster)).failed
    assert nothing_of(cluster, "ctrlcrm")


def test_unpublish_takes_the_semantic_version_modules_list_prints(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    document = module_json(module_name="semver", version=400, semantic_version="0.4.0")
    assert cli(cluster, "publish", write_bundle(tmp_path / "semver.zip", document)).returncode == 0
    assert "semver 400 (0.4.0)" in cli(cluster, "modules", "list").stdout
    gone = cli(cluster, "unpublish", "semver", "0.4.0")
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.count(": deleted") == 3
    assert nothing_of(cluster, "semver")
    wrong = cli(cluster, "unpublish", "semver", "0.4")
    assert wrong.returncode == 2
    assert "'0.4' is not a module version" in wrong.stderr


def test_publish_filters_findings_as_validate_does(cluster: LocalCluster, tmp_path: Path) -> None:
    document = module_json(module_name="warned")
    del document["operating_systems"]  # PLT005, a warning
    bundle = write_bundle(tmp_path / "warned.zip", document)
    strict = cli(cluster, "publish", bundle, "--strict")
    assert strict.returncode == 1
    assert "PLT005" in strict.stdout  # the findings report, as validate prints it
    assert nothing_of(cluster, "warned")
    accepted = cli(cluster, "publish", bundle, "--strict", "--ignore", "PLT005")
    assert accepted.returncode == 0, accepted.stderr
    loose = cli(cluster, "publish", bundle)
    assert "warning: PLT005" in loose.stderr
    unknown = cli(cluster, "publish", bundle, "--ignore", "NOPE999")
    assert unknown.returncode == 2
    assert "no rule matches 'NOPE999'" in unknown.stderr


def test_an_ignored_error_lets_the_bundle_past_local_validation(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    document = module_json(module_name="ignored")
    document["capabilities"] = ["types", "not-a-capability"]
    bundle = write_bundle(tmp_path / "ignored.zip", document)
    refused = cli(cluster, "publish", bundle, "--dry-run")
    assert refused.returncode == 1
    assert "CAP001" in refused.stdout + refused.stderr  # unknown capability, an error
    planned = cli(cluster, "publish", bundle, "--dry-run", "--ignore", "CAP001")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "module object: would create" in planned.stdout


def test_modpack_toml_validate_table_counts_for_publish_as_for_validate(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """[validate] in the modpack.toml nearest each bundle (or --config) filters publish's findings
    as it does validate's, from whatever folder they run; an unknown rule code there is a usage
    error (exit 2) in both."""
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "dist").mkdir()
    toml = project / "modpack.toml"
    errored = module_json(module_name="tomlerror")
    errored["capabilities"] = ["types", "not-a-capability"]  # CAP001, an error (the server's too)
    error_zip = write_bundle(project / "dist" / "tomlerror.zip", errored)
    warned = module_json(module_name="tomlwarned")
    del warned["operating_systems"]  # PLT005, a warning
    warned_zip = write_bundle(project / "dist" / "tomlwarned.zip", warned)

    refused = cli(cluster, "publish", error_zip, "--dry-run", cwd=project / "sub")
    assert refused.returncode == 1
    assert "CAP001" in refused.stdout
    toml.write_text('[validate]\nignore = ["CAP001"]\n')
    assert run_modpack("validate", error_zip, cwd=project / "sub").returncode == 0
    planned = cli(cluster, "publish", error_zip, "--dry-run", cwd=project / "sub")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "module object: would create" in planned.stdout

    toml.write_text("[validate]\nstrict = true\n")
    strict = cli(cluster, "publish", warned_zip, cwd=project / "sub")
    assert strict.returncode == 1
    assert "PLT005" in strict.stdout
    assert nothing_of(cluster, "tomlwarned")
    toml.write_text('[validate]\nstrict = true\nignore = ["PLT005"]\n')
    assert run_modpack("validate", warned_zip, cwd=project / "sub").returncode == 0
    published = cli(cluster, "publish", warned_zip, cwd=project / "sub")
    assert published.returncode == 0, published.stdout + published.stderr
    assert "module object: created" in published.stdout
    assert "PLT005" not in published.stderr  # ignored, not merely let through
    assert len(modules_named(cluster, "tomlwarned")) == 1

    toml.write_text('[validate]\nignore = ["NOPE999"]\n')
    for run in (
        run_modpack("validate", error_zip, cwd=project),
        cli(cluster, "publish", error_zip, "--dry-run", cwd=project),
    ):
        assert run.returncode == 2, run.stdout + run.stderr
        assert "no rule matches 'NOPE999'" in run.stderr
    given = tmp_path / "given.toml"
    given.write_text('[validate]\nignore = ["CAP001"]\n')
    chosen = cli(cluster, "publish", error_zip, "--dry-run", "--config", given, cwd=project)
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr  # --config, not the nearest file


def test_bundles_in_a_zip_keep_module_json_as_published(cluster: LocalCluster, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "asis.zip", module_json(module_name="asis"))
    publishing.publish(bundle, connection(cluster))
    (stored,) = modules_named(cluster, "asis")
    with zipfile.ZipFile(bundle) as archive:
        sent = json.loads(archive.read("module.json"))
    # as module.json was sent, with the four fields a real listing always carries at their defaults
    defaults = {"bigstore_version_2_support": False, "config_command": "", "crdb": {}, "dependencies": {}}
    assert {k: v for k, v in stored.items() if k not in ("uid", "is_bundled")} == {**defaults, **sent}


# --- streaming while validating (large bundles) -----------------------------------------------


@pytest.fixture
def pipelined(monkeypatch: pytest.MonkeyPatch) -> None:
    """Treat every bundle as large: uploads start before validation ends, held before their end."""
    monkeypatch.setattr(publish_run, "PIPELINE_MIN", 0)


@pytest.fixture
def machines_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Upload to the nodes at once, as publish does to nodes on machines of their own: this
    cluster's nodes share one machine, so they take turns (user_defined.machine_turns)."""
    monkeypatch.setattr(user_defined, "machine_turns", lambda routes: {})


def no_temp_files(cluster: LocalCluster) -> bool:
    return not [p for n in cluster.nodes for p in n.artifacts.temp.iterdir()]


@pytest.mark.usefixtures("pipelined")
def test_a_streamed_publish_lands_like_an_ordered_one(cluster: LocalCluster, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "streamed.zip", module_json(module_name="streamed"))
    result = publishing.publish(bundle, connection(cluster))
    assert result.module_object == "created"
    assert [o.status for o in result.nodes] == ["uploaded"] * 3
    for node in (1, 2, 3):
        assert stored_zip(cluster, node, "streamed").read_bytes() == bundle.read_bytes()


@pytest.mark.usefixtures("pipelined")
def test_a_bundle_failing_validation_mid_stream_leaves_nothing(cluster: LocalCluster, tmp_path: Path) -> None:
    from modpack.errors import FindingsError
    from tests.support.rest import wait_until

    bundle = write_bundle(tmp_path / "badsha.zip", module_json(module_name="badsha", sha256="0" * 64))
    with pytest.raises(FindingsError) as refused:
        publishing.publish(bundle, connection(cluster))
    assert "nothing was published" in refused.value.message
    wait_until(lambda: no_temp_files(cluster))  # the held uploads were cut; the nodes drop them
    assert nothing_of(cluster, "badsha")


@pytest.mark.usefixtures("pipelined", "machines_of_their_own")
def test_uploads_stop_at_their_next_chunk_once_validation_fails(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """A 24 MiB module over a slow link, and a sha256 that does not match: validation fails while
    the uploads are under way, and each stops at its next chunk. They used to learn of it only
    at their last chunk, so a refused bundle was sent whole to every node first."""
    import random
    import threading
    import time

    from modpack.errors import FindingsError
    from tests.support.rest import wait_until

    so = rebuilt(tmp_path / "slow", random.Random("slow").randbytes(24 * 1024 * 1024))
    bundle = write_bundle(tmp_path / "slow.zip", module_json(so, module_name="slow", sha256="0" * 64), so)
    sent: dict[str, int] = {}
    lock = threading.Lock()

    def slow_link(node: str, done: int, total: int) -> None:
        with lock:
            sent[node] = max(sent.get(node, 0), done)
        time.sleep(0.25)  # a chunk (4 MiB) every quarter second

    with pytest.raises(FindingsError):
        publishing.publish(bundle, connection(cluster), progress=slow_link)
    size = bundle.stat().st_size
    assert len(sent) == 3 and all(done < 0.6 * size for done in sent.values()), (sent, size)
    wait_until(lambda: no_temp_files(cluster))
    assert nothing_of(cluster, "slow")


@pytest.mark.usefixtures("pipelined")
def test_an_identity_refusal_mid_stream_changes_nothing(cluster: LocalCluster, tmp_path: Path) -> None:
    from tests.support.rest import wait_until

    original = write_bundle(tmp_path / "held.zip", module_json(module_name="held"))
    publishing.publish(original, connection(cluster))
    so = rebuilt(tmp_path / "rebuilt", b"held back")
    with pytest.raises(IdentityError):
        publishing.publish(
            write_bundle(tmp_path / "held2.zip", module_json(so, module_name="held"), so), connection(cluster)
        )
    wait_until(lambda: no_temp_files(cluster))
    for node in (1, 2, 3):
        assert stored_zip(cluster, node, "held").read_bytes() == original.read_bytes()


# --- nodes on one machine take turns ------------------------------------------------------------


def _progress_log() -> tuple[Any, list[tuple[str, int]]]:
    """A progress callback that keeps (node, bytes sent) in the order the uploads report them."""
    import threading

    lock, events = threading.Lock(), []

    def progress(node: str, done: int, total: int) -> None:
        with lock:
            events.append((node.split(" (", maxsplit=1)[0], done))

    return progress, events


@pytest.mark.parametrize("mode", ["in order", "pipelined"])
def test_uploads_to_nodes_on_one_machine_take_turns(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """This cluster's nodes share one machine (GET /v1/nodes gives each the same `addr`): each
    upload begins only once the one before has sent all but the last chunk it holds, so a node
    validates what it received while the next receives, rather than all three competing for the
    same CPUs and disk. Every node gets the bundle."""
    if mode == "pipelined":
        monkeypatch.setattr(publish_run, "PIPELINE_MIN", 0)
    name = "turns" + mode[0]
    so = rebuilt(tmp_path / name, random.Random(name).randbytes(12 * client.CHUNK))
    bundle = write_bundle(tmp_path / f"{name}.zip", module_json(so, module_name=name), so)
    progress, events = _progress_log()
    result = publishing.publish(bundle, connection(cluster), progress=progress)
    assert [o.status for o in result.nodes] == ["uploaded"] * 3
    size = bundle.stat().st_size
    for before, after in (("node 1", "node 2"), ("node 2", "node 3")):
        start = next(i for i, (node, _) in enumerate(events) if node == after)
        sent_before = max(done for node, done in events[:start] if node == before)
        assert sent_before >= size - client.CHUNK, (before, sent_before, after, size)
    for node in (1, 2, 3):
        assert stored_zip(cluster, node, name).read_bytes() == bundle.read_bytes()


@pytest.mark.usefixtures("pipelined")
def test_a_bundle_failing_validation_reaches_only_the_first_node_on_one_machine(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """Nodes on one machine take turns: a refused bundle is cut at the first node's next chunk,
    and the nodes after it never receive a byte."""
    import time

    from modpack.errors import FindingsError
    from tests.support.rest import wait_until

    so = rebuilt(tmp_path / "turnbad", random.Random("turnbad").randbytes(24 * 1024 * 1024))
    bundle = write_bundle(
        tmp_path / "turnbad.zip", module_json(so, module_name="turnbad", sha256="0" * 64), so
    )
    progress, events = _progress_log()

    def slow_link(node: str, done: int, total: int) -> None:
        progress(node, done, total)
        time.sleep(0.02)

    with pytest.raises(FindingsError):
        publishing.publish(bundle, connection(cluster), progress=slow_link)
    assert {node for node, _ in events} == {"node 1"}
    assert max(done for _, done in events) < 0.6 * bundle.stat().st_size
    wait_until(lambda: no_temp_files(cluster))
    assert nothing_of(cluster, "turnbad")


def test_an_upload_that_fails_before_its_hold_lets_the_next_take_its_turn(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """The bundle is cut short (rebuilt elsewhere) while node 1 receives it: node 1's upload stops
    there, before its hold, and the nodes after it still take their turn (they waited for ever
    when only reaching the hold let them go): each fails on the changed file, the run ends and
    leaves nothing."""
    import threading

    so = rebuilt(tmp_path / "turncut", random.Random("turncut").randbytes(12 * client.CHUNK))
    bundle = write_bundle(tmp_path / "turncut.zip", module_json(so, module_name="turncut"), so)
    assert bundle.stat().st_size < publish_run.PIPELINE_MIN  # validated first: the cut is the upload's

    def cut_once_node_1_streams(node: str, done: int, total: int) -> None:
        if node.startswith("node 1 ") and done > 4 * client.CHUNK and not cut:
            cut.append(done)
            with bundle.open("r+b") as rebuilt_meanwhile:
                rebuilt_meanwhile.truncate(done // 2)

    cut: list[int] = []
    ended: list[BaseException | publishing.PublishResult] = []

    def run() -> None:
        try:
            ended.append(publishing.publish(bundle, connection(cluster), progress=cut_once_node_1_streams))
        except BaseException as failed:  # asserted below, in the test's thread
            ended.append(failed)

    publishing_thread = threading.Thread(target=run)
    publishing_thread.start()
    publishing_thread.join(60)
    assert not publishing_thread.is_alive(), "publish waited for a turn that never came"
    (outcome,) = ended
    assert cut and isinstance(outcome, publishing.PublishResult), outcome
    assert [o.status for o in outcome.nodes] == ["failed"] * 3
    assert outcome.nodes[0].detail.endswith("turncut.zip became shorter while it was uploaded")
    assert all("400 invalid_module" in o.detail for o in outcome.nodes[1:]), outcome.nodes
    assert outcome.module_object == "rolled back"
    assert nothing_of(cluster, "turncut")


def test_only_nodes_with_one_address_take_turns() -> None:
    """Turns follow the node object's `addr`: nodes of one address queue in their order, nodes of
    their own address (or of none said) are not held."""
    from modpack.rest.platforms import NodeFacts
    from modpack.rest.publish.preflight import Route

    def route(url: str, address: str | None) -> Route:
        facts = NodeFacts(url, "rhel9", "x86_64", "active", "8.0.2-17", None, address)
        return Route(client.NodeRef(url, url, url), facts, None)  # type: ignore[arg-type]

    routes = [route("a", "10.0.0.1"), route("b", "10.0.0.2"), route("c", "10.0.0.1"), route("d", None)]
    routes += [route("e", "10.0.0.1"), route("f", None)]
    assert user_defined.machine_turns(routes) == {"c": "a", "e": "c"}


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_while_the_upload_threads_start_says_what_each_node_holds(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+C as the first upload thread starts, with fewer threads than nodes (jobs=1): the stop
    is raised once the thread is started and no node more is begun, and nodes no thread began
    had no outcome: publish said "internal error: AttributeError" and left the module object."""
    import threading

    name = "startstop"
    bundle = write_bundle(tmp_path / f"{name}.zip", module_json(module_name=name))
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        if thread.name == "modpack-node-0":
            signal.raise_signal(signal.SIGINT)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish(bundle, connection(cluster, jobs=1))
    monkeypatch.undo()
    error = stopped.value
    assert error.message == f"interrupted: {name} 10203 is on 0 of 3 nodes"
    assert error.details[0].startswith("module object: rolled back (uid "), error.details
    assert len(error.details) == 4, error.details  # the module object, then each of the 3 nodes
    for line in error.details[1:]:  # held back at its end, or aborted before it began
        said = line.split(": ", 1)[1]
        assert said.startswith("not uploaded (the upload was") and said.endswith("nothing was placed)"), line
    assert nothing_of(cluster, name)


def test_an_upload_waiting_for_its_turn_stops_when_the_run_aborts() -> None:
    import threading

    gate = client.Gate(5.0, {"b": "a"})
    gate.take_turn("a")  # a node that comes after none goes at once
    ended: list[client.UploadAborted] = []

    def second() -> None:
        try:
            gate.take_turn("b")
        except client.UploadAborted as stopped:
            ended.append(stopped)

    waiting = threading.Thread(target=second, daemon=True)  # a wait abort() missed fails, not hangs
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive()  # "a" has not reached its hold
    gate.abort()
    waiting.join(5)
    assert not waiting.is_alive(), "abort() did not release the upload waiting for its turn"
    assert [e.message for e in ended] == ["the upload was aborted before it began; nothing was placed"]


# --- Ctrl+C -------------------------------------------------------------------------------------


def _interrupt_once_every_node_sent(chunks: int, pause: float) -> tuple[Any, dict[str, float]]:
    """A progress callback that sends SIGINT to the main thread once each of the three nodes has
    sent `chunks` chunks, and slows each link by `pause` seconds a chunk; with the time it did."""
    import signal
    import threading
    import time
    from collections import Counter

    main, lock, sent, when = threading.main_thread().ident, threading.Lock(), Counter[str](), {}

    def progress(node: str, done: int, total: int) -> None:
        with lock:
            sent[node] += 1
            if len(sent) == 3 and min(sent.values()) >= chunks and not when:
                when["at"] = time.monotonic()
                assert main is not None
                signal.pthread_kill(main, signal.SIGINT)
        time.sleep(pause)

    return progress, when


@pytest.mark.usefixtures("ctrl_c", "machines_of_their_own")
@pytest.mark.parametrize("mode", ["in order", "pipelined"])
def test_ctrl_c_stops_the_uploads_and_takes_back_the_module_object(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Ctrl+C waited for every upload to end: the module was then on every node, and the user was
    told only 'interrupted'. Now the uploads stop at their next chunk, the module object this run
    created is deleted again, and the error says what each node holds."""
    import random
    import time

    from tests.support.rest import wait_until

    if mode == "pipelined":
        monkeypatch.setattr(publish_run, "PIPELINE_MIN", 0)
    name = "ctrlc" + mode[0]
    so = rebuilt(tmp_path / name, random.Random(name).randbytes(10 * 1024 * 1024))  # 3 chunks of 4 MiB
    bundle = write_bundle(tmp_path / f"{name}.zip", module_json(so, module_name=name), so)
    # Interrupted after two chunks: the module object exists by then (the third, the last, is the
    # one a pipelined upload holds until it does), and every upload is still sending (at once,
    # as to nodes on machines of their own).
    progress, when = _interrupt_once_every_node_sent(2, pause=1.5)
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish(bundle, connection(cluster), progress=progress)
    assert time.monotonic() - when["at"] < 1.5 + 1.5  # one paused chunk, not the rest of the upload
    error = stopped.value
    assert error.exit_code == 130
    assert error.message == f"interrupted: {name} 10203 is on 0 of 3 nodes"
    assert error.details[0].startswith("module object: rolled back (uid ")
    assert [line.split(": ", 1)[1] for line in error.details[1:]] == [
        "not uploaded (the upload was aborted before its end; nothing was placed)"
    ] * 3
    assert error.hint == "Nothing is left on the nodes; run the same publish again when ready."
    wait_until(lambda: no_temp_files(cluster))
    assert nothing_of(cluster, name)


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_while_publish_waits_for_the_uploads_waits_for_them_to_stop(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """Ctrl+C while publish waited for its uploads (after the module object, in order) interrupted
    that wait, and Python (3.11, 3.12) then takes the thread it was joining for ended: waiting
    again returned at once, with no outcome from the nodes still stopping, and publish failed
    with an internal error (None has no 'status'), the module object left behind. One upload
    thread (jobs=1) makes it certain: it still has nodes to stop when the wait is interrupted."""
    import random
    import signal
    import threading
    import time

    from tests.support.rest import wait_until

    name = "ctrlcwait"
    so = rebuilt(tmp_path / name, random.Random(name).randbytes(3 * client.CHUNK))
    bundle = write_bundle(tmp_path / f"{name}.zip", module_json(so, module_name=name), so)
    main, sent = threading.main_thread().ident, []

    def progress(node: str, done: int, total: int) -> None:
        sent.append(node)
        if len(sent) == 2:  # node 1 sent its first chunk: the main thread waits for the uploads
            assert main is not None
            signal.pthread_kill(main, signal.SIGINT)
        time.sleep(0.3)

    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish(bundle, connection(cluster, jobs=1), progress=progress)
    error = stopped.value
    assert error.message == f"interrupted: {name} 10203 is on 0 of 3 nodes"
    assert error.details[0].startswith("module object: rolled back (uid ")
    assert [line.split(": ", 1)[1] for line in error.details[1:]] == [
        "not uploaded (the upload was aborted before its end; nothing was placed)",
        *["not uploaded (the upload was aborted before it began; nothing was placed)"] * 2,
    ]
    wait_until(lambda: no_temp_files(cluster))
    assert nothing_of(cluster, name)


@pytest.mark.usefixtures("ctrl_c", "machines_of_their_own")
def test_ctrl_c_says_that_the_upload_switch_turned_on_for_the_run_is_off_again(
    tmp_path: Path,
) -> None:
    """With --allow-upload on a cluster whose switch is off, the interrupted run turned the switch
    off again, but its message was written before that and did not say so."""
    import random

    from tests.support.rest import http

    name = "switched"
    so = rebuilt(tmp_path / name, random.Random(name).randbytes(10 * 1024 * 1024))
    bundle = write_bundle(tmp_path / f"{name}.zip", module_json(so, module_name=name), so)
    progress, _ = _interrupt_once_every_node_sent(2, pause=1.5)
    with running_cluster(tmp_path / "data", allow_modules_upload=False) as closed:
        with pytest.raises(PublishInterrupted) as stopped:
            publishing.publish(bundle, connection(closed), allow_upload=True, progress=progress)
        assert stopped.value.details[0].startswith("module object: rolled back (uid ")
        assert (
            stopped.value.details[-1] == "allow_modules_upload was turned on for this run and off again after"
        )
        with http(closed) as session:
            assert session.get(closed.urls[0] + "/v1/cluster").json()["allow_modules_upload"] is False
        assert nothing_of(closed, name)


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_just_after_the_module_object_is_made_takes_it_back(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+C between creating the module object and starting the uploads left the object behind
    and printed only 'interrupted'."""
    real = client.create_module

    def created_then_interrupted(api: client.Api, module: Any) -> tuple[str, bool]:
        real(api, module)
        raise KeyboardInterrupt

    monkeypatch.setattr(client, "create_module", created_then_interrupted)
    bundle = write_bundle(tmp_path / "early.zip", module_json(module_name="early"))
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish(bundle, connection(cluster))
    assert stopped.value.message == "interrupted: early 10203 was not uploaded"
    assert stopped.value.details[0].startswith("module object: rolled back (uid ")
    assert nothing_of(cluster, "early")


def _replace_interrupted(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, *, reached: bool
) -> tuple[str, PublishInterrupted]:
    """`name` published, then `publish --replace` of a changed build, interrupted during the DELETE
    of the stored module object: after the cluster did it (`reached`) or before. The stored uid
    and the error."""
    published = publishing.publish(
        write_bundle(tmp_path / f"{name}-1.zip", module_json(module_name=name, description="first")),
        connection(cluster),
    )
    changed = write_bundle(tmp_path / f"{name}-2.zip", module_json(module_name=name, description="second"))
    real = client.delete_module

    def interrupted(api: client.Api, uid: str) -> bool:
        if reached:
            real(api, uid)  # the cluster deleted it; the answer is never read
        raise KeyboardInterrupt

    monkeypatch.setattr(client, "delete_module", interrupted)
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish(changed, connection(cluster), replace=True)
    return published.uid, stopped.value


@pytest.mark.usefixtures("ctrl_c")
@pytest.mark.parametrize("mode", ["in order", "pipelined"])
def test_ctrl_c_once_replace_deleted_the_module_object_says_what_is_left(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """It said "module object: not created" and "Nothing is left on the nodes", while --replace
    had deleted the stored object and every node still held that build's artifact. Then it said
    so, and left the cluster with artifacts no module object described: the object --replace
    deleted is now made again, and the cluster holds what it held before the run."""
    if mode == "pipelined":
        monkeypatch.setattr(publish_run, "PIPELINE_MIN", 0)
    name = "replstop" + mode[0]
    uid, error = _replace_interrupted(cluster, tmp_path, monkeypatch, name, reached=True)
    assert error.exit_code == 130
    expected = "is on 0 of 3 nodes" if mode == "pipelined" else "was not uploaded"  # uploads had begun
    assert error.message == f"interrupted: {name} 10203 {expected}"
    assert error.details[0] == "module object: not created"
    assert f"replaced module object {uid}: deleted before the run stopped" in error.details
    [again] = modules_named(cluster, name)
    assert again["uid"] != uid and again["description"] == "first"  # the build the nodes hold
    assert f"module object {uid}, which --replace had deleted, was created again as {again['uid']}" in (
        error.details
    )
    assert error.hint == (
        "The cluster holds the build it held before the run (its module object under a new uid);"
        " run the same publish again when ready."
    )
    assert all(stored_zip(cluster, node, name).is_file() for node in (1, 2, 3))  # what the hint says


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_during_replace_with_no_answer_after_says_it_is_unknown(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster does not answer once the run is stopped: neither "deleted" nor "present"."""
    real_lookup, real_delete, deleting = client.find_modules, client.delete_module, []

    def marked(api: client.Api, uid: str) -> bool:
        deleting.append(uid)
        return real_delete(api, uid)

    def lookup(api: client.Api, name: str, version: int) -> list[Any]:
        if deleting:  # once --replace has sent its DELETE
            raise client.ClusterError("cannot reach the cluster")
        return real_lookup(api, name, version)

    monkeypatch.setattr(client, "delete_module", marked)  # what _replace_interrupted's DELETE calls
    monkeypatch.setattr(client, "find_modules", lookup)
    uid, error = _replace_interrupted(cluster, tmp_path, monkeypatch, "replgone", reached=True)
    assert error.details[0] == (
        f"module object: unknown: the run stopped while --replace deleted module object {uid}, and the"
        " cluster did not say whether it is gone"
    )
    assert error.hint.startswith(f"--replace may have deleted module object {uid}, and the nodes")


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_during_a_replace_whose_delete_lands_late_says_it_is_gone(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DELETE was sent and the cluster carried it out a moment after Ctrl+C: asked only once,
    at once, publish said "present" and "Nothing is left on the nodes" of a module object about
    to be gone. It asks as after an interrupted creation (about a second), as the 7.x path does."""
    import threading

    published = publishing.publish(
        write_bundle(tmp_path / "late-1.zip", module_json(module_name="late", description="first")),
        connection(cluster),
    )
    changed = write_bundle(tmp_path / "late-2.zip", module_json(module_name="late", description="second"))
    real = client.delete_module

    def deleted_later(api: client.Api, uid: str) -> bool:
        def delete() -> None:
            with client.Api(connection(cluster)) as other:
                real(other, uid)

        threading.Timer(0.25, delete).start()
        raise KeyboardInterrupt

    monkeypatch.setattr(client, "delete_module", deleted_later)
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish(changed, connection(cluster), replace=True)
    error = stopped.value
    assert error.details[0] == "module object: not created", error.details
    assert f"replaced module object {published.uid}: deleted before the run stopped" in error.details
    assert error.hint.startswith("The cluster holds the build it held before the run")
    [again] = modules_named(cluster, "late")  # made again: the nodes hold the first build
    assert again["uid"] != published.uid and again["description"] == "first"


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_before_replace_deleted_anything_says_nothing_changed(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid, error = _replace_interrupted(cluster, tmp_path, monkeypatch, "replkept", reached=False)
    assert error.details[0] == f"module object: present (uid {uid})"
    assert error.hint == "Nothing is left on the nodes; run the same publish again when ready."
    assert [m["uid"] for m in modules_named(cluster, "replkept")] == [uid]


def test_a_stop_raised_where_python_cannot_raise_it_prints_no_traceback() -> None:
    """Ctrl+C that lands in a weakref callback (WeakSet._remove) or a __del__ cannot propagate:
    Python printed "Exception ignored in: <function WeakSet.__init__.<locals>._remove ...>" and a
    traceback above publish's own lines (one CI run). The stop is recorded and raised where the run
    looks (raise_dropped_stop); publish's signal handling prints nothing for the dropped raise,
    and hands every other unraisable exception to the hook it found."""
    import gc
    import signal

    from modpack.cli.rest import _terminate_as_interrupt

    seen: list[BaseException | None] = []
    before = sys.unraisablehook
    handlers = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}

    def hook(raised: Any) -> None:
        seen.append(raised.exc_value)

    sys.unraisablehook = hook
    try:

        class Dropped:
            def __init__(self, error: BaseException) -> None:
                self.error = error

            def __del__(self) -> None:
                raise self.error

        with _terminate_as_interrupt():
            client.request_stop(KeyboardInterrupt())  # as the handler does before it raises
            Dropped(KeyboardInterrupt())
            gc.collect()
            assert seen == []  # dropped in silence: the stop is recorded
            Dropped(ValueError("other"))
            gc.collect()
            assert [type(e) for e in seen] == [ValueError]  # anything else as before
        assert sys.unraisablehook is hook  # the hook found is back
        Dropped(KeyboardInterrupt())
        gc.collect()
        assert [type(e) for e in seen] == [ValueError, KeyboardInterrupt]  # outside publish: as before
    finally:
        sys.unraisablehook = before
        for number, handler in handlers.items():  # a stopped run lets further signals be, as it ends
            signal.signal(number, handler)


def _publish_streaming(
    cluster: LocalCluster, tmp_path: Path, name: str, address: str | None = None
) -> subprocess.Popen[str]:
    """`modpack publish` of a 96 MiB bundle as a user runs it (its cluster API at `address`, else
    the cluster's), once its first upload streams (this cluster's nodes share a machine: the
    others wait their turn, see user_defined.machine_turns)."""
    so = rebuilt(tmp_path / name, random.Random(name).randbytes(96 * 1024 * 1024))
    bundle = write_bundle(tmp_path / f"{name}.zip", module_json(so, module_name=name), so)
    cluster_options = ["--cluster", address or cluster.urls[0], "--ca-cert", str(cluster.ca_cert)]
    env = {"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password}
    process = start_modpack("publish", bundle, *cluster_options, env=env)
    temps = [n.artifacts.temp for n in cluster.nodes]
    wait_until(
        lambda: any(any(f.stat().st_size for f in t.iterdir()) for t in temps) or process.poll() is not None
    )
    return process


@pytest.mark.parametrize(
    ("signame", "word", "status"), [("SIGINT", "interrupted", 130), ("SIGTERM", "terminated", 143)]
)
def test_a_stopped_publish_prints_what_the_cluster_holds(
    cluster: LocalCluster, tmp_path: Path, signame: str, word: str, status: int
) -> None:
    """The real command, stopped by Ctrl+C (or SIGTERM, as a cancelled CI job sends) while its
    uploads stream: its exit status, the lines a user reads, and nothing left in the
    cluster, well before the uploads could have ended. SIGTERM ended the process mid-way and left
    the module object this run had created."""
    name = signame.lower()
    process = _publish_streaming(cluster, tmp_path, name)
    process.send_signal(getattr(signal, signame))
    signalled = time.monotonic()
    _, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    assert time.monotonic() - signalled < 5
    lines = err.splitlines()
    assert lines[0] == f"modpack: {word}: {name} 10203 is on 0 of 3 nodes", err
    # Stopped while validating or after: no module object, or the one this run made, taken back.
    assert lines[1] == "  module object: not created" or lines[1].startswith(
        "  module object: rolled back (uid "
    )
    assert (
        len(lines) == 6
        and lines[5] == "  hint: Nothing is left on the nodes; run the same publish again when ready."
    )
    wait_until(lambda: no_temp_files(cluster))
    assert nothing_of(cluster, name)


@pytest.mark.parametrize(
    ("signame", "word", "status", "pause"),
    [
        ("SIGINT", "interrupted", 130, 0.02),
        ("SIGINT", "interrupted", 130, 0.05),
        ("SIGINT", "interrupted", 130, 0.2),
        ("SIGTERM", "terminated", 143, 0.05),
    ],
)
def test_a_publish_stopped_twice_still_takes_back_what_it_made_and_says_so(
    cluster: LocalCluster, tmp_path: Path, signame: str, word: str, status: int, pause: float
) -> None:
    """Ctrl+C pressed again while publish stops (an impatient user, or a CI runner sending SIGTERM
    twice): the second signal cut the rollback short, leaving the module object this run made
    (4 runs in 12), or the summary of what each node holds, and after the summary a traceback."""
    name = f"again{signame.lower()}{int(pause * 1000)}"
    process = _publish_streaming(cluster, tmp_path, name)
    number = getattr(signal, signame)
    process.send_signal(number)
    time.sleep(pause)  # again, while it takes back what it made, or says what it leaves
    again_sent = process.poll() is None
    if again_sent:
        process.send_signal(number)
    _, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    assert "Traceback" not in err, err
    again = (
        "modpack: stopping already: taking back what this run created, then saying what each node holds"
        " (press Ctrl+C again to quit at once)"
    )
    lines = [line for line in err.splitlines() if line != again]
    # said once at most: a second signal sent before the first was handled merges with it (the
    # interpreter runs a handler once for both), so whether it was said is not asserted
    assert err.splitlines().count(again) <= (1 if again_sent else 0), err
    assert lines[0] == f"modpack: {word}: {name} 10203 is on 0 of 3 nodes", err
    assert lines[1] == "  module object: not created" or lines[1].startswith(
        "  module object: rolled back (uid "
    )
    assert lines[-1] == "  hint: Nothing is left on the nodes; run the same publish again when ready.", err
    wait_until(lambda: no_temp_files(cluster))
    assert nothing_of(cluster, name)


def test_a_third_ctrl_c_quits_at_once_and_says_what_may_be_left(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """The undoing waits for the cluster, and a cluster that stopped answering is why one presses
    Ctrl+C: every press after the first was let be, and the run ended only when the undoing's
    requests had timed out (250 s with the default --timeout and --retries). Here the cluster
    makes the module object but never answers its POST, nor the DELETE of it: no upload is let
    through its hold meanwhile, so the undoing must DELETE it."""
    from tests.support.relay import relayed

    def unanswered(method: str, path: str, index: int) -> bool:
        return method == "DELETE" or (method == "POST" and path.endswith("/modules/user-defined"))

    def lost() -> int:
        return sum(entry[0] == "LOST" for entry in log)

    with relayed(cluster, unanswered, target=cluster.urls[0]) as (address, log):
        process = _publish_streaming(cluster, tmp_path, "thrice", address)
        wait_until(lambda: lost() == 1 or process.poll() is not None)  # made; the answer held
        process.send_signal(signal.SIGINT)
        wait_until(lambda: lost() == 2 or process.poll() is not None)  # the undoing's DELETE, held
        for _ in range(2):
            time.sleep(0.2)
            process.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = process.communicate(timeout=60)
    assert time.monotonic() - started < 5
    assert process.returncode == 130, err
    assert err.splitlines() == [
        "modpack: stopping already: taking back what this run created, then saying what each node holds"
        " (press Ctrl+C again to quit at once)",
        "modpack: quit at once: what this run created may be left (`modpack modules list` and"
        " `modpack artifacts list` show it)",
    ], err


def test_a_failed_publish_says_the_upload_switch_it_turned_on_is_still_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --allow-upload, a run that failed after turning the switch on (here: the cluster
    refused the module object) could not turn it off again, and said so only in the result's
    notes, which a failed run never prints: the cluster kept accepting uploads, the user untold."""
    from tests.support.rest import http

    bundle = write_bundle(tmp_path / "kept.zip", module_json(module_name="kept"))
    with running_cluster(tmp_path / "data", allow_modules_upload=False) as closed:
        real = client.Api.json

        def switch_stays_on(api: client.Api, method: str, url: str, body: Any = None) -> Any:
            if method == "PUT" and body == {"allow_modules_upload": False}:
                raise client.ClusterError(f"PUT {url}: the connection was reset")
            return real(api, method, url, body)

        def refused_object(api: client.Api, module: Any) -> tuple[str, bool]:
            raise client.ClusterError("POST /v2/modules/user-defined: 500 internal_error")

        monkeypatch.setattr(client.Api, "json", switch_stays_on)
        monkeypatch.setattr(client, "create_module", refused_object)
        with pytest.raises(client.ClusterError) as failed:
            publishing.publish(bundle, connection(closed), allow_upload=True)
        monkeypatch.undo()
        assert failed.value.details[-1].startswith("allow_modules_upload could NOT be turned off again (PUT ")
        with http(closed) as session:
            assert session.get(closed.urls[0] + "/v1/cluster").json()["allow_modules_upload"] is True


def test_an_identity_refusal_never_touches_the_upload_switch(tmp_path: Path) -> None:
    """With --allow-upload, a changed build under a published version turned the cluster-wide
    switch on and off again (two PUT /v1/cluster) before being refused with "nothing was changed".
    The module object is judged first now: the refusal changes nothing, the switch included."""
    from tests.support.rest import http

    bundle = write_bundle(tmp_path / "judged.zip", module_json(module_name="judged"))
    other = write_bundle(tmp_path / "other.zip", module_json(module_name="judged", display_name="Other"))
    with running_cluster(tmp_path / "data", allow_modules_upload=False) as closed:
        assert cli(closed, "publish", bundle, "--allow-upload").returncode == 0
        refused = cli(closed, "publish", other, "--allow-upload")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "display_name differs; nothing was changed" in refused.stderr
        assert "allow_modules_upload" not in refused.stderr  # it was never turned on
        with http(closed) as session:
            assert session.get(closed.urls[0] + "/v1/cluster").json()["allow_modules_upload"] is False


# --- what a review of the publish path found (helper sweep, 2026-12-01) --------------------------


def test_a_mixed_cluster_published_one_platform_at_a_time(mixed: LocalCluster, tmp_path: Path) -> None:
    """`--node` publishes a mixed cluster one platform at a time: the rhel9 build to node 1, then
    the ubuntu22 build to node 2. The second run was refused as a rebuild ("operating_systems and
    sha256 differ"), the module object having been made from the rhel9 bundle, and offered only a
    destructive --replace; the first did not say that node 2 got nothing."""
    ubuntu, rhel = platform_bundles(tmp_path, name="stepwise")
    first = cli(mixed, "publish", rhel, "--node", mixed.urls[0])
    assert first.returncode == 0, first.stdout + first.stderr
    assert (
        "note: --node left out node 2, which GET /v1/nodes lists: it gets no artifact of stepwise 10203"
        in first.stdout
    )
    second = cli(mixed, "publish", ubuntu, "--node", mixed.urls[1])
    assert second.returncode == 0, second.stdout + second.stderr
    assert "module object: present" in second.stdout
    assert (
        "the cluster's module object describes the build for rhel9/x86_64, and no bundle given"
        in second.stdout
    )
    assert stored_zip(mixed, 1, "stepwise").read_bytes() == rhel.read_bytes()
    assert stored_zip(mixed, 2, "stepwise").read_bytes() == ubuntu.read_bytes()
    # A rebuild for the platform the module object describes is still one.
    so = rebuilt(tmp_path / "again", b"rhel build, rebuilt")
    again = write_bundle(
        tmp_path / "again.zip", module_json(so, module_name="stepwise", operating_systems=["rhel9"]), so
    )
    refused = cli(mixed, "publish", again, "--node", mixed.urls[0])
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "with different content: sha256 differs; nothing was changed" in refused.stderr


def test_a_listing_without_the_platform_fields_cannot_call_another_platform_a_rebuild(
    mixed: LocalCluster, tmp_path: Path
) -> None:
    """objects/module documents no architecture or operating_systems, and a real listing shows no
    commands (redis-enterprise.md §2.1): on such a listing the ubuntu22 bundle, published after the
    rhel9 one the module object was made from, was refused as a rebuild ("sha256 differs"), since
    nothing said the object was another platform's. Not proven either way, it is uploaded, and
    the note says why."""
    ubuntu, rhel = platform_bundles(tmp_path, name="undocumented")
    assert cli(mixed, "publish", rhel, "--node", mixed.urls[0]).returncode == 0
    _keep_only(mixed, "undocumented", KEPT_FIELDS | {"sha256", "module_file"})  # as documented
    second = cli(mixed, "publish", ubuntu, "--node", mixed.urls[1])
    assert second.returncode == 0, second.stdout + second.stderr
    assert "module object: present" in second.stdout
    assert (
        "note: the cluster's module object has another sha256 and keeps no architecture or operating_systems,"
        " so whether it describes another platform's build or an earlier build of this one cannot be told;"
        " every node is sent this build"
    ) in second.stdout
    assert stored_zip(mixed, 2, "undocumented").read_bytes() == ubuntu.read_bytes()
    assert stored_zip(mixed, 1, "undocumented").read_bytes() == rhel.read_bytes()


def test_the_same_binary_for_more_systems_is_the_same_build(mixed: LocalCluster, tmp_path: Path) -> None:
    """After publishing the rhel9 and ubuntu22 bundles, the one bundle for both (the same binary as
    the rhel9 one) was refused: "operating_systems differs"."""
    ubuntu, rhel = platform_bundles(tmp_path, name="widened")
    assert cli(mixed, "publish", rhel, ubuntu).returncode == 0
    so = tmp_path / "rhel" / "hello.so"  # the rhel9 bundle's binary
    both = module_json(so, module_name="widened", operating_systems=["rhel9", "ubuntu22"])
    result = cli(mixed, "publish", write_bundle(tmp_path / "both.zip", both, so))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "module object: present" in result.stdout


def test_a_bundle_no_node_needs_is_left_out_with_a_note(cluster: LocalCluster, tmp_path: Path) -> None:
    """`publish dist/*.zip` with an aarch64 build beside the x86_64 one, to an x86_64 cluster, was
    refused: "fits no node of this cluster". Every node is covered: the spare bundle is left out,
    said in a note, and the module object is made from a bundle that is published."""
    arm_so = SO / "aarch64" / "hello.so"
    arm = write_bundle(
        tmp_path / "spare-arm.zip", module_json(arm_so, module_name="spare", architecture="aarch64"), arm_so
    )
    x86 = write_bundle(tmp_path / "spare-x86.zip", module_json(module_name="spare"))
    result = cli(cluster, "publish", arm, x86)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "note: spare-arm.zip (rhel9,ubuntu22/aarch64) fits no node of this cluster: not uploaded" in (
        result.stdout
    )
    assert all(stored_zip(cluster, n, "spare").read_bytes() == x86.read_bytes() for n in (1, 2, 3))
    [stored] = modules_named(cluster, "spare")
    assert stored["architecture"] == "x86_64"


def test_a_failed_replace_puts_back_the_module_object_it_deleted(tmp_path: Path) -> None:
    """`publish --replace` deleted the stored module object, then every node refused the new build
    (413): the run deleted its own object too and said "nothing this run created was kept", which
    left the nodes with the old build's artifacts and no module object at all."""
    import random

    first = write_bundle(tmp_path / "first.zip", module_json(module_name="putback", description="first"))
    so = rebuilt(tmp_path / "big", random.Random("putback").randbytes(200 * 1024))
    second = write_bundle(
        tmp_path / "second.zip", module_json(so, module_name="putback", description="second"), so
    )
    with running_cluster(tmp_path / "data", max_upload=64 * 1024) as small:
        assert cli(small, "publish", first).returncode == 0
        [old] = modules_named(small, "putback")
        result = cli(small, "publish", second, "--replace")
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stdout.count("413 module_too_large") == 3
        [again] = modules_named(small, "putback")
        assert again["uid"] != old["uid"] and again["description"] == "first"
        assert (
            f"note: module object {old['uid']}, which --replace had deleted, was created again as"
            f" {again['uid']}" in result.stdout
        )
        assert (
            "hint: Fix what failed and run the same command again: nothing this run created was kept,"
            " and the module object --replace deleted was made again." in result.stderr
        )
        assert all(stored_zip(small, n, "putback").read_bytes() == first.read_bytes() for n in (1, 2, 3))


@pytest.mark.usefixtures("ctrl_c")
def test_sigterm_between_the_module_object_and_the_uploads_takes_it_back(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM after the module object was made and before the uploads began escaped both
    handlers: exit 130 "interrupted", and the module object stayed, which no node could load."""
    from modpack.errors import Terminated

    def terminated(*args: Any, **kwargs: Any) -> None:
        raise Terminated  # what the SIGTERM handler raises, arriving just before the uploads

    monkeypatch.setattr(user_defined._Uploads, "__init__", terminated)
    bundle = write_bundle(tmp_path / "gap.zip", module_json(module_name="gap"))
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish(bundle, connection(cluster))
    assert stopped.value.exit_code == 143
    assert stopped.value.message == "terminated: gap 10203 was not uploaded"
    assert stopped.value.details[0].startswith("module object: rolled back (uid ")
    assert nothing_of(cluster, "gap")


def test_sigterm_before_anything_changed_exits_143(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SIGTERM before publish had changed anything (while it validated, say) reached click as a
    KeyboardInterrupt, which click turns into Abort: "interrupted", exit 130, where a cancelled CI
    job is told 143."""
    from modpack.cli.app import main
    from modpack.errors import Terminated

    def terminated(*args: Any, **kwargs: Any) -> None:
        raise Terminated

    monkeypatch.setattr(publishing, "publish", terminated)
    monkeypatch.setenv("MODPACK_USER", "admin")
    monkeypatch.setenv("MODPACK_PASSWORD", "x")
    bundle = write_bundle(tmp_path / "early.zip", module_json(module_name="early"))
    with pytest.raises(SystemExit) as ended:
        main(["publish", str(bundle), "--cluster", "https://127.0.0.1:1"])
    assert ended.value.code == 143
    assert capsys.readouterr().err.strip().endswith("modpack: terminated")


@pytest.mark.parametrize(
    ("state", "restored", "said"),
    [
        ("rolled back", "", "nothing this run created was kept"),
        (
            "rolled back",
            "u2",
            "nothing this run created was kept, and the module object --replace deleted was made again",
        ),
        (
            "created",
            "",
            "the module object this run created is kept, for the nodes that took (or may hold) the artifact",
        ),
        ("present", "", "the module object already in place is kept"),
    ],
)
def test_a_failed_publish_says_what_became_of_the_module_object(state: str, restored: str, said: str) -> None:
    """The hint said "a module object already in place is kept" of the one this run created."""
    from modpack.cli.rest import _what_was_kept

    result = publishing.PublishResult("m", 10203, module_object=state, restored=restored)  # type: ignore[arg-type]
    result.nodes = [client.NodeOutcome(client.NodeRef("node 1", "https://n1"), "uploaded")]
    assert _what_was_kept(result, client.Connection()) == said
    if state == "created":  # no node took it, and the rollback failed: the object is there
        result.nodes, result.uid, result.module_object = [], "u1", "created, rollback failed"
        assert _what_was_kept(result, client.Connection()) == (
            "no node took the artifact, and deleting the module object this run created (u1) failed:"
            " `modpack unpublish m 10203` removes it, once what failed is fixed"
        )


# --- a review of the fixes above -----------------------------------------------------------------


def _published_then(cluster: LocalCluster, tmp_path: Path, name: str) -> tuple[str, Path]:
    """`name` published with description "first"; the uid, and a changed build to --replace it."""
    published = publishing.publish(
        write_bundle(tmp_path / f"{name}-1.zip", module_json(module_name=name, description="first")),
        connection(cluster),
    )
    changed = write_bundle(tmp_path / f"{name}-2.zip", module_json(module_name=name, description="second"))
    return published.uid, changed


def test_a_replace_whose_new_object_the_cluster_refuses_puts_the_old_one_back(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--replace deleted the stored module object, then the cluster refused the new one (406 here,
    a rule of the cluster's own): the error said nothing of the deletion, and the cluster kept no
    module object at all. (The first fix also put every earlier note of the run in the error: an
    aarch64 bundle given beside, left out with a note, showed it.)"""
    uid, changed = _published_then(cluster, tmp_path, "refusednew")
    arm_so = SO / "aarch64" / "hello.so"
    arm = module_json(arm_so, module_name="refusednew", description="second", architecture="aarch64")
    spare = write_bundle(tmp_path / "refusednew-arm.zip", arm, arm_so)
    real, calls = client.create_module, []

    def refused_once(api: client.Api, module: Any) -> tuple[str, bool]:
        calls.append(module.get("description"))
        if len(calls) == 1:
            raise client.ClusterError("POST /v2/modules/user-defined: 406 invalid_module_object")
        return real(api, module)

    monkeypatch.setattr(client, "create_module", refused_once)
    with pytest.raises(client.ClusterError) as failed:
        publishing.publish([changed, spare], connection(cluster), replace=True)
    [again] = modules_named(cluster, "refusednew")
    assert calls == ["second", "first"] and again["description"] == "first"
    assert failed.value.details == (
        f"replaced module object {uid}: description differed",
        f"module object {uid}, which --replace had deleted, was created again as {again['uid']}",
    )


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_before_the_new_object_landed_puts_the_old_one_back(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+C during the POST of the new module object, which never landed: "not created", and the
    object --replace had deleted was not made again (only a run stopped before the POST did)."""
    uid, changed = _published_then(cluster, tmp_path, "stoppednew")
    real, calls = client.create_module, []

    def interrupted_once(api: client.Api, module: Any) -> tuple[str, bool]:
        calls.append(module.get("description"))
        if len(calls) == 1:
            raise KeyboardInterrupt  # before the request left: nothing landed
        return real(api, module)

    monkeypatch.setattr(client, "create_module", interrupted_once)
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish(changed, connection(cluster), replace=True)
    [again] = modules_named(cluster, "stoppednew")
    assert again["description"] == "first"
    assert f"module object {uid}, which --replace had deleted, was created again as {again['uid']}" in (
        stopped.value.details
    )
    assert stopped.value.hint.startswith("The cluster holds the build it held before the run")


def test_a_listing_without_commands_is_never_made_into_a_module_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real cluster's GET /v1/modules keeps no commands (objects/module; the captured listing):
    a module object made again from it would route none of the module's commands. The restore is
    not attempted then, and the note says what to do instead."""
    import random

    first = write_bundle(tmp_path / "first.zip", module_json(module_name="lossy", description="first"))
    so = rebuilt(tmp_path / "big", random.Random("lossy").randbytes(200 * 1024))
    second = write_bundle(
        tmp_path / "second.zip", module_json(so, module_name="lossy", description="second"), so
    )
    with running_cluster(tmp_path / "data", max_upload=64 * 1024) as small:
        publishing.publish(first, connection(small))
        real = client.find_modules

        def as_a_real_cluster_lists(api: client.Api, name: str, version: int) -> list[Any]:
            return [{k: v for k, v in m.items() if k != "commands"} for m in real(api, name, version)]

        monkeypatch.setattr(client, "find_modules", as_a_real_cluster_lists)
        result = publishing.publish(second, connection(small), replace=True)
        monkeypatch.undo()
        assert result.module_object == "rolled back" and not result.restored
        assert any(
            "which --replace deleted, cannot be made again from what the cluster lists (it keeps no"
            " commands): publish the build the nodes hold again" in note
            for note in result.notes
        ), result.notes
        assert modules_named(small, "lossy") == []  # said, not papered over with a lossy object


def test_a_node_url_under_another_name_is_not_said_to_be_left_out(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """`--node https://localhost:PORT` reaches node 1, listed as 127.0.0.1: the note said node 1
    (with the others) was left out and got no artifact, of the node it had just published to.
    localhost resolves to node 1's address on its port: the others are left out, and said so."""
    port = cluster.urls[0].rsplit(":", 1)[1]
    bundle = write_bundle(tmp_path / "aliased.zip", module_json(module_name="aliased"))
    result = cli(cluster, "publish", bundle, "--node", f"https://localhost:{port}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"node 1 (https://localhost:{port}): uploaded" in result.stdout
    assert "note: --node left out node 2 and node 3, which GET /v1/nodes lists: they get no artifact" in (
        result.stdout
    )


def test_unpublish_reads_the_nodes_once(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = write_bundle(tmp_path / "once.zip", module_json(module_name="readonce"))
    publishing.publish(bundle, connection(cluster))
    asked: list[str] = []
    json_of = client.Api.json

    def counted(api: client.Api, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(f"{method} {url.split('/', 3)[-1]}")
        return json_of(api, method, url, *args, **kwargs)

    monkeypatch.setattr(client.Api, "json", counted)
    done = publishing.unpublish("readonce", 10203, connection(cluster))
    assert [n.status for n in done.nodes] == ["deleted"] * 3 and done.module_objects
    assert asked.count("GET v1/nodes") == 1, asked


@pytest.mark.parametrize("api", ["8.x pipelined", "8.x in order", "7.22"])
def test_a_stop_whose_exception_python_dropped_still_stops_the_uploads(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    """SIGTERM's handler raises in the main thread, and Python drops an exception raised while a
    weakref callback runs ("Exception ignored in: <function WeakSet...>" in CI): publish went on,
    uploaded everything and exited 0 after a cancelled job's SIGTERM. The handler also records the
    stop: here it is recorded as a dropped raise leaves it, and the uploads stop for it, on each
    path (RS 7.x's POST /v2/modules went on to the end and exited 0), before the module object
    is created (the pipelined run created it, then rolled it back)."""
    import contextlib
    import random

    from modpack.errors import Terminated
    from tests.support.rest import wait_until

    monkeypatch.setattr(publish_run, "PIPELINE_MIN", 0 if api == "8.x pipelined" else 2**62)
    so = rebuilt(tmp_path / "dropped", random.Random("dropped").randbytes(3 * client.CHUNK))
    bundle = write_bundle(tmp_path / "dropped.zip", module_json(so, module_name="dropped"), so)

    def progress(node: str, done: int, total: int) -> None:
        if done > client.CHUNK and client.stop_requested() is None:
            client.request_stop(Terminated())  # what the handler leaves when its raise is dropped

    client.clear_stop()
    with contextlib.ExitStack() as stack:
        target = cluster
        if api == "7.22":
            target = stack.enter_context(running_cluster(tmp_path / "data", software_version="7.22"))
        try:
            with pytest.raises(PublishInterrupted) as stopped:
                publishing.publish(bundle, connection(target), progress=progress)
        finally:
            client.clear_stop()
        assert stopped.value.exit_code == 143
        if api == "7.22":
            assert stopped.value.message == "terminated: dropped 10203 was not uploaded"
            assert stopped.value.details == ("module object: not created",)
        else:
            assert stopped.value.message == "terminated: dropped 10203 is on 0 of 3 nodes"
            # in order, the object comes before the uploads and is rolled back (pipelined, it is
            # made only if validation ended before the stop came: the next test)
            rolled = any(line.startswith("module object: rolled back") for line in stopped.value.details)
            assert rolled or api == "8.x pipelined", stopped.value.details
        wait_until(lambda: no_temp_files(target))
        assert nothing_of(target, "dropped")


def test_a_stop_dropped_while_a_pipelined_publish_validates_creates_no_module_object(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop recorded (its exception dropped) while the bundle is validated beside the uploads:
    the module object was created after the uploads had stopped, then rolled back."""
    from modpack.errors import Terminated

    monkeypatch.setattr(publish_run, "PIPELINE_MIN", 0)
    real = user_defined._validated_as_peeked

    def validated_then_stopped(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        client.request_stop(Terminated())  # what the handler leaves when its raise is dropped
        return found

    monkeypatch.setattr(user_defined, "_validated_as_peeked", validated_then_stopped)
    bundle = write_bundle(tmp_path / "early.zip", module_json(module_name="early"))
    client.clear_stop()
    try:
        with pytest.raises(PublishInterrupted) as stopped:
            publishing.publish(bundle, connection(cluster))
    finally:
        client.clear_stop()
    assert stopped.value.exit_code == 143
    assert "module object: not created" in stopped.value.details, stopped.value.details
    assert not modules_named(cluster, "early")
    from tests.support.rest import wait_until

    # the cut uploads' temporary files go once each node sees its connection close: under load
    # (two CI runs at once) after the publish has returned
    wait_until(lambda: nothing_of(cluster, "early"))


@pytest.mark.parametrize("software", ["8.2.0-25", "7.22"])
def test_a_ramp_bundle_whose_version_is_a_float_is_published(tmp_path: Path, software: str) -> None:
    """RAMP writes version as a float (10203.0; the unpacker reads int(float(v))). validate warns
    (VER011) and passes it, publish refused it ('needs ... an integer version', exit 2, no place,
    no fix), and `modpack serve` answered its artifact 406 where Redis Enterprise takes it. The
    module object is made with the integer."""
    bundle = write_bundle(tmp_path / "floaty.zip", module_json(module_name="floaty", version=10203.0))
    with running_cluster(tmp_path / "data", software_version=software) as target:
        done = cli(target, "publish", bundle)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "warning: VER011: version is the float 10203.0, as RAMP writes it" in done.stderr
        [stored] = modules_named(target, "floaty")
        assert stored["version"] == 10203 and isinstance(stored["version"], int)
        again = cli(target, "publish", bundle)  # the same build: the object is present
        assert again.returncode == 0 and "module object: present" in again.stdout, again.stdout + again.stderr
