"""Registry mirrors, as docker's `registry-mirrors`: a pull of a Docker Hub image asks each mirror
first, in order, then Docker Hub itself. Where Docker Hub is slow, rate-limited or blocked (it is for
many of the seed's readers), a mirror in the room or the country serves the same images.

    settings.json (under the data root, as dockerd's daemon.json):
        {"registry-mirrors": ["http://127.0.0.1:5001", "https://mirror.example.cn"]}

    lk.pull("busybox")   ->  GET http://127.0.0.1:5001/v2/library/busybox/manifests/latest
                             (not there, or no answer) -> the next mirror -> registry-1.docker.io

Only docker.io's images go to a mirror, as with docker; the image keeps its docker.io name. A mirror
named with http:// is spoken to over plain HTTP (one on this machine always is).
"""

from __future__ import annotations

from ..errors import LabkitError
from .reference import Reference


def mirrors(inst=None) -> list[tuple[str, bool]]:
    """[(host[:port], insecure)] from settings.json's registry-mirrors: "http://127.0.0.1:5001" ->
    ("127.0.0.1:5001", True); "https://mirror.example.cn/" -> ("mirror.example.cn", False)."""
    from ..settings import load

    out = []
    for url in load(inst).get("registry-mirrors", []) or []:
        if not isinstance(url, str) or not url.strip():
            continue
        scheme, _, rest = url.strip().rpartition("://")
        out.append((rest.strip("/"), scheme == "http"))
    return out


def pull_through(ref: Reference, store, want: dict, progress, inst=None, pull_from=None):
    """Pull `ref` (a docker.io image) from the first mirror that has it; None if none did. Each
    mirror's failure is kept in `tried` for the error a pull from Docker Hub may still raise."""
    from .registry import Registry

    tried = []
    for host, insecure in mirrors(inst):
        try:
            reg = Registry(host, insecure=insecure or None)
        except LabkitError as e:
            tried.append(f"{host}: {e.message}")
            continue
        try:
            return pull_from(ref, store, want, reg, progress), tried
        except LabkitError as e:
            tried.append(f"{host}: {e.message}")
        except OSError as e:  # refused, unreachable: the next one
            tried.append(f"{host}: {e}")
        finally:
            reg.close()
    return None, tried
