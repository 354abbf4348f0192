"""Google sign-in without a Google account: a local token endpoint, certs and ID tokens.

The cloud-parity stack runs the functions with the real client libraries and no credentials
of their own, as on Cloud Run (where the metadata server supplies them). Here
``GOOGLE_APPLICATION_CREDENTIALS`` names a service-account key file generated at start (a fresh
RSA key, never committed) whose ``token_uri`` is this server, so ``google.auth.default()``
loads it unchanged: clients that sign their own JWTs (the Cloud Run Admin client) need nothing
more, and clients that exchange the key for an access token (``google-genai``) POST the signed
assertion here. The assertion is verified against the key's cert, as Google's endpoint does.

The same key signs ID tokens: Firebase / Identity Platform tokens of end users (their certs are
served at ``/certs`` in the format of Google's securetoken certs URL, for ``AUTH_CERTS_URL``),
and the Google ID tokens that Cloud Run's IAM check admits for the canary API.
(An authorized-user credentials file would not do: google-auth always replaces its token_uri
with Google's.)
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, exceptions, jwt

from testkit.fake_vertex import send_json

KEY_ID = "stack-key-1"
SERVICE_ACCOUNT = "stack-runtime@test-project.iam.gserviceaccount.com"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth addresses the assertion to Google's token endpoint whatever token_uri it posts to.
ASSERTION_AUDIENCE = "https://oauth2.googleapis.com/token"


class FakeGoogleAuth:
    """A token endpoint (``/token``) and a certs endpoint (``/certs``) over one signing key."""

    def __init__(self, project: str = "test-project") -> None:
        self.project = project
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self.cert_pem = _self_signed(self._key)
        self._signer = crypt.RSASigner.from_string(self.key_pem, key_id=KEY_ID)
        self._counter = itertools.count(1)
        self.issued: list[str] = []  # access tokens handed out, in order
        self.refused = 0  # token requests whose assertion did not verify
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/certs":
                    return send_json(self, 404, b'{"error": "not_found"}')
                body = json.dumps({KEY_ID: fake.cert_pem}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=19000, must-revalidate")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                status, answer = fake.exchange(form)
                send_json(self, status, json.dumps(answer).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGoogleAuth:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    @property
    def certs_url(self) -> str:
        return f"{self.url}/certs"

    def exchange(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """A JWT-bearer grant: the assertion must be signed by the key, for the token endpoint."""
        grant = form.get("grant_type", [""])[0]
        assertion = form.get("assertion", [""])[0]
        try:
            if grant != JWT_BEARER:
                raise ValueError(f"unsupported grant_type {grant!r}")
            claims = jwt.decode(
                assertion, certs={KEY_ID: self.cert_pem}, audience=ASSERTION_AUDIENCE
            )
            if claims.get("iss") != SERVICE_ACCOUNT:
                raise ValueError("unknown service account")
        except ValueError as exc:
            self.refused += 1
            return 400, {"error": "invalid_grant", "error_description": str(exc)}
        token = f"stack-access-token-{next(self._counter)}"
        self.issued.append(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def service_account_info(self) -> dict[str, str]:
        """A service-account key in the JSON format of ``gcloud iam service-accounts keys``."""
        return {
            "type": "service_account",
            "project_id": self.project,
            "private_key_id": KEY_ID,
            "private_key": self.key_pem,
            "client_email": SERVICE_ACCOUNT,
            "client_id": "100000000000000000001",
            "token_uri": self.token_uri,
        }

    def write_credentials(self, path: Path) -> Path:
        """The key file for ``GOOGLE_APPLICATION_CREDENTIALS`` (mode 0600, like a real key)."""
        path.write_text(json.dumps(self.service_account_info()), encoding="utf-8")
        path.chmod(0o600)
        return path

    def firebase_token(self, user: str, **overrides: Any) -> str:
        """An end user's Firebase / Identity Platform ID token for this project."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": f"https://securetoken.google.com/{self.project}",
            "aud": self.project,
            "sub": user,
            "user_id": user,
            "iat": now,
            "exp": now + 3600,
            "auth_time": now,
            **overrides,
        }
        return jwt.encode(self._signer, claims).decode()

    def check_invoker(self, headers: Mapping[str, str], audience: str) -> str | None:
        """Cloud Run's IAM check, as far as it concerns the caller's credentials: a Google ID
        token signed by this key, unexpired, for ``audience`` (the service's URL), naming a
        verified email. Returns what is wrong, or None to let the request in."""
        token = bearer(headers)
        if not token:
            return "an ID token is required (Authorization: Bearer)"
        try:
            claims = jwt.decode(token, certs={KEY_ID: self.cert_pem}, audience=audience)
        except (ValueError, exceptions.GoogleAuthError):
            return "the ID token is not valid for this service"
        if claims.get("iss") != "https://accounts.google.com" or not claims.get("email_verified"):
            return "the ID token does not name a verified Google account"
        return None

    def google_id_token(self, email: str, audience: str) -> str:
        """A Google ID token for ``email`` (what ``gcloud auth print-identity-token`` gives an
        operator, and what Cloud Run's IAM check admits)."""
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "aud": audience,
            "sub": f"sub-{email}",
            "email": email,
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
        }
        return jwt.encode(self._signer, claims).decode()


def bearer(headers: Mapping[str, str]) -> str:
    """The bearer credential of an ``Authorization`` header ("" when there is none)."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, credential = value.partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def _self_signed(key: rsa.RSAPrivateKey, *, loopback: bool = False) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "google-auth.test")])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
    )
    if loopback:  # a server certificate for 127.0.0.1 / localhost, its own root
        san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def loopback_tls() -> tuple[bytes, bytes]:
    """A private key and self-signed certificate (PEM) for a TLS server on 127.0.0.1: a fake
    of a gRPC API serves with it, and clients trust the certificate as their root."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, _self_signed(key, loopback=True).encode()
