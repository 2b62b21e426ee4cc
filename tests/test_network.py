"""Networks for real: bridges, veths, addresses, names, published ports, isolation, modes. All
traffic stays on this machine: between namespaces the tests made, their bridges and the host's
loopback (LABKIT_OFFLINE=1 gives containers no resolver, so no lookup can leave either)."""

from __future__ import annotations

import io
import ipaddress
import os
import tarfile
import socket
import subprocess
import time
import urllib.request

import pytest

import labkit as lk
from labkit.images.commit import derive
from labkit.images.store import ImageStore
from labkit.network import ipam, rules
from labkit.network.ports import parse_ports
from test_faults import LABKIT, _cli, _labkitd_pid, _until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ip_of(net: str, name: str) -> str:
    return lk.network.inspect(net).containers[name]


@pytest.fixture
def nets():
    """Networks a test makes: removed after it, their containers first."""
    made = []
    yield made
    for n in made:
        try:
            for name in lk.network.inspect(n).containers:
                lk.container(name).remove(force=True)
            lk.network.rm(n)
        except lk.NotFound:
            pass


def sleeper(box, name, **kw):
    c = lk.run("busybox", "sleep 600", name=name, detach=True, **kw)
    box.append(c)
    return c


# -- the pool, the rules and the names: arithmetic, checked without the kernel ------------------------------
def test_the_pool_skips_the_gateway_and_gives_a_released_address_last(tmp_path):
    """The pool as files (networks.py), on a /29: .1 the gateway, .2-.6 for containers, .7 broadcast."""
    from labkit.network import networks
    from labkit.paths import Instance

    inst = Instance(tmp_path, tmp_path / "run", "lkpool")
    networks.create(inst, "tiny", subnet="10.9.0.0/29")
    take = lambda n, ip=None: networks.allocate(inst, "tiny", f"{n:064d}", f"c{n}", ip=ip)["ip"]  # noqa: E731
    assert [take(n) for n in (1, 2, 3)] == ["10.9.0.2", "10.9.0.3", "10.9.0.4"]
    assert networks.release(inst, f"{2:064d}") == ["tiny"]  # .3 given back
    assert take(4) == "10.9.0.5" and take(5) == "10.9.0.6"  # every other free one first
    assert take(6) == "10.9.0.3"  # only then
    with pytest.raises(ipam.PoolExhausted) as e:
        take(7)
    assert "no free address" in str(e.value) and e.value.hint
    with pytest.raises(lk.Conflict):
        take(8, ip="10.9.0.2")  # held by container 1
    with pytest.raises(lk.Conflict):
        take(8, ip="10.9.0.1")  # the gateway
    with pytest.raises(lk.InvalidArgument):
        take(8, ip="10.9.0.7")  # the broadcast address
    with pytest.raises(lk.Conflict):
        take(1)  # on it already
    assert networks.release(inst, f"{1:064d}", "tiny") == ["tiny"] and take(8, ip="10.9.0.2") == "10.9.0.2"
    eps = networks.read(inst, "tiny")["endpoints"]
    assert sorted(e["ip"] for e in eps.values()) == [f"10.9.0.{i}" for i in (2, 3, 4, 5, 6)]
    assert eps[f"{8:064d}"] == {"name": "c8", "ip": "10.9.0.2", "mac": "02:42:0a:09:00:02"}
    with pytest.raises(lk.Conflict):
        networks.remove(inst, "tiny")  # containers on it
    for n in (3, 4, 5, 6, 8):
        assert networks.release(inst, f"{n:064d}") == ["tiny"]
    assert networks.release(inst, f"{8:064d}") == []
    networks.remove(inst, "tiny")
    assert not [p for p in os.listdir(tmp_path / "networks") if p.startswith("tiny")]


def test_a_subnet_that_collides_with_a_route_is_refused_naming_it_or_another_is_picked():
    routes = [(ipaddress.IPv4Network("172.29.0.0/16"), "wg0")]
    with pytest.raises(ipam.SubnetCollision, match="wg0"):
        ipam.check_free(ipaddress.IPv4Network("172.29.5.0/24"), routes)
    assert str(ipam.pick_subnet(list(ipam.DEFAULT_POOL), routes)) == "172.30.0.0/16"
    for bad in ("10.1.2.3/24", "127.0.0.0/8", "10.0.0.0/30", "nonsense", "224.0.0.0/8"):
        with pytest.raises(lk.InvalidArgument):
            ipam.parse_subnet(bad)


def test_published_ports_in_dockers_forms_and_nonsense_refused():
    assert parse_ports(["8080:80", "127.0.0.1:5353:53/udp"]) == [
        {"proto": "tcp", "host_ip": "", "host_port": 8080, "port": 80},
        {"proto": "udp", "host_ip": "127.0.0.1", "host_port": 5353, "port": 53}]
    assert parse_ports({"80/tcp": 8081})[0]["host_port"] == 8081
    assert parse_ports(["80"])[0]["host_port"] > 0  # a free host port is picked
    for bad in ("99999:80", "8080:0", "x:80", "8080:80/sctp", "1.2.3:8080:80", 8080):
        with pytest.raises(lk.InvalidArgument):
            parse_ports([bad])
    with pytest.raises(lk.InvalidArgument, match="twice"):
        parse_ports(["8080:80", "8080:81"])


def test_the_ruleset_isolates_every_pair_of_networks_and_nats_each():
    nets = [{"bridge": "lk-bra", "subnet": "10.230.0.0/24"}, {"bridge": "lk-brb", "subnet": "10.230.1.0/24"}]
    text = rules.ruleset("labkit", nets, [{"proto": "tcp", "host_ip": "127.0.0.1", "host_port": 8080, "ip": "10.230.0.2",
                                           "port": 80}])
    assert "-A labkit-FORWARD -i lk-bra -o lk-brb -j DROP" in text and "-A labkit-FORWARD -i lk-brb -o lk-bra -j DROP" in text
    assert text.index("DROP") < text.index("ACCEPT")  # isolation before the accepts
    assert "-s 10.230.1.0/24 ! -o lk-brb -j MASQUERADE" in text
    assert "-d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.230.0.2:80" in text
    assert all(len(c) <= 28 for c in rules.chains("labkit.3f9c0a1b").values())  # iptables' limit


# -- the kernel ---------------------------------------------------------------------------------------------
def test_two_containers_on_the_default_bridge_reach_each_other_by_address(box):
    a = sleeper(box, "net-a")
    r = lk.run("busybox", "sh -c 'ip -4 -o addr show eth0; ip route; cat /etc/hosts /etc/hostname /etc/resolv.conf'",
               name="net-b", rm=True, stream=False)
    net = lk.network.inspect("bridge")
    a_ip = net.containers["net-a"]
    assert r.exit_code == 0, r.stderr
    inet = r.stdout.split("inet ")[1].split()[0]  # "172.29.0.3/16"
    b_ip = inet.split("/")[0]
    assert ipaddress.IPv4Address(b_ip) in ipaddress.IPv4Network(net.subnet) and b_ip != a_ip
    assert f"default via {net.gateway} dev eth0" in r.stdout
    assert "net-a" not in r.stdout  # the default network has no names, as Docker's
    assert "no resolver" in r.stdout and "nameserver 127.0.0.1" in r.stdout  # LABKIT_OFFLINE: no lookup leaves
    r = lk.run("busybox", f"ping -c 1 -W 2 {a_ip}", rm=True, stream=False)
    assert r.exit_code == 0 and "1 packets received" in r.stdout, r.stdout + r.stderr
    # and the kernel agrees with the record: a's eth0 has the address, its veth is on the bridge
    assert a_ip in a.exec("ip -4 -o addr show eth0").stdout and a.ip == a_ip
    assert f"{a_ip} on bridge" in repr(a) and a_ip in a._repr_html_()
    veth = [n for n in os.listdir(f"/sys/class/net/{net.bridge}/brif")]
    assert len(veth) >= 1 and all(v.startswith("lk") for v in veth)


def test_on_a_user_defined_network_containers_find_each_other_by_name(box, nets):
    lk.network.create("lab-backend")
    nets.append("lab-backend")
    web = lk.run("busybox", "httpd -f -p 8000 -h /etc", name="web", network="lab-backend", detach=True)
    box.append(web)
    r = lk.run("busybox", "sh -c 'ping -c 1 -W 2 web && wget -q -O- http://web:8000/hostname'",
               network="lab-backend", rm=True, stream=False)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith(web.id[:12])  # web's own /etc/hostname, over TCP from another container
    # a container that joins later is added to the others' /etc/hosts
    late = sleeper(box, "late", network="lab-backend")
    _until(lambda: "late" in web.exec("cat /etc/hosts").stdout, timeout=10, what="web's /etc/hosts to list late")
    assert ip_of("lab-backend", "late") in web.exec("cat /etc/hosts").stdout
    late.remove(force=True)
    assert "late" not in web.exec("cat /etc/hosts").stdout


def test_a_published_port_answers_from_the_host_and_goes_with_the_container(box):
    p_any, p_lo = free_port(), free_port()
    web = lk.run("busybox", "httpd -f -p 80 -h /etc", name="pub", ports=[f"{p_any}:80", f"127.0.0.1:{p_lo}:80"],
                 detach=True)
    box.append(web)
    for port in (p_any, p_lo):
        body = None
        for _ in range(50):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/hostname", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert body and body.strip() == web.id[:12], port
    saved = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert f"--dport {p_lo} -j DNAT" in saved and "-d 127.0.0.1/32" in saved
    ps = _cli("ps").stdout
    assert "PORTS" in ps and f"0.0.0.0:{p_any}->80/tcp, 127.0.0.1:{p_lo}->80/tcp" in ps  # as docker ps shows them
    web.stop(timeout=1)
    saved = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert f"--dport {p_any} " not in saved  # stopped: its ports are no longer published
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{p_lo}/hostname", timeout=2)


def test_two_user_defined_networks_cannot_reach_each_other(box, nets):
    for n in ("lab-red", "lab-blue"):
        lk.network.create(n)
        nets.append(n)
    sleeper(box, "red1", network="lab-red")
    sleeper(box, "blue1", network="lab-blue")
    blue_ip = ip_of("lab-blue", "blue1")
    ok = lk.run("busybox", f"ping -c 1 -W 2 {blue_ip}", network="lab-blue", rm=True, stream=False)
    assert ok.exit_code == 0, ok.stdout  # the control: on its own network it answers
    for src in ("lab-red", "bridge"):
        r = lk.run("busybox", f"ping -c 1 -W 1 {blue_ip}", network=src, rm=True, stream=False)
        assert r.exit_code != 0 and "0 packets received" in r.stdout, (src, r.stdout)


def test_a_full_pool_is_a_clear_error_and_an_address_comes_back_on_rm(box, nets):
    lk.network.create("lab-tiny", subnet="10.231.250.0/29")  # 5 addresses for containers
    nets.append("lab-tiny")
    made = [lk.create("busybox", "true", name=f"tiny{i}", network="lab-tiny") for i in range(5)]
    box.extend(made)
    with pytest.raises(lk.Conflict) as e:
        box.append(lk.create("busybox", "true", name="tiny5", network="lab-tiny"))
    assert "no free address" in str(e.value) and "labkit rm" in e.value.hint
    assert "tiny5" not in [c.name for c in lk.ps(all=True)]  # refused: nothing made
    freed = ip_of("lab-tiny", "tiny2")
    made[2].remove()
    box.append(lk.create("busybox", "true", name="tiny6", network="lab-tiny"))
    assert ip_of("lab-tiny", "tiny6") == freed
    assert len(set(lk.network.inspect("lab-tiny").containers.values())) == 5


def test_twenty_creates_at_once_get_twenty_addresses(box, nets):
    lk.network.create("lab-crowd")
    nets.append("lab-crowd")
    procs = [subprocess.Popen([*LABKIT, "create", "--name", f"crowd{i}", "--network", "lab-crowd", "busybox", "true"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(20)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    box.extend(c for c in lk.ps(all=True) if c.name.startswith("crowd"))
    addrs = lk.network.inspect("lab-crowd").containers
    assert len(addrs) == 20 and len(set(addrs.values())) == 20


def test_addresses_are_kept_across_a_labkitd_restart(box, inst):
    c = sleeper(box, "keepme")
    before = ip_of("bridge", "keepme")
    os.kill(_labkitd_pid(inst), 9)  # its keeper starts another at once
    _until(lambda: _cli("ps", "-q").returncode == 0, what="labkitd to be back")
    assert ip_of("bridge", "keepme") == before and before in c.exec("ip -4 -o addr show eth0").stdout
    other = sleeper(box, "newcomer")
    assert ip_of("bridge", "newcomer") != before
    c.stop(timeout=1)
    c.start()  # a restart: a new namespace, the same address
    assert before in c.exec("ip -4 -o addr show eth0").stdout
    other.remove(force=True)


def test_modes_none_host_and_another_containers_namespace(box):
    r = lk.run("busybox", "ls /sys/class/net", network="none", rm=True, stream=False)
    assert r.stdout.split() == ["lo"]
    host_ns = os.readlink("/proc/self/ns/net")
    r = lk.run("busybox", "readlink /proc/self/ns/net", network="host", rm=True, stream=False)
    assert r.stdout.strip() == host_ns
    web = sleeper(box, "nsowner")
    theirs = os.readlink(f"/proc/{web.pid}/ns/net")
    r = lk.run("busybox", "readlink /proc/self/ns/net", network="container:nsowner", rm=True, stream=False)
    assert r.stdout.strip() == theirs != host_ns
    with pytest.raises(lk.InvalidArgument):
        lk.run("busybox", "true", network="host", ports=["8080:80"], rm=True)
    with pytest.raises(lk.InvalidArgument):
        lk.run("busybox", "true", network="no such/name", rm=True)


def test_connect_and_disconnect_a_running_container(box, nets):
    lk.network.create("lab-extra")
    nets.append("lab-extra")
    c = sleeper(box, "multi")
    lk.network.connect("lab-extra", "multi")
    ip = ip_of("lab-extra", "multi")
    assert ip in c.exec("ip -4 -o addr show eth1").stdout
    r = lk.run("busybox", "ping -c 1 -W 2 multi", network="lab-extra", rm=True, stream=False)
    assert r.exit_code == 0, r.stdout
    lk.network.disconnect("lab-extra", "multi")
    assert "eth1" not in c.exec("ls /sys/class/net").stdout
    with pytest.raises(lk.Conflict):
        lk.network.rm("bridge")


def tar_of(*entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.type, info.linkname = e.get("type", tarfile.REGTYPE), e.get("linkname", "")
            tar.addfile(info)
    return buf.getvalue()


def test_a_symlink_in_the_image_cannot_aim_etc_hosts_at_the_host(box, tmp_path, inst):
    """/etc/hosts is bound over the image's. An image whose /etc/hosts is a symlink to a host path
    (or whose /etc is a symlink to a host directory) must not get the host's file mounted over."""
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    hostdir = tmp_path / "hostdir"
    hostdir.mkdir()
    # Made as a hostile image would be (a RUN step could not: /etc/hosts is a mount point there too)
    store = ImageStore(inst)
    derive(store, "busybox", "localhost/evil-hosts:1", "ln -s VICTIM /etc/hosts",
           layer=tar_of({"name": "etc/hosts", "type": tarfile.SYMTYPE, "linkname": str(victim)}))
    derive(store, "busybox", "localhost/evil-etc:1", "ln -s HOSTDIR /etc",
           layer=tar_of({"name": "etc", "type": tarfile.SYMTYPE, "linkname": str(hostdir)}))
    try:
        with pytest.raises(lk.LabkitError, match="symlink"):
            lk.run("localhost/evil-hosts:1", "cat /etc/hosts", rm=True, stream=False)
        with pytest.raises(lk.LabkitError, match="symlink"):  # /etc resolves inside the root: to nothing
            lk.run("localhost/evil-etc:1", "cat /etc/hosts", rm=True, stream=False)
        assert victim.read_text() == "keep me\n" and os.listdir(hostdir) == []
    finally:
        for tag in ("localhost/evil-hosts:1", "localhost/evil-etc:1"):
            lk.rmi(tag, force=True)


def test_topology_draws_the_lab_and_says_how_to_build_it_by_hand(box, nets):
    lk.network.create("lab-drawn")
    nets.append("lab-drawn")
    sleeper(box, "drawn1", network="lab-drawn", ports=[f"{free_port()}:80"])
    t = lk.network.topology()
    text = repr(t)
    net = lk.network.inspect("lab-drawn")
    assert net.bridge in text and "drawn1" in text and net.containers["drawn1"] in text
    assert "<svg" in t._repr_html_() and "drawn1" in t.svg()
    cmds = "\n".join(t.commands)
    assert f"ip link add {net.bridge} type bridge" in cmds and "-j DNAT --to-destination" in cmds


def test_the_cli_makes_lists_and_removes_networks(nets):
    r = _cli("network", "create", "--subnet", "10.231.251.0/24", "lab-cli")
    assert r.returncode == 0, r.stderr
    nets.append("lab-cli")
    ls = _cli("network", "ls")
    assert "lab-cli" in ls.stdout and "10.231.251.0/24" in ls.stdout and "host" in ls.stdout
    bad = _cli("network", "create", "--subnet", "10.231.251.0/25", "lab-clash")
    assert bad.returncode != 0 and "overlaps" in bad.stderr and "hint:" in bad.stderr
    assert _cli("run", "--rm", "-p", "99999:80", "busybox", "true").returncode == 125
    assert _cli("network", "rm", "lab-cli").returncode == 0
    assert "lab-cli" not in _cli("network", "ls").stdout


def test_reset_removes_every_bridge_veth_and_rule(box, nets, inst):
    lk.network.create("lab-gone")
    sleeper(box, "gone1", network="lab-gone", ports=[f"{free_port()}:80"])
    sleeper(box, "gone2")
    lk.reset()
    box.clear()
    links = [n for n in os.listdir("/sys/class/net") if inst.owns_link(n)]
    assert links == []
    assert inst.tag not in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert not (inst.root / "networks").exists()


def test_the_network_step_is_in_the_trace():
    r = lk.run("busybox", "true", rm=True, stream=False, trace=True)
    step = [s for s, _ in r.trace if "veth" in s]
    assert step and "from the pool" in step[0]


def test_doctor_catches_an_iptables_that_cannot_masquerade(tmp_path, monkeypatch):
    """The real one works here (the first half); a host whose iptables and kernel disagree is
    stood in for by an iptables that answers as such a host's does (the second)."""
    from labkit.host.doctor import check_firewall

    assert check_firewall().status == "ok" and "MASQUERADE works" in check_firewall().value
    fake = tmp_path / "iptables"
    fake.write_text("#!/bin/sh\n[ \"$1\" = -V ] && { echo 'iptables v1.8.9 (nf_tables)'; exit 0; }\n"
                    "echo \"iptables v1.8.9 (nf_tables): Chain 'MASQUERADE' does not exist\" >&2; exit 2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    c = check_firewall()
    assert c.status == "fail" and "MASQUERADE" in c.value and "update-alternatives" in c.fix


@pytest.mark.parametrize("backend", ["nft", "legacy"])
def test_the_rules_apply_with_either_iptables_back_end(backend, tmp_path):
    """Debian's iptables is nft-based; some hosts use legacy. Each, for real, in a throw-away
    network namespace (its tables are its own: the host's firewall is never touched): the whole
    rule set goes in, the jumps are there once, and applying it again changes nothing."""
    import shutil
    import sys

    if not shutil.which(f"iptables-{backend}"):
        pytest.skip(f"iptables-{backend} is not installed")
    shim = tmp_path / "bin"
    shim.mkdir()
    for tool in ("iptables", "iptables-restore", "iptables-save"):
        (shim / tool).symlink_to(shutil.which(tool.replace("iptables", f"iptables-{backend}", 1)))
    code = ("from labkit.network import firewall\n"
            "nets = [{'bridge': 'lk-bra', 'subnet': '10.230.0.0/24'}, {'bridge': 'lk-brb', 'subnet': '10.230.1.0/24'}]\n"
            "ports = [{'proto': 'udp', 'host_ip': '', 'host_port': 5353, 'ip': '10.230.0.2', 'port': 53}]\n"
            "firewall.apply('labkit.0000beef', nets, ports)\n"
            "firewall.apply('labkit.0000beef', nets, ports)\n")
    r = subprocess.run(["unshare", "--net", "sh", "-c", f"{sys.executable} -c \"$CODE\" && iptables-save"],
                       env={**os.environ, "PATH": f"{shim}:{os.environ['PATH']}", "CODE": code,
                            "PYTHONPATH": str(__import__('conftest').REPO)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    saved = r.stdout
    version = subprocess.run([str(shim / "iptables"), "-V"], capture_output=True, text=True).stdout
    assert ("(nf_tables)" if backend == "nft" else "(legacy)") in version  # the back end meant
    assert saved.count("-A FORWARD -j labkit.0000beef-FORWARD") == 1  # once, though applied twice
    assert "-A labkit.0000beef-FORWARD -i lk-bra -o lk-brb -j DROP" in saved
    assert "-A labkit.0000beef-POSTROUTING -s 10.230.1.0/24 ! -o lk-brb -j MASQUERADE" in saved
    assert "-p udp -m udp --dport 5353 -j DNAT --to-destination 10.230.0.2:53" in saved


def test_networks_from_a_jupyter_kernel(box, nets):
    """In a notebook an asyncio loop runs and the kernel has threads: pyroute2's sync API would
    fail there and its namespace helper forks. labkit does the kernel work in labkitd, so the
    same calls work in a cell, and topology() shows as a drawing."""
    import nbformat
    from nbclient import NotebookClient

    nets.append("lab-nb")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import labkit as lk\n"
        "lk.network.create('lab-nb')\n"
        "c = lk.run('busybox', 'sleep 600', name='nbbox', network='lab-nb', detach=True)\n"
        "r = lk.run('busybox', 'ping -c 1 -W 2 nbbox', network='lab-nb', rm=True, stream=False)\n"
        "print('exit', r.exit_code)"), nbformat.v4.new_code_cell("lk.network.topology()")])
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    finally:
        try:
            lk.container("nbbox").remove(force=True)
        except lk.NotFound:
            pass
    first, drawing = (c.outputs for c in nb.cells)
    assert not [o for o in first + drawing if o.output_type == "error"], first + drawing
    assert "exit 0" in "".join(o.get("text", "") for o in first)
    assert "<svg" in drawing[0]["data"]["text/html"] and "nbbox" in drawing[0]["data"]["text/html"]


def test_a_kernel_refusal_during_set_up_is_a_typed_error_and_leaves_nothing(box, nets):
    """The network's bridge replaced behind labkit's back by a link that is not a bridge (one end
    of a veth pair, deleted with the other at the end): the kernel
    refuses to enslave the veth. The run fails with a NetworkSetupFailed saying which step, no
    container, veth or address is left, and labkitd logs no traceback (the leak check reads its log)."""
    from labkit.network.attach import NetworkSetupFailed

    net = lk.network.create("lab-broken")
    nets.append("lab-broken")
    subprocess.run(["ip", "link", "del", net.bridge], check=True)
    subprocess.run(["ip", "link", "add", net.bridge, "type", "veth", "peer", "name", f"{net.bridge[:-2]}xx"], check=True)
    try:
        with pytest.raises(NetworkSetupFailed) as e:
            lk.run("busybox", "true", name="broken1", network="lab-broken", rm=True)
        assert "plug the container into its network" in str(e.value) and "labkit reset" in e.value.hint
        assert "broken1" not in [c.name for c in lk.ps(all=True)]
        assert lk.network.inspect("lab-broken").containers == {}
    finally:
        subprocess.run(["ip", "link", "del", net.bridge], check=False)


def test_a_start_that_fails_leaves_no_published_port(box):
    port = free_port()
    with pytest.raises(lk.CommandNotFound):
        lk.run("busybox", "no-such-command", ports=[f"{port}:80"], rm=True)
    assert f"--dport {port} " not in subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout


def test_a_stopped_containers_veth_goes_at_once_even_while_its_namespace_is_held(box):
    """The kernel deletes a dead namespace's veths itself, but later (a worker, seconds on a busy
    machine) and never while something holds the namespace. labkitd deletes what is left 2 s after."""
    from labkit.network.attach import veth_name
    from labkit.paths import instance

    c = lk.run("busybox", "sleep 600", detach=True)
    box.append(c)
    host_end = veth_name(instance().link_prefix, c.id, 0)
    assert os.path.exists(f"/sys/class/net/{host_end}")
    held = os.open(f"/proc/{c.pid}/ns/net", os.O_RDONLY)  # the namespace outlives the container while this is open
    try:
        c.kill()
        assert c.wait(timeout=60) == 137
        deadline = time.monotonic() + 10  # labkitd leaves it to the kernel for 2 s, then deletes it itself
        while os.path.exists(f"/sys/class/net/{host_end}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists(f"/sys/class/net/{host_end}"), "the veth stayed while its namespace was held"
    finally:
        os.close(held)
