"""Where the managed PostgreSQL cluster lives and how it is created (for :mod:`.postgres`).

Layout: ``<home>/postgres/`` always holds ``cluster.json`` (the record below), ``postgres.log``
(the server's output, captured by supervisord) and ``.lock``. The cluster itself lives in a
*root* directory::

    <root>/data     PGDATA (mode 0700, owned by the cluster's OS user)
    <root>/run      the unix socket directory (0700, same owner): admin access only

``<root>`` is ``<home>/postgres`` when the cluster's OS user can reach it. Running as root,
the cluster runs as the ``postgres`` OS user (PostgreSQL refuses to run as root); when that
user cannot traverse ``<home>`` (e.g. ``/root`` is 0700) ``<root>`` falls back to
``/var/lib/goldenpath/postgres/<sha256(home)[:16]>``. A socket directory whose path would not
fit a unix socket address falls back to ``<tmp>/goldenpath-pg-<hash>``. The choice is made
once, at initdb, and recorded in ``cluster.json``::

    {"root": …, "data_dir": …, "socket_dir": …, "port": 54321, "os_user": "postgres"}

Authentication (``pg_hba.conf``): TCP on 127.0.0.1/::1 with ``scram-sha-256`` for every role;
the unix socket only for the superuser ``postgres``, by ``peer`` with an ident map that admits
the platform's own OS user (root or the current user) — no password exists for it at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from goldenpath.errors import InvalidInput, Unavailable

__all__ = [
    "FALLBACK_ROOT",
    "SUPERUSER",
    "Layout",
    "OsUser",
    "cluster_user",
    "free_port",
    "initdb",
    "plan_layout",
    "port_free",
    "read_layout",
    "remove_cluster",
    "write_layout",
]

FALLBACK_ROOT = Path("/var/lib/goldenpath/postgres")
"""Parent of cluster roots when the cluster's OS user cannot reach ``<home>``."""
SUPERUSER = "postgres"
_SOCKET_MAX = 90  # bytes of the directory; ``/.s.PGSQL.NNNNN`` must still fit 107
_INITDB_TIMEOUT = 120.0  # s


@dataclass(frozen=True, slots=True)
class OsUser:
    """The OS account the cluster runs as; ``switch`` when it is not the current user."""

    name: str
    uid: int
    gid: int
    groups: frozenset[int]
    switch: bool

    def argv(self, command: list[str]) -> list[str]:
        """``command`` run as this user (``setpriv`` exec's it: no extra process stays)."""
        if not self.switch:
            return command
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise Unavailable(
                "setpriv not found: it is needed to run PostgreSQL as the 'postgres' user "
                "(apt-get install util-linux)"
            )
        ids = [f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups"]
        return [setpriv, *ids, "--", *command]


@dataclass(frozen=True, slots=True)
class Layout:
    """Where one home's cluster lives (see the module docstring); ``port`` on 127.0.0.1."""

    root: Path
    data_dir: Path
    socket_dir: Path
    port: int
    os_user: str


def cluster_user() -> OsUser:
    """The ``postgres`` account when we are root, else the current user.

    Raises ``Unavailable`` when running as root and no ``postgres`` account exists."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, frozenset(os.getgroups()), False)
    try:
        entry = pwd.getpwnam(SUPERUSER)
    except KeyError as exc:
        raise Unavailable(
            "no 'postgres' OS user: PostgreSQL refuses to run as root; install postgresql-15 "
            "(it creates the user) or run the platform as a non-root user"
        ) from exc
    groups = {entry.pw_gid} | set(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid, frozenset(groups), True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _traversable(path: Path, user: OsUser) -> bool:
    """``user`` may search every existing directory from ``/`` down to ``path``."""
    for folder in [*reversed(path.parents), path]:
        try:
            info = folder.stat()
        except FileNotFoundError:
            return True  # what does not exist yet is created by us for the user
        mode = info.st_mode
        if info.st_uid == user.uid:
            allowed = bool(mode & stat.S_IXUSR)
        elif info.st_gid in user.groups:
            allowed = bool(mode & stat.S_IXGRP)
        else:
            allowed = bool(mode & stat.S_IXOTH)
        if not allowed:
            return False
    return True


def plan_layout(home: Path, user: OsUser) -> Layout:
    """Choose root and socket directory for a new cluster (no port yet: 0)."""
    digest = hashlib.sha256(os.fsencode(home)).hexdigest()[:16]
    root = home / "postgres"
    if user.switch and not _traversable(home, user):
        root = FALLBACK_ROOT / digest
    socket_dir = root / "run"
    if len(os.fsencode(socket_dir)) > _SOCKET_MAX:
        socket_dir = Path(tempfile.gettempdir()) / f"goldenpath-pg-{digest}"
    return Layout(root, root / "data", socket_dir, 0, user.name)


def read_layout(record: Path) -> Layout | None:
    """The layout recorded in ``cluster.json``; ``None`` when there is none yet.

    Raises ``InvalidInput`` naming the file when it is unreadable or malformed."""
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"{record}: cannot read the managed PostgreSQL record ({exc}); restore it or "
            "remove it to create a new cluster"
        ) from exc
    try:
        return Layout(
            root=Path(data["root"]),
            data_dir=Path(data["data_dir"]),
            socket_dir=Path(data["socket_dir"]),
            port=int(data["port"]),
            os_user=str(data["os_user"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{record}: malformed managed PostgreSQL record (missing {exc}); restore it or "
            "remove it to create a new cluster"
        ) from exc


def write_layout(record: Path, layout: Layout) -> None:
    """Replace ``cluster.json`` atomically."""
    data = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(layout).items()}
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(f".{record.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, record)


def _own_dir(path: Path, user: OsUser) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if user.switch:
        os.chown(path, user.uid, user.gid)
    os.chmod(path, 0o700)


def _write_owned(path: Path, text: str, user: OsUser) -> None:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
    if user.switch:
        os.chown(path, user.uid, user.gid)


def _hba() -> str:
    return "\n".join(
        [
            "# written by goldenpath.drivers.local.postgres; changes are overwritten",
            "# TYPE  DATABASE  USER      ADDRESS        METHOD",
            f"local   all       {SUPERUSER}  peer map=goldenpath",
            "local   all       all                      reject",
            "host    all       all       127.0.0.1/32   scram-sha-256",
            "host    all       all       ::1/128        scram-sha-256",
            "",
        ]
    )


def _ident(user: OsUser) -> str:
    platform_user = pwd.getpwuid(os.geteuid()).pw_name
    lines = ["# MAPNAME     SYSTEM-USERNAME  PG-USERNAME"]
    for name in sorted({platform_user, user.name}):
        lines.append(f"goldenpath  {name}  {SUPERUSER}")
    return "\n".join(lines) + "\n"


def initdb(layout: Layout, user: OsUser, pg_bin: Path, *, sync: bool = True) -> None:
    """Create the cluster at ``layout.data_dir`` unless it exists (``PG_VERSION`` there).

    initdb writes into ``data.init`` which is renamed into place once the access rules are
    written, so an interrupted initdb leaves nothing that looks like a cluster. Raises
    ``Unavailable`` when the binaries are missing or initdb fails (its output included).
    ``sync=False`` skips initdb's final fsync of every file (throwaway clusters only)."""
    if (layout.data_dir / "PG_VERSION").exists():
        return
    binary = pg_bin / "initdb"
    if not binary.exists():
        raise Unavailable(
            f"PostgreSQL binaries not found in {pg_bin} (settings.resources.pg_bin): "
            "apt-get install postgresql-15, or point resources.pg_bin at its bin directory"
        )
    if user.switch and layout.root.parent == FALLBACK_ROOT:
        FALLBACK_ROOT.mkdir(parents=True, exist_ok=True, mode=0o755)
    _own_dir(layout.root, user)
    _own_dir(layout.socket_dir, user)
    staging = layout.root / "data.init"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(layout.data_dir, ignore_errors=True)  # no PG_VERSION: never completed
    argv = [str(binary), "-D", str(staging), "-U", SUPERUSER, "-E", "UTF8", "--locale=C"]
    argv += ["--auth-local=peer", "--auth-host=scram-sha-256", "--no-instructions"]
    argv += [] if sync else ["--no-sync"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    try:
        done = subprocess.run(
            user.argv(argv),
            cwd=layout.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=_INITDB_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"initdb for {layout.data_dir} did not run: {exc}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-800:]
        raise Unavailable(f"initdb for {layout.data_dir} failed (exit {done.returncode}): {output}")
    _write_owned(staging / "pg_hba.conf", _hba(), user)
    _write_owned(staging / "pg_ident.conf", _ident(user), user)
    os.replace(staging, layout.data_dir)


def remove_cluster(layout: Layout) -> None:
    """Delete the cluster's files (only once its server is stopped): data and socket
    directories, and the root itself unless it is ``<home>/postgres`` (holding the record)."""
    for path in (layout.data_dir, layout.root / "data.init", layout.socket_dir):
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(path)
    if layout.root.parent == FALLBACK_ROOT:
        shutil.rmtree(layout.root, ignore_errors=True)
