"""The lab's settings: settings.json under the data root, as docker's daemon.json is for dockerd.

    {"insecure-registries": ["registry.lan:5000"], "registry-mirrors": ["http://127.0.0.1:5001"]}

insecure-registries: registries spoken to over plain HTTP although they are not on this machine
(one on 127.0.0.0/8 or localhost always is). registry-mirrors: asked first for Docker Hub's images
(images/mirrors.py). A missing or unreadable file means the defaults.
"""

from __future__ import annotations

import json

from .paths import Instance, instance as current_instance

DEFAULTS = {"insecure-registries": [], "registry-mirrors": []}


def load(inst: Instance | None = None) -> dict:
    try:
        data = json.loads(((inst or current_instance()).root / "settings.json").read_text())
    except (OSError, ValueError):
        return dict(DEFAULTS)
    return {**DEFAULTS, **(data if isinstance(data, dict) else {})}
