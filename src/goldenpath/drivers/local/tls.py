"""The router's local certificate authority and its leaf certificates (``cryptography``).

The seed's "TLS certificates and ingress" on one machine: a private CA lives under
``<home>/run/router/ca/`` (``ca.pem`` to trust, ``ca.key`` mode 0600, ECDSA P-256, 10 years)
and signs one leaf per environment for ``*.<environment>.<domain>`` (and
``<environment>.<domain>``), 90 days, re-issued when missing, expiring within 14 days,
naming other hosts, or signed by another CA. A leaf is written as one PEM file holding the
certificate, the CA certificate and the private key (mode 0600): the form HAProxy's ``crt``
takes. Trust ``ca.pem`` (``curl --cacert``, ``httpx.Client(verify=...)``) to use the https URLs.

Nothing here talks to the network; all functions are idempotent.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from goldenpath.errors import InvalidInput

__all__ = [
    "CA_DAYS",
    "LEAF_DAYS",
    "RENEW_BEFORE_DAYS",
    "CertificateAuthority",
    "ensure_ca",
    "ensure_leaf",
    "leaf_names",
]

CA_DAYS = 3650
LEAF_DAYS = 90
RENEW_BEFORE_DAYS = 14


@dataclass(frozen=True)
class CertificateAuthority:
    """The local CA: ``cert_path`` (PEM, world-readable) and ``key_path`` (PEM, 0600)."""

    cert_path: Path
    key_path: Path

    def load(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """The CA certificate and key; raises ``InvalidInput`` naming the file when unreadable."""
        try:
            cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        except (OSError, ValueError) as e:
            raise InvalidInput(
                f"{self.cert_path.parent}: cannot read the router's local CA ({e}); "
                "delete the folder to create a new CA (clients must then trust the new ca.pem)"
            ) from e
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise InvalidInput(f"{self.key_path}: the local CA key must be an EC key")
        return cert, key


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 from the first byte (atomic replace)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ensure_ca(directory: Path) -> CertificateAuthority:
    """The CA under ``directory`` (``ca.pem`` + ``ca.key``), created when either is missing.

    Raises:
        InvalidInput: the existing files are unreadable (the message says how to start over).
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = CertificateAuthority(directory / "ca.pem", directory / "ca.key")
    if ca.cert_path.is_file() and ca.key_path.is_file():
        ca.load()
        return ca
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "goldenpath"),
            x509.NameAttribute(
                NameOID.COMMON_NAME, f"goldenpath local CA ({socket.gethostname()[:30]})"
            ),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(ca.key_path, _key_pem(key))
    tmp = ca.cert_path.with_name(".ca.pem.tmp")
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(tmp, 0o644)
    os.replace(tmp, ca.cert_path)
    return ca


def leaf_names(environment: str, domain: str) -> list[str]:
    """The DNS names of an environment's leaf: ``*.<env>.<domain>`` and ``<env>.<domain>``."""
    return [f"*.{environment}.{domain}", f"{environment}.{domain}"]


def _leaf_is_current(pem: Path, ca_cert: x509.Certificate, names: list[str]) -> bool:
    try:
        certs = x509.load_pem_x509_certificates(pem.read_bytes())
    except (OSError, ValueError):
        return False
    if not certs:
        return False
    leaf = certs[0]
    if leaf.not_valid_after_utc - _now() < dt.timedelta(days=RENEW_BEFORE_DAYS):
        return False
    if leaf.issuer != ca_cert.subject:
        return False
    try:
        leaf.verify_directly_issued_by(ca_cert)
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return sorted(sans.get_values_for_type(x509.DNSName)) == sorted(names)


def ensure_leaf(ca: CertificateAuthority, names: list[str], pem_path: Path) -> bool:
    """Make ``pem_path`` hold a current leaf for ``names`` signed by ``ca``.

    Args:
        ca: from :func:`ensure_ca`.
        names: DNS names (the first is the subject CN), e.g. from :func:`leaf_names`.
        pem_path: the combined PEM (leaf, CA, key; mode 0600) HAProxy loads.

    Returns:
        True when a new leaf was written (HAProxy must reload to serve it), False when the
        existing one is still good.
    """
    if not names:
        raise InvalidInput("a leaf certificate needs at least one DNS name")
    ca_cert, ca_key = ca.load()
    if _leaf_is_current(pem_path, ca_cert, names):
        return False
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_private(
        pem_path,
        cert.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM)
        + _key_pem(key),
    )
    return True
