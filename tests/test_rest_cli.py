"""The REST commands as a user runs them: output, exit codes, credentials never shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from modpack.cli.app import main_group
from modpack.cli.rest import ProgressBoard
from modpack.errors import ModpackError
from modpack.rest.cluster import LocalCluster
from tests.support.cli import CHECKOUT, run_modpack
from tests.support.rest import (
    ADMIN,
    ROLE_USERS,
    cli,
    module_json,
    running_cluster,
    typed,
    write_bundle,
)

GROUP = main_group  # the real group: its lazy table loads the REST commands


@pytest.fixture(scope="module")
def cluster(role_users_cluster: LocalCluster) -> LocalCluster:
    """The role-users cluster of tests/conftest.py, under this module's short name."""
    return role_users_cluster


def invoke(
    cluster: LocalCluster, *args: str, user: str = ADMIN.user, password: str = ADMIN.password
) -> Result:
    env = {"MODPACK_CLUSTER": cluster.urls[0], "MODPACK_USER": user, "MODPACK_PASSWORD": password}
    options = ["--ca-cert", str(cluster.ca_cert), "--retries", "0"]
    return CliRunner().invoke(GROUP, [*args, *options], env=env)


def test_publish_list_and_unpublish_through_the_real_cli(cluster: LocalCluster, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "cli.zip", module_json(module_name="clitool"))
    published = cli(cluster, "publish", bundle, retries=None)
    assert published.returncode == 0, published.stderr
    assert published.stdout.splitlines()[0] == "clitool 10203"
    assert "module object: created (uid " in published.stdout
    assert published.stdout.count(": uploaded: ") == 3

    listed = cli(cluster, "artifacts", "list", "--format", "json", retries=None)
    assert listed.returncode == 0, listed.stderr
    nodes = json.loads(listed.stdout)
    assert [n["url"] for n in nodes] == cluster.urls
    assert all(
        {"module_name": "clitool", "version": 10203, "dependencies": []} in n["artifacts"] for n in nodes
    )

    gone = cli(cluster, "unpublish", "clitool", "10203", retries=None)
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.count(": deleted") == 3
    assert "clitool" not in cli(cluster, "modules", "list", retries=None).stdout
    for run in (published, listed, gone):
        assert ADMIN.password not in run.stdout + run.stderr


def test_a_failed_unpublish_says_whether_a_module_object_was_kept(tmp_path: Path) -> None:
    """A node down, and no module object of that name and version: the hint said "The module
    object was kept" of one that does not exist; with one, it names its uid, which is deleted
    before the artifacts, and a re-run once the node is back removes what is left."""
    with running_cluster(tmp_path / "data") as cluster:
        cluster.stop_node(3)
        nothing = cli(cluster, "unpublish", "neverwas", "1.2.3")
        assert nothing.returncode == 1, nothing.stdout + nothing.stderr
        assert "hint: The cluster has no module object of neverwas 10203: each failed node's line" in (
            nothing.stderr
        )
        cluster.start_node(3)
        bundle = write_bundle(tmp_path / "kept.zip", module_json(module_name="keptone"))
        assert cli(cluster, "publish", bundle).returncode == 0
        uid = cli(cluster, "modules", "list").stdout.split()[0]
        cluster.stop_node(3)
        half = cli(cluster, "unpublish", "keptone", "1.2.3")
        assert half.returncode == 1, half.stdout + half.stderr
        assert f"  module objects deleted: {uid}\n" in half.stdout
        assert f"hint: The module object ({uid}) was deleted: each failed node's line says why" in half.stderr
        assert (
            "run the same command again once that is fixed, and it removes the artifacts left" in half.stderr
        )
        assert "keptone" not in cli(cluster, "modules", "list").stdout
        cluster.start_node(3)
        again = cli(cluster, "unpublish", "keptone", "1.2.3")  # the object is gone: the artifact is not
        assert again.returncode == 0, again.stdout + again.stderr
        assert "  module objects deleted: none found\n" in again.stdout
        assert again.stdout.count(": absent") == 2 and again.stdout.count(": deleted") == 1, again.stdout
        assert list(cluster.options.data.glob("node-*/keptone/*")) == []


def test_unpublish_deletes_no_artifact_of_a_module_a_database_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """unpublish deleted every node's artifact first, then met 406 module_in_use on the module
    object (a database uses the module: redis-enterprise.md §4.4): the database's module was
    gone from every node. The object goes first now, and its refusal leaves every artifact."""
    from modpack.rest.problems import ApiError

    with running_cluster(tmp_path / "data") as cluster:
        bundle = write_bundle(tmp_path / "used.zip", module_json(module_name="inuse"))
        assert cli(cluster, "publish", bundle).returncode == 0
        uid = cli(cluster, "modules", "list").stdout.split()[0]

        def in_use(uid: str) -> bool:
            raise ApiError("module_in_use", "the module is in use by database db:1", status=406)

        monkeypatch.setattr(cluster.shared.store, "delete_module", in_use)
        refused = cli(cluster, "unpublish", "inuse", "1.2.3")

        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"deleting module object {uid} of inuse 10203 failed (DELETE " in refused.stderr
        assert "406 module_in_use: the module is in use by database db:1); no artifact was deleted" in (
            refused.stderr
        )
        assert "hint: A database uses the module: remove it from the databases that use it" in refused.stderr
        assert len(list(cluster.options.data.glob("node-*/inuse/10203/module.zip"))) == 3
        monkeypatch.undo()
        assert uid in cli(cluster, "modules", "list").stdout
        assert cli(cluster, "unpublish", "inuse", "1.2.3").returncode == 0
        assert list(cluster.options.data.glob("node-*/inuse/*")) == []


def test_unpublish_with_some_nodes_keeps_the_module_object(cluster: LocalCluster, tmp_path: Path) -> None:
    """`unpublish --node` of one node of three removed the module object too: the two other
    nodes kept an artifact the cluster no longer knew. It now keeps the object and says why."""
    bundle = write_bundle(tmp_path / "some.zip", module_json(module_name="somenodes"))
    assert cli(cluster, "publish", bundle).returncode == 0

    one = cli(cluster, "unpublish", "somenodes", "1.2.3", "--node", cluster.urls[0])

    assert one.returncode == 0, one.stdout + one.stderr
    assert one.stdout.count(": deleted") == 1, one.stdout
    uid = one.stdout.split("module object kept (", 1)[1].split(")", 1)[0]
    assert (
        f"module object kept ({uid}): --node reached 1 of the 3 nodes GET /v1/nodes lists (matched by"
        f" address), and the others may still hold the artifact; `modpack unpublish somenodes 1.2.3"
        f" {typed(cluster)}` removes it everywhere, or `modpack modules delete {uid} {typed(cluster)}`"
        " once no node holds it"
    ) in one.stdout
    listed_now = cli(cluster, "modules", "list").stdout
    assert "somenodes 10203 (1.2.3)" in listed_now and uid in listed_now
    assert "module objects deleted" not in one.stdout
    assert "somenodes" in cli(cluster, "modules", "list").stdout
    listed = json.loads(cli(cluster, "artifacts", "list", "--format", "json").stdout)
    holding = [n["url"] for n in listed if any(a["module_name"] == "somenodes" for a in n["artifacts"])]
    assert holding == cluster.urls[1:]

    # three URLs, two of them one node (an alias, localhost for 127.0.0.1): refused, as one URL
    # given twice is (it was taken for a third node, and the run went on as if one were reached)
    alias = cluster.urls[0].replace("127.0.0.1", "localhost")
    three = ("--node", cluster.urls[0], "--node", alias, "--node", cluster.urls[1])
    aliased = cli(cluster, "unpublish", "somenodes", "1.2.3", *three)
    assert aliased.returncode == 2, aliased.stdout + aliased.stderr
    assert f"--node {alias} is given twice (as {cluster.urls[0]}: both are node 1)" in aliased.stderr
    assert "somenodes" in cli(cluster, "modules", "list").stdout
    two = cli(cluster, "unpublish", "somenodes", "1.2.3", "--node", alias, "--node", cluster.urls[1])
    assert two.returncode == 0, two.stdout + two.stderr
    assert "--node reached 2 of the 3 nodes GET /v1/nodes lists" in two.stdout
    assert "somenodes" in cli(cluster, "modules", "list").stdout

    every = cli(cluster, "unpublish", "somenodes", "1.2.3", *(a for u in cluster.urls for a in ("--node", u)))
    assert every.returncode == 0, every.stdout + every.stderr
    assert every.stdout.count(": deleted") == 1 and every.stdout.count(": absent") == 2, every.stdout
    assert "module objects deleted: " in every.stdout
    assert "somenodes" not in cli(cluster, "modules", "list").stdout


def test_dry_run_prints_the_calls_and_changes_nothing(cluster: LocalCluster, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "dry.zip", module_json(module_name="dry"))
    result = invoke(cluster, "publish", str(bundle), "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"POST {cluster.urls[0]}/v2/modules/user-defined (module object dry 10203)" in result.output
    for url in cluster.urls:
        assert (
            f"POST {url}/v2/local/modules/user-defined/artifacts (multipart field module=dry.zip)"
            in result.output
        )
    assert "module object: would create" in result.output
    assert "dry" not in invoke(cluster, "modules", "list").output


def test_modules_and_artifacts_commands(cluster: LocalCluster, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "cmd.zip", module_json(module_name="cmd"))
    assert invoke(cluster, "publish", str(bundle)).exit_code == 0
    text = invoke(cluster, "artifacts", "list")
    assert text.exit_code == 0
    assert text.output.count("  cmd 10203") == 3

    deleted = invoke(cluster, "artifacts", "delete", "cmd", "10203")
    assert deleted.exit_code == 0
    assert deleted.output.count(": deleted") == 3
    modules = json.loads(invoke(cluster, "modules", "list", "--format", "json").output)
    (uid,) = [m["uid"] for m in modules if m["module_name"] == "cmd"]
    assert invoke(cluster, "modules", "delete", uid).output == f"deleted module object {uid}\n"
    missing = invoke(cluster, "modules", "delete", uid)
    assert missing.exit_code == 1
    assert isinstance(missing.exception, ModpackError)
    assert f"no module object {uid}" in missing.exception.message


def test_viewer_can_list_but_not_publish(cluster: LocalCluster, tmp_path: Path) -> None:
    viewer = ROLE_USERS["cluster_viewer"]
    assert invoke(cluster, "modules", "list", user=viewer.user, password=viewer.password).exit_code == 0
    bundle = write_bundle(tmp_path / "viewer.zip", module_json(module_name="viewer"))
    refused = invoke(cluster, "publish", str(bundle), user=viewer.user, password=viewer.password)
    assert refused.exit_code == 1
    assert isinstance(refused.exception, ModpackError)
    assert "403 forbidden" in refused.exception.message
    assert "admin role" in refused.exception.hint


def test_wrong_password_is_401_and_never_echoed(cluster: LocalCluster) -> None:
    result = invoke(cluster, "modules", "list", password="not-the-password-123")
    assert result.exit_code == 1
    assert isinstance(result.exception, ModpackError)
    assert "401 unauthorized" in result.exception.message
    shown = result.output + result.exception.message + result.exception.hint
    assert "not-the-password-123" not in shown


def test_credentials_of_another_encoding_are_sent_as_given_and_a_colon_in_a_user_is_refused(
    cluster: LocalCluster,
) -> None:
    """A password from an environment of another encoding (Latin-1 'ä') was an internal error
    (UnicodeEncodeError): it goes as its bytes, as curl sends them, and is a wrong password here.
    A user name with ':' went as another user (Basic sends user:password) and got a bare 401."""
    env = {"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": "p\udce4"}  # the byte 0xe4 in os.environ
    done = run_modpack("modules", "list", "--cluster", cluster.urls[0], "--ca-cert", cluster.ca_cert, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "401 unauthorized" in done.stderr and "internal error" not in done.stderr, done.stderr
    env = {"MODPACK_USER": "ad:min", "MODPACK_PASSWORD": ADMIN.password}
    done = run_modpack("modules", "list", "--cluster", cluster.urls[0], "--ca-cert", cluster.ca_cert, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        "modpack: the user name 'ad:min' holds ':', which HTTP Basic authentication cannot send\n"
        in done.stderr
    ), done.stderr


def test_untrusted_certificate_explains_ca_cert(cluster: LocalCluster) -> None:
    env = {"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password}
    result = CliRunner().invoke(
        GROUP, ["modules", "list", "--cluster", cluster.urls[0], "--retries", "0"], env=env
    )
    assert isinstance(result.exception, ModpackError)
    assert "not trusted" in result.exception.message
    assert "--ca-cert FILE or MODPACK_CA_CERT" in result.exception.hint


def _signed_by_a_ca(folder: Path, *, names: list[str], days: tuple[int, int]) -> tuple[Path, Path, Path]:
    """A CA, and a leaf it signed for `names` valid from days[0] to days[1] from now: the CA's,
    the leaf's and the leaf key's files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test CA"))
        .issuer_name(name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1000))
        .not_valid_after(now + datetime.timedelta(days=1000))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    alt: list[x509.GeneralName] = []
    for text in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(text)))
        except ValueError:
            alt.append(x509.DNSName(text))
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name(names[0]))
        .issuer_name(ca.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days[0]))
        .not_valid_after(now + datetime.timedelta(days=days[1]))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    files = folder / "ca.pem", folder / "leaf.pem", folder / "leaf-key.pem"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


@pytest.mark.parametrize(
    ("names", "days", "said", "hinted"),
    [
        (["other.example"], (-1, 30), "is not for this host (IP address mismatch", "subjectAltName"),
        (
            ["127.0.0.1", "localhost"],
            (-30, -1),
            "is out of its validity period (certificate has expired)",
            "Renew",
        ),
    ],
    ids=["other host", "expired"],
)
def test_a_certificate_refused_for_another_reason_than_its_issuer_says_which(
    tmp_path: Path, names: list[str], days: tuple[int, int], said: str, hinted: str
) -> None:
    """A certificate for another host name, or an expired one, whose CA was given: each was "not
    trusted", with the hint to pass the CA that was passed already."""
    ca, leaf, key = _signed_by_a_ca(tmp_path / "tls", names=names, days=days)
    with running_cluster(tmp_path / "data", nodes=1, cert=leaf, key=key) as served:
        env = {"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password}
        done = run_modpack(
            "modules", "list", "--cluster", served.urls[0], "--ca-cert", ca, "--retries", "0", env=env
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{served.urls[0]}/v1/modules: the TLS certificate {said}" in done.stderr, done.stderr
    assert hinted in done.stderr and "--ca-cert" not in done.stderr, done.stderr


def test_the_ca_certificate_may_come_from_the_environment(cluster: LocalCluster, tmp_path: Path) -> None:
    """MODPACK_CA_CERT, beside MODPACK_CLUSTER, MODPACK_USER and MODPACK_PASSWORD: a pipeline sets
    all four once, and no command needs --ca-cert."""
    bundle = write_bundle(tmp_path / "envca.zip", module_json(module_name="envca"))
    env = {
        "MODPACK_CLUSTER": cluster.urls[0],
        "MODPACK_CA_CERT": str(cluster.ca_cert),
        "MODPACK_USER": ADMIN.user,
        "MODPACK_PASSWORD": ADMIN.password,
    }
    published = run_modpack("publish", bundle, env=env)
    assert published.returncode == 0, published.stderr
    assert published.stdout.count(": uploaded: ") == 3
    assert run_modpack("unpublish", "envca", "1.2.3", env=env).returncode == 0


@pytest.mark.parametrize("origin", ["--ca-cert", "MODPACK_CA_CERT"])
def test_an_unusable_ca_certificate_names_where_it_was_given(
    cluster: LocalCluster, tmp_path: Path, origin: str
) -> None:
    """A missing file, a folder, a file with no certificate: exit 2, naming the option or the
    variable that gave it (click said "Invalid value for '--ca-cert'" of a path from the
    environment), and nothing is sent."""
    env = {"MODPACK_CLUSTER": cluster.urls[0], "MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password}
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("not a certificate\n")
    for given, problem in (
        (tmp_path / "missing.pem", "No such file or directory"),
        (tmp_path, "a folder, not a regular file"),
        (not_pem, "it holds no PEM certificate"),
    ):
        if origin == "--ca-cert":
            result = run_modpack("modules", "list", "--ca-cert", given, env=env)
        else:
            result = run_modpack("modules", "list", env={**env, "MODPACK_CA_CERT": str(given)})
        assert result.returncode == 2, result.stderr
        assert f"modpack: cannot use {origin} {given}: {problem}" in result.stderr
        assert "Traceback" not in result.stderr
        # a folder's fix: another path (it was told that modpack reads no pipes, sockets or devices)
        assert ("  hint: Pass the path of a file, not of a folder." in result.stderr) is (given == tmp_path)
        assert "pipes, sockets or devices" not in result.stderr


def test_insecure_warns_and_works(cluster: LocalCluster) -> None:
    env = {"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password}
    result = CliRunner().invoke(
        GROUP, ["modules", "list", "--cluster", cluster.urls[0], "--insecure"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "warning: --insecure" in result.output


def test_password_without_user_is_a_usage_error(cluster: LocalCluster) -> None:
    result = CliRunner().invoke(GROUP, ["modules", "list", "--cluster", cluster.urls[0], "--password", "x"])
    assert isinstance(result.exception, ModpackError)
    assert result.exception.exit_code == 2


def test_hash_password_prints_a_hash_for_a_users_file() -> None:
    from modpack.rest.auth import verify_password

    result = CliRunner().invoke(GROUP, ["serve", "--hash-password"], input="s3cret\n")
    assert result.exit_code == 0
    assert verify_password("s3cret", result.output.strip())


def test_progress_board_draws_one_line_for_large_uploads(capsys: pytest.CaptureFixture[str]) -> None:
    board = ProgressBoard()
    board("node 1 (https://a:1)", 10, 100)  # small: nothing drawn
    big = 64 * 1024 * 1024
    board("node 1 (https://a:1)", big // 2, big)
    board("node 2 (https://b:1)", big, big)
    board.finish()
    err = capsys.readouterr().err
    assert "node 1  50%" in err
    assert "node 2 100%" in err
    assert err.endswith("\n")


# --- problems one per line, and a bundle given twice --------------------------------------------


def test_each_problem_of_a_refused_publish_is_a_line_of_its_own(tmp_path: Path) -> None:
    """The problems were joined with newlines inside the message, which the CLI escapes: the user
    got one long line with literal \\n between them (and "Fix each line above")."""
    from tests.support.cli import run_modpack

    first = write_bundle(tmp_path / "one.zip", module_json(module_name="one"))
    second = write_bundle(tmp_path / "two\n::error::x.zip", module_json(module_name="two"))
    env = {"MODPACK_USER": "admin", "MODPACK_PASSWORD": "x"}
    result = run_modpack("publish", first, second, "--cluster", "https://127.0.0.1:1", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "modpack: the bundles given together are not builds of one module version:"
    assert lines[1].startswith("  ") and "module_name" in lines[1], lines
    assert "\\n" not in result.stderr.replace("two\\n::error", "")
    assert not any(line.startswith("::") for line in lines)  # a value's newline stays escaped
    assert lines[-1].startswith("  hint: Bundles published together must agree")


def test_one_bundle_given_twice_is_a_usage_error(tmp_path: Path) -> None:
    """It was refused by the cluster check: each node 'fits several bundles' and each bundle
    'fits no node'."""
    from tests.support.cli import run_modpack

    bundle = write_bundle(tmp_path / "one.zip", module_json(module_name="one"))
    env = {"MODPACK_USER": "admin", "MODPACK_PASSWORD": "x"}
    result = run_modpack(
        "publish", bundle, tmp_path / "." / "one.zip", "--cluster", "https://127.0.0.1:1", env=env
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"modpack: {tmp_path / '.' / 'one.zip'} is given twice (as {bundle})" in result.stderr


@pytest.mark.parametrize(
    ("command", "name", "version", "message"),
    [
        # '' and '../x' went into every node's DELETE path and came back 'absent' (exit 0); a
        # version past a C int was sent to every node, each answering 406.
        ("unpublish", "", "1.2.3", "'' is not a module name"),
        ("unpublish", "../x", "1.2.3", "'../x' is not a module name"),
        ("artifacts delete", "..", "10203", "'..' is not a module name"),
        ("unpublish", "hello", "99999999999999999999999", "past the largest module version, 2147483647"),
        ("artifacts delete", "hello", "2147483648", "'2147483648' is past the largest module version"),
        (
            "unpublish",
            "hello",
            "\uff11\uff12",
            "is not a module version",
        ),  # fullwidth digits: int() took them
    ],
)
def test_unpublish_refuses_a_name_or_version_no_module_has(
    command: str, name: str, version: str, message: str
) -> None:
    from tests.support.cli import run_modpack

    env = {"MODPACK_USER": "admin", "MODPACK_PASSWORD": "x"}
    result = run_modpack(*command.split(), name, version, "--cluster", "https://127.0.0.1:1", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "cannot reach" not in result.stderr  # refused before any call


@pytest.mark.parametrize("role", ["cluster_viewer", "cluster_member"])
def test_a_dry_run_says_the_role_cannot_publish(cluster: LocalCluster, tmp_path: Path, role: str) -> None:
    """`publish --dry-run` as a cluster_viewer or cluster_member said "would create ... would
    upload", exit 0, while the real run is refused (403): the dry run reads the user's role and
    its permissions (GET /v1/users/role, /v1/users/permissions/<role>) and says so instead."""
    user = ROLE_USERS[role]
    bundle = write_bundle(tmp_path / "roled.zip", module_json(module_name="roled"))
    dry = invoke(cluster, "publish", str(bundle), "--dry-run", user=user.user, password=user.password)
    assert dry.exit_code == 1, dry.output
    assert isinstance(dry.exception, ModpackError)
    assert (
        f"the user's role, {role}, lacks manage_cluster_modules, which publishing needs: run it as a"
        " user whose role has it (admin does)" in dry.exception.details
    )
    admin = invoke(cluster, "publish", str(bundle), "--dry-run")
    assert admin.exit_code == 0, admin.output
    assert "would upload" in admin.output


def test_a_node_given_twice_is_refused_before_anything_changes(cluster: LocalCluster, tmp_path: Path) -> None:
    """`--node URL --node URL` uploaded to node 1 twice and reported it "uploaded" twice."""
    bundle = write_bundle(tmp_path / "twice.zip", module_json(module_name="twicenode"))
    first = cluster.urls[0]
    for repeated in ((first, first), (first, first + "/"), (first, first.replace("https", "HTTPS"))):
        nodes = [a for u in repeated for a in ("--node", u)]
        done = cli(cluster, "publish", bundle, "--allow-upload", *nodes)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "is given twice" in done.stderr and "Give each node once." in done.stderr
        gone = cli(cluster, "unpublish", "twicenode", "1.2.3", *nodes)
        assert gone.returncode == 2 and "is given twice" in gone.stderr, gone.stdout + gone.stderr
    assert "twicenode" not in cli(cluster, "modules", "list").stdout
    listed = json.loads(cli(cluster, "artifacts", "list", "--format", "json").stdout)
    assert not any(a["module_name"] == "twicenode" for n in listed for a in n["artifacts"])


def test_modules_delete_of_an_empty_uid_is_a_usage_error(cluster: LocalCluster) -> None:
    """It sent DELETE to the collection URL and printed the cluster's 405."""
    for uid in ("", " "):
        done = cli(cluster, "modules", "delete", uid)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "UID is empty" in done.stderr and "405" not in done.stderr


def run_modpack_input(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "modpack", *args]
    env = {**os.environ, "PYTHONPATH": CHECKOUT}
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_hash_password_refuses_an_empty_password() -> None:
    done = run_modpack_input("", "serve", "--hash-password")
    assert done.returncode == 2 and "is empty" in done.stderr and not done.stdout, done.stdout + done.stderr
    made = run_modpack_input("secret\n", "serve", "--hash-password")
    assert made.returncode == 0 and made.stdout.startswith("scrypt"), made.stdout + made.stderr


def test_serve_on_an_address_of_no_interface_here_blames_host_not_port(tmp_path: Path) -> None:
    done = run_modpack("serve", "--data", tmp_path / "d", "--host", "192.0.2.1", "--port", "0")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot listen on 192.0.2.1:" in done.stderr and "Check --host" in done.stderr, done.stderr
    assert "--port" not in done.stderr


def test_publish_says_what_every_bundle_given_lacks(tmp_path: Path) -> None:
    """publish a.zip b.zip stopped at the first bundle that does not validate: b's findings were
    never shown, and the user fixed and re-ran once per bundle, where validate of both says all."""
    from tests.support.cli import run_modpack
    from tests.support.paths import CASES

    first, second = (
        CASES / "bad" / "so-not-executable" / "bundle.zip",
        CASES / "bad" / "sha256-mismatch" / "bundle.zip",
    )
    done = run_modpack("publish", "--cluster", "https://127.0.0.1:9", first, second, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error ZIP007" in done.stdout and "error ZIP006" in done.stdout, done.stdout
    assert "2 of 2 bundles do not validate" in done.stderr and "nothing was published" in done.stderr


def test_serve_names_its_certificate_by_an_absolute_path(tmp_path: Path) -> None:
    """serve --data ./cluster printed (and wrote to its ports file) cluster/tls/cert.pem, relative
    to where it started: following its advice from the module's folder failed with "cannot use
    MODPACK_CA_CERT cluster/tls/cert.pem: No such file or directory"."""
    from tests.support.cli import CHECKOUT, run_modpack
    from tests.support.rest import ADMIN, wait_until

    (tmp_path / "server").mkdir()
    (tmp_path / "module").mkdir()
    ports = tmp_path / "ports.json"
    command = [sys.executable, "-m", "modpack", "serve", "--data", "cluster", "--port", "0", "--nodes", "1"]
    command += ["--ports-file", str(ports), "--admin-password", ADMIN.password]
    checkout = {**os.environ, "PYTHONPATH": CHECKOUT}  # this checkout's modpack, as run_modpack runs it
    process = subprocess.Popen(
        command, cwd=tmp_path / "server", env=checkout, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: ports.exists() or process.poll() is not None)
        assert process.poll() is None
        info = json.loads(ports.read_text())
        assert Path(info["ca_cert"]).is_absolute() and Path(info["ca_cert"]).is_file(), info
        env = {"MODPACK_CLUSTER": info["cluster"], "MODPACK_CA_CERT": info["ca_cert"]}
        env |= {"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password}
        listed = run_modpack("modules", "list", cwd=tmp_path / "module", env=env)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        # its own certificate is made in a child process and not read back: cryptography's
        # bindings (9 MB) stay out of the serving process (bench/bench_publish.py's serve peak)
        assert "cryptography" not in Path(f"/proc/{process.pid}/maps").read_text()
    finally:
        process.terminate()
        announced = process.communicate(timeout=30)[0].decode()
    assert f"certificate: {info['ca_cert']} (clients: --ca-cert {info['ca_cert']}" in announced, announced


def test_serve_with_a_certificate_a_ca_signed_names_the_ca_and_says_it_expired(tmp_path: Path) -> None:
    """serve --cert leaf.pem, signed by a CA, printed 'clients: --ca-cert leaf.pem', which fails
    ("not trusted"); and an expired one started without a word, every client then refusing it."""
    from tests.support.rest import ADMIN

    _, leaf, key = _signed_by_a_ca(tmp_path / "tls", names=["127.0.0.1"], days=(-30, -1))
    ports = tmp_path / "ports.json"
    command = [sys.executable, "-m", "modpack", "serve", "--data", str(tmp_path / "data"), "--port", "0"]
    command += ["--nodes", "1", "--ports-file", str(ports), "--admin-password", ADMIN.password]
    command += ["--cert", str(leaf), "--key", str(key)]
    process = subprocess.Popen(
        command, env={**os.environ, "PYTHONPATH": CHECKOUT}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    said: list[str] = []
    try:
        assert process.stderr is not None
        while not said or said[-1] != "Ctrl+C stops the cluster.\n":  # the announcement's last line
            line = process.stderr.readline().decode()
            assert line, "".join(said)
            said.append(line)
    finally:
        process.terminate()
        out, rest = (text.decode() for text in process.communicate(timeout=30))
    err = "".join(said) + rest
    assert f"certificate: {leaf}, signed by a CA (clients: --ca-cert with that CA's certificate)" in out, out
    assert f"--ca-cert {leaf}" not in out
    assert f"modpack: warning: the certificate {leaf} expired on " in err, err
