"""AWS SNS over HTTP(S): which hosts are SNS, and the message signature check.

SNS signs every message it posts (notifications and subscription confirmations) with the
key of an X.509 certificate it publishes at `SigningCertURL`. We accept a message only when
that URL is an AWS SNS host over HTTPS (AWS's own pattern, so lookalikes such as
`sns.attacker-bucket.s3.amazonaws.com` fail) and the signature verifies over AWS's canonical
string: `SignatureVersion` 1 is SHA1withRSA, 2 is SHA256withRSA.
See https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

# The pattern AWS documents for SNS endpoints (the SDKs' message validators use it too).
SNS_HOST = re.compile(r"^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$")

_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)


class SnsSignatureError(ValueError):
    """An SNS message whose signature is missing, malformed or wrong."""


def is_sns_url(url: str) -> bool:
    """True only for https URLs on an AWS SNS host (no request forgery to anything else)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return False
    return parts.scheme == "https" and port in (None, 443) and bool(SNS_HOST.match(host))


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """AWS's canonical form: `name\\nvalue\\n` for each signed field present, in order."""
    kind = message.get("Type")
    names = _NOTIFICATION_FIELDS if kind == "Notification" else _CONFIRMATION_FIELDS
    parts: list[str] = []
    for name in names:
        value = message.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise SnsSignatureError(f"SNS {kind} without '{name}'")
        if not isinstance(value, str):
            raise SnsSignatureError(f"SNS {kind}: '{name}' must be a string")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


def fetch_certificate(url: str) -> bytes:
    response = httpx.get(url, timeout=10, follow_redirects=False)
    response.raise_for_status()
    return response.content


class SnsVerifier:
    """Verifies SNS signatures; certificates are fetched once per URL and cached."""

    def __init__(self, fetch: Callable[[str], bytes] | None = None) -> None:
        self._fetch = fetch or fetch_certificate
        self._keys: dict[str, Any] = {}
        self._lock = threading.Lock()

    def verify(self, message: Mapping[str, Any]) -> None:
        """Raise `SnsSignatureError` unless `message` carries a valid SNS signature."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        version = message.get("SignatureVersion")
        algorithms = {"1": hashes.SHA1, "2": hashes.SHA256}
        if version not in algorithms:
            raise SnsSignatureError("SNS message without SignatureVersion 1 or 2")
        cert_url = message.get("SigningCertURL") or message.get("SigningCertUrl")
        if not isinstance(cert_url, str) or not is_sns_url(cert_url):
            raise SnsSignatureError("SNS SigningCertURL is not an https://sns.*.amazonaws.com URL")
        signature = message.get("Signature")
        if not isinstance(signature, str):
            raise SnsSignatureError("SNS message without a Signature")
        try:
            raw_signature = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raise SnsSignatureError("SNS Signature is not base64") from None
        key = self._public_key(cert_url)
        try:
            key.verify(
                raw_signature, string_to_sign(message), padding.PKCS1v15(), algorithms[version]()
            )
        except InvalidSignature:
            raise SnsSignatureError("SNS signature does not verify") from None

    def _public_key(self, url: str) -> Any:
        from cryptography import x509

        with self._lock:
            if url in self._keys:
                return self._keys[url]
        try:
            pem = self._fetch(url)
            certificate = x509.load_pem_x509_certificate(pem)
        except (httpx.HTTPError, ValueError) as exc:
            raise SnsSignatureError(
                f"cannot load the SNS signing certificate ({type(exc).__name__})"
            ) from None
        key = certificate.public_key()
        with self._lock:
            self._keys[url] = key
        return key
