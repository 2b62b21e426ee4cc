"""A small token server for the registry's Bearer auth, as Docker Hub's auth.docker.io is one: the
registry answers 401 with `WWW-Authenticate: Bearer realm=<this>,service=...,scope=...`; the client
asks here (with a password, or without for anonymous pulls) and gets a JWT the registry checks.

The JWT is signed RS256 with a key whose self-signed certificate the registry trusts
(auth.token.rootcertbundle); its header's "kid" is libtrust's fingerprint of that public key, the
registry's way to find it. Signing is done by the openssl command, so the tests need no crypto module.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_kid(der_public_key: bytes) -> str:
    """libtrust's key ID: base32 of the first 30 bytes of sha256(DER SPKI), in groups of 4 joined by ':'."""
    s = base64.b32encode(hashlib.sha256(der_public_key).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


class TokenIssuer:
    """users: {"alice": "s3cret"}; a known user gets pull and push, anyone else pull only."""

    def __init__(self, where: Path, service: str, users: dict[str, str]):
        self.service, self.users, self.issued = service, users, []
        self.key, self.cert = where / "issuer.key", where / "issuer.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key), "-out",
                        str(self.cert), "-days", "2", "-subj", "/CN=labkit-test-issuer"], check=True, capture_output=True)
        der = subprocess.run(["openssl", "rsa", "-in", str(self.key), "-pubout", "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.kid = libtrust_kid(der)
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                q = parse_qs(urlparse(self.path).query)
                user = issuer.user(self.headers.get("Authorization", ""))
                if user is False:
                    self.send_response(401)
                    self.end_headers()
                    return
                token = issuer.token(user, q.get("service", [""])[0], q.get("scope", []))
                body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def user(self, header: str):
        """None: anonymous; a name: a right password; False: a wrong one."""
        if not header.startswith("Basic "):
            return None
        name, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return name if self.users.get(name) == password else False

    def token(self, user, service: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":")
            allowed = [a for a in actions.split(",") if a == "pull" or (user and a in ("push", "*"))]
            access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        claims = {"iss": "labkit-test-issuer", "sub": user or "", "aud": service, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": hashlib.sha256(f"{now}{scopes}".encode()).hexdigest()[:16], "access": access}
        head = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=signing.encode(),
                             check=True, capture_output=True).stdout
        self.issued.append((user, scopes))
        return f"{signing}.{b64url(sig)}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
