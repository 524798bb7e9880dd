"""Envelope encryption of one secret version (AES-256-GCM, ``cryptography``'s AESGCM).

Each version gets a fresh 256-bit data key. The value is sealed with the data key under a
random 96-bit nonce and associated data binding it to its row (scope, name, version), so a
ciphertext copied to another row, scope or version fails to open. The data key is sealed
with a master key (associated data: key id and secret name) and stored next to the key id;
the master key itself never reaches the store.

Stored blobs are ``nonce (12 bytes) || ciphertext+tag``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from goldenpath.errors import PlatformError

__all__ = [
    "NONCE_BYTES",
    "Sealed",
    "SecretIntegrityError",
    "open_data_key",
    "open_value",
    "seal",
    "seal_data_key",
    "value_aad",
]

NONCE_BYTES = 12
_DATA_KEY_BITS = 256


class SecretIntegrityError(PlatformError):
    """A stored secret failed authentication: tampered with, moved, or sealed under another key.

    HTTP 500: the store or the keyring is inconsistent; an operator must look.
    """

    title = "Secret integrity check failed"
    status = 500
    code = "secret_integrity"


@dataclass(frozen=True, slots=True)
class Sealed:
    """What the store keeps for one version: both blobs and the master key id."""

    ciphertext: bytes
    wrapped_key: bytes
    key_id: str


def value_aad(name: str, service: str | None, environment: str | None, version: int) -> bytes:
    """Canonical associated data of a value: JSON (format, service, environment, name, version)."""
    doc = ["goldenpath-secret/1", service, environment, name, version]
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


def _key_aad(key_id: str, name: str) -> bytes:
    return json.dumps(["goldenpath-data-key/1", key_id, name], separators=(",", ":")).encode()


def _seal(aead: AESGCM, plain: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, plain, aad)


def _open(aead: AESGCM, blob: bytes, aad: bytes) -> bytes:
    return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)


def seal_data_key(master: AESGCM, key_id: str, name: str, data_key: bytes) -> bytes:
    """Wrap ``data_key`` with the master key ``key_id`` (AAD: key id + name)."""
    return _seal(master, data_key, _key_aad(key_id, name))


def open_data_key(master: AESGCM, key_id: str, name: str, wrapped: bytes) -> bytes:
    """Unwrap a data key.

    Raises:
        SecretIntegrityError: the master key is not the one that wrapped it, or the blob or
            its name/key id were changed.
    """
    try:
        return _open(master, wrapped, _key_aad(key_id, name))
    except (InvalidTag, ValueError) as e:
        raise SecretIntegrityError(
            f"secret {name}: its data key does not open with master key {key_id!r}; the key "
            "file or GOLDENPATH_SECRETS__MASTER_KEY holds a different key under that id, or "
            "the stored row was altered"
        ) from e


def seal(master: AESGCM, key_id: str, value: bytes, *, name: str, aad: bytes) -> Sealed:
    """Seal ``value`` under a fresh data key wrapped by ``master`` (key id ``key_id``)."""
    data_key = AESGCM.generate_key(bit_length=_DATA_KEY_BITS)
    return Sealed(
        ciphertext=_seal(AESGCM(data_key), value, aad),
        wrapped_key=seal_data_key(master, key_id, name, data_key),
        key_id=key_id,
    )


def open_value(master: AESGCM, sealed: Sealed, *, name: str, aad: bytes) -> bytes:
    """Open one stored version (the inverse of :func:`seal`).

    Raises:
        SecretIntegrityError: wrong master key, or the row was tampered with or moved
            (the message names the secret, never a value).
    """
    data_key = open_data_key(master, sealed.key_id, name, sealed.wrapped_key)
    try:
        return _open(AESGCM(data_key), sealed.ciphertext, aad)
    except (InvalidTag, ValueError) as e:
        raise SecretIntegrityError(
            f"secret {name}: the stored ciphertext failed authentication (altered, or copied "
            "from another secret, scope or version); set the secret again"
        ) from e
