"""pyroute2, made safe to call from a notebook.

pyroute2's synchronous IPRoute raises "This event loop is already running" inside
a Jupyter kernel, whose thread already runs an asyncio loop. Running the call in a
short-lived worker thread, which has no loop, avoids that:

    links = in_thread(lambda ipr: [l.get("ifname") for l in ipr.get_links()])

The equivalent `ip` commands are given beside each use.
"""

from __future__ import annotations

import threading


def in_thread(fn, netns: str | None = None):
    """Call fn(ipr) with a fresh pyroute2 IPRoute (in `netns` if given) in a worker thread; return its result."""
    box: dict = {}

    def work():
        try:
            from pyroute2 import IPRoute, NetNS

            with (NetNS(netns) if netns else IPRoute()) as ipr:
                box["value"] = fn(ipr)
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e

    t = threading.Thread(target=work, name="labkit-netlink")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def link_names() -> list[str]:
    """Names of the links in the host's network namespace (`ls /sys/class/net`)."""
    import os

    try:
        return sorted(os.listdir("/sys/class/net"))
    except OSError:
        return []


def delete_link(ifname: str) -> None:
    """`ip link del IFNAME`. Deleting one end of a veth pair deletes both."""
    in_thread(lambda ipr: ipr.link("del", ifname=ifname))
