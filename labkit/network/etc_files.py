"""The three files Docker writes for every container and bind-mounts over the image's own:
/etc/hostname, /etc/hosts and /etc/resolv.conf. They live in the container's bundle (so `commit`
and `diff` never see them) and are rewritten in place when a network's members change (a bind
mount follows the file, not its name: a rename would leave the container with the old one).

/etc/hosts of "web" (172.29.0.2 on the default network, 10.230.0.2 on "backend", next to "db"):

    127.0.0.1	localhost
    ::1	localhost ip6-localhost ip6-loopback
    172.29.0.2	3f9a0c1b2d4e web
    10.230.0.2	3f9a0c1b2d4e web
    # network backend: the other containers on it, by name
    10.230.0.3	db

As Docker: containers on a user-defined network find each other by name; on the default network
they do not (Docker's embedded DNS answers on user-defined networks only). labkit lists the names
in /etc/hosts instead of running a DNS server: the same lookup for the learner, and no packet.
"""

from __future__ import annotations

import os

FILES = ("hostname", "hosts", "resolv.conf")
NO_RESOLVER = "no resolver (the container's own loopback answers nothing), so no lookup leaves this machine"
#: Where the host's real resolvers are listed when /etc/resolv.conf names systemd-resolved's stub.
RESOLVED = "/run/systemd/resolve/resolv.conf"


def hostname_text(hostname: str) -> str:
    return hostname + "\n"


def hosts_text(hostname: str, name: str, own: list[str], peers: dict[str, list[tuple[str, str]]]) -> str:
    """own: the container's addresses; peers: network name -> [(address, container name)]."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    aliases = " ".join(dict.fromkeys(a for a in (hostname, name) if a))
    lines += [f"{ip}\t{aliases}" for ip in own]
    for net, members in sorted(peers.items()):
        if members:
            lines.append(f"# network {net}: the other containers on it, by name")
            lines += [f"{ip}\t{peer}" for ip, peer in members]
    return "\n".join(lines) + "\n"


def resolv_text(host_file: str = "/etc/resolv.conf") -> str:
    """The host's resolvers, without loopback ones (127.0.0.53 means nothing inside the
    container's namespace), as Docker copies them. With none left, the container's own loopback,
    where nothing answers: a lookup of an outside name fails at once and sends nothing anywhere
    (with no nameserver line at all, busybox's static wget crashes). LABKIT_OFFLINE=1 (the test
    suite) always gives that one, so that no lookup can leave the machine."""
    if os.environ.get("LABKIT_OFFLINE") == "1":
        return f"# LABKIT_OFFLINE=1: {NO_RESOLVER}\nnameserver 127.0.0.1\n"
    try:
        text = open(host_file).read()
    except OSError:
        text = ""
    if host_file == "/etc/resolv.conf" and "127.0.0.53" in text and os.path.exists(RESOLVED):
        return resolv_text(RESOLVED)
    keep = []
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1 and (words[1].startswith("127.") or words[1] == "::1"):
            continue
        if words[:1] in (["nameserver"], ["search"], ["options"]):
            keep.append(line.strip())
    if not any(w.startswith("nameserver") for w in keep):
        keep[:0] = [f"# the host's resolvers are all on its loopback: {NO_RESOLVER}", "nameserver 127.0.0.1"]
    return "\n".join(keep) + "\n"


def write_in_place(path, text: str) -> None:
    """Rewrite a file keeping its inode (a bind mount of it follows the inode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        data = text.encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def mounts(bundle, hostname: bool = True) -> list[dict]:
    """OCI mount entries binding the bundle's files over the image's (writable, as Docker's: what
    the container writes there is lost when labkit rewrites them)."""
    out = []
    for name in FILES:
        if name == "hostname" and not hostname:
            continue
        out.append({"destination": f"/etc/{name}", "type": "bind", "source": str(os.path.join(bundle, name)),
                    "options": ["rbind", "nosuid", "nodev", "noexec"]})
    return out
