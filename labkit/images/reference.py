"""Image names: Docker's reference grammar, the seed's `[命名空间|仓库地址]/镜像名:标签`.

    reference  := name [":" tag] ["@" digest]
    name       := [registry "/"] path                registry := host [":" port]
    path       := component ("/" component)*         component := [a-z0-9]+ (separator [a-z0-9]+)*
    separator  := "." | "_" | "__" | "-"+            tag := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex                  (sha256: exactly 64 lowercase hex digits)

With Docker's defaults, and its rule for telling a registry from a namespace: the first part of the
name is a registry if it has a "." or a ":", or is "localhost", or has a capital letter; otherwise
the image is on Docker Hub, and a one-part name is in its "library" namespace:

    busybox                          -> docker.io/library/busybox:latest
    alice/tools:1.0                  -> docker.io/alice/tools:1.0
    localhost:5000/busybox           -> localhost:5000/busybox:latest
    ghcr.io/org/team/app@sha256:...  -> ghcr.io/org/team/app@sha256:... (a digest names one manifest)

An invalid reference is refused with the place and the reason: parse("Busybox") says the repository
name must be lowercase, at character 1.
"""

from __future__ import annotations

import re

from ..errors import InvalidArgument

DEFAULT_REGISTRY = "docker.io"
OFFICIAL = "library"  # Docker Hub's namespace of official images
DEFAULT_TAG = "latest"
MAX_NAME = 255  # registry/path, as docker counts it

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_HOST = re.compile(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
                   r"|\[[0-9a-fA-F:.]+\]")
_ALGORITHM = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*")


class InvalidReference(InvalidArgument):
    """An image reference that breaks the grammar; `position` is the 0-based index of the fault."""

    def __init__(self, ref: str, position: int, reason: str):
        self.reference, self.position, self.reason = ref, position, reason
        pointer = f"\n    {ref}\n    {' ' * position}^" if "\n" not in ref else ""
        super().__init__(f"invalid reference {ref!r}: {reason} (at character {position + 1}){pointer}",
                         hint='a reference looks like "busybox", "alice/tools:1.0" or "localhost:5000/app@sha256:<64 hex>".')


class Reference:
    """One parsed reference, with Docker's defaults filled in. str() is the full form."""

    __slots__ = ("registry", "repository", "tag", "digest")

    def __init__(self, registry: str, repository: str, tag: str | None, digest: str | None):
        self.registry, self.repository, self.tag, self.digest = registry, repository, tag, digest

    @property
    def name(self) -> str:
        """registry/repository, e.g. "docker.io/library/busybox"."""
        return f"{self.registry}/{self.repository}"

    @property
    def namespace(self) -> str:
        """The part of the repository before its last "/": "library" for busybox, "" if none."""
        return self.repository.rpartition("/")[0]

    @property
    def ref(self) -> str:
        """What a registry's manifest URL takes: the digest if there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def familiar(self) -> str:
        """The short form docker shows: busybox:latest, alice/tools:1.0."""
        return familiar(str(self))

    def __eq__(self, other) -> bool:
        return isinstance(other, Reference) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return f"Reference({str(self)!r})"

    def _repr_html_(self) -> str:
        import html

        rows = [("registry", self.registry), ("namespace", self.namespace or "(none)"),
                ("repository", self.repository), ("tag", self.tag or "(none)"), ("digest", self.digest or "(none)")]
        return ("<table><tr><th colspan=2 style='text-align:left'><code>" + html.escape(str(self)) + "</code></th></tr>"
                + "".join(f"<tr><td>{k}</td><td><code>{html.escape(v)}</code></td></tr>" for k, v in rows) + "</table>")


def parse(ref: str) -> Reference:
    """Parse `ref` with Docker's defaults; InvalidReference says where and why it is not one."""
    if not isinstance(ref, str):
        raise InvalidArgument("error.images.image-reference-string", name=type(ref).__name__)
    if not ref:
        raise InvalidReference(ref, 0, "the reference is empty")
    bad = next((i for i, c in enumerate(ref) if c.isspace() or not c.isprintable()), None)
    if bad is not None:
        raise InvalidReference(ref, bad, "spaces and control characters are not allowed")
    rest, digest = ref, None
    at = ref.find("@")
    if at >= 0:
        rest, digest = ref[:at], ref[at + 1 :]
        _check_digest(ref, at + 1, digest)
    tag = None
    slash, colon = rest.rfind("/"), rest.rfind(":")
    if colon > slash:  # a ":" after the last "/" starts the tag; one before it is a registry's port
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not tag:
            raise InvalidReference(ref, colon + 1, "the tag after ':' is empty")
        if not _TAG.fullmatch(tag):
            i = next((k for k, c in enumerate(tag) if not (c.isascii() and (c.isalnum() or c in "_.-"))), 0)
            raise InvalidReference(ref, colon + 1 + i, "a tag is up to 128 letters, digits, '_', '.' and '-', "
                                                       "not starting with '.' or '-'")
    if not rest:
        raise InvalidReference(ref, 0, "the name is empty")
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        registry, path, offset = first, remainder, len(first) + 1
        _check_registry(ref, registry)
    else:
        registry, path, offset = DEFAULT_REGISTRY, rest, 0
    _check_path(ref, path, offset)
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = DEFAULT_REGISTRY  # Docker Hub's other names
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"{OFFICIAL}/{path}"
    if len(rest) > MAX_NAME:
        raise InvalidReference(ref, MAX_NAME, f"the name is longer than {MAX_NAME} characters")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(registry, path, tag, digest)


def _check_digest(ref: str, start: int, digest: str) -> None:
    algorithm, colon, hexpart = digest.partition(":")
    if not colon or not _ALGORITHM.fullmatch(algorithm):
        raise InvalidReference(ref, start, "a digest is algorithm:hex, e.g. sha256:<64 hex digits>")
    at = start + len(algorithm) + 1
    width = {"sha256": 64, "sha512": 128}.get(algorithm)
    if width is None:
        raise InvalidReference(ref, start, f"unknown digest algorithm {algorithm!r} (sha256 or sha512)")
    bad = next((i for i, c in enumerate(hexpart) if c not in "0123456789abcdef"), None)
    if bad is not None:
        raise InvalidReference(ref, at + bad, "a digest's hex part is lowercase 0-9 and a-f")
    if len(hexpart) != width:
        raise InvalidReference(ref, at + min(len(hexpart), width), f"a {algorithm} digest has {width} hex digits, "
                                                                   f"not {len(hexpart)}")


def _check_registry(ref: str, registry: str) -> None:
    host, _, port = registry.rpartition(":") if not registry.endswith("]") else (registry, "", "")
    if not host:
        host, port = registry, ""
    if not _HOST.fullmatch(host):
        raise InvalidReference(ref, 0, f"{host!r} is not a host name or address")
    if registry.count(":") and not registry.endswith("]") and not (port.isdigit() and 0 < int(port) < 65536):
        raise InvalidReference(ref, len(host) + 1, f"the port {port!r} is not a number from 1 to 65535")


def _check_path(ref: str, path: str, offset: int) -> None:
    pos = offset
    for component in path.split("/"):
        if not component:
            raise InvalidReference(ref, pos, "an empty part between '/'")
        if not _COMPONENT.fullmatch(component):
            upper = next((i for i, c in enumerate(component) if c.isupper()), None)
            if upper is not None:
                raise InvalidReference(ref, pos + upper, "the repository name must be lowercase")
            bad = next((i for i, c in enumerate(component) if not (c.isascii() and (c.isalnum() or c in "._-"))), None)
            if bad is not None:
                raise InvalidReference(ref, pos + bad, f"{component[bad]!r} is not allowed in a repository name")
            raise InvalidReference(ref, pos, f"{component!r}: parts are lowercase letters and digits, joined by "
                                             "'.', '_', '__' or dashes, and start and end with a letter or digit")
        pos += len(component) + 1


def normalize(name: str) -> str:
    """The full reference, as the image index stores it: "busybox" -> "docker.io/library/busybox:latest"."""
    return str(parse(name))


def familiar(full: str) -> str:
    """The short form docker shows: docker.io/library/busybox:latest -> busybox:latest."""
    for prefix in (f"{DEFAULT_REGISTRY}/{OFFICIAL}/", f"{DEFAULT_REGISTRY}/"):
        if full.startswith(prefix):
            return full[len(prefix) :]
    return full
