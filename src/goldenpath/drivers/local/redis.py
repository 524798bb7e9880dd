"""Platform-managed ``redis-server`` instances (local ``redis`` resources), one per claim.

Each instance is a supervisord program ``platform_redis_<name>`` (replica programs are
``<environment>--…`` with a DNS-label environment, which never contains ``_``) listening on
127.0.0.1 and a free port kept across restarts, with ``requirepass``, ``maxmemory`` and the
``allkeys-lru`` eviction policy (a cache that never refuses writes). Files per instance::

    <home>/redis/<name>/redis.conf      mode 0600: the password lives here, never in argv,
                                        logs or errors
    <home>/redis/<name>/instance.json   {"port": 41234, "maxmemory_mb": 64}
    <home>/redis/<name>/data/           dump.rdb (RDB snapshots; saved on stop)
    <home>/redis/<name>/redis.log       the server's output, captured by supervisord

Changes to a running instance (password, memory) are applied live with ``CONFIG SET`` and
written to ``redis.conf``, so open clients are not cut off and a restart keeps them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from goldenpath.drivers.local._pgcluster import free_port, port_free
from goldenpath.drivers.local.postgres import Endpoint
from goldenpath.drivers.local.supervisor import ProcessSpec, ProcessSupervisor
from goldenpath.errors import InvalidInput, NotFound, Unavailable
from goldenpath.settings import Settings

if TYPE_CHECKING:
    import redis as redis_client

__all__ = ["PROGRAM_PREFIX", "Endpoint", "ManagedRedis"]

PROGRAM_PREFIX = "platform_redis_"
"""supervisord program of instance ``<name>``: ``platform_redis_<name>``."""
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}\Z")
_LIVE = {"STARTING", "RUNNING"}
_RESTART_STATES = {"FATAL", "EXITED", "STOPPED", "UNKNOWN"}
_START_TIMEOUT = 15.0  # s
_CLIENT_TIMEOUT = 3.0  # s


def _redis() -> ModuleType:
    """redis-py, imported on first use: importing it costs ~0.3 s, which every server start
    and CLI command would otherwise pay whether or not a redis resource exists."""
    import redis  # deferred on purpose (start-up time)

    return redis


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidInput(
            f"redis instance name {name!r} is not valid: use 1-63 lower-case letters, digits, "
            "'-' and '_', starting with a letter or digit"
        )
    return name


def _check_password(password: str) -> str:
    if not isinstance(password, str) or not password or re.search(r"[\x00-\x1f]", password):
        raise InvalidInput(
            "redis password must be a non-empty string without control characters (not shown)"
        )
    return password


def _quote(value: str) -> str:
    """A double-quoted redis.conf string (backslash escapes, as ``sdssplitargs`` reads it)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


class ManagedRedis:
    """The home's managed Redis instances (see the module docstring).

    Args:
        settings: ``home`` and ``resources.redis_server`` are used.
        supervisor: the home's :class:`ProcessSupervisor` (the one ``LocalDriver`` uses).

    Thread-safe; changes are serialised across processes by ``<home>/redis/.lock``. Errors:
    ``InvalidInput`` (bad name, password or size), ``NotFound`` (unknown instance),
    ``Unavailable`` (``redis-server`` missing, or the instance does not come up).
    """

    def __init__(self, settings: Settings, supervisor: ProcessSupervisor) -> None:
        self._supervisor = supervisor
        self._executable = settings.resources.redis_server
        self.directory = settings.home / "redis"
        self._lock = threading.RLock()

    # -- public --------------------------------------------------------------------------

    def ensure_instance(self, name: str, *, password: str, maxmemory_mb: int) -> Endpoint:
        """Instance ``name`` running with ``password`` and ``maxmemory_mb`` MiB; its endpoint
        once it answers. Idempotent: a running instance gets a changed password or size
        applied live. Raises ``Unavailable`` when ``redis-server`` is not installed."""
        _check_name(name)
        _check_password(password)
        if not isinstance(maxmemory_mb, int) or maxmemory_mb < 1:
            raise InvalidInput(f"maxmemory_mb {maxmemory_mb!r} must be a whole number >= 1")
        binary = self._binary()
        with self._locked():
            folder = self.directory / name
            state = self._state(name)
            before = self._supervisor.status(PROGRAM_PREFIX + name)
            live = before is not None and before.state in _LIVE
            port = int(state["port"]) if state else 0
            if not port or (not live and not port_free(port)):
                port = free_port()
            old_password = self._password(name)
            old_conf = self._conf_text(name)
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            (folder / "data").mkdir(exist_ok=True, mode=0o700)
            conf = self._render(name, port, password, maxmemory_mb)
            self._write(folder / "redis.conf", conf, 0o600)
            self._write(
                folder / "instance.json", json.dumps({"port": port, "maxmemory_mb": maxmemory_mb})
            )
            spec = self._spec(name, binary, port)
            unchanged_program = live and before is not None and before.labels == spec.labels
            status = self._supervisor.apply(spec)
            if status.state in _RESTART_STATES:
                self._supervisor.restart(spec.name)
            elif unchanged_program and conf != old_conf:
                self._apply_live(name, port, [old_password, password], password, maxmemory_mb)
            self._wait_ready(name, port, password)
            return Endpoint("127.0.0.1", port)

    def set_password(self, name: str, password: str) -> None:
        """``CONFIG SET requirepass`` on the running instance and the new password written to
        ``redis.conf``: new connections need it at once (open ones stay authenticated).
        Raises ``NotFound`` for an unknown instance."""
        _check_name(name)
        _check_password(password)
        with self._locked():
            state = self._state(name)
            if state is None:
                raise NotFound(f"no managed redis instance named {name!r} in {self.directory}")
            port, maxmemory = int(state["port"]), int(state["maxmemory_mb"])
            status = self._supervisor.status(PROGRAM_PREFIX + name)
            if status is not None and status.state in _LIVE:
                old = self._password(name)
                self._apply_live(name, port, [old, password], password, maxmemory)
            conf = self._render(name, port, password, maxmemory)
            self._write(self.directory / name / "redis.conf", conf, 0o600)

    def remove(self, name: str) -> None:
        """Stop instance ``name`` and delete its files (data included); no-op when unknown."""
        _check_name(name)
        with self._locked():
            self._supervisor.remove(PROGRAM_PREFIX + name)
            shutil.rmtree(self.directory / name, ignore_errors=True)

    def status(self, name: str) -> dict[str, Any]:
        """``{"running", "state", "pid", "port", "maxmemory_mb", "version", "data_dir",
        "log_file", "restarts"}``: ``running`` when it answers an authenticated PING now;
        ``state`` supervisord's (``ABSENT`` for an unknown instance); ``pid`` of redis-server."""
        _check_name(name)
        state = self._state(name)
        proc = self._supervisor.status(PROGRAM_PREFIX + name)
        info: dict[str, Any] = {}
        password = self._password(name)
        if state is not None and password is not None:
            with contextlib.suppress(_redis().RedisError):
                info = self._client(int(state["port"]), password).info("server")
        return {
            "running": bool(info),
            "state": proc.state if proc else "ABSENT",
            "pid": int(info["process_id"]) if info else None,
            "port": int(state["port"]) if state else None,
            "maxmemory_mb": int(state["maxmemory_mb"]) if state else None,
            "version": info.get("redis_version"),
            "data_dir": str(self.directory / name / "data") if state else None,
            "log_file": str(self.directory / name / "redis.log"),
            "restarts": proc.restarts if proc else 0,
        }

    # -- internals -----------------------------------------------------------------------

    def _binary(self) -> str:
        found = shutil.which(self._executable)
        if found is None:
            raise Unavailable(
                f"redis-server not found (settings.resources.redis_server={self._executable!r}): "
                "apt-get install redis-server"
            )
        return found

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            with (self.directory / ".lock").open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield

    def _state(self, name: str) -> dict[str, Any] | None:
        path = self.directory / name / "instance.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise InvalidInput(
                f"{path}: unreadable ({exc}); remove the instance and recreate it"
            ) from exc
        return data if isinstance(data, dict) else None

    def _conf_text(self, name: str) -> str | None:
        try:
            return (self.directory / name / "redis.conf").read_text(encoding="utf-8")
        except OSError:
            return None

    def _password(self, name: str) -> str | None:
        for line in (self._conf_text(name) or "").splitlines():
            key, _, value = line.partition(" ")
            if key == "requirepass":
                return _unquote(value)
        return None

    def _render(self, name: str, port: int, password: str, maxmemory_mb: int) -> str:
        data = self.directory / name / "data"
        return "\n".join(
            [
                "# written by goldenpath.drivers.local.redis; changes are overwritten",
                "bind 127.0.0.1",
                "protected-mode yes",
                f"port {port}",
                "daemonize no",
                'logfile ""',
                f"dir {_quote(str(data))}",
                "dbfilename dump.rdb",
                "save 3600 1 300 100 60 10000",
                f"maxmemory {maxmemory_mb}mb",
                "maxmemory-policy allkeys-lru",
                f"requirepass {_quote(password)}",
                "",
            ]
        )

    @staticmethod
    def _write(path: Path, text: str, mode: int = 0o644) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)

    def _spec(self, name: str, binary: str, port: int) -> ProcessSpec:
        folder = self.directory / name
        return ProcessSpec(
            name=PROGRAM_PREFIX + name,
            command=(binary, str(folder / "redis.conf"), "--port", str(port)),
            cwd=folder,
            env={},
            log_file=folder / "redis.log",
            startsecs=1,
            startretries=5,
            stop_timeout=15.0,
            labels={"role": "redis", "instance": name, "port": str(port), "binary": binary},
        )

    @staticmethod
    def _client(port: int, password: str) -> redis_client.Redis:
        from redis.backoff import NoBackoff  # deferred with _redis()
        from redis.retry import Retry

        return _redis().Redis(
            host="127.0.0.1",
            port=port,
            password=password,
            socket_timeout=_CLIENT_TIMEOUT,
            socket_connect_timeout=_CLIENT_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )

    def _apply_live(
        self, name: str, port: int, passwords: list[str | None], new: str, maxmemory_mb: int
    ) -> None:
        """CONFIG SET the new values, authenticating with the first password that works;
        restart the program when the instance cannot be reached that way."""
        for candidate in passwords:
            if candidate is None:
                continue
            client = self._client(port, candidate)
            try:
                client.config_set("maxmemory", f"{maxmemory_mb}mb")
                client.config_set("maxmemory-policy", "allkeys-lru")
                client.config_set("requirepass", new)
                return
            except _redis().AuthenticationError:
                continue
            except _redis().RedisError:
                break
            finally:
                client.close()
        self._supervisor.restart(PROGRAM_PREFIX + name)

    def _wait_ready(self, name: str, port: int, password: str) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        client = self._client(port, password)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except _redis().RedisError:
                    pass
                status = self._supervisor.status(PROGRAM_PREFIX + name)
                log = self.directory / name / "redis.log"
                if status is not None and status.state == "FATAL":
                    raise Unavailable(f"redis instance {name!r} failed to start; see {log}")
                if time.monotonic() > deadline:
                    raise Unavailable(
                        f"redis instance {name!r} did not answer on 127.0.0.1:{port} within "
                        f"{_START_TIMEOUT:g} s; see {log}"
                    )
                time.sleep(0.05)
        finally:
            client.close()
