"""RSA keys for the simulated GitHub App (tests and `trunkwatch demo`)."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def generate_private_key_pem(bits: int = 2048) -> str:
    """A fresh RSA private key, PEM (PKCS#8), as GitHub hands an App's key out."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_key_pem(private_key_pem: str) -> str:
    """The public half of a PEM private key, PEM."""
    key = serialization.load_pem_private_key(private_key_pem.encode("ascii"), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
