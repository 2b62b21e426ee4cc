"""Step 1 of `docker run`: the image is not in the local store, so pull it, saying so as docker does:

    Unable to find image 'alpine:3.20' locally
    alpine:3.20: pulled, image ID 3f9a0c1b2d4e

For lk.run, lk.create and run -d alike (run.py, containers.py).
"""

from __future__ import annotations

import sys

from ...errors import ImageNotFound
from ...images.reference import familiar
from ...paths import Instance


def pull_missing(image: str, inst: Instance | None) -> str:
    """The image is not in the local store: say so as docker does, pull it; returns its registry."""
    from ...images.commands import pull
    from ...images.reference import parse

    from ...images.registry import Offline

    print(f"Unable to find image '{familiar(image)}' locally", file=sys.stderr, flush=True)
    try:
        img = pull(image, inst=inst)
    except Offline as e:
        raise ImageNotFound("error.runtime.no-image-offline", image=familiar(image), why=e.text() or e.message,
                            hint=e.hint_text()) from None
    from ...catalog import text

    print(text("cli.say", "pulled", name=familiar(img.name), id=img.id[7:19]), file=sys.stderr, flush=True)
    return parse(image).registry


def pulling(call, image: str, inst: Instance | None):
    """call(); if labkitd has no such image, pull it and call again."""
    try:
        return call()
    except ImageNotFound:
        pull_missing(image, inst)
        return call()
