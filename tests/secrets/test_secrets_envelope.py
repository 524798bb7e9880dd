"""Envelope encryption (AES-256-GCM data keys wrapped by a master key): round trips, and
every way a sealed value can be moved or altered fails to open."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from goldenpath.secrets import envelope
from goldenpath.secrets.envelope import Sealed, SecretIntegrityError

MASTER = AESGCM(AESGCM.generate_key(bit_length=256))
AAD = envelope.value_aad("DB_PASSWORD", "api", "dev", 3)


def test_a_value_round_trips_and_is_not_stored_in_clear() -> None:
    value = b"hunter2-correct-horse"
    sealed = envelope.seal(MASTER, "k1", value, name="DB_PASSWORD", aad=AAD)
    assert value not in sealed.ciphertext and value not in sealed.wrapped_key
    assert sealed.key_id == "k1"
    assert envelope.open_value(MASTER, sealed, name="DB_PASSWORD", aad=AAD) == value
    again = envelope.seal(MASTER, "k1", value, name="DB_PASSWORD", aad=AAD)
    assert again.ciphertext != sealed.ciphertext  # fresh data key and nonce every time
    assert again.wrapped_key != sealed.wrapped_key


@pytest.mark.parametrize(
    "aad",
    [
        envelope.value_aad("DB_PASSWORD", "api", "dev", 2),  # another version
        envelope.value_aad("DB_PASSWORD", "api", None, 3),  # another scope
        envelope.value_aad("DB_PASSWORD", None, "dev", 3),
        envelope.value_aad("DB_PASSWORD", "web", "dev", 3),
    ],
)
def test_a_value_moved_to_another_row_does_not_open(aad: bytes) -> None:
    sealed = envelope.seal(MASTER, "k1", b"s3cret-value", name="DB_PASSWORD", aad=AAD)
    with pytest.raises(SecretIntegrityError, match="failed authentication"):
        envelope.open_value(MASTER, sealed, name="DB_PASSWORD", aad=aad)


def test_tampered_blobs_another_name_or_master_key_do_not_open() -> None:
    sealed = envelope.seal(MASTER, "k1", b"s3cret-value", name="DB_PASSWORD", aad=AAD)
    flipped = bytearray(sealed.ciphertext)
    flipped[-1] ^= 1
    with pytest.raises(SecretIntegrityError, match="DB_PASSWORD"):
        envelope.open_value(
            MASTER, Sealed(bytes(flipped), sealed.wrapped_key, "k1"), name="DB_PASSWORD", aad=AAD
        )
    wrapped = bytearray(sealed.wrapped_key)
    wrapped[14] ^= 1
    with pytest.raises(SecretIntegrityError, match="does not open with master key 'k1'"):
        envelope.open_value(
            MASTER, Sealed(sealed.ciphertext, bytes(wrapped), "k1"), name="DB_PASSWORD", aad=AAD
        )
    # the data key is bound to the secret's name and the key id
    with pytest.raises(SecretIntegrityError):
        envelope.open_value(MASTER, sealed, name="OTHER", aad=AAD)
    with pytest.raises(SecretIntegrityError):
        envelope.open_value(
            MASTER, Sealed(sealed.ciphertext, sealed.wrapped_key, "k2"), name="DB_PASSWORD", aad=AAD
        )
    other = AESGCM(AESGCM.generate_key(bit_length=256))
    with pytest.raises(SecretIntegrityError, match="master key 'k1'"):
        envelope.open_value(other, sealed, name="DB_PASSWORD", aad=AAD)


def test_messages_never_contain_the_value() -> None:
    sealed = envelope.seal(MASTER, "k1", b"the-value-itself", name="TOKEN", aad=AAD)
    with pytest.raises(SecretIntegrityError) as caught:
        envelope.open_value(MASTER, sealed, name="TOKEN", aad=b"wrong")
    assert "the-value-itself" not in str(caught.value)
