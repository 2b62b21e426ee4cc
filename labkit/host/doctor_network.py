"""The doctor's rows for networks: a network namespace, veth and bridge, iptables's NAT (and what
another firewall user, dockerd, changed), pyroute2. Each tried in a throw-away network namespace:
the host's own links and rules are only read.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from .doctor_rows import FAIL, OK, WARN, Check, _need_root, _run


def check_netns() -> Check:
    name, breaks = "network namespaces", "a container's own network (only lo inside)"
    if os.geteuid() != 0:
        return _need_root(name, breaks)
    unshare = shutil.which("unshare")
    if not unshare:
        return Check(name, WARN, "util-linux's unshare not found to test with", breaks, "`apt-get install util-linux`")
    r = _run([unshare, "--net", "cat", "/proc/net/dev"])
    if r is None or r.returncode != 0:
        return Check(name, FAIL, (r.stderr.strip() if r else "failed") or "failed", breaks, "a kernel built with CONFIG_NET_NS")
    links = [line.split(":")[0].strip() for line in r.stdout.splitlines()[2:]]
    return Check(name, OK, f"a new one has: {' '.join(links)}")


def check_veth_bridge() -> Check:
    name, breaks = "veth and bridge", "container networking (the networking part of the lab)"
    if os.geteuid() != 0:
        return _need_root(name, breaks)
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not unshare or not ip:
        return Check(name, WARN, "unshare or ip not found to test with", breaks, "`apt-get install util-linux iproute2`")
    # In a throw-away network namespace: nothing is left on the host when it exits.
    script = f"{ip} link add lk-doc0 type veth peer name lk-doc1 && {ip} link add lk-docbr type bridge"
    r = _run([unshare, "--net", "sh", "-c", script])
    if r is None or r.returncode != 0:
        return Check(name, FAIL, (r.stderr.strip() if r else "failed") or "failed", breaks,
                     "load the modules: `modprobe veth bridge`")
    return Check(name, OK, "created a veth pair and a bridge in a throw-away namespace")


def check_port_guard() -> Check:
    """The BPF program that keeps each container to its own MAC and address (network/guard.py),
    loaded and attached to a veth in a throw-away network namespace by a fresh interpreter."""
    from ..helper import interpreter

    name, breaks = "port guard (tc bpf)", "bridged containers: each one's port is guarded before its command runs"
    if os.geteuid() != 0:
        return _need_root(name, breaks)
    r = _run(interpreter("labkit.network.guard"), timeout=30)
    if r is None or r.returncode != 0:
        err = ((r.stderr.strip().splitlines() or ["failed"])[-1] if r else "could not run the probe")[:200]
        return Check(name, FAIL, err, breaks, "use a kernel with CONFIG_NET_CLS_BPF and CONFIG_NET_SCH_INGRESS "
                                              "(Debian's and Ubuntu's have both)")
    return Check(name, OK, "a BPF classifier loads and attaches to a veth's ingress (direct-action)")


def check_firewall() -> Check:
    """iptables, and whether it can NAT: the MASQUERADE target tried in a throw-away network
    namespace (its rules are its own: the host's firewall is not touched). A host whose iptables
    command and kernel disagree (nft against legacy, a module missing) fails here, as labkit's
    networks would: "Chain 'MASQUERADE' does not exist", "No chain/target/match by that name"."""
    name = "iptables (NAT, ports)"
    breaks = "outbound NAT, published ports and isolation between networks"
    path = shutil.which("iptables")
    if not path:
        return Check(name, FAIL, "iptables not found", breaks, "`apt-get install iptables` (or run `./lab setup`)")
    version = (_run([path, "-V"]) or subprocess.CompletedProcess([], 1, "", "")).stdout.strip()
    probe = _run(["unshare", "--net", "sh", "-c", "iptables -t nat -N labkit-probe && "
                  "iptables -t nat -A labkit-probe -j MASQUERADE && iptables -t filter -L FORWARD -n >/dev/null"])
    if probe is None or probe.returncode != 0:
        err = (probe.stderr.strip() if probe else "could not run the probe")[:200]
        other = "iptables-legacy" if "nf_tables" in version else "iptables-nft"
        return Check(name, FAIL, f"{version}: MASQUERADE refused ({err})", breaks,
                     f"the iptables command and the kernel disagree: try `update-alternatives --set iptables "
                     f"/usr/sbin/{other}`, or load the module (`modprobe nft_masq` / `modprobe xt_MASQUERADE`)")
    both = [t for t in ("iptables-legacy-save", "iptables-nft-save") if shutil.which(t)
            and any(line.startswith("-A") for line in ((_run([t]) or subprocess.CompletedProcess([], 1, "", "")).stdout
                                                       .splitlines()))]
    if len(both) == 2:
        return Check(name, WARN, f"{version}; rules in both back ends (legacy and nft)", "rules in the other back end "
                     "still filter the same packets, and are not shown by `iptables -S`",
                     "use one back end: see `iptables-legacy-save` and `iptables-nft-save`")
    # What another firewall user changed (dockerd, e.g.: "-P FORWARD DROP" and its DOCKER-USER chain,
    # whichever of it started first): labkit's networks forward by their own ACCEPT rules, so they
    # work either way; the row says so, for an instructor who sees the policy and wonders.
    forward = (_run([path, "-w", "5", "-S", "FORWARD"]) or subprocess.CompletedProcess([], 1, "", "")).stdout
    docker = ((_run([path, "-w", "5", "-S", "DOCKER-USER"]) or subprocess.CompletedProcess([], 1, "", "")).returncode == 0
              or os.path.exists("/run/docker.sock"))
    note = ""
    if "-P FORWARD DROP" in forward.splitlines():
        note = "; FORWARD's policy is DROP" + (" (dockerd's)" if docker else "") + \
            ": labkit's networks forward by their own rules"
    elif docker:
        note = "; dockerd's rules are here beside labkit's"
    return Check(name, OK, f"{version}, MASQUERADE works{note}")


def check_pyroute2() -> Check:
    name = "pyroute2"
    try:
        import pyroute2  # noqa: F401

        from ..network.netlink import in_thread

        n = in_thread(lambda ipr: len(list(ipr.get_links())))
        return Check(name, OK, f"pyroute2 {getattr(pyroute2, '__version__', '?')} answered: {n} links in this namespace")
    except ImportError:
        return Check(name, FAIL, "not installed", "the networking cells", "`pip install pyroute2` (./lab setup installs it)")
    except Exception as e:
        return Check(name, WARN, f"{type(e).__name__}: {e}", "the networking cells", "run `labkit doctor` as root")
