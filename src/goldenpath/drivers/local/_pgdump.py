"""``pg_dump``/``pg_restore`` for :mod:`.postgres`: backups that are whole or absent.

A dump streams ``pg_dump -Fc`` into a temporary file in the target's own directory, fsyncs
it, renames it over the target and fsyncs the directory: readers (and a crash) only ever see
the previous file or the complete new one, and a failure leaves older backups untouched.
OS errors become platform errors naming the path and the fix: a full disk ``Unavailable``,
an unwritable or misnamed target ``InvalidInput``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import tempfile
from pathlib import Path

from goldenpath.errors import InvalidInput, NotFound, PlatformError, Unavailable

__all__ = ["clean_env", "dump_to", "restore_from"]

_CHUNK = 1 << 20  # bytes per read from pg_dump
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_TIMEOUT = 3600.0  # s for a restore


def clean_env() -> dict[str, str]:
    """This process's environment without ``PG*`` variables (no stray password or host)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_MESSAGES"] = "C"
    return env


def _write_error(path: Path, exc: OSError) -> PlatformError:
    where = path.parent
    reason = exc.strerror or str(exc)
    if exc.errno in _FULL:
        return Unavailable(
            f"cannot write backup {path}: no space left in {where} ({reason}); free space "
            "there or set resources.backup_dir to another disk (older backups are untouched)"
        )
    if exc.errno == errno.EISDIR:
        return InvalidInput(
            f"cannot write backup {path}: a directory of that name exists; remove it or "
            "choose another backup name (older backups are untouched)"
        )
    if exc.errno in (errno.ENOTDIR, errno.ENOENT, errno.EEXIST):
        return InvalidInput(
            f"cannot write backup {path}: a part of {where} is not a directory ({reason}); "
            "fix the path or set resources.backup_dir"
        )
    return InvalidInput(
        f"cannot write backup {path}: {where} is not writable ({reason}); fix its "
        "permissions or set resources.backup_dir (older backups are untouched)"
    )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def dump_to(argv: list[str], path: Path, what: str) -> int:
    """Run ``argv`` (a ``pg_dump`` writing to stdout) into ``path``; returns bytes written.

    Raises ``InvalidInput``/``Unavailable`` for the target (see the module docstring), and
    ``Unavailable`` with pg_dump's message when it fails."""
    if path.is_dir():
        raise _write_error(path, IsADirectoryError(errno.EISDIR, "Is a directory"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    tmp = Path(tmp_name)
    try:
        with tempfile.TemporaryFile() as errors:
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=errors,
                    env=clean_env(),
                )
            except OSError as exc:
                raise Unavailable(
                    f"pg_dump of {what} did not run ({exc}); check settings.resources.pg_bin"
                ) from exc
            assert proc.stdout is not None
            size = 0
            try:
                while chunk := proc.stdout.read(_CHUNK):
                    _write_all(fd, chunk)
                    size += len(chunk)
                os.fsync(fd)
            except OSError as exc:
                proc.kill()
                raise _write_error(path, exc) from exc
            finally:
                proc.stdout.close()
                proc.wait()
            if proc.returncode != 0:
                errors.seek(0)
                message = errors.read().decode(errors="replace").strip()[-600:]
                raise Unavailable(f"pg_dump of {what} failed (exit {proc.returncode}): {message}")
        os.close(fd)
        fd = -1
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise _write_error(path, exc) from exc
        _fsync_dir(path.parent)
        return size
    finally:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def restore_from(argv: list[str], path: Path, what: str) -> None:
    """Run ``argv`` (a ``pg_restore`` reading ``path``). Raises ``NotFound`` when the backup
    is missing, ``InvalidInput`` when it is not a file, ``Unavailable`` with pg_restore's
    message when it fails (``--single-transaction``: then nothing was changed)."""
    if not path.exists():
        raise NotFound(f"backup {path} does not exist; list the backups of {what} and pick one")
    if not path.is_file():
        raise InvalidInput(f"backup {path} is not a file; give a pg_dump custom-format file")
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=clean_env(),
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"pg_restore into {what} did not run: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()[-600:]
        raise Unavailable(
            f"pg_restore of {path} into {what} failed (exit {done.returncode}), nothing was "
            f"changed: {message}"
        )
