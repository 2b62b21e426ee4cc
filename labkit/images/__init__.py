"""Images: their names (reference.py), the local store (store.py), layers unpacked safely (unpack.py),
registries (registry.py: the client; pull.py, push.py; local_registry.py: the lab's own server).

`lk.images` is this package (a function of that name would be hidden by it once a module here is
imported): lk.images.names() lists the local images.
"""


def names() -> list[str]:
    """The full names of the images in the local store: ["docker.io/library/busybox:latest", ...]."""
    from ..paths import instance
    from .store import ImageStore

    return ImageStore(instance()).names()
