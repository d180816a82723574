"""A throwaway CA, a loopback server certificate and a web config, for tests and the demo.

Everything is generated in memory with ``cryptography`` and written to one folder; nothing here is
meant for production certificates. ``cryptography`` is a dev dependency, not one of kubepulse's:
it is imported only when ``make_loopback_pki`` runs, so the installed package imports without it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["LoopbackPKI", "make_loopback_pki", "write_web_config"]


@dataclass(frozen=True)
class LoopbackPKI:
    """Paths of the PEM files written by ``make_loopback_pki``."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_loopback_pki(directory: Path) -> LoopbackPKI:
    """Write a CA, a server cert for 127.0.0.1/localhost and a client cert, all signed by the CA."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError as exc:
        raise ImportError(
            "make_loopback_pki needs cryptography, a dev dependency: pip install -e '.[dev]'"
        ) from exc

    def new_key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = new_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubepulse test CA")])

    def certificate(
        subject: x509.Name, key: ec.EllipticCurvePrivateKey, *, ca: bool
    ) -> x509.CertificateBuilder:
        """What every certificate here has: ``subject``'s ``key``, issued by the CA, valid from
        five minutes ago for a day, a CA's or not."""
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )

    ca = (
        certificate(ca_name, ca_key, ca=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        name: str, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (
            certificate(subject, key, ca=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    server_key, server = leaf(
        "127.0.0.1",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    client_key, client = leaf("kubepulse test client", ExtendedKeyUsageOID.CLIENT_AUTH, [])

    def write_cert(name: str, cert: x509.Certificate) -> Path:
        path = directory / name
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    def write_key(name: str, key: ec.EllipticCurvePrivateKey) -> Path:
        path = directory / name
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
        return path

    return LoopbackPKI(
        ca_cert=write_cert("ca.crt", ca),
        server_cert=write_cert("server.crt", server),
        server_key=write_key("server.key", server_key),
        client_cert=write_cert("client.crt", client),
        client_key=write_key("client.key", client_key),
    )


def write_web_config(
    path: Path,
    pki: LoopbackPKI | None = None,
    users: Mapping[str, str] | None = None,
    *,
    rounds: int = 10,
    client_auth: bool = False,
) -> Path:
    """Write an exporter-toolkit web config; ``users`` maps names to plain passwords.

    Passwords are bcrypt-hashed here with ``rounds`` (low by default to keep tests quick).
    """
    config: dict[str, object] = {}
    if pki is not None:
        tls: dict[str, str] = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
        if client_auth:
            tls["client_ca_file"] = str(pki.ca_cert)
            tls["client_auth_type"] = "RequireAndVerifyClientCert"
        config["tls_server_config"] = tls
    if users:
        import bcrypt

        config["basic_auth_users"] = {
            user: bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds)).decode()
            for user, pw in users.items()
        }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path
