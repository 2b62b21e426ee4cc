"""Image names, the seed's `[命名空间|仓库地址]/镜像名:标签` ([namespace | registry]/name:tag).

    busybox                      -> docker.io/library/busybox:latest
    alice/tools:1.0              -> docker.io/alice/tools:1.0
    localhost:5000/busybox       -> localhost:5000/busybox:latest

This is the short form needed now; the images issue brings Docker's whole reference grammar.
"""

from __future__ import annotations

import re

from ..errors import InvalidArgument

DEFAULT_REGISTRY = "docker.io"
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


def normalize(name: str) -> str:
    """The full name of an image reference, as stored in the image index."""
    if not name or name != name.strip():
        raise InvalidArgument(f"invalid image name {name!r}", hint='use a name such as "busybox" or "busybox:latest".')
    rest, tag = name, "latest"
    # A ":" after the last "/" starts the tag; one before it belongs to a registry's port.
    slash, colon = rest.rfind("/"), rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
    parts = rest.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry, path = parts[0], parts[1:]
    else:
        registry, path = DEFAULT_REGISTRY, parts
        if len(path) == 1:
            path = ["library"] + path
    if not _TAG.match(tag) or not all(_COMPONENT.match(p) for p in path):
        raise InvalidArgument(
            f"invalid image name {name!r}",
            hint="names are lowercase letters, digits and . _ - separated by /, with an optional :tag.",
        )
    return f"{registry}/{'/'.join(path)}:{tag}"


def familiar(full: str) -> str:
    """The short form docker shows: docker.io/library/busybox:latest -> busybox:latest."""
    for prefix in (f"{DEFAULT_REGISTRY}/library/", f"{DEFAULT_REGISTRY}/"):
        if full.startswith(prefix):
            return full[len(prefix) :]
    return full
