"""The doctor's rows for networks: a network namespace, veth and bridge, iptables's NAT (and what
another firewall user, dockerd, changed), pyroute2. Each tried in a throw-away network namespace:
the host's own links and rules are only read.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from .doctor_rows import FAIL, OK, WARN, Check, _need_root, _run, row, say


def check_netns() -> Check:
    name, breaks = "netns", say("netns_breaks")
    if os.geteuid() != 0:
        return _need_root(name, breaks)
    unshare = shutil.which("unshare")
    if not unshare:
        return row(name, WARN, say("no_unshare"), breaks, say("fix_util_linux"))
    r = _run([unshare, "--net", "cat", "/proc/net/dev"])
    if r is None or r.returncode != 0:
        return row(name, FAIL, (r.stderr.strip() if r else "") or say("failed"), breaks, say("netns_fix"))
    links = [line.split(":")[0].strip() for line in r.stdout.splitlines()[2:]]
    return row(name, OK, say("netns_ok", links=" ".join(links)))


def check_veth_bridge() -> Check:
    name, breaks = "veth", say("veth_breaks")
    if os.geteuid() != 0:
        return _need_root(name, breaks)
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not unshare or not ip:
        return row(name, WARN, say("no_unshare_ip"), breaks, say("fix_util_linux_iproute2"))
    # In a throw-away network namespace: nothing is left on the host when it exits.
    script = f"{ip} link add lk-doc0 type veth peer name lk-doc1 && {ip} link add lk-docbr type bridge"
    r = _run([unshare, "--net", "sh", "-c", script])
    if r is None or r.returncode != 0:
        return row(name, FAIL, (r.stderr.strip() if r else "") or say("failed"), breaks, say("veth_fix"))
    return row(name, OK, say("veth_ok"))


def check_port_guard() -> Check:
    """The BPF program that keeps each container to its own MAC and address (network/guard.py),
    loaded and attached to a veth in a throw-away network namespace by a fresh interpreter."""
    from ..helper import interpreter

    name, breaks = "port_guard", say("port_guard_breaks")
    if os.geteuid() != 0:
        return _need_root(name, breaks)
    r = _run(interpreter("labkit.network.guard"), timeout=30)
    if r is None or r.returncode != 0:
        err = ((r.stderr.strip().splitlines() or [say("failed")])[-1] if r else say("no_probe"))[:200]
        return row(name, FAIL, err, breaks, say("port_guard_fix"))
    from .where import place

    return row(name, OK, say("port_guard_classic" if place().nested else "port_guard_ok"))


def check_firewall() -> Check:
    """iptables, and whether it can NAT: the MASQUERADE target tried in a throw-away network
    namespace (its rules are its own: the host's firewall is not touched). A host whose iptables
    command and kernel disagree (nft against legacy, a module missing) fails here, as labkit's
    networks would: "Chain 'MASQUERADE' does not exist", "No chain/target/match by that name"."""
    name = "iptables"
    breaks = say("iptables_breaks")
    path = shutil.which("iptables")
    if not path:
        return row(name, FAIL, say("iptables_missing"), breaks, say("iptables_install"))
    version = (_run([path, "-V"]) or subprocess.CompletedProcess([], 1, "", "")).stdout.strip()
    probe = _run(["unshare", "--net", "sh", "-c", "iptables -t nat -N labkit-probe && "
                  "iptables -t nat -A labkit-probe -j MASQUERADE && iptables -t filter -L FORWARD -n >/dev/null"])
    if probe is None or probe.returncode != 0:
        err = (probe.stderr.strip() if probe else say("no_probe"))[:200]
        other = "iptables-legacy" if "nf_tables" in version else "iptables-nft"
        return row(name, FAIL, say("masquerade_refused", version=version, error=err), breaks, say("iptables_disagree", other=other))
    both = [t for t in ("iptables-legacy-save", "iptables-nft-save") if shutil.which(t)
            and any(line.startswith("-A") for line in ((_run([t]) or subprocess.CompletedProcess([], 1, "", "")).stdout
                                                       .splitlines()))]
    if len(both) == 2:
        return row(name, WARN, say("both_backends", version=version), say("both_backends_breaks"), say("both_backends_fix"))
    # What another firewall user changed (dockerd, e.g.: "-P FORWARD DROP" and its DOCKER-USER chain,
    # whichever of it started first): labkit's networks forward by their own ACCEPT rules, so they
    # work either way; the row says so, for an instructor who sees the policy and wonders.
    forward = (_run([path, "-w", "5", "-S", "FORWARD"]) or subprocess.CompletedProcess([], 1, "", "")).stdout
    docker = ((_run([path, "-w", "5", "-S", "DOCKER-USER"]) or subprocess.CompletedProcess([], 1, "", "")).returncode == 0
              or os.path.exists("/run/docker.sock"))
    note = ""
    if "-P FORWARD DROP" in forward.splitlines():
        note = say("forward_drop_docker") if docker else say("forward_drop")
    elif docker:
        note = say("docker_beside")
    return row(name, OK, say("iptables_ok", version=version) + note)


def check_pyroute2() -> Check:
    name = "pyroute2"
    try:
        import pyroute2  # noqa: F401

        from ..network.netlink import in_thread

        n = in_thread(lambda ipr: len(list(ipr.get_links())))
        return row(name, OK, say("pyroute2_ok", version=getattr(pyroute2, "__version__", "?"), n=n))
    except ImportError:
        return row(name, FAIL, say("not_installed"), say("pyroute2_breaks"), say("pyroute2_install"))
    except Exception as e:
        return row(name, WARN, f"{type(e).__name__}: {e}", say("pyroute2_breaks"), say("run_as_root"))
