"""What a container, or a neighbour on the VM's network, cannot reach or pretend (issue 21): the
host's 127.0.0.0/8, a port published on 127.0.0.1 only, another container's address or MAC. Every
attack is made of hand-written Ethernet frames (tests/rawframes.py) sent from a raw socket, as a
hostile user with Docker's default capabilities would; each has a control sent the same way that
does arrive, so a frame that never left cannot pass for a wall that held."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
from pathlib import Path

import pytest

import labkit as lk
from test_network import free_port, ip_of, nets, sleeper  # noqa: F401 - nets is a fixture

HERE = Path(__file__).resolve().parent
# The host's own Python runs inside a busybox container: /usr bound in read-only, started through its
# dynamic loader (busybox has none). /lib64/ld-linux-x86-64.so.2 -> /usr/lib/x86_64-linux-gnu/ld-...
LOADER = os.path.realpath("/lib64/ld-linux-x86-64.so.2")
HOST_PYTHON = os.path.realpath("/usr/bin/python3")


def _in_box(path: str) -> str:
    return "/hostusr" + path.removeprefix("/usr")


RAW = [_in_box(LOADER), "--library-path", _in_box(os.path.dirname(LOADER)), _in_box(HOST_PYTHON), "-I",
       "/t/rawframes.py"]
BINDS = ["/usr:/hostusr:ro", f"{HERE}:/t:ro"]

pytestmark = pytest.mark.skipif(not (LOADER.startswith("/usr/") and HOST_PYTHON.startswith("/usr/")),
                                reason="needs a merged-/usr host (Debian 12, Ubuntu 24.04)")


def attacker(box, name, **kw):
    c = sleeper(box, name, volumes=BINDS, **kw)
    return c


def send_from(c, *args) -> str:
    r = c.exec([*RAW, *args])
    assert r.exit_code == 0, r.stdout + r.stderr
    return r.stdout.strip()


def mac_of(ifname: str, ns: str | None = None) -> str:
    cmd = ["ip", "-o", "link", "show", ifname] if ns is None else ["ip", "-n", ns, "-o", "link", "show", ifname]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    return out.split("link/ether ")[1].split()[0]


class Listeners:
    """A UDP and a TCP listener on the host, on `address`. got() says whether the UDP one heard
    b"spoofed"; the TCP one answers a SYN with a SYN-ACK, which the sender sees ("syn-ack"): the
    handshake itself may not complete (the sender's own kernel, seeing a SYN-ACK for no socket of its
    own, answers it with a reset)."""

    def __init__(self, address: str):
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((address, 0))
        self.tcp = socket.socket()
        self.tcp.bind((address, 0))
        self.tcp.listen(4)
        self.tcp.setblocking(False)
        self.udp_port, self.tcp_port = self.udp.getsockname()[1], self.tcp.getsockname()[1]

    def got(self, wait: float = 1.5) -> bool:
        """Whether b"spoofed" arrived within `wait` s; every copy that came is read (the sender sends
        three), so the next call hears only what is sent after this one."""
        heard = False
        while select.select([self.udp], [], [], wait)[0]:
            heard |= self.udp.recv(100) == b"spoofed"
            wait = 0.3
        return heard

    def close(self):
        self.udp.close()
        self.tcp.close()


@pytest.mark.parametrize("network", ["bridge", "lab-walls"])
def test_a_container_cannot_reach_the_hosts_loopback_by_hand_made_frames(box, nets, network):  # noqa: F811
    if network != "bridge":
        lk.network.create(network)
        nets.append(network)
    c = attacker(box, f"raw-{network}", network=network)
    net = lk.network.inspect(network)
    me, gw_mac = ip_of(network, c.name), mac_of(net.bridge)
    my_mac = c.exec("cat /sys/class/net/eth0/address").stdout.strip()
    loop, wide = Listeners("127.0.0.1"), Listeners("0.0.0.0")
    try:
        # The control: the same frames to the gateway's own address arrive (and TCP answers).
        assert send_from(c, "udp", "eth0", my_mac, gw_mac, me, net.gateway, str(wide.udp_port)) == "sent"
        assert send_from(c, "tcp", "eth0", my_mac, gw_mac, me, net.gateway, str(wide.tcp_port)) == "syn-ack"
        assert wide.got()
        # The attack: to the host's 127.0.0.1, where JupyterLab and the Docker API listen.
        assert send_from(c, "udp", "eth0", my_mac, gw_mac, me, "127.0.0.1", str(loop.udp_port)) == "sent"
        assert send_from(c, "tcp", "eth0", my_mac, gw_mac, me, "127.0.0.1", str(loop.tcp_port)) == "no answer"
        assert not loop.got(), "a container reached a service on the host's 127.0.0.1"
    finally:
        loop.close()
        wide.close()


@pytest.fixture
def neighbour():
    """A network namespace standing for another machine on the VM's network: a veth from the host
    (10.231.254.1/30) to it (10.231.254.2/30)."""
    ns, host_end, far_end = f"labkit-nbr{os.getpid()}", "lknbr0", "lknbr1"
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, timeout=20)  # noqa: E731
    run("ip", "netns", "add", ns)
    try:
        run("ip", "link", "add", host_end, "type", "veth", "peer", "name", far_end, "netns", ns)
        run("ip", "addr", "add", "10.231.254.1/30", "dev", host_end)
        run("ip", "link", "set", host_end, "up")
        run("ip", "-n", ns, "addr", "add", "10.231.254.2/30", "dev", far_end)
        run("ip", "-n", ns, "link", "set", far_end, "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        yield {"ns": ns, "ifname": far_end, "mac": mac_of(far_end, ns), "ip": "10.231.254.2",
               "host_mac": mac_of(host_end), "host_ip": "10.231.254.1"}
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True, timeout=20)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


@contextlib.contextmanager
def forwarding(*ifnames):
    """net.ipv4.conf.IF.forwarding=1 on these interfaces for a while (the kernel forwards a packet when
    the interface it arrived on allows it), then as they were."""
    keys = [Path(f"/proc/sys/net/ipv4/conf/{n}/forwarding") for n in ifnames]
    before = [k.read_text() for k in keys]
    try:
        for k in keys:
            k.write_text("1")
        yield
    finally:
        for k, v in zip(keys, before):
            try:
                k.write_text(v)
            except OSError:
                pass  # the interface is gone


def send_as_neighbour(nb, kind, dst_ip, port) -> str:
    r = subprocess.run(["ip", "netns", "exec", nb["ns"], HOST_PYTHON, "-I", str(HERE / "rawframes.py"), kind,
                        nb["ifname"], nb["mac"], nb["host_mac"], nb["ip"], dst_ip, str(port)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_a_neighbour_cannot_reach_a_port_published_on_127_0_0_1(box, neighbour):
    """moby#41872: a frame for 127.0.0.1:P from the VM's network was DNAT'd to the container before
    the kernel's martian check, though -p 127.0.0.1:P:80 means the host alone."""
    p_lo, p_any = free_port(), free_port()
    web = lk.run("busybox", "httpd -f -p 80 -h /etc", name="walls-web", detach=True,
                 ports=[f"127.0.0.1:{p_lo}:80", f"{p_any}:80"])
    box.append(web)
    # Forwarding between the neighbour's veth and the bridge, as on a VM with ip_forward=1 (Docker
    # sets it; labkit leaves the host's setting alone): per interface, so nothing else on the host moves.
    with forwarding(lk.network.inspect("bridge").bridge, "lknbr0"):
        # The control: the port published on every address answers the neighbour at the host's address.
        assert send_as_neighbour(neighbour, "tcp", neighbour["host_ip"], p_any) == "syn-ack"
        assert send_as_neighbour(neighbour, "tcp", "127.0.0.1", p_lo) == "no answer"
        assert send_as_neighbour(neighbour, "tcp", "127.0.0.1", p_any) == "no answer"
    # ... and the host's own 127.0.0.1 still reaches both (route_localnet is still doing its job).
    for port in (p_lo, p_any):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /hostname HTTP/1.0\r\n\r\n")
            s.settimeout(5)
            body = b""
            while chunk := s.recv(4096):  # httpd closes when it is done (HTTP/1.0)
                body += chunk
            assert web.id[:12].encode() in body, port


def test_a_neighbour_cannot_reach_the_hosts_loopback(neighbour):
    loop = Listeners("127.0.0.1")
    try:
        send_as_neighbour(neighbour, "udp", "127.0.0.1", loop.udp_port)
        assert send_as_neighbour(neighbour, "tcp", "127.0.0.1", loop.tcp_port) == "no answer"
        assert not loop.got()
    finally:
        loop.close()


def test_the_loopback_rule_is_in_the_raw_table_and_shown_by_hand():
    from labkit.network import rules

    text = rules.ruleset("labkit", [], [])
    assert "*raw" in text and "-d 127.0.0.0/8 ! -i lo -j DROP" in text
    assert ("raw", ["PREROUTING", "-j", "labkit-PREROUTING"]) in rules.jumps("labkit")
    assert "iptables -t raw -A labkit-PREROUTING -d 127.0.0.0/8 ! -i lo -j DROP" in rules.by_hand("labkit", [], [])


# -- each container to its own addresses (a BPF program on each bridge port) ---------------------------------
def neigh_mac(bridge: str, ip: str) -> str | None:
    out = subprocess.run(["ip", "neigh", "show", "dev", bridge, ip], capture_output=True, text=True, timeout=10).stdout
    return out.split("lladdr ")[1].split()[0] if "lladdr " in out else None


@pytest.mark.parametrize("network", ["bridge", "lab-spoof"])
def test_a_container_cannot_send_from_another_ones_address_or_mac(box, nets, network):  # noqa: F811
    if network != "bridge":
        lk.network.create(network)
        nets.append(network)
    victim = sleeper(box, f"victim-{network}", network=network)
    thief = attacker(box, f"thief-{network}", network=network)
    net = lk.network.inspect(network)
    gw_mac = mac_of(net.bridge)
    v_ip, t_ip = ip_of(network, victim.name), ip_of(network, thief.name)
    v_mac = victim.exec("cat /sys/class/net/eth0/address").stdout.strip()
    t_mac = thief.exec("cat /sys/class/net/eth0/address").stdout.strip()
    wide = Listeners("0.0.0.0")
    try:
        # The control: its own MAC and address arrive.
        send_from(thief, "udp", "eth0", t_mac, gw_mac, t_ip, net.gateway, str(wide.udp_port))
        assert wide.got()
        send_from(thief, "udp", "eth0", t_mac, gw_mac, v_ip, net.gateway, str(wide.udp_port))
        assert not wide.got(), "a container sent from another container's address"
        send_from(thief, "udp", "eth0", v_mac, gw_mac, t_ip, net.gateway, str(wide.udp_port))
        assert not wide.got(), "a container sent from another container's MAC"
    finally:
        wide.close()
    # A gratuitous ARP claiming the victim's address does not move the host's neighbour entry.
    import time

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"hello", (v_ip, 9))  # the host asks by ARP who has the victim's address
    for _ in range(50):
        if neigh_mac(net.bridge, v_ip):
            break
        time.sleep(0.05)
    assert neigh_mac(net.bridge, v_ip) == v_mac
    time.sleep(1.2)  # past the entry's locktime (1 s), when the kernel would take an update
    send_from(thief, "arp", "eth0", t_mac, v_ip)
    assert neigh_mac(net.bridge, v_ip) == v_mac, "a gratuitous ARP moved the host's entry to the thief"
    # ARP of its own still works: it reaches the gateway.
    assert thief.exec(f"ping -c 1 -W 2 {net.gateway}").exit_code == 0
    # The program, as the kernel has it on the thief's port, in `labkit network inspect`.
    shown = net.port_rules()[thief.name]
    assert shown[0] == f"tc filter ingress bpf direct-action labkit-guard {t_mac} {t_ip}", shown
    assert any(f"not {t_ip}? drop" in line for line in shown) and "TC_ACT_SHOT" in shown[-2]
    assert net.port_rules()[victim.name][0].endswith(f"{v_mac} {v_ip}")
    thief.stop(timeout=1)
    assert lk.network.inspect(network).port_rules()[thief.name] == []  # gone with its veth


def test_the_cli_shows_the_port_rules(box):
    import json

    from test_faults import _cli

    c = sleeper(box, "shown")
    out = json.loads(_cli("network", "inspect", "bridge").stdout)
    rules = out[0]["PortRules"]["shown"]
    assert rules[0].startswith("tc filter ingress bpf direct-action labkit-guard ") and rules[-1].split(";")[0].strip().endswith("exit")


# -- a published port never takes a host program's port ------------------------------------------------------
@pytest.mark.parametrize("held_on,published", [("0.0.0.0", ""), ("127.0.0.1", ""), ("0.0.0.0", "127.0.0.1"),
                                               ("127.0.0.1", "127.0.0.1")])
def test_a_port_a_host_program_listens_on_is_refused_naming_it(box, held_on, published):
    from test_faults import LABKIT

    service = socket.socket()
    service.bind((held_on, 0))
    service.listen(4)
    port = service.getsockname()[1]
    try:
        spec = f"{published}:{port}:80" if published else f"{port}:80"
        r = subprocess.run([*LABKIT, "run", "-d", "--name", "thief-port", "-p", spec, "busybox", "httpd", "-f", "-p", "80"],
                           capture_output=True, text=True, timeout=60)
        try:
            assert r.returncode == 125, r.stdout + r.stderr
            assert str(port) in r.stderr and "in use" in r.stderr and "hint:" in r.stderr
            saved = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, timeout=20).stdout
            assert f"--dport {port} " not in saved
            # The host's own connection still reaches the host's program, not a container.
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                conn, _ = service.accept()
                conn.close()
        finally:
            subprocess.run([*LABKIT, "rm", "-f", "thief-port"], capture_output=True, timeout=60)
    finally:
        service.close()


def test_a_udp_port_a_host_program_holds_is_refused(box):
    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    held.bind(("0.0.0.0", 0))
    port = held.getsockname()[1]
    try:
        with pytest.raises(lk.Conflict) as e:
            box.append(lk.run("busybox", "sleep 60", name="udp-thief", detach=True, ports=[f"{port}:53/udp"]))
        assert f"{port}/udp" in str(e.value)
    finally:
        held.close()
        try:
            lk.container("udp-thief").remove(force=True)
        except lk.NotFound:
            pass


def test_a_host_address_that_is_not_the_hosts_is_refused(box):
    with pytest.raises(lk.InvalidArgument) as e:
        box.append(lk.run("busybox", "sleep 60", name="nowhere", detach=True, ports=[f"10.231.253.9:{free_port()}:80"]))
    assert "10.231.253.9" in str(e.value)
    try:
        lk.container("nowhere").remove(force=True)
    except lk.NotFound:
        pass
