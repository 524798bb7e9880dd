"""The platform-managed PostgreSQL 15 cluster of a data directory (local ``postgres`` resources).

One cluster per home, created with ``initdb`` on first use and run by the home's supervisord
as the program ``platform_postgres`` (replica programs are ``<environment>--…`` and an
environment name is a DNS label, so it can never contain ``_``: no collision). supervisord
restarts the server when it dies (``kill -9`` included); PostgreSQL then recovers from its WAL
and services reconnect. Where the files live, the socket and the access rules are described
in :mod:`goldenpath.drivers.local._pgcluster`: TCP on 127.0.0.1 with ``scram-sha-256``
passwords for the databases' roles, the superuser only over a unix socket the platform owns.

Each database gets its own login role (owner of the database, ``CONNECT`` revoked from
``PUBLIC``, a connection limit). Passwords are hashed into SCRAM verifiers by libpq on this
side, so a plain password never reaches the server, its logs, an argv or an error message;
``pg_dump``/``pg_restore`` use the socket and need no password.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from goldenpath.drivers.local import _pgcluster as cluster
from goldenpath.drivers.local import _pgdump
from goldenpath.drivers.local.supervisor import ProcessSpec, ProcessSupervisor
from goldenpath.errors import Conflict, InvalidInput, NotFound, Unavailable
from goldenpath.settings import Settings

__all__ = ["PROGRAM", "Endpoint", "ManagedPostgres", "remove_stopped_cluster"]

PROGRAM = "platform_postgres"
"""The supervisord program running the cluster."""
_IDENT_RE = re.compile(r"[a-z_][a-z0-9_-]{0,62}\Z")
_RESERVED = {"postgres", "template0", "template1", "public"}
_LOCK_KEY = 0x67705F6462  # advisory lock serialising role/database changes across servers
_CONNECT_TIMEOUT = 3  # s
_RESTART_STATES = {"FATAL", "EXITED", "STOPPED", "UNKNOWN"}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a managed service listens (always loopback here)."""

    host: str
    port: int


def _check_ident(value: str, what: str) -> str:
    if not isinstance(value, str) or not _IDENT_RE.match(value):
        raise InvalidInput(
            f"{what} name {value!r} is not valid: use 1-63 lower-case letters, digits, '_' "
            "and '-', starting with a letter or '_'"
        )
    if value in _RESERVED or value.startswith("pg_"):
        raise InvalidInput(f"{what} name {value!r} is reserved by PostgreSQL; choose another")
    return value


def _check_password(password: str) -> bytes:
    if not isinstance(password, str) or not password or "\x00" in password:
        raise InvalidInput("password must be a non-empty string without NUL bytes (not shown)")
    return password.encode()


class ManagedPostgres:
    """One platform-managed PostgreSQL 15 cluster per data directory.

    Args:
        settings: ``home`` and ``resources.pg_bin`` are used.
        supervisor: the home's :class:`ProcessSupervisor` (the one ``LocalDriver`` uses).
        fsync: ``False`` trades safety against OS crashes for speed (initdb ``--no-sync``,
            ``fsync=off``; a killed server still loses nothing): only for throwaway clusters.

    Thread-safe; first starts are serialised across processes by ``<home>/postgres/.lock``
    and role/database changes by a PostgreSQL advisory lock. Errors: ``InvalidInput`` (bad
    names, bad backup target), ``NotFound``, ``Conflict``, ``Unavailable`` (the server cannot
    be started or reached, a tool fails, the disk is full).
    """

    def __init__(
        self, settings: Settings, supervisor: ProcessSupervisor, *, fsync: bool = True
    ) -> None:
        self._supervisor = supervisor
        self._fsync = fsync
        self._home = settings.home
        self._pg_bin = Path(settings.resources.pg_bin)
        self.directory = self._home / "postgres"
        self.log_file = self.directory / "postgres.log"
        self._record = self.directory / "cluster.json"
        self._layout: cluster.Layout | None = None
        self._lock = threading.RLock()

    # -- the server ----------------------------------------------------------------------

    def ensure_running(self, timeout: float = 30.0) -> Endpoint:
        """The cluster's TCP endpoint, once it accepts connections.

        Already running: one socket connection, no subprocess. Otherwise initdb (first use),
        a free loopback port (kept in ``cluster.json``; a new one only when the kept one is
        taken by someone else while the server is down), the supervised program, and a wait
        of up to ``timeout`` s. Raises ``Unavailable`` naming the log file."""
        layout = self._layout or cluster.read_layout(self._record)
        if layout is not None and self._answers(layout):
            self._layout = layout
            return Endpoint("127.0.0.1", layout.port)
        with self._locked():
            layout = self._prepare()
            self._start(layout)
            self._wait_ready(layout, timeout)
            self._layout = layout
            return Endpoint("127.0.0.1", layout.port)

    def status(self) -> dict[str, Any]:
        """``{"running", "state", "pid", "port", "data_dir", "socket_dir", "log_file",
        "version", "restarts"}``: ``running`` when it accepts connections now; ``state``
        supervisord's (``ABSENT`` before first use); ``pid`` of the postmaster."""
        layout = self._layout or cluster.read_layout(self._record)
        proc = self._supervisor.status(PROGRAM)
        version = None
        if layout is not None:
            version = self._server_version(layout)
        running = version is not None
        if layout is not None and version is None:
            with contextlib.suppress(OSError):
                version = (layout.data_dir / "PG_VERSION").read_text().strip()
        return {
            "running": running,
            "state": proc.state if proc else "ABSENT",
            "pid": self._postmaster_pid(layout) if running and layout else None,
            "port": layout.port if layout else None,
            "data_dir": str(layout.data_dir) if layout else None,
            "socket_dir": str(layout.socket_dir) if layout else None,
            "log_file": str(self.log_file),
            "version": version,
            "restarts": proc.restarts if proc else 0,
        }

    def stop(self) -> None:
        """Stop the server (fast shutdown) and forget the program; data stays. The next
        :meth:`ensure_running` starts it again."""
        with self._locked():
            self._supervisor.remove(PROGRAM)

    def destroy(self) -> None:
        """Stop the server and delete the cluster with every database and its record."""
        with self._locked():
            self._supervisor.remove(PROGRAM)
            layout = self._layout or cluster.read_layout(self._record)
            if layout is not None:
                cluster.remove_cluster(layout)
            with contextlib.suppress(FileNotFoundError):
                self._record.unlink()
            self._layout = None

    # -- databases and roles -------------------------------------------------------------

    def ensure_database(
        self, name: str, *, role: str, password: str, connection_limit: int
    ) -> None:
        """Database ``name`` owned by login role ``role`` with ``password`` and at most
        ``connection_limit`` connections (-1 = no limit). Idempotent: an existing role gets
        the password and limit updated. Raises ``Conflict`` when ``name`` exists with
        another owner, ``InvalidInput`` for bad names or limits."""
        _check_ident(name, "database")
        _check_ident(role, "role")
        secret = _check_password(password)
        if not isinstance(connection_limit, int) or connection_limit < -1:
            raise InvalidInput(f"connection_limit {connection_limit!r} must be an integer >= -1")
        with self._admin() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            self._upsert_role(conn, role, secret, connection_limit)
            row = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if row is None:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(role)
                    )
                )
                conn.execute(
                    sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name))
                )
            elif row[0] != role:
                raise Conflict(
                    f"database {name!r} already exists and belongs to role {row[0]!r}, not "
                    f"{role!r}; choose another database name"
                )

    def set_password(self, role: str, password: str) -> None:
        """``ALTER ROLE … PASSWORD``: new connections need the new password at once
        (open sessions stay). Raises ``NotFound`` for an unknown role."""
        _check_ident(role, "role")
        secret = _check_password(password)
        with self._admin() as conn:
            if (
                conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
                is None
            ):
                raise NotFound(f"role {role!r} does not exist in the managed PostgreSQL cluster")
            verifier = conn.pgconn.encrypt_password(secret, role.encode(), b"scram-sha-256")
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(verifier.decode())
                )
            )

    def drop_database(self, name: str, *, role: str) -> None:
        """Drop database ``name`` (its sessions are terminated first) and then ``role``; no-op
        for what does not exist. Raises ``Conflict`` when ``role`` still owns objects in
        other databases."""
        _check_ident(name, "database")
        _check_ident(role, "role")
        with self._admin() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            try:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            except psycopg.errors.DependentObjectsStillExist as exc:
                raise Conflict(
                    f"role {role!r} still owns objects in other databases; drop those first "
                    f"({exc.diag.message_detail or exc})"
                ) from exc

    def database_size(self, name: str) -> int:
        """Bytes on disk of database ``name`` (``pg_database_size``). Raises ``NotFound``."""
        _check_ident(name, "database")
        with self._admin() as conn:
            row = conn.execute(
                "SELECT pg_database_size(datname) FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
        if row is None:
            raise NotFound(f"database {name!r} does not exist in the managed PostgreSQL cluster")
        return int(row[0])

    # -- backups -------------------------------------------------------------------------

    def dump(self, name: str, path: Path) -> int:
        """``pg_dump -Fc`` of ``name`` into ``path`` (never a partial file: a temporary file in
        the same directory is fsynced and renamed); returns bytes written. Raises
        ``NotFound`` (database), ``Unavailable`` (disk full, pg_dump failed) or
        ``InvalidInput`` (unwritable directory, target is a directory), naming the path."""
        self._require_database(name)
        argv = [str(self._pg_bin / "pg_dump"), "-Fc", *self._client_args(name)]
        return _pgdump.dump_to(argv, Path(path), f"database {name!r}")

    def restore(self, name: str, path: Path, *, role: str) -> None:
        """``pg_restore --clean --if-exists --no-owner --role=<role>`` of ``path`` into
        ``name`` in one transaction (a failed restore changes nothing). Raises ``NotFound``
        (database or backup), ``InvalidInput``, ``Unavailable`` (pg_restore failed)."""
        _check_ident(role, "role")
        self._require_database(name)
        argv = [str(self._pg_bin / "pg_restore"), "--clean", "--if-exists", "--no-owner"]
        argv += [f"--role={role}", "--single-transaction", "--exit-on-error"]
        argv += [*self._client_args(name), str(Path(path).absolute())]  # never read as an option
        _pgdump.restore_from(argv, Path(path), f"database {name!r}")

    # -- internals -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with (self.directory / ".lock").open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield

    def _prepare(self) -> cluster.Layout:
        """The layout with an initialised data directory and a usable port (under the lock)."""
        user = cluster.cluster_user()
        layout = cluster.read_layout(self._record)
        if layout is None:
            layout = dataclasses.replace(
                cluster.plan_layout(self._home, user), port=cluster.free_port()
            )
        cluster.initdb(layout, user, self._pg_bin, sync=self._fsync)
        current = self._supervisor.status(PROGRAM)
        down = current is None or current.state in _RESTART_STATES | {"BACKOFF"}
        if down and not cluster.port_free(layout.port) and not self._answers(layout):
            layout = dataclasses.replace(layout, port=cluster.free_port())
        if layout != cluster.read_layout(self._record):
            cluster.write_layout(self._record, layout)
        return layout

    def _spec(self, layout: cluster.Layout) -> ProcessSpec:
        user = cluster.cluster_user()
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(layout.port),
            "unix_socket_directories": str(layout.socket_dir),
            "unix_socket_permissions": "0700",
        }
        if not self._fsync:
            options |= {"fsync": "off", "full_page_writes": "off"}
        argv = [str(self._pg_bin / "postgres"), "-D", str(layout.data_dir)]
        for key, value in options.items():
            argv += ["-c", f"{key}={value}"]
        return ProcessSpec(
            name=PROGRAM,
            command=tuple(user.argv(argv)),
            cwd=layout.root,
            env={"LC_ALL": "C"},
            log_file=self.log_file,
            startsecs=1,
            startretries=5,
            stop_timeout=30.0,
            labels={"role": "postgres", "port": str(layout.port)},
        )

    def _start(self, layout: cluster.Layout) -> None:
        if not (self._pg_bin / "postgres").exists():
            raise Unavailable(
                f"PostgreSQL binaries not found in {self._pg_bin} (settings.resources.pg_bin): "
                "apt-get install postgresql-15"
            )
        status = self._supervisor.apply(self._spec(layout))
        if status.state in _RESTART_STATES:
            self._supervisor.restart(PROGRAM)

    def _wait_ready(self, layout: cluster.Layout, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._answers(layout):
            status = self._supervisor.status(PROGRAM)
            if status is not None and status.state == "FATAL":
                raise Unavailable(
                    f"the managed PostgreSQL failed to start; see {self.log_file} "
                    f"(data directory {layout.data_dir})"
                )
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"the managed PostgreSQL did not accept connections within {timeout:g} s; "
                    f"see {self.log_file} (supervisor state "
                    f"{status.state if status else 'ABSENT'})"
                )
            time.sleep(0.05)

    @staticmethod
    def _connect(layout: cluster.Layout, dbname: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=str(layout.socket_dir),
            port=layout.port,
            user=cluster.SUPERUSER,
            dbname=dbname,
            connect_timeout=_CONNECT_TIMEOUT,
            autocommit=True,
            # a failing statement is never copied into the server log
            options="-c log_min_error_statement=panic",
        )

    def _answers(self, layout: cluster.Layout) -> bool:
        return self._server_version(layout) is not None

    def _server_version(self, layout: cluster.Layout) -> str | None:
        try:
            with self._connect(layout) as conn:
                return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        except psycopg.Error:
            return None

    @staticmethod
    def _postmaster_pid(layout: cluster.Layout) -> int | None:
        try:
            return int((layout.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    @contextlib.contextmanager
    def _admin(self) -> Iterator[psycopg.Connection[Any]]:
        """A superuser connection over the socket, starting the server when needed."""
        layout = self._layout or cluster.read_layout(self._record)
        conn = None
        if layout is not None:
            with contextlib.suppress(psycopg.OperationalError):
                conn = self._connect(layout)
                self._layout = layout
        if conn is None:
            self.ensure_running()
            assert self._layout is not None
            try:
                conn = self._connect(self._layout)
            except psycopg.OperationalError as exc:
                raise Unavailable(
                    f"cannot reach the managed PostgreSQL ({exc}); see {self.log_file}"
                ) from exc
        with conn:
            try:
                yield conn
            except psycopg.OperationalError as exc:
                raise Unavailable(
                    "the connection to the managed PostgreSQL broke "
                    f"({exc.diag.message_primary or type(exc).__name__}); retry, and see "
                    f"{self.log_file} if it persists"
                ) from exc
            except psycopg.Error as exc:
                # only the primary message: the statement text never leaves this module
                raise Unavailable(
                    f"the managed PostgreSQL refused the change: "
                    f"{exc.diag.message_primary or type(exc).__name__}"
                ) from None

    @staticmethod
    def _upsert_role(conn: psycopg.Connection[Any], role: str, secret: bytes, limit: int) -> None:
        verifier = conn.pgconn.encrypt_password(secret, role.encode(), b"scram-sha-256")
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(
                verb + " ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                "NOBYPASSRLS CONNECTION LIMIT {} PASSWORD {}"
            ).format(sql.Identifier(role), sql.Literal(limit), sql.Literal(verifier.decode()))
        )

    def _require_database(self, name: str) -> None:
        _check_ident(name, "database")
        with self._admin() as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return
        raise NotFound(f"database {name!r} does not exist in the managed PostgreSQL cluster")

    def _client_args(self, name: str) -> list[str]:
        layout = self._layout
        assert layout is not None  # _require_database ran first
        return [
            f"--host={layout.socket_dir}",
            f"--port={layout.port}",
            f"--username={cluster.SUPERUSER}",
            "--no-password",
            f"--dbname={name}",
        ]


def remove_stopped_cluster(home: Path) -> bool:
    """Delete the files of ``home``'s managed cluster once its server is stopped (after
    ``LocalDriver.shutdown``), including a copy outside ``home`` (the fallback location used
    when the ``postgres`` user cannot enter ``home``). Returns whether there was one."""
    record = home / "postgres" / "cluster.json"
    layout = cluster.read_layout(record)
    if layout is None:
        return False
    cluster.remove_cluster(layout)
    with contextlib.suppress(FileNotFoundError):
        record.unlink()
    return True
