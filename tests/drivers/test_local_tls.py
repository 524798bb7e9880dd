"""The router's local CA and leaf certificates: created once, kept private, renewed in time."""

from __future__ import annotations

import shutil
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from goldenpath.drivers.local import tls
from goldenpath.errors import InvalidInput


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_is_created_once_with_a_private_key(tmp_path: Path) -> None:
    ca = tls.ensure_ca(tmp_path / "ca")
    assert _mode(ca.key_path) == 0o600
    cert = x509.load_pem_x509_certificate(ca.cert_path.read_bytes())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    before = ca.cert_path.read_bytes()
    assert tls.ensure_ca(tmp_path / "ca").cert_path.read_bytes() == before
    # the CA loads as a trust anchor, as clients will use it
    ssl.create_default_context(cafile=str(ca.cert_path))


def test_leaf_is_issued_once_and_reissued_when_names_change(tmp_path: Path) -> None:
    ca = tls.ensure_ca(tmp_path / "ca")
    pem = tmp_path / "certs" / "dev.pem"
    names = tls.leaf_names("dev", "localhost")
    assert names == ["*.dev.localhost", "dev.localhost"]
    assert tls.ensure_leaf(ca, names, pem) is True
    assert _mode(pem) == 0o600
    assert tls.ensure_leaf(ca, names, pem) is False
    leaf = x509.load_pem_x509_certificates(pem.read_bytes())[0]
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert_path.read_bytes()))
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted(names)
    assert tls.ensure_leaf(ca, tls.leaf_names("dev", "example.test"), pem) is True


def test_expiring_leaf_is_renewed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = tls.ensure_ca(tmp_path / "ca")
    pem = tmp_path / "dev.pem"
    monkeypatch.setattr(tls, "LEAF_DAYS", tls.RENEW_BEFORE_DAYS - 1)
    assert tls.ensure_leaf(ca, ["*.dev.localhost"], pem) is True
    monkeypatch.setattr(tls, "LEAF_DAYS", 90)
    assert tls.ensure_leaf(ca, ["*.dev.localhost"], pem) is True  # was inside the window
    assert tls.ensure_leaf(ca, ["*.dev.localhost"], pem) is False


def test_a_new_ca_reissues_leaves_and_a_broken_ca_is_named(tmp_path: Path) -> None:
    ca = tls.ensure_ca(tmp_path / "ca")
    pem = tmp_path / "dev.pem"
    tls.ensure_leaf(ca, ["*.dev.localhost"], pem)
    shutil.rmtree(tmp_path / "ca")
    fresh = tls.ensure_ca(tmp_path / "ca")
    assert tls.ensure_leaf(fresh, ["*.dev.localhost"], pem) is True
    fresh.key_path.write_text("not a key")
    with pytest.raises(InvalidInput, match="local CA"):
        tls.ensure_ca(tmp_path / "ca")
