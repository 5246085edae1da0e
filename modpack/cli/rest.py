"""The REST commands: `serve`, `publish`, `unpublish`, `artifacts list|delete`, `modules list|delete`.

Thin wrappers: options become a `Connection` (through `ConnectionOptions`) or a `ServeOptions`,
the library does the work, and this module prints. Only click is imported at the top; the HTTP client,
starlette and uvicorn load inside the commands. The main group imports this module only when one
of its commands runs (modpack.cli.lazy).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from modpack.cli.output import GivenPath, GivenText, OnceGroup
from modpack.errors import ModpackError, Terminated, UsageError

if TYPE_CHECKING:
    from modpack.rest.client import Api, Connection, NodeOutcome, Removal
    from modpack.rest.cluster import LocalCluster
    from modpack.rest.publish import PublishResult, UnpublishResult
    from modpack.types import JSON

F = TypeVar("F", bound=Callable[..., Any])  # why: click decorates commands of any signature
PROGRESS_MIN_BYTES = 8 * 1024 * 1024


# --- shared options ---------------------------------------------------------------------------


def connection_options(command: F) -> F:
    options = [
        click.option(
            "--cluster",
            envvar="MODPACK_CLUSTER",
            help="Cluster REST API, https://host:9443 [env MODPACK_CLUSTER].",
        ),
        click.option(
            "--node",
            "node_urls",
            multiple=True,
            help="A node's REST API URL (repeat; default: GET /v1/nodes).",
        ),
        click.option("-u", "--user", envvar="MODPACK_USER", help="User name [env MODPACK_USER]."),
        click.option(
            "--password", envvar="MODPACK_PASSWORD", help="Password; prefer the env MODPACK_PASSWORD."
        ),
        click.option(
            "--ca-cert",
            envvar="MODPACK_CA_CERT",
            # Not exists=True: click's message names --ca-cert when the path came from the
            # environment; the client reads the file and names where it came from.
            type=GivenPath(path_type=Path),
            help="Trust this CA (PEM) for the cluster's TLS certificate [env MODPACK_CA_CERT].",
        ),
        click.option("--insecure", is_flag=True, help="Do not verify TLS certificates (prints a warning)."),
        click.option(
            "--allow-http",
            is_flag=True,
            help="Send credentials to a plain http:// cluster (clear text; prints a warning).",
        ),
        click.option(
            "--trust-node-addresses",
            is_flag=True,
            help="Send credentials to the node hosts GET /v1/nodes names (default: only the cluster's host).",
        ),
        click.option(
            "--max-nodes",
            type=click.IntRange(1),
            default=1000,
            show_default=True,
            help="Refuse a GET /v1/nodes answer listing more nodes.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(0, min_open=True),
            default=30.0,
            show_default=True,
            help="Seconds any wait may last: connecting, each answer (uploads too), an RS 7.x action.",
        ),
        click.option(
            "--retries",
            type=click.IntRange(0, 10),
            default=3,
            show_default=True,
            help="Retries on connection errors and 5xx answers (never on 4xx).",
        ),
    ]
    return functools.reduce(lambda c, option: option(c), reversed(options), command)


@dataclass(frozen=True)
class ConnectionOptions:
    """The shared connection options as click parses them (one field per option)."""

    cluster: str | None
    node_urls: tuple[str, ...]
    user: str | None
    password: str | None = dataclasses.field(repr=False)
    ca_cert: Path | None
    insecure: bool
    allow_http: bool
    trust_node_addresses: bool
    max_nodes: int
    timeout: float
    retries: int

    def connection(self) -> Connection:
        """The client's Connection; asks for the password on a terminal when only a user is given."""
        from modpack.rest.client import Connection, Credentials

        user, password = self.user, self.password
        if password is not None and not user:
            if _from_environment("password"):  # the user may not know it is set
                raise UsageError(
                    "MODPACK_PASSWORD in the environment gives a password, and no user is given",
                    "Pass --user (or set MODPACK_USER) to the user whose password it is, or unset"
                    " MODPACK_PASSWORD.",
                )
            raise UsageError(
                "--password was given without --user (or MODPACK_USER)",
                "Pass --user with the name of the user whose password it is.",
            )
        if user and ":" in user:  # Basic authentication sends user:password (RFC 7617 §2)
            raise UsageError(
                f"the user name {user!r} holds ':', which HTTP Basic authentication cannot send",
                "Give the user's name as the cluster knows it (Redis Enterprise users are e-mail"
                " addresses or names without ':').",
            )
        if user and password is None:
            password = _ask_password(user)
        if self.insecure:
            click.echo("modpack: warning: --insecure: TLS certificates are not verified", err=True)
        if self.allow_http:
            click.echo(
                "modpack: warning: --allow-http: credentials may cross the network in clear text", err=True
            )
        return Connection(
            cluster=self.cluster,
            nodes=self.node_urls,
            credentials=Credentials(user, password) if user and password is not None else None,
            ca_cert=self.ca_cert,
            ca_cert_from="MODPACK_CA_CERT" if _from_environment("ca_cert") else "--ca-cert",
            insecure=self.insecure,
            timeout=self.timeout,
            retries=self.retries,
            allow_http=self.allow_http,
            trust_node_addresses=self.trust_node_addresses,
            max_nodes=self.max_nodes,
            typed=self.typed(),
        )

    def typed(self) -> tuple[str, ...]:
        """The connection options given on the command line, as words for the commands hints
        name (Connection.typed). Not --node: each hint says whether its command repeats them. Not
        the password: that command asks for it on a terminal, or reads MODPACK_PASSWORD."""
        chosen = (name for name in _CONNECTION_FIELDS if name not in ("node_urls", "password"))
        return typed_options({name: getattr(self, name) for name in chosen})


_CONNECTION_FIELDS = tuple(f.name for f in dataclasses.fields(ConnectionOptions))


def typed_options(values: dict[str, Any]) -> tuple[str, ...]:
    """The running command's options among `values` (by parameter name) that were given on the
    command line, as words for a hint's command: `--user NAME`, `--insecure`, `--select A
    --select B`. Those the environment or a default gave are left out."""
    context = click.get_current_context(silent=True)
    if context is None:
        return ()
    words: list[str] = []
    for param in context.command.params:
        name = param.name
        if not isinstance(param, click.Option) or name is None or name not in values:
            continue
        if context.get_parameter_source(name) is not click.core.ParameterSource.COMMANDLINE:
            continue
        option = max(param.opts, key=len)  # --user, not -u
        for value in values[name] if param.multiple else (values[name],):
            words += [option] if param.is_flag else [option, _shown(value)]
    return tuple(words)


def _shown(value: object) -> str:
    """An option's value as a hint's command gives it: `--timeout 20` as typed, not 20.0; a path
    made absolute, so that the command runs from any folder, not only the one it was typed in."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Path):
        return str(value if value.is_absolute() else Path.cwd() / value)  # links kept as typed
    return str(value)


def _from_environment(parameter: str) -> bool:
    """Whether click took the running command's `parameter` from its environment variable."""
    context = click.get_current_context(silent=True)
    if context is None:
        return False
    return context.get_parameter_source(parameter) is click.core.ParameterSource.ENVIRONMENT


def _ask_password(user: str) -> str:
    if not sys.stdin.isatty():
        raise UsageError(f"no password for {user}", "Set MODPACK_PASSWORD (or pass --password).")
    answer: str = click.prompt(f"Password for {user}", hide_input=True)
    return answer


def _with_connection(command: Callable[..., None]) -> Callable[..., None]:
    """Turns the connection options click passes into one `connection` argument."""

    @functools.wraps(command)
    def wrapper(**params: Any) -> None:  # noqa: ANN401 -- click's options by name; ConnectionOptions types them
        given = ConnectionOptions(**{name: params.pop(name) for name in _CONNECTION_FIELDS})
        command(connection=given.connection(), **params)

    return wrapper


# --- serve ------------------------------------------------------------------------------------


def _per_node(option: str, values: tuple[str, ...]) -> tuple[str | None, dict[int, str]]:
    """`--os rhel9 --os 2=ubuntu22` -> ("rhel9", {2: "ubuntu22"}); `--arch` alike."""
    what, example = {"--os": ("OS", "2=rhel9"), "--arch": ("ARCH", "3=aarch64")}[option]
    default, per_node = None, {}
    for value in values:
        uid, equals, name = value.partition("=")
        if not equals:
            default = value
        elif uid.isdigit():
            per_node[int(uid)] = name
        else:
            raise UsageError(f"{option} {value!r}: use {what} or NODE={what}, e.g. {option} {example}")
    return default, per_node


_LIMIT_HELP = {  # one option per field of ConnectionLimits, in its order
    "header_timeout": "Seconds for the request line and headers (TLS handshake included); then 408.",
    "idle_timeout": "Seconds a keep-alive connection may wait for its next request; then closed.",
    "body_timeout": "Seconds a request body may send nothing; then 408, the partial upload discarded.",
    "max_connections": "Connections per node. Beyond it a new one replaces the oldest still sending"
    " its headers, else is refused (503 over HTTP, closed before TLS).",
}


def _limit_options(command: F) -> F:
    """--header-timeout, --idle-timeout, --body-timeout, --max-connections: slow clients, per node."""
    from dataclasses import fields

    from modpack.rest.limits import ConnectionLimits

    for limit in reversed(fields(ConnectionLimits)):
        kind = click.IntRange(1) if limit.type == "int" else click.FloatRange(0, min_open=True)
        option = click.option(
            "--" + limit.name.replace("_", "-"),
            type=kind,
            default=limit.default,
            show_default=True,
            help=_LIMIT_HELP[limit.name],
        )
        command = option(command)
    return command


@click.command()
@click.option(
    "--data",
    type=GivenPath(path_type=Path, file_okay=False),
    default=Path("modpack-cluster"),
    show_default=True,
    help="Folder for the configuration store, artifacts, users, certificate.",
)
@click.option("--nodes", type=click.IntRange(1, 64), default=3, show_default=True, help="Number of nodes.")
@click.option(
    "--host",
    type=GivenText(),
    default="127.0.0.1",
    show_default=True,
    help=(
        "Address every node listens on; with 0.0.0.0 or :: (every address) a node gives as its addr"
        " the address a client reached it on, and serve announces 127.0.0.1 or ::1."
    ),
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9443,
    show_default=True,
    help="Port of node 1; node N listens on port+N-1. 0: any free ports.",
)
@click.option(
    "--os",
    "os_names",
    multiple=True,
    metavar="[NODE=]OS",
    help="Node OS (default ubuntu22), for all nodes or one: --os rhel9 --os 2=ubuntu22.",
)
@click.option(
    "--arch",
    "arch_names",
    multiple=True,
    metavar="[NODE=]ARCH",
    help="Node architecture, x86_64 (default) or aarch64, for all nodes or one:"
    " --arch x86_64 --arch 3=aarch64.",
)
@click.option("--http", "plain_http", is_flag=True, help="Serve plain HTTP instead of HTTPS.")
@click.option(
    "--cert", type=GivenPath(path_type=Path, dir_okay=False, exists=True), help="TLS certificate (PEM)."
)
@click.option("--key", type=GivenPath(path_type=Path, dir_okay=False, exists=True), help="TLS key (PEM).")
@click.option(
    "--users",
    "users_file",
    type=GivenPath(path_type=Path, dir_okay=False, exists=True),
    help='Users file: {"users": [{"name", "role", "password_hash"}]}. Default: <data>/users.json.',
)
@click.option(
    "--admin-password",
    envvar=["MODPACK_ADMIN_PASSWORD", "MODPACK_SERVE_ADMIN_PASSWORD"],
    help="Password of the 'admin' user (else random on first start, in <data>/admin-password); on an"
    " existing data folder it replaces the admin's. Visible in `ps`: prefer the env"
    " MODPACK_ADMIN_PASSWORD or --admin-password-file.",
)
@click.option(
    "--admin-password-file",
    type=GivenPath(path_type=Path, dir_okay=False, exists=True),
    help="Read the admin password from this file's first line.",
)
@click.option(
    "--max-upload-mb",
    type=click.IntRange(1),
    default=500,
    show_default=True,
    help="Artifact size limit, enforced while streaming (413 module_too_large).",
)
@click.option(
    "--allow-modules-upload/--disallow-modules-upload",
    default=None,
    help="Set the cluster's allow_modules_upload (RS 8.2 switch; off on a new data folder, as in RS 8.2).",
)
@click.option(
    "--no-bundled-modules",
    "bundled_modules",
    flag_value=False,
    default=True,
    help="Start a new data folder with no module objects: by default an 8.x one lists the modules"
    " Redis Enterprise ships (is_bundled), as a real cluster does.",
)
@click.option(
    "--software-version",
    default="8.2.0-25",
    show_default=True,
    metavar="VERSION",
    help="Redis Enterprise version to imitate: 8.2 and later have the upload switch, 8.0 the"
    " user-defined endpoints, 7.2 to 7.22 POST /v2/modules with actions instead.",
)
@click.option(
    "--ports-file",
    type=GivenPath(path_type=Path, dir_okay=False),
    help="Write the node URLs here as JSON once the nodes listen.",
)
@click.option("--access-log", is_flag=True, help="Log every request (never credentials).")
@_limit_options
@click.option(
    "--hash-password", is_flag=True, help="Read a password on stdin, print its hash for a users file, exit."
)
def serve(
    data: Path,
    nodes: int,
    host: str,
    port: int,
    os_names: tuple[str, ...],
    arch_names: tuple[str, ...],
    plain_http: bool,
    cert: Path | None,
    key: Path | None,
    users_file: Path | None,
    admin_password: str | None,
    admin_password_file: Path | None,
    max_upload_mb: int,
    allow_modules_upload: bool | None,
    bundled_modules: bool,
    software_version: str,
    ports_file: Path | None,
    access_log: bool,
    header_timeout: float,
    idle_timeout: float,
    body_timeout: float,
    max_connections: int,
    hash_password: bool,
) -> None:
    """Run a local Redis Enterprise module API: N nodes, one configuration store (Ctrl+C stops).

    Every node serves the user-defined module endpoints, GET /v1/modules, /v1/nodes, /v1/cluster,
    the user's role (/v1/users/role, /v1/users/permissions/ROLE) and its OpenAPI description at
    /v1/openapi.json. Data (SQLite store, artifacts, users,
    certificate) lives in --data and survives restarts.
    """
    if hash_password:
        from modpack.rest.auth import hash_password as hashed

        password = sys.stdin.readline().rstrip("\r\n")
        if not password:  # as for --admin-password-file: an empty password lets anyone in
            raise UsageError("the password read from standard input is empty", "Pipe the password in.")
        click.echo(hashed(password))
        return
    from modpack.rest.cluster import LocalCluster, ServeOptions, share_one_malloc_arena
    from modpack.rest.limits import ConnectionLimits

    default_os, node_os = _per_node("--os", os_names)
    default_arch, node_arch = _per_node("--arch", arch_names)
    options = ServeOptions(
        data=data,
        nodes=nodes,
        host=host,
        port=port,
        node_os=node_os,
        node_architecture=node_arch,
        https=not plain_http,
        cert=cert,
        key=key,
        users_file=users_file,
        admin_password=_admin_password(admin_password, admin_password_file, users_file),
        max_upload=max_upload_mb * 1024 * 1024,
        allow_modules_upload=allow_modules_upload,
        bundled_modules=bundled_modules,
        access_log=access_log,
        software_version=software_version,
        limits=ConnectionLimits(header_timeout, idle_timeout, body_timeout, max_connections),
    )
    if default_os:
        options.default_os = default_os
    if default_arch:
        options.architecture = default_arch
    share_one_malloc_arena()
    _log_to_stderr(access_log)
    with LocalCluster(options) as cluster:
        if ports_file:
            cluster.write_ports_file(ports_file)
        _announce(cluster)
        _wait_for_signal()


def _admin_password(password: str | None, path: Path | None, users_file: Path | None) -> str | None:
    """The admin password from --admin-password (or its env) or --admin-password-file."""
    if password is not None and path is not None:
        source = click.get_current_context().get_parameter_source("admin_password")
        if source is click.core.ParameterSource.ENVIRONMENT:  # it named an option not given
            names = ("MODPACK_ADMIN_PASSWORD", "MODPACK_SERVE_ADMIN_PASSWORD")
            name = next(v for v in names if os.environ.get(v))
            raise UsageError(
                f"{name} in the environment gives the admin password, and so does --admin-password-file",
                f"Unset {name}, or drop --admin-password-file.",
            )
        raise UsageError("--admin-password and --admin-password-file go alone: give one")
    keep = "to keep the admin's password (a new data folder gets a random one)"
    if path is not None:
        from modpack.regular import NotUtf8Text, decode_utf8

        try:  # read_bytes, not read_regular: a pipe (`<(pass show ...)`) is a fair way to pass a secret
            lines = decode_utf8(path.read_bytes(), f"--admin-password-file {path}").splitlines()
        except OSError as exc:
            raise UsageError(f"cannot read --admin-password-file {path}: {exc.strerror or exc}") from None
        except NotUtf8Text as exc:
            raise UsageError(exc.message, exc.hint) from None
        if not lines or not lines[0]:
            raise UsageError(
                f"the first line of --admin-password-file {path} is empty: an empty admin password would"
                " let anyone in",
                f"Put the password on the file's first line, or leave out --admin-password-file {keep}.",
            )
        password = lines[0]
    if password is not None and not password:
        raise UsageError(
            "--admin-password is empty: an empty admin password would let anyone in",
            f"Give a password, or leave out --admin-password {keep}.",
        )
    if password is not None and users_file is not None:
        raise UsageError(
            "--users names the users file: an admin password given as well would be ignored",
            "Put the admin in that file (`modpack serve --hash-password`), or drop --users.",
        )
    return password


def _log_to_stderr(access_log: bool) -> None:
    import logging

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if access_log else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )


def _announce(cluster: LocalCluster) -> None:
    info = cluster.describe()
    click.echo(f"Redis Enterprise {cluster.shared.software_version} module API")
    for node in info["nodes"]:
        click.echo(f"node {node['uid']}: {node['url']} ({node['os']}/{node['architecture']})")
    if cluster.shared.has_switch and not cluster.shared.uploads_allowed:
        click.echo("allow_modules_upload is off: uploads answer 403 until PUT /v1/cluster turns it on")
    if info["ca_cert"]:
        _announce_certificate(Path(info["ca_cert"]), given=cluster.options.cert is not None)
    if cluster.password_changed:
        click.echo("user 'admin': the password given replaced the one stored in the data folder")
    secret = cluster.options.data / "admin-password"
    if cluster.options.users_file is None and secret.exists():
        click.echo(f"user 'admin': password in {secret}")
    click.echo("Ctrl+C stops the cluster.", err=True)


def _announce_certificate(cert: Path, *, given: bool) -> None:
    """Which file a client trusts: the certificate itself when it signed itself (serve's own),
    else the CA that signed it, which serve does not have: `--ca-cert leaf.pem` of a leaf a CA
    signed fails ("not trusted"). A certificate out of date is said too: every client refuses it.
    Read only of one --cert gave: serve makes its own self-signed and in date, and reading it
    here cost the serving process 9 MB (cryptography's OpenSSL bindings), as making it would
    (tls.ensure_certificate makes it in a child process)."""
    from modpack.rest.tls import certificate_facts

    facts = certificate_facts(cert) if given else None
    if facts is None or facts.self_signed:
        click.echo(f"certificate: {cert} (clients: --ca-cert {cert} or MODPACK_CA_CERT={cert})")
    else:
        click.echo(f"certificate: {cert}, signed by a CA (clients: --ca-cert with that CA's certificate)")
    dated = facts.out_of_date() if facts is not None else ""
    if dated:
        click.echo(f"modpack: warning: the certificate {cert} {dated}: clients refuse it", err=True)


def _wait_for_signal() -> None:
    import signal

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


# --- publish and unpublish --------------------------------------------------------------------


class ProgressBoard:
    """One stderr line with every node's upload progress, redrawn at most five times a second."""

    def __init__(self) -> None:
        self._done: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._drawn = 0.0

    def __call__(self, node: str, sent: int, total: int) -> None:
        if total < PROGRESS_MIN_BYTES:
            return
        with self._lock:
            self._done[node] = (sent, total)
            now = time.monotonic()
            if now - self._drawn < 0.2 and sent < total:
                return
            self._drawn = now
            line = "  ".join(
                f"{label.split(' (')[0]} {100 * s // t:3d}%" for label, (s, t) in self._done.items()
            )
            click.echo(f"\r{line}", nl=False, err=True)

    def finish(self) -> None:
        if self._done:
            click.echo("", err=True)


# (what a stopping run still does, what quitting at once leaves unsaid): the lines a further
# Ctrl+C prints; ("", ""): a command that only reads, which has nothing to say.
_LISTS = "`modpack modules list` and `modpack artifacts list`"
PUBLISH_STOPPING = (
    "taking back what this run created, then saying what each node holds",
    f"what this run created may be left ({_LISTS} show it)",
)
REMOVAL_STOPPING = (
    "saying what this run removed and what is left",
    f"what this run removed is not said ({_LISTS} show what is left)",
)
READING_STOPPING = ("", "")


@contextlib.contextmanager
def _terminate_as_interrupt(stopping: tuple[str, str] = PUBLISH_STOPPING) -> Iterator[None]:
    """SIGTERM (a cancelled CI job, `kill`) stops a REST command as Ctrl+C does: publish's uploads
    abort and what the run created is taken back; unpublish and the deletions say what they
    removed and what is left. SIGTERM's default ended the process mid-way, silent, exit 143.
    `stopping`: what a stopping run still does, and what quitting at once leaves unsaid, for the
    lines a further signal prints ("": a command that only reads, which has nothing to say)."""

    from modpack.rest import client

    presses = [0]  # signals received once the run was stopping

    def stopping_already(signum: int) -> bool:
        """A further Ctrl+C (or SIGTERM) while the run stops: the second cut the rollback short
        (a module object was left) or the summary of what each node holds, so it is let be, and
        said once; a third quits at once, for a cluster that no longer answers the undoing."""
        if client.stop_requested() is None:
            return False
        presses[0] += 1
        still, unsaid = stopping
        if presses[0] == 1 and still:  # os.write: a print here may land inside one the run is making
            os.write(2, f"modpack: stopping already: {still} (press Ctrl+C again to quit at once)\n".encode())
        elif presses[0] == 2 or not still:
            os.write(2, f"modpack: quit at once{': ' + unsaid if unsaid else ''}\n".encode())
            os._exit(143 if signum == signal.SIGTERM else 130)
        return True

    def stop(signum: int, frame: object) -> None:
        if stopping_already(signum):
            return
        client.request_stop(Terminated())  # kept where a dropped raise cannot lose it
        raise Terminated

    def interrupt(signum: int, frame: object) -> None:
        if stopping_already(signum):
            return
        client.request_stop(KeyboardInterrupt())
        raise KeyboardInterrupt

    def unraisable(raised: sys.UnraisableHookArgs) -> None:
        # A signal's raise inside a weakref callback or a __del__ cannot propagate: Python printed
        # "Exception ignored in: <function WeakSet...>" with its traceback above the run's own
        # lines. The stop was recorded first and is raised where the run looks (raise_dropped_stop).
        if not (isinstance(raised.exc_value, KeyboardInterrupt) and client.stop_requested()):
            hook_before(raised)

    client.clear_stop()
    hook_before, sys.unraisablehook = sys.unraisablehook, unraisable
    before = signal.signal(signal.SIGTERM, stop)
    # Ctrl+C as Python's own handler, but kept too; not where SIGINT is ignored (nohup, `cmd &`)
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    before_int = signal.SIG_IGN if ignored else signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        sys.unraisablehook = hook_before
        # main prints a stopped run's summary after this block: a further signal is let be
        stopped = client.stop_requested() is not None
        signal.signal(signal.SIGTERM, signal.SIG_IGN if stopped else before)
        if not ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN if stopped else before_int)
        client.clear_stop()


@click.command()
@click.argument(
    "bundles", nargs=-1, required=True, type=GivenPath(path_type=Path, dir_okay=False, exists=True)
)
@connection_options
@click.option(
    "--dry-run", is_flag=True, help="Validate and look, then print the calls that would change things."
)
@click.option(
    "--allow-upload",
    is_flag=True,
    help="If allow_modules_upload is off, turn it on for this run and off again after (admin).",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Replace a different build the cluster holds under the same module name and version.",
)
@click.option(
    "--select", multiple=True, help="Validate with only these rule codes or prefixes (as validate)."
)
@click.option("--ignore", multiple=True, help="Validate without these rule codes or prefixes (as validate).")
@click.option("--strict", is_flag=True, help="Refuse bundles with warnings too (as validate --strict).")
@click.option(
    "--config",
    type=GivenPath(path_type=Path, dir_okay=False),
    help="modpack.toml with [validate] (default: each bundle's nearest, as validate).",
)
@_with_connection
def publish(
    bundles: tuple[Path, ...],
    connection: Connection,
    dry_run: bool,
    allow_upload: bool,
    replace: bool,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    strict: bool,
    config: Path | None,
) -> None:
    """Publish BUNDLES (one per platform) of one module version: each node gets the one that fits.

    Before anything changes, the cluster is read (GET /v1/nodes, /v1/cluster) and every problem
    is listed: a node no bundle fits, a Redis or Redis Enterprise version the cluster lacks,
    uploads switched off. A module object already there under this name and version must be the
    same build (or --replace). Bundles given together must agree on every module.json field but
    sha256, architecture, operating_systems, os, os_list, dependencies and module_file.
    On Redis Enterprise 7.2 to 7.22 the bundles go to POST /v2/modules instead.
    """
    from modpack.cli.bundles import validation_settings
    from modpack.rest import publish as publishing

    settings = validation_settings(config, select, ignore, strict)
    board = ProgressBoard() if sys.stderr.isatty() and not dry_run else None
    try:
        with _terminate_as_interrupt():
            result = publishing.publish(
                list(bundles),
                connection,
                dry_run=dry_run,
                allow_upload=allow_upload,
                replace=replace,
                settings=settings,
                progress=board,
                # the 7.x refusal of --node names this run again: a dry run stays one
                typed=typed_options(
                    {
                        "dry_run": dry_run,
                        "allow_upload": allow_upload,
                        "replace": replace,
                        "select": select,
                        "ignore": ignore,
                        "strict": strict,
                        "config": config,
                    }
                ),
            )
    finally:
        if board:
            board.finish()
    _print_publish(result, dry_run)
    if result.module_object == "deleted meanwhile":
        name, version = result.module_name, result.version
        # What the nodes took is on the nodes this run was given; no module object is left to keep.
        took = connection.command("unpublish", name, str(version), nodes=True)
        raise ModpackError(
            f"publish failed: the module object of {name} {version} was deleted while this run uploaded",
            f"Run the same publish again to make it and check every node, or `{took}` to remove what the"
            " nodes took.",
        )
    if result.failed:
        raise ModpackError(
            f"publish failed on {len(result.failed)} of {len(result.nodes)} nodes: "
            + ", ".join(o.node.label for o in result.failed),
            f"Fix what failed and run the same command again: {_what_was_kept(result, connection)}.",
        )


def _what_was_kept(result: PublishResult, connection: Connection) -> str:
    """What a failed publish leaves of the module object, as its run left it."""
    if result.module_object == "rolled back":
        if result.restored:
            return "nothing this run created was kept, and the module object --replace deleted was made again"
        if result.replaced:
            return (
                "nothing this run created was kept, and the module object --replace deleted is gone"
                " (see its note)"
            )
        return "nothing this run created was kept"
    # Not with --node: an unpublish leaving nodes out keeps the module object; on 7.x it is refused.
    everywhere = connection.command("unpublish", result.module_name, str(result.version), nodes=False)
    if result.module_object == "created, rollback failed":  # the note says why
        return (  # the note says whether the cluster still lists it, or that it did not say
            f"no node took the artifact, and deleting the module object this run created ({result.uid})"
            f" failed: `{everywhere}` removes it, once what failed is fixed"
        )
    if result.module_object == "created, rolled back in part":
        # RS 7.x removes a module's files from its nodes only with its module object
        return (
            f"the cluster deleted the module object this run created ({result.uid}), but nodes may still"
            f" hold files of it (see the note): once what failed is fixed, publish it again and"
            f" `{everywhere}` removes it from every node"
        )
    if result.module_object == "created":
        return (
            "the module object this run created is kept, for the nodes that took (or may hold) the artifact"
        )
    if result.module_object == "replaced":
        return (
            "the module object this run created in place of the one --replace deleted is kept, for the"
            " nodes that took (or may hold) the artifact"
        )
    if result.module_object == "present":
        return "the module object already in place is kept"
    return f"the module object is {result.module_object or 'not created'}"


def _print_publish(result: PublishResult, dry_run: bool) -> None:
    for warning in result.warnings:
        click.echo(f"modpack: warning: {warning.code}: {warning.message}", err=True)
    if dry_run:
        click.echo("dry run; these calls would be made:" if result.calls else "dry run: nothing to do")
        for call in result.calls:
            click.echo(f"  {call}")
    click.echo(f"{result.module_name} {result.version}")
    uid = f" (uid {result.uid})" if result.uid else ""
    click.echo(f"  module object: {result.module_object}{uid}")
    _print_outcomes(result.nodes)
    for note in result.notes:
        click.echo(f"  note: {note}")


@click.command()
@click.argument("name")
@click.argument("version")
@connection_options
@_with_connection
def unpublish(name: str, version: str, connection: Connection) -> None:
    """Delete NAME VERSION (10203 or 1.2.3): the module object, then the artifact on every node.

    The cluster refuses to delete the module object while a database uses the module (406
    module_in_use): then no artifact is deleted. A re-run removes what a failed run left, the
    artifacts of a version whose module object is gone too. With --node leaving nodes out, the
    module object is kept and only the nodes given lose their artifact. On Redis Enterprise 7.x,
    DELETE /v2/modules/<uid> removes the module from every node.
    """
    from modpack.rest import publish as publishing

    number = publishing.parse_version(version)
    with _terminate_as_interrupt(REMOVAL_STOPPING):
        result = publishing.unpublish(name, number, connection)
    click.echo(f"{name} {number}")
    if result.some_nodes and result.kept_uids:
        uids = ", ".join(result.kept_uids)
        everywhere = connection.command("unpublish", name, version, nodes=False)
        uid = result.kept_uids[0] if len(result.kept_uids) == 1 else "UID"
        delete = connection.command("modules", "delete", uid, nodes=False)
        click.echo(
            f"  module object kept ({uids}): {result.some_nodes}, and the others may still hold the"
            f" artifact; `{everywhere}` removes it everywhere, or `{delete}` once no node holds it"
        )
    elif result.some_nodes:  # nothing to keep: --node changes only what the nodes given hold
        click.echo(f"  module object: none found ({result.some_nodes})")
    else:
        click.echo(f"  module objects deleted: {', '.join(result.module_objects) or 'none found'}")
    _print_outcomes(result.nodes)
    if result.failed:
        raise ModpackError(
            "unpublish failed on " + ", ".join(o.node.label for o in result.failed),
            f"{_object_after(result)}: each failed node's line says why; run the same command again once"
            " that is fixed, and it removes the artifacts left.",
        )
    if result.nothing_found:
        raise _nothing_to_remove(result, connection)


def _nothing_to_remove(result: UnpublishResult, connection: Connection) -> ModpackError:
    """An unpublish that found no module object and no artifact of its name and version: a typo,
    a name in another case, another version, or a version a run before removed whole. It said
    "none found" and "absent" of every node, exit 0, as if it had removed something."""
    name, version = result.module_name, result.version
    asked = len(result.nodes)
    if result.legacy:  # RS 7.x: a module's files go with its module object
        where = ""
    elif asked == 1:
        where = ", and the node asked holds no artifact of it"
    else:
        where = f", and none of the {asked} nodes asked holds an artifact of it"
    listed = result.listed or []
    same = sorted(
        {v for m in listed if m.get("module_name") == name and isinstance(v := m.get("version"), int)}
    )
    cased = sorted(
        {n for m in listed if isinstance(n := m.get("module_name"), str) and n.lower() == name.lower()}
        - {name}
    )
    if cased:
        look = (
            f"the cluster has {' and '.join(cased)}, which differs from {name} only in case: names are"
            " case-sensitive"
        )
    elif same:
        look = (
            f"the cluster has {name} in version {', '.join(map(_semantic, same))}, not {_semantic(version)}"
        )
    else:
        look = f"check the name and the version, or a run before removed {name} {version} already"
    modules = connection.command("modules", "list", nodes=False)
    return ModpackError(
        f"nothing to remove: the cluster has no module object of {name} {version}{where}",
        f"{look[0].upper()}{look[1:]}; `{modules}` shows the names and versions of its module objects.",
    )


def _semantic(version: int) -> str:
    """10203 as `1.2.3 (10203)`: a user gives either."""
    from modpack import versions

    return f"{versions.semantic(version)} ({version})"


def _object_after(result: UnpublishResult) -> str:
    """What became of the module object of an unpublish that failed on some nodes."""
    if result.some_nodes and result.kept_uids:
        return f"The module object ({', '.join(result.kept_uids)}) was kept"
    if result.module_objects:
        return f"The module object ({', '.join(result.module_objects)}) was deleted"
    return f"The cluster has no module object of {result.module_name} {result.version}"


def _print_outcomes(outcomes: list[NodeOutcome]) -> None:
    for outcome in outcomes:
        detail = f": {outcome.detail}" if outcome.detail else ""
        click.echo(f"  {outcome.node.label}: {outcome.status}{detail}")


# --- artifacts and modules --------------------------------------------------------------------

FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


@click.group(cls=OnceGroup)
def artifacts() -> None:
    """Artifacts on the nodes (GET/DELETE /v2/local/modules/user-defined/artifacts)."""


def _refuse_on_legacy(api: Api, module: tuple[str, str] | None = None) -> None:
    """Refuse a cluster before RS 8.0. `module`: the NAME VERSION an `artifacts delete` was given,
    which the hint's unpublish names (a bare `modpack unpublish` was the hint, and it refuses to
    run without them)."""
    from modpack.rest.publish import api_is_legacy

    if api_is_legacy(api):
        # Not with --node: before 8.0 unpublish refuses it, and the module objects are the cluster's.
        command = functools.partial(api.connection.command, nodes=False)
        if module is None:
            how = f"`{command('unpublish', 'NAME', 'VERSION')}` removes one (its module object with it)."
        else:
            how = (
                f"`{command('unpublish', *module)}` removes it (its module object with it: before"
                " 8.0 the cluster removes a module's files only with it)."
            )
        raise ModpackError(
            "this cluster runs Redis Enterprise before 8.0, which has no per-node artifact API",
            f"`{command('modules', 'list', '--format', 'json')}` shows each module and its platforms; {how}",
        )


@artifacts.command("list")
@connection_options
@FORMAT
@_with_connection
def artifacts_list(connection: Connection, fmt: str) -> None:
    """List every node's artifacts."""
    from modpack.rest import client

    with _terminate_as_interrupt(READING_STOPPING), client.Api(connection) as api:
        _refuse_on_legacy(api)
        listings = client.node_artifacts(api, connection)
    if fmt == "json":
        import json

        payload = [
            {"node": n.label, "url": n.url, "artifacts": a}
            if isinstance(a, list)
            else {"node": n.label, "url": n.url, "error": a}
            for n, a in listings
        ]
        click.echo(json.dumps(payload, indent=2))
    else:
        for node, found in listings:
            _print_listing(node.label, found)
    failed = [n.label for n, a in listings if isinstance(a, str)]
    if failed:
        raise ModpackError("could not list " + ", ".join(failed))


def _print_listing(label: str, found: list[dict[str, JSON]] | str) -> None:
    click.echo(f"{label}:")
    if isinstance(found, str):
        click.echo(f"  error: {found}")
    elif not found:
        click.echo("  (no artifacts)")
    for item in found if isinstance(found, list) else []:
        listed = item.get("dependencies")
        deps = ", ".join(str(d) for d in listed) if isinstance(listed, list) else ""
        click.echo(
            f"  {item.get('module_name')} {item.get('version')}" + (f" (deps: {deps})" if deps else "")
        )


@artifacts.command("delete")
@click.argument("name")
@click.argument("version")
@connection_options
@_with_connection
def artifacts_delete(name: str, version: str, connection: Connection) -> None:
    """Delete NAME VERSION's (10203 or 1.2.3) artifact from every node (the module object stays)."""
    from modpack.rest import client
    from modpack.rest.publish import parse_version

    number = parse_version(version)
    client.module_name_argument(name)  # before any call (remove_artifacts checks it too)
    removal = client.Removal()
    try:
        with _terminate_as_interrupt(REMOVAL_STOPPING), client.Api(connection) as api:
            _refuse_on_legacy(api, (name, version))
            outcomes = client.remove_artifacts(api, connection, name, number, progress=removal)
    except KeyboardInterrupt as stop:
        raise _artifacts_stopped(
            stop,
            f"{name} {number}",
            removal,
            connection.command("artifacts", "delete", name, version, nodes=True),
        ) from None
    _print_outcomes(outcomes)
    failed = [o for o in outcomes if o.failed]
    if failed:
        raise ModpackError("delete failed on " + ", ".join(o.node.label for o in failed), _retry_hint(failed))
    if all(o.status == "absent" for o in outcomes):
        listing = connection.command("artifacts", "list", nodes=True)
        raise ModpackError(
            f"nothing to remove: none of the {len(outcomes)} nodes asked holds an artifact of"
            f" {name} {number}",
            "Check the name (names are case-sensitive) and the version, or a run before removed it"
            f" already; `{listing}` shows what each node holds.",
        )


def _retry_hint(failed: list[NodeOutcome]) -> str:
    """What to do about nodes that refused or could not be reached: a 401 or 403 is no node
    being down ("run the same command again when they are up" was said of nodes that were up)."""
    codes = {o.http_status for o in failed}
    if codes == {401}:
        return (
            "The cluster refused the credentials: check --user and the password (MODPACK_USER /"
            " MODPACK_PASSWORD)."
        )
    if codes <= {401, 403}:
        return (
            "The user's role lacks manage_cluster_modules, which deleting an artifact needs: run it as a"
            " user whose role has it (admin does)."
        )
    if codes == {404}:
        return (
            "A node without the user-defined module API (Redis Enterprise before 8.0) holds no artifacts:"
            " check the --node address; before 8.0 `modpack unpublish NAME VERSION` removes a module from"
            " every node."
        )
    return "Each failed node's line says why: run the same command again once that is fixed."


def _artifacts_stopped(stop: KeyboardInterrupt, module: str, removal: Removal, again: str) -> ModpackError:
    """A stopped `artifacts delete`: what each node did, as far as the run knows."""
    from modpack.rest import client
    from modpack.rest.publish.interruption import PublishInterrupted

    if not removal.changed:
        what, hint = "stopped before it removed anything", f"Nothing was removed; run `{again}` when ready."
    else:
        what, hint = "stopped part-way", f"Run `{again}` again to finish: it removes what is left."
        hint += client.MAY_BE_DONE if removal.unknown else ""
    return PublishInterrupted.by(stop, f"artifacts delete of {module} {what}", hint, removal.lines())


@click.group(cls=OnceGroup)
def modules() -> None:
    """Module objects in the configuration store (GET /v1/modules, DELETE /v2/modules/user-defined)."""


@modules.command("list")
@connection_options
@FORMAT
@_with_connection
def modules_list(connection: Connection, fmt: str) -> None:
    """List the cluster's module objects."""
    from modpack.rest import client

    with _terminate_as_interrupt(READING_STOPPING), client.Api(connection) as api:
        found = client.list_modules(api)
    if fmt == "json":
        import json

        click.echo(json.dumps(found, indent=2))
        return
    for module in found:
        click.echo(
            f"{module.get('uid')}  {module.get('module_name')} {module.get('version')}"
            f" ({module.get('semantic_version', '?')})"
            + ("  bundled with Redis Enterprise" if module.get("is_bundled") is True else "")
        )
    if not found:
        click.echo("(no module objects)")


@modules.command("delete")
@click.argument("uid")
@connection_options
@_with_connection
def modules_delete(uid: str, connection: Connection) -> None:
    """Delete the module object UID. On RS 8.x the artifacts on the nodes stay (`unpublish` removes
    them too); on RS 7.x the cluster removes the module from every node with it."""
    from modpack.rest import client
    from modpack.rest.publish import delete_module_object

    listing = f"`{connection.command('modules', 'list', nodes=False)}` shows the uids."
    if not uid.strip():  # DELETE /v2/modules/user-defined/ names the collection, not an object
        raise UsageError("UID is empty", listing)
    sent: list[bool] = []
    try:
        with _terminate_as_interrupt(REMOVAL_STOPPING), client.Api(connection) as api:
            deleted = delete_module_object(api, uid, lambda: sent.append(True))
    except KeyboardInterrupt as stop:
        from modpack.rest.publish.interruption import PublishInterrupted

        if not sent:
            again = connection.command("modules", "delete", uid, nodes=False)
            raise PublishInterrupted.by(
                stop,
                f"modules delete of {uid} stopped before it deleted anything",
                f"Nothing was deleted; run `{again}` when ready.",
            ) from None
        listed = connection.command("modules", "list", nodes=False)
        raise PublishInterrupted.by(
            stop,
            f"modules delete of {uid} stopped while its DELETE was out: whether module object {uid} is"
            " gone is not known",
            f"`{listed}` shows whether it is still there.",
        ) from None
    if not deleted:
        raise ModpackError(f"there is no module object {uid}", listing)
    click.echo(f"deleted module object {uid}")
