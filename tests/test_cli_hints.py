"""Errors the command line printed with no way forward: each now says what to do, and doing it works."""

from __future__ import annotations

import http.server
import os
import shlex
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import CHECKOUT, run_modpack
from tests.support.paths import FIXTURES, HELLO, ROOT
from tests.support.rest import (
    ADMIN,
    as_printed,
    cli,
    hinted,
    module_json,
    running_cluster,
    wait_until,
    write_bundle,
)

EXAMPLE = FIXTURES / "example"
RAMP_YML = (ROOT / "tests" / "cases" / "good" / "ramp-yml" / "ramp.yml").read_text()


# --- build ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "lines"),
    [
        (
            "2024-01-01",
            [
                "modpack: SOURCE_DATE_EPOCH='2024-01-01' is not a Unix timestamp",
                "  hint: Set it to a whole number of seconds since 1970-01-01 UTC, as `git log -1"
                " --format=%ct` prints, or unset it (the bundle's times are then 1980-01-01).",
            ],
        ),
        (
            "4354819200",
            [
                "modpack: SOURCE_DATE_EPOCH=4354819200 is past 2107, the last year a zip can record",
                "  hint: Set it to 4354819199 (2107-12-31 23:59:59 UTC) or less, or unset it (the"
                " bundle's times are then 1980-01-01).",
            ],
        ),
    ],
    ids=["not-a-number", "past-2107"],
)
def test_a_bad_source_date_epoch_says_what_to_set(tmp_path: Path, value: str, lines: list[str]) -> None:
    result = run_modpack("build", EXAMPLE, "-o", tmp_path / "out", env={"SOURCE_DATE_EPOCH": value})
    assert (result.returncode, result.stderr.splitlines()) == (2, lines)
    # as the hint says: the last second of 2107 is taken
    done = run_modpack("build", EXAMPLE, "-o", tmp_path / "out", env={"SOURCE_DATE_EPOCH": "4354819199"})
    assert done.returncode == 0, done.stdout + done.stderr
    (bundle,) = (tmp_path / "out").glob("*.zip")
    with zipfile.ZipFile(bundle) as archive:
        assert archive.infolist()[0].date_time == (2107, 12, 31, 23, 59, 58)


def test_a_symlink_in_a_dependency_folder_says_how_to_pack_it(tmp_path: Path) -> None:
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin.conf").write_text("threads 4\n")
    (tmp_path / "plugin" / "plugin.conf").symlink_to(tmp_path / "plugin.conf")
    (tmp_path / "ramp.yml").write_text(
        RAMP_YML
        + 'module_name: hello\nsemantic_version: "1.2.3"\ncommands:\n'
        + '    - {"command_name": "hello.get", "command_arity": 2, "flags": ["readonly"], '
        + '"first_key": 1, "last_key": 1, "step": 1}\n'
        + "dependencies:\n    plugin:\n        local_path: plugin\n"
    )
    line = (tmp_path / "ramp.yml").read_text().splitlines().index("        local_path: plugin") + 1
    said = [
        f"ramp.yml:{line} [dependencies.plugin.local_path]: error DEP006 local_path of 'plugin':"
        " plugin/plugin.conf is a symbolic link: only folders and regular files go into a dependency archive",
        "  fix: Put a copy of the file itself in its place (cp -L copies what a symlink points to),"
        " or move it out of the folder that local_path names.",
    ]
    result = run_modpack("build", "--so", HELLO, cwd=tmp_path)
    assert result.returncode == 1
    assert "\n".join(said) in result.stdout, result.stdout
    assert result.stderr == "modpack: ramp.yml has errors; nothing was written\n"
    # validate says it too: it said nothing (exit 0), and only the build refused the folder
    checked = run_modpack("validate", "ramp.yml", cwd=tmp_path)
    assert checked.returncode == 1 and "\n".join(said) in checked.stdout, checked.stdout
    # as the hint says: the copy is packed
    (tmp_path / "plugin" / "plugin.conf").unlink()
    (tmp_path / "plugin" / "plugin.conf").write_text("threads 4\n")
    assert run_modpack("validate", "ramp.yml", cwd=tmp_path).returncode == 0
    done = run_modpack("build", "--so", HELLO, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # a named pipe deeper down is no file either; a path RAMP evaluates is never looked at
    (tmp_path / "plugin" / "run").mkdir()
    os.mkfifo(tmp_path / "plugin" / "run" / "events")
    piped = run_modpack("validate", "ramp.yml", cwd=tmp_path)
    assert "plugin/run/events is a named pipe (FIFO): only folders" in piped.stdout, piped.stdout
    evaluated = (
        (tmp_path / "ramp.yml")
        .read_text()
        .replace("local_path: plugin", 'local_path: "{os.getcwd()}/plugin"')
    )
    (tmp_path / "ramp.yml").write_text(evaluated)
    assert "DEP006" not in run_modpack("validate", "ramp.yml", cwd=tmp_path).stdout


# --- init -------------------------------------------------------------------------------------


def _no_terminal(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m modpack ARGS` with standard input not a terminal (as in CI): nothing is asked."""
    return subprocess.run(
        [sys.executable, "-m", "modpack", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": CHECKOUT},
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("given", "missing"), [((), "--name and --version"), (("--name", "hello"), "--version")]
)
def test_init_without_a_terminal_names_what_it_needs_and_how_to_give_it(
    tmp_path: Path, given: tuple[str, ...], missing: str
) -> None:
    result = _no_terminal("init", *given, cwd=tmp_path)
    assert (result.returncode, result.stderr.splitlines()) == (
        2,
        [
            f"modpack: init needs {missing} when standard input is not a terminal to ask on",
            "  hint: Pass `--name NAME --version X.Y.Z` (the name the module passes to RedisModule_Init),"
            " or take them from the module with `--discover FILE.so`, or from `--from ramp.yml`.",
        ],
    )
    # as the hint says
    done = _no_terminal("init", "--name", "hello", "--version", "1.2.3", cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "modpack.toml").is_file(), done.stdout + done.stderr


# --- the REST client --------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["environment", "option"])
def test_a_password_without_a_user_says_where_it_came_from(tmp_path: Path, where: str) -> None:
    password = ["--password", ADMIN.password] if where == "option" else []
    env = {"MODPACK_USER": "", "MODPACK_PASSWORD": ADMIN.password if where == "environment" else ""}
    result = run_modpack("modules", "list", "--cluster", "https://127.0.0.1:1", *password, env=env)
    expected = {
        "environment": [
            "modpack: MODPACK_PASSWORD in the environment gives a password, and no user is given",
            "  hint: Pass --user (or set MODPACK_USER) to the user whose password it is, or unset"
            " MODPACK_PASSWORD.",
        ],
        "option": [
            "modpack: --password was given without --user (or MODPACK_USER)",
            "  hint: Pass --user with the name of the user whose password it is.",
        ],
    }[where]
    assert (result.returncode, result.stderr.splitlines()) == (2, expected)
    # as the hint says
    with running_cluster(tmp_path / "data") as cluster:
        given = ["--cluster", cluster.urls[0], "--ca-cert", cluster.ca_cert, "--user", ADMIN.user]
        done = run_modpack("modules", "list", *given, *password, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


class _WebPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>Sign in</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_an_address_that_answers_no_json_is_named_as_not_the_rest_api() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WebPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = run_modpack(
            "modules",
            "list",
            "--cluster",
            url,
            "--allow-http",
            env={"MODPACK_USER": "a", "MODPACK_PASSWORD": "b"},
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "modpack: warning: --allow-http: credentials may cross the network in clear text",
        f"modpack: GET {url}/v1/modules answered 200 without a JSON body",
        "  hint: The Redis Enterprise REST API answers in JSON: check that the address is the cluster's"
        " REST API (port 9443 unless cnm_https_port moves it), not a web page or a proxy.",
    ]


# --- the commands a REST command's lines and hints name ----------------------------------------


@pytest.mark.parametrize("given", ["--cluster", "--node only", "--password", "environment", "relative"])
def test_the_commands_a_partial_unpublish_names_run_as_printed(tmp_path: Path, given: str) -> None:
    """`unpublish --node` of one node of three keeps the module object and names the commands
    that finish the job. They left out the options that named the cluster (`modpack modules
    delete UID`, and "run without --node"): copied, they failed with "no cluster given". They
    now carry the connection options typed (not those the environment gives, nor a password),
    and run as printed with no MODPACK_CLUSTER or MODPACK_CA_CERT set."""
    env = {"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password, "MODPACK_CLUSTER": ""}
    env["MODPACK_CA_CERT"] = ""
    with running_cluster(tmp_path / "data") as cluster:
        assert cli(cluster, "publish", write_bundle(tmp_path / "b.zip", module_json())).returncode == 0
        node, ca = cluster.urls[0], str(cluster.ca_cert)
        options, expected = {
            "--cluster": (["--cluster", node, "--ca-cert", ca], f"--cluster {node} --ca-cert {ca}"),
            # every node serves the cluster's calls: the first --node is the cluster
            "--node only": (["--ca-cert", ca], f"--ca-cert {ca} --cluster {node}"),
            "--password": (
                ["--cluster", node, "-u", ADMIN.user, "--password", ADMIN.password, "--ca-cert", ca],
                f"--cluster {node} --user {ADMIN.user} --ca-cert {ca}",
            ),
            "environment": ([], ""),
            # typed relative to the folder the command ran in, printed whole: the hinted commands
            # run from another folder (`elsewhere`)
            "relative": (
                ["--cluster", node, "--ca-cert", "data/tls/cert.pem"],
                f"--cluster {node} --ca-cert {ca}",
            ),
        }[given]
        if given == "--password":
            env.update(MODPACK_USER="", MODPACK_PASSWORD="")
        if given == "environment":
            env.update(MODPACK_CLUSTER=node, MODPACK_CA_CERT=ca)
        one = run_modpack("unpublish", "hello", "1.2.3", "--node", node, *options, env=env, cwd=tmp_path)
        assert one.returncode == 0, one.stdout + one.stderr
        uid = one.stdout.split("module object kept (", 1)[1].split(")", 1)[0]
        tail = f" {expected}" if expected else ""
        assert (
            f"; `modpack unpublish hello 1.2.3{tail}` removes it everywhere, or"
            f" `modpack modules delete {uid}{tail}` once no node holds it"
        ) in one.stdout
        assert ADMIN.password not in one.stdout + one.stderr and "--password" not in one.stdout
        # as printed, in the order given; the password (typed or not) from the environment
        later = {**env, "MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password}
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        deleted = run_modpack(*hinted(one.stdout, "modpack modules delete"), env=later, cwd=elsewhere)
        assert (deleted.returncode, deleted.stdout) == (0, f"deleted module object {uid}\n"), deleted.stderr
        everywhere = run_modpack(*hinted(one.stdout, "modpack unpublish"), env=later, cwd=elsewhere)
        assert everywhere.returncode == 0, everywhere.stdout + everywhere.stderr
        assert everywhere.stdout.count(": deleted") == 2, everywhere.stdout
        assert list(cluster.options.data.glob("node-*/hello/*")) == []


def test_an_unpublish_refused_for_node_addresses_deletes_nothing(tmp_path: Path) -> None:
    """`unpublish --node https://localhost:PORT` names `modpack unpublish ... --cluster
    https://localhost:PORT` to remove it everywhere; GET /v1/nodes names the nodes 127.0.0.1, a
    host the user did not give, so that command is refused. It was refused once it had deleted the
    module object: the object gone, every artifact left, and the error said neither. It is refused
    now before anything is deleted."""
    env = {"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password, "MODPACK_CLUSTER": ""}
    env["MODPACK_CA_CERT"] = ""
    with running_cluster(tmp_path / "data") as cluster:
        assert cli(cluster, "publish", write_bundle(tmp_path / "b.zip", module_json())).returncode == 0
        node = cluster.urls[0].replace("127.0.0.1", "localhost")
        one = run_modpack(
            "unpublish", "hello", "1.2.3", "--node", node, "--ca-cert", cluster.ca_cert, env=env
        )
        assert one.returncode == 0, one.stdout + one.stderr
        uid = one.stdout.split("module object kept (", 1)[1].split(")", 1)[0]

        refused = as_printed(hinted(one.stdout, "modpack unpublish"))

        assert (refused.returncode, refused.stdout) == (1, ""), refused.stderr
        assert refused.stderr.startswith(
            f"modpack: GET {node}/v1/nodes names nodes on other hosts (127.0.0.1); modpack sends"
            " credentials only to localhost and to --node addresses\n"
        ), refused.stderr
        listed = cli(cluster, "modules", "list")
        assert listed.stdout.startswith(f"{uid}  hello 10203 "), listed.stdout + listed.stderr
        held = sorted(
            p.parent.parent.parent.name for p in cluster.options.data.glob("node-*/hello/*/module.zip")
        )
        assert held == ["node-2", "node-3"], held


def test_a_module_object_not_there_names_a_listing_that_runs_as_printed(tmp_path: Path) -> None:
    """`modules delete` of a uid the cluster does not hold said "`modpack modules list` shows the
    uids", which, copied, failed with "no cluster given" where --cluster named the cluster."""
    env = {"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password, "MODPACK_CLUSTER": ""}
    env["MODPACK_CA_CERT"] = ""
    with running_cluster(tmp_path / "data") as cluster:
        given = ["--cluster", cluster.urls[0], "--ca-cert", str(cluster.ca_cert), "--timeout", "20"]
        result = run_modpack("modules", "delete", "nosuch", *given, env=env)
        assert (result.returncode, result.stderr.splitlines()) == (
            1,
            [
                "modpack: there is no module object nosuch",
                f"  hint: `modpack modules list {shlex.join(given)}` shows the uids.",
            ],
        )
        listed = run_modpack(*hinted(result.stderr, "modpack modules list"), env=env)
    assert (listed.returncode, listed.stdout) == (0, "(no module objects)\n"), listed.stderr


@pytest.mark.usefixtures("ctrl_c")
def test_a_stopped_unpublish_names_itself_with_its_options_and_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl+C while unpublish --node deleted: "Run `modpack unpublish hello 10203` again to
    finish" named no cluster, and, run from where the cluster is set, every node: the same run
    again is meant, on the nodes it was given (here the module object stays, as that run kept it)."""
    from modpack.cli.app import main
    from modpack.rest import client

    real = client.delete_artifact

    def stopped_on_node_2(api: client.Api, node: client.NodeRef, name: str, version: int) -> bool:
        if node.uid == "2":
            raise KeyboardInterrupt
        return real(api, node, name, version)

    for name, value in (("MODPACK_CLUSTER", ""), ("MODPACK_CA_CERT", "")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MODPACK_USER", ADMIN.user)
    monkeypatch.setenv("MODPACK_PASSWORD", ADMIN.password)
    with running_cluster(tmp_path / "data") as cluster:
        assert cli(cluster, "publish", write_bundle(tmp_path / "b.zip", module_json())).returncode == 0
        given = ["--cluster", cluster.urls[0], "--ca-cert", str(cluster.ca_cert)]
        nodes = ["--node", cluster.urls[0], "--node", cluster.urls[1]]
        monkeypatch.setattr(client, "delete_artifact", stopped_on_node_2)
        with pytest.raises(SystemExit) as ended:
            main(["unpublish", "hello", "1.2.3", *nodes, *given])
        monkeypatch.undo()
        err = capsys.readouterr().err
        assert ended.value.code == 130, err
        again = f"modpack unpublish hello 10203 {shlex.join(given)} {shlex.join(nodes)}"
        # node 2 was stopped while its DELETE was out: the hint says that it may have been done
        assert f"  hint: Run `{again}` again to finish: it removes what is left. A DELETE said unknown" in err
        done = as_printed(hinted(err, "modpack unpublish"))
        assert done.returncode == 0, done.stdout + done.stderr
        held = sorted(
            p.parent.parent.parent.name for p in cluster.options.data.glob("node-*/hello/*/module.zip")
        )
        assert held == ["node-3"], held


@pytest.mark.usefixtures("ctrl_c")
def test_a_stopped_publish_names_an_unpublish_that_removes_what_it_placed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl+C once node 1 of the two --node gave took the artifact: "`modpack unpublish hello
    10203` to remove what was placed" named no cluster. It names the cluster now, and not the
    nodes: this run created the module object, which an unpublish leaving nodes out keeps."""
    import signal
    import threading
    import time

    from modpack.cli.app import main
    from modpack.rest import client

    real, main_thread, stopped = client.post_bundle, threading.main_thread().ident, threading.Event()

    def stopped_once_node_1_took_it(*args: Any, **kwargs: Any) -> Any:
        if args[2].startswith("node 1 "):
            answer = real(*args, **kwargs)
            assert main_thread is not None
            signal.pthread_kill(main_thread, signal.SIGINT)  # Ctrl+C
            stopped.set()
            return answer
        stopped.wait(30)
        time.sleep(0.5)  # the run aborts the uploads meanwhile: this one sends nothing
        return real(*args, **kwargs)

    for name, value in (("MODPACK_CLUSTER", ""), ("MODPACK_CA_CERT", "")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MODPACK_USER", ADMIN.user)
    monkeypatch.setenv("MODPACK_PASSWORD", ADMIN.password)
    bundle = write_bundle(tmp_path / "b.zip", module_json())
    with running_cluster(tmp_path / "data") as cluster:
        given = ["--cluster", cluster.urls[0], "--ca-cert", str(cluster.ca_cert), "--retries", "0"]
        monkeypatch.setattr(client, "post_bundle", stopped_once_node_1_took_it)
        with pytest.raises(SystemExit) as ended:
            main(["publish", str(bundle), "--node", cluster.urls[0], "--node", cluster.urls[1], *given])
        monkeypatch.undo()
        err = capsys.readouterr().err
        assert ended.value.code == 130, err
        assert "modpack: interrupted: hello 10203 is on 1 of 2 nodes\n" in err
        assert (
            "  hint: Run the same publish again to finish, or"
            f" `modpack unpublish hello 10203 {shlex.join(given)}` to remove what was placed.\n"
        ) in err
        done = as_printed(hinted(err, "modpack unpublish"))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "module objects deleted: none found" not in done.stdout, done.stdout
        assert list(cluster.options.data.glob("node-*/hello/*")) == []


# --- serve ------------------------------------------------------------------------------------


def _serves(data: Path, *options: str | Path) -> bool:
    """Whether `modpack serve --data DATA OPTIONS` comes up (its ports file written); stopped after."""
    ports = data.parent / f"{data.name}-ports.json"
    command = [sys.executable, "-m", "modpack", "serve", "--data", str(data), "--port", "0", "--nodes", "1"]
    process = subprocess.Popen(
        [*command, "--ports-file", str(ports), *map(str, options)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": CHECKOUT},
    )
    try:
        wait_until(lambda: ports.exists() or process.poll() is not None)
        return process.poll() is None
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.mark.parametrize("content", [b"", b"\nsecret-pw\n"], ids=["empty", "blank-first-line"])
def test_an_empty_admin_password_file_says_where_the_password_goes(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "pw.txt").write_bytes(content)
    result = run_modpack(
        "serve", "--data", tmp_path / "data", "--admin-password-file", "pw.txt", cwd=tmp_path
    )
    assert (result.returncode, result.stderr.splitlines()) == (
        2,
        [
            "modpack: the first line of --admin-password-file pw.txt is empty: an empty admin password would"
            " let anyone in",
            "  hint: Put the password on the file's first line, or leave out --admin-password-file to keep"
            " the admin's password (a new data folder gets a random one).",
        ],
    )
    # as the hint says, both ways
    (tmp_path / "pw.txt").write_bytes(b"secret-pw\n")
    assert _serves(tmp_path / "data", "--admin-password-file", tmp_path / "pw.txt")
    assert _serves(tmp_path / "new")
    assert (tmp_path / "new" / "admin-password").is_file()


def test_an_empty_admin_password_option_says_so(tmp_path: Path) -> None:
    result = run_modpack("serve", "--data", tmp_path / "data", "--admin-password", "")
    assert (result.returncode, result.stderr.splitlines()) == (
        2,
        [
            "modpack: --admin-password is empty: an empty admin password would let anyone in",
            "  hint: Give a password, or leave out --admin-password to keep the admin's password (a new"
            " data folder gets a random one).",
        ],
    )


def test_an_admin_password_file_that_is_not_utf8_says_how_to_save_it(tmp_path: Path) -> None:
    (tmp_path / "pw.txt").write_bytes("secret-pw\n".encode("utf-16"))
    result = run_modpack(
        "serve", "--data", tmp_path / "data", "--admin-password-file", "pw.txt", cwd=tmp_path
    )
    assert (result.returncode, result.stderr.splitlines()) == (
        2,
        [
            "modpack: --admin-password-file pw.txt is UTF-16 (little-endian) text (it starts with the byte"
            " order mark FF FE), not UTF-8",
            "  hint: Save the file as UTF-8 without a byte order mark (iconv -f UTF-16 -t UTF-8, or your"
            " editor's encoding menu).",
        ],
    )


@pytest.mark.parametrize(("given", "missing"), [("--cert", "--key"), ("--key", "--cert")])
def test_a_certificate_without_its_key_says_what_to_give(tmp_path: Path, given: str, missing: str) -> None:
    assert _serves(tmp_path / "first")  # neither: serve makes the certificate, as the hint says
    made = {
        "--cert": tmp_path / "first" / "tls" / "cert.pem",
        "--key": tmp_path / "first" / "tls" / "key.pem",
    }
    result = run_modpack("serve", "--data", "data", given, made[given], cwd=tmp_path)
    assert (result.returncode, result.stderr.splitlines()) == (
        2,
        [
            f"modpack: {given} was given without {missing}: the two go together",
            "  hint: Give --cert the certificate (PEM) and --key its private key (PEM), or neither for a"
            " certificate serve makes in data/tls.",
        ],
    )
    assert _serves(tmp_path / "data", "--cert", made["--cert"], "--key", made["--key"])


# --- ramp-pack --------------------------------------------------------------------------------

COMMAND_EXAMPLE = (
    '\'{"command_name": "mymodule.cmd", "command_arity": 2, "flags": ["readonly"], "first_key": 1,'
    ' "last_key": 1, "step": 1}\''
)


@pytest.mark.parametrize(
    ("given", "lines"),
    [
        (
            "{command_name: 'x'}",
            [
                "modpack: --add-command \"{command_name: 'x'}\" is not JSON: Expecting property name enclosed"
                " in double quotes at character 2",
                "  hint: Write the value as JSON in single quotes, its names and strings in double quotes, e.g."
                f" --add-command {COMMAND_EXAMPLE}",
            ],
        ),
        (
            '{"name": "x"}',
            [
                'modpack: --add-command \'{"name": "x"}\' has no command_name: each one gives one command, an'
                " object with command_name",
                f"  hint: Give one command object per --add-command (repeat it for more), e.g. --add-command"
                f" {COMMAND_EXAMPLE}",
            ],
        ),
        (
            '[{"command_name": "x"}]',
            [
                'modpack: --add-command \'[{"command_name": "x"}]\' is not a JSON object: each one gives one'
                " command, an object with command_name",
                f"  hint: Give one command object per --add-command (repeat it for more), e.g. --add-command"
                f" {COMMAND_EXAMPLE}",
            ],
        ),
    ],
    ids=["not-json", "no-command-name", "a-list"],
)
def test_a_command_option_that_is_no_command_object_shows_one(
    tmp_path: Path, given: str, lines: list[str]
) -> None:
    result = run_modpack("ramp-pack", HELLO, "--add-command", given, cwd=tmp_path)
    assert (result.returncode, result.stderr.splitlines()) == (2, lines)
    # the hint's example, as printed, packs
    example = shlex.split(lines[1].rpartition("--add-command ")[2])
    done = run_modpack("ramp-pack", HELLO, "--add-command", *example, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_dependencies_option_that_is_not_json_shows_the_form(tmp_path: Path) -> None:
    result = run_modpack("ramp-pack", HELLO, "--dependencies", "{dep: 1}", cwd=tmp_path)
    assert (result.returncode, result.stderr.splitlines()) == (
        2,
        [
            "modpack: --dependencies '{dep: 1}' is not JSON: Expecting property name enclosed in double quotes"
            " at character 2",
            "  hint: Write the value as JSON in single quotes, its names and strings in double quotes, e.g."
            ' --dependencies \'{"NAME": {"url": "https://example.com/NAME.tgz", "sha256": "<64 hex digits>"}}\'',
        ],
    )
    written = '{"NAME": {"url": "https://example.com/NAME.tgz", "sha256": "' + "a" * 64 + '"}}'
    done = run_modpack("ramp-pack", HELLO, "--dependencies", written, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


# --- files that are no regular file -----------------------------------------------------------

NOT_REGULAR = (
    "  hint: Pass the path of a regular file: modpack does not read from pipes, sockets or devices"
    " (save what they give to a file first)."
)


def test_init_from_a_named_pipe_says_to_pass_a_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "module.json")
    result = run_modpack("init", "--from", "module.json", "new.toml", cwd=tmp_path)
    assert (result.returncode, result.stderr.splitlines()) == (
        1,
        ["modpack: cannot read module.json: a named pipe (FIFO), not a regular file", NOT_REGULAR],
    )


def test_discover_writing_to_a_named_pipe_says_to_pass_a_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "modpack.toml")
    result = run_modpack("discover", HELLO, "--write", "modpack.toml", cwd=tmp_path)
    assert (result.returncode, result.stderr.splitlines()) == (
        1,
        ["modpack: cannot read modpack.toml: a named pipe (FIFO), not a regular file", NOT_REGULAR],
    )


# --- hints that fit the file they are about ---------------------------------------------------------


def test_version_hints_fit_the_field_and_the_file(tmp_path: Path) -> None:
    """min_redis_pack_version "8.0.2-17" in a modpack.toml was told to write "the Redis version"
    and to quote it in YAML; a ramp.yml's own `version: 10203.0` was said to be "as RAMP writes it",
    and a template manifest was told to write ${VAR}, which `ramp pack` packs as text (DECL012)."""
    toml = tmp_path / "toml" / "modpack.toml"
    toml.parent.mkdir()
    text = (EXAMPLE / "modpack.toml").read_text()
    toml.write_text(
        text.replace(
            'min_redis_version = "7.0"', 'min_redis_version = "7.0"\nmin_redis_pack_version = "8.0.2-17"'
        )
    )
    done = run_modpack("validate", toml)
    assert "error VER005 min_redis_pack_version '8.0.2-17' is not major.minor[.patch]" in done.stdout, (
        done.stdout
    )
    assert '  fix: Write "8.0.2", the release without its build number.\n' in done.stdout
    manifest = tmp_path / "yml" / "ramp.yml"
    manifest.parent.mkdir()
    manifest.write_text(
        'module_name: x\nsemantic_version: "1.2.3"\nversion: 10203.0\nmin_redis_version: "7.x"\n'
    )
    done = run_modpack("validate", manifest)
    assert "warning VER011 version is the float 10203.0\n" in done.stdout, done.stdout
    assert (
        '  fix: Write the Redis version as a string such as "7.4" or "7.4.0" (quote it: 8.10 unquoted is 8.1).\n'
        in (done.stdout)
    )
    manifest.write_text('module_name: x\nsemantic_version: "1.2.3"\ndisplay_name: {{NAME}}\n')
    done = run_modpack("validate", manifest)
    assert "IN004" in done.stdout and "${VAR}, which modpack expands" not in done.stdout, done.stdout
    assert "Validate the manifest the build script writes, not its template" in done.stdout


@pytest.mark.rule("VER005")
def test_a_version_written_as_a_number_is_told_what_fits_its_field_and_file(tmp_path: Path) -> None:
    """An unquoted version is a number: in a modpack.toml the fix said "quote it in YAML: 8.10 unquoted
    is 8.1", a YAML trap a TOML file does not have, and told min_redis_pack_version, a Redis
    Enterprise version, to "Write the Redis version"."""
    toml = tmp_path / "toml" / "modpack.toml"
    toml.parent.mkdir()
    text = (EXAMPLE / "modpack.toml").read_text()
    toml.write_text(
        text.replace('min_redis_version = "7.0"', "min_redis_version = 7.0\nmin_redis_pack_version = 7.2")
    )
    done = run_modpack("validate", toml)
    assert (
        "[module.min_redis_version]: error VER005 `module.min_redis_version` is a number (7.0); expected a"
        ' string\n  fix: Write the Redis version as a string such as "7.4" or "7.4.0".\n'
    ) in done.stdout, done.stdout
    assert (
        "[module.min_redis_pack_version]: error VER005 `module.min_redis_pack_version` is a number (7.2);"
        ' expected a string\n  fix: Write the Redis Enterprise version as a string such as "7.4" or "7.4.2".\n'
    ) in done.stdout, done.stdout
    assert "YAML" not in done.stdout and "unquoted" not in done.stdout
    manifest = tmp_path / "yml" / "ramp.yml"
    manifest.parent.mkdir()
    manifest.write_text("module_name: x\nmin_redis_version: 8.10\nmin_redis_pack_version: 7.2\n")
    done = run_modpack("validate", manifest)
    assert (
        "[min_redis_version]: error VER005 `min_redis_version` is a number (8.1); expected a string\n"
        '  fix: Write the Redis version as a string such as "7.4" or "7.4.0" (quote it: 8.10 unquoted is'
        " 8.1).\n"
    ) in done.stdout, done.stdout
    assert (
        '  fix: Write the Redis Enterprise version as a string such as "7.4" or "7.4.2" (quote it: 8.10'
        " unquoted is 8.1).\n"
    ) in done.stdout, done.stdout


@pytest.mark.rule("DEP001")
def test_a_listed_dependency_without_a_name_is_told_to_add_one(tmp_path: Path) -> None:
    """RAMP's list form keys each dependency by its name: an item without one was told to "Give the
    dependency a url and a sha256, or a local_path", which it had."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        'module_name: x\ndependencies: [{"url": "https://example.com/a.tgz", "sha256": "' + "a" * 64 + '"}]\n'
    )
    done = run_modpack("validate", manifest)
    assert done.returncode == 1, done.stdout
    assert (
        "ramp.yml:2 [dependencies[0]]: error DEP001 dependencies[0] has no name\n  fix: Give the item a name"
        " (`name: NAME`): RAMP writes the dependency under it, and fails without one; or write dependencies"
        " as a mapping, NAME: {url: ..., sha256: ...}.\n"
    ) in done.stdout, done.stdout


@pytest.mark.rule("DECL001")
def test_a_command_key_spelt_as_module_json_spells_it_is_given_modpack_toml_s_name(tmp_path: Path) -> None:
    """RAMP users write [[commands]] tables with module.json's command_name and command_arity: they
    got "Remove the key or correct its spelling", where `firstkey` gets "Did you mean 'first_key'?"."""
    toml = tmp_path / "modpack.toml"
    text = (EXAMPLE / "modpack.toml").read_text()
    toml.write_text(
        text.replace('name = "hello.set"\narity = 3', 'command_name = "hello.set"\ncommand_arity = 3')
    )
    done = run_modpack("validate", toml)
    assert done.returncode == 1, done.stdout
    for written, called in (("command_name", "name"), ("command_arity", "arity")):
        assert (
            f"[commands[0].{written}]: error DECL001 unknown key {written!r}\n  fix: Here it is called"
            f" {called!r} (module.json and a ramp.yml call it {written!r}): write {called}.\n"
        ) in done.stdout, done.stdout
    # [module] has a `name` too, the module's: command_name there is no alias of it
    toml.write_text(text.replace('name = "hello"', 'name = "hello"\ncommand_name = "x"', 1))
    done = run_modpack("validate", toml)
    assert "unknown key 'command_name'" in done.stdout and "Here it is called" not in done.stdout
