"""A client of a registry's HTTP API (the OCI distribution spec, which Docker Hub speaks too).

What a pull asks, in order, for localhost:5000/team/app:v1:

    GET  /v2/                                    is this a registry? 401 says how to log in
    GET  /v2/team/app/manifests/v1               the manifest, or an index of one per platform
    GET  /v2/team/app/blobs/sha256:<config>      the image's config (its ID is this digest)
    GET  /v2/team/app/blobs/sha256:<layer>       each layer, streamed and checked as it comes

and a push, for each blob the registry lacks (HEAD says), then the manifest:

    HEAD /v2/team/app/blobs/sha256:<d>           200: there already
    POST /v2/team/app/blobs/uploads/             202, Location: where to upload
    PUT  <Location>?digest=sha256:<d>            the bytes, in one request
    PUT  /v2/team/app/manifests/v1               the manifest: now the tag exists

Logging in: a 401 carries `WWW-Authenticate`. "Basic realm=..." wants the user and password with
every request. "Bearer realm=https://auth.docker.io/token,service=registry.docker.io,
scope=repository:library/busybox:pull" (Docker Hub's) wants a token: GET the realm with service
and scope (and the password, if any), then send "Authorization: Bearer <token>".

A registry on 127.0.0.0/8, ::1 or localhost is spoken to over plain HTTP, as Docker does; any other
over HTTPS unless settings list it as insecure. With LABKIT_OFFLINE=1 in the environment (a room with
no network; the test suite) only those local registries are spoken to at all.
"""

from __future__ import annotations

import ipaddress
import os
import re

from ..errors import LabkitError, NotFound, NotPermitted

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"  # where docker.io's API answers

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEXES = (MT_OCI_INDEX, MT_DOCKER_LIST)
MANIFESTS = (MT_OCI_MANIFEST, MT_DOCKER_MANIFEST)
ACCEPT = ", ".join(INDEXES + MANIFESTS)


class RegistryError(LabkitError):
    """A registry answered with an error, or could not be reached."""


class Offline(RegistryError):
    """LABKIT_OFFLINE is set and the registry is not the lab's own."""


class Unauthorized(NotPermitted):
    """The registry wants credentials labkit does not have."""


class ManifestUnknown(NotFound):
    """The registry has no such name or tag."""


def is_local(host: str) -> bool:
    """True for a registry on this machine: localhost, 127.0.0.0/8 or ::1, with any port."""
    if host.startswith("["):  # [::1]:5000
        name = host[1:host.find("]")]
    else:  # localhost:5000, 127.0.0.1
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"' ->
    ("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io"})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}
    params.update({k.lower(): v for k, v in re.findall(r'(\w+)=([^",\s]+)', rest) if k.lower() not in params})
    return scheme.lower(), params


class Registry:
    """One registry: its base URL, the credentials to use, and the tokens it has handed out.

        reg = Registry("localhost:5000")
        data, media_type, digest = reg.manifest("team/app", "v1")
    """

    def __init__(self, host: str, auth: tuple[str, str] | None = None, insecure: bool | None = None,
                 timeout: float = 30.0, client=None):
        import httpx

        self.host = host
        self.api = DOCKER_HUB_API if host == DOCKER_HUB else host
        if os.environ.get("LABKIT_OFFLINE") and not is_local(self.api):  # an offline workshop; the tests
            raise Offline("error.images.machine-labkit-offline-set", host=host)
        if insecure is None:  # the lab's settings.json lists it (settings.py)
            from ..settings import load

            insecure = host in load().get("insecure-registries", [])
        self.scheme = "http" if insecure or is_local(self.api) else "https"
        self.base = f"{self.scheme}://{self.api}"
        self.auth = auth
        self.tokens: dict[str, str] = {}  # scope -> bearer token
        self.basic = False  # the registry asked for Basic auth: send it with every request
        self.http = client or httpx.Client(timeout=timeout, follow_redirects=True)

    def __repr__(self) -> str:
        return f"<Registry {self.base}{' (logged in as ' + self.auth[0] + ')' if self.auth else ''}>"

    def close(self) -> None:
        self.http.close()

    # -- requests, with logging in on a 401 --------------------------------------------------------
    def request(self, method: str, url: str, scope: str, stream: bool = False, **kw):
        """One request to the registry; on a 401, log in as its challenge says and try once more.
        `scope` is what the request needs: "repository:team/app:pull" (or ":pull,push")."""
        import httpx

        url = url if url.startswith("http") else self.base + url
        extra = kw.pop("headers", None) or {}
        for attempt in (1, 2):
            headers = dict(extra)
            if scope in self.tokens:
                headers["Authorization"] = f"Bearer {self.tokens[scope]}"
            try:
                resp = self.http.send(self.http.build_request(method, url, headers=headers, **kw), stream=stream,
                                      auth=self.auth if self.basic else None)
            except httpx.HTTPError as e:
                raise RegistryError("error.images.value", method=method, url=url, e=e) from None
            if resp.status_code != 401 or attempt == 2:
                return resp
            challenge = resp.headers.get("WWW-Authenticate", "")
            resp.close()
            self._login(challenge, scope)
        return resp

    def _login(self, challenge: str, scope: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if not self.auth:
                raise Unauthorized("error.images.wants-user-name-password", host=self.host)
            self.basic = True
            return
        if scheme != "bearer" or "realm" not in params:
            raise Unauthorized("error.images.asks-authentication-labkit-does", host=self.host, challenge=challenge)
        query = {"service": params.get("service", "")}
        if scope:
            query["scope"] = scope
        try:
            resp = self.http.get(params["realm"], params=query, auth=self.auth)
        except Exception as e:  # noqa: BLE001 - the token server is unreachable: say so
            raise RegistryError("error.images.token-server-did-answer", params_realm=params['realm'], e=e) from None
        if resp.status_code in (401, 403):
            raise Unauthorized("error.images.refused-token", params_realm=params['realm'], scope_or_this_regist=scope or 'this registry', as_self_auth_0_if_se=' as ' + self.auth[0] if self.auth else ' without logging in')
        if resp.status_code != 200:
            raise RegistryError("error.images.token-server-answered", params_realm=params['realm'], status_code=resp.status_code)
        body = resp.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError("error.images.token-server-sent-no", params_realm=params['realm'])
        self.tokens[scope] = token

    def check(self, resp, what: str):
        """Raise the matching error for a failed response about `what`, or return it."""
        if resp.status_code < 300:
            return resp
        try:
            resp.read()
            errors = resp.json().get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or resp.text[:200]
        except Exception:  # noqa: BLE001 - not JSON: the status is all there is
            detail = resp.reason_phrase
        if resp.status_code == 404:
            raise ManifestUnknown("error.images.found", what=what, host=self.host, detail=detail)
        if resp.status_code in (401, 403):
            raise Unauthorized("error.images.refused", what=what, host=self.host, status_code=resp.status_code, detail=detail)
        raise RegistryError("error.images.answered", what=what, host=self.host, status_code=resp.status_code, detail=detail)

    # -- what a pull and a push ask -----------------------------------------------------------------
    def ping(self) -> bool:
        """GET /v2/: True if a registry answers here (a 401 is a registry that wants a login)."""
        resp = self.request("GET", "/v2/", "")
        return resp.status_code in (200, 401)

    def manifest(self, repository: str, ref: str) -> tuple[bytes, str, str]:
        """(the manifest's bytes, its media type, its digest) for a tag or a digest."""
        resp = self.check(self.request("GET", f"/v2/{repository}/manifests/{ref}", f"repository:{repository}:pull",
                                       headers={"Accept": ACCEPT}), f"manifest {repository}:{ref}")
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        return resp.content, media_type, resp.headers.get("Docker-Content-Digest", "")

    def blob_stream(self, repository: str, digest: str, start: int = 0):
        """A streaming response with the blob's bytes from `start` (a Range request to resume)."""
        headers = {"Range": f"bytes={start}-"} if start else {}
        resp = self.request("GET", f"/v2/{repository}/blobs/{digest}", f"repository:{repository}:pull",
                            stream=True, headers=headers)
        if resp.status_code >= 300:
            self.check(resp, f"blob {digest[:19]} of {repository}")
        return resp

    def has_blob(self, repository: str, digest: str, scope: str | None = None) -> bool:
        resp = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", scope or f"repository:{repository}:pull")
        return resp.status_code == 200

    def push_blob(self, repository: str, digest: str, data_or_file, size: int) -> None:
        """Upload one blob in one PUT (the monolithic upload of the spec), if it is not there."""
        scope = f"repository:{repository}:pull,push"
        if self.has_blob(repository, digest, scope):
            return
        start = self.check(self.request("POST", f"/v2/{repository}/blobs/uploads/", scope),
                           f"start an upload to {repository}")
        location = start.headers.get("Location", "")
        if not location:
            raise RegistryError("error.images.gave-no-upload-location", host=self.host, repository=repository)
        if location.startswith("/"):
            location = self.base + location
        sep = "&" if "?" in location else "?"
        self.check(self.request("PUT", f"{location}{sep}digest={digest}", scope, content=data_or_file,
                                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)}),
                   f"upload blob {digest[:19]} to {repository}")

    def put_manifest(self, repository: str, ref: str, data: bytes, media_type: str) -> str:
        """Put a manifest under a tag; returns the digest the registry gives it."""
        resp = self.check(self.request("PUT", f"/v2/{repository}/manifests/{ref}", f"repository:{repository}:pull,push",
                                       content=data, headers={"Content-Type": media_type}),
                          f"push manifest {repository}:{ref}")
        return resp.headers.get("Docker-Content-Digest", "")

    def tags(self, repository: str) -> list[str]:
        resp = self.check(self.request("GET", f"/v2/{repository}/tags/list", f"repository:{repository}:pull"),
                          f"tags of {repository}")
        return resp.json().get("tags") or []

    def catalog(self) -> list[str]:
        resp = self.check(self.request("GET", "/v2/_catalog", "registry:catalog:*"), "the catalog")
        return resp.json().get("repositories") or []
