"""The master keyring: which AES-256 master keys exist, which one is current, where they live.

Sources (the key never goes into the database):

- ``settings.secrets.master_key`` (env ``GOLDENPATH_SECRETS__MASTER_KEY``): bare base64 of
  32 bytes (key id ``env``), or ``kid:base64``, or several ``kid:base64`` separated by commas —
  the first is current, the others only open older rows (how an environment-held key is
  rotated). When set, the file is not read.
- else the key file (``settings.secrets.master_key_file``, default ``<home>/keys/master.key``):
  JSON ``{"current": kid, "keys": {kid: base64}}``, created mode 0600 (its directory 0700) on
  first use. A file readable or writable by group or others is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from goldenpath.errors import InvalidInput, Unavailable
from goldenpath.settings import Settings

__all__ = [
    "ENV_VAR",
    "KEY_BYTES",
    "Keyring",
    "MasterKeyMissing",
    "key_file_path",
    "load_keyring",
]

ENV_VAR = "GOLDENPATH_SECRETS__MASTER_KEY"
KEY_BYTES = 32
_KID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class MasterKeyMissing(Unavailable):
    """A stored secret is wrapped by a master key the keyring does not hold (HTTP 503).

    Raised when the secrets service starts: the platform refuses to run rather than fail
    every read later. The message names the key id and both ways to supply it.
    """

    title = "Master key missing"
    code = "master_key_missing"


def key_file_path(settings: Settings) -> Path:
    """``secrets.master_key_file`` or ``<home>/keys/master.key``."""
    return settings.secrets.master_key_file or settings.home / "keys" / "master.key"


def _decode_key(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidInput(f"{where}: the master key is not valid base64") from e
    if len(raw) != KEY_BYTES:
        raise InvalidInput(
            f"{where}: the master key must be {KEY_BYTES} bytes (base64 of 32 random bytes, "
            f"e.g. `head -c 32 /dev/urandom | base64`), got {len(raw)}"
        )
    return raw


def _check_kid(kid: str, where: str) -> str:
    if not _KID.match(kid):
        raise InvalidInput(
            f"{where}: key id {kid!r} is invalid: use letters, digits, '.', '_', '-' "
            "(at most 64 characters)"
        )
    return kid


def _encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@dataclass
class Keyring:
    """Master keys by id and the current one.

    Attributes:
        keys: key id → 32 raw bytes.
        current: the id new data keys are wrapped with.
        source: ``env`` (from settings/environment; read-only) or ``file``.
        path: the key file (written only when ``source == "file"``; named in messages).
    """

    keys: dict[str, bytes]
    current: str
    source: Literal["env", "file"]
    path: Path | None = None
    _aeads: dict[str, AESGCM] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:  # never show key material
        return f"Keyring(current={self.current!r}, ids={sorted(self.keys)}, source={self.source})"

    def missing_message(self, kid: str) -> str:
        """``master key 'k2' is missing: set GOLDENPATH_SECRETS__MASTER_KEY or restore <file>``."""
        where = self.path or "the key file"
        return (
            f"master key {kid!r} is missing: set {ENV_VAR} (as '{kid}:<base64>') or restore "
            f"{where}; stored secrets are wrapped with it and cannot be read without it"
        )

    def aead(self, kid: str) -> AESGCM:
        """The AES-GCM cipher of master key ``kid``.

        Raises:
            MasterKeyMissing: the keyring has no key ``kid``.
        """
        found = self._aeads.get(kid)
        if found is None:
            if kid not in self.keys:
                raise MasterKeyMissing(self.missing_message(kid), details={"keyId": kid})
            found = self._aeads[kid] = AESGCM(self.keys[kid])
        return found

    def add_new(self) -> str:
        """Create a fresh random key, make it current and save the file; returns its id.

        Raises:
            InvalidInput: the keyring comes from the environment (it cannot be written).
        """
        self._require_file("rotate the master key")
        numbers = [int(k[1:]) for k in self.keys if re.fullmatch(r"k\d+", k)]
        kid = f"k{max(numbers, default=0) + 1}"
        while kid in self.keys:
            kid += "x"
        self.keys[kid] = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        self.current = kid
        self.save()
        return kid

    def discard(self, kids: Iterable[str]) -> list[str]:
        """Remove keys ``kids`` (never the current one) from the file; returns those removed."""
        self._require_file("remove old master keys")
        gone = [k for k in kids if k in self.keys and k != self.current]
        for kid in gone:
            del self.keys[kid]
            self._aeads.pop(kid, None)
        if gone:
            self.save()
        return gone

    def save(self, *, exclusive: bool = False) -> None:
        """Write the key file atomically with mode 0600 (its directory 0700)."""
        assert self.path is not None
        doc = {"current": self.current, "keys": {k: _encode(v) for k, v in self.keys.items()}}
        _write_private(
            self.path, json.dumps(doc, indent=2, sort_keys=True) + "\n", exclusive=exclusive
        )

    def _require_file(self, what: str) -> None:
        if self.source != "file":
            raise InvalidInput(
                f"cannot {what}: the master key comes from {ENV_VAR}; put the new key first "
                f"('new:<base64>,{self.current}:<base64>'), restart, run the rotation again "
                "(it re-wraps every row under the first key), then drop the old key"
            )


def _write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` to ``path`` (0600) atomically; ``exclusive``: FileExistsError if it exists."""
    parent = path.parent
    if not parent.exists():
        parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        os.chmod(parent, 0o700)
    tmp = parent / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        if exclusive:
            os.link(tmp, path)  # fails when another process created the file first
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _from_setting(value: str) -> Keyring:
    where = ENV_VAR
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        kid, sep, b64 = part.partition(":")
        if not sep:
            kid, b64 = "env", part
        kid = _check_kid(kid.strip(), where)
        if kid in keys:
            raise InvalidInput(f"{where}: key id {kid!r} appears twice")
        keys[kid] = _decode_key(b64, f"{where} (key {kid!r})")
        order.append(kid)
    if not order:
        raise InvalidInput(f"{where} is set but empty; unset it or give '<kid>:<base64>'")
    return Keyring(keys=keys, current=order[0], source="env")


def _read_file(path: Path) -> Keyring:
    mode = path.stat().st_mode
    if mode & 0o077:
        raise InvalidInput(
            f"{path}: the master key file is accessible by group or others "
            f"(mode {stat.filemode(mode)}); run `chmod 600 {path}` and start again"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidInput(f"{path}: cannot read the master key file: {e}") from e
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("keys"), dict)
        or not isinstance(doc.get("current"), str)
    ):
        raise InvalidInput(
            f'{path}: expected JSON {{"current": "<kid>", "keys": {{"<kid>": "<base64>"}}}}'
        )
    keys = {
        _check_kid(str(k), str(path)): _decode_key(str(v), f"{path} (key {k!r})")
        for k, v in doc["keys"].items()
    }
    if doc["current"] not in keys:
        raise InvalidInput(f"{path}: current key {doc['current']!r} is not among its keys")
    return Keyring(keys=keys, current=doc["current"], source="file", path=path)


def load_keyring(settings: Settings, *, create: bool) -> Keyring | None:
    """The keyring from the setting/environment, else from the key file.

    Args:
        create: make a new key file (one key ``k1``) when there is none; else return ``None``.

    Raises:
        InvalidInput: a malformed key or file, or a key file readable by group/others.
    """
    path = key_file_path(settings)
    if settings.secrets.master_key:
        ring = _from_setting(settings.secrets.master_key)
        ring.path = path  # named in messages only; an environment keyring is never written
        return ring
    if path.exists():
        return _read_file(path)
    if not create:
        return None
    ring = Keyring(
        keys={"k1": AESGCM.generate_key(bit_length=KEY_BYTES * 8)},
        current="k1",
        source="file",
        path=path,
    )
    try:
        ring.save(exclusive=True)
    except FileExistsError:  # another process created it meanwhile: use theirs
        return _read_file(path)
    return ring
