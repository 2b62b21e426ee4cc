"""The Docker Engine API on labkitd's second socket: the real docker CLI drives labkit's
containers, and bad requests get Docker-shaped errors while everyone else is served."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time

import pytest

import labkit as lk
from labkit.runtime.client import labkitd

#: The docker CLI: the one on PATH, else the one ./lab setup took out of Debian's docker.io package.
DOCKER = shutil.which("docker") or os.path.join(os.path.dirname(sys.executable), "docker")
#: Debian's own (20.10, API 1.41), which ./lab setup puts in the venv: old clients must work too.
DEBIAN_DOCKER = os.path.join(os.path.dirname(sys.executable), "docker")
pytestmark = pytest.mark.skipif(not os.access(DOCKER, os.X_OK), reason="the docker CLI (client only) is not installed")


@pytest.fixture
def sock(inst, busybox):
    labkitd.call("ping", inst=inst)  # labkitd listens on both sockets once started
    return str(inst.run / "docker.sock")


def docker(sock, *args, timeout=60, **kw):
    return subprocess.run([DOCKER, "-H", f"unix://{sock}", *args], capture_output=True, text=True, timeout=timeout, **kw)


def http(sock, raw: bytes, timeout=10) -> tuple[int, dict, bytes]:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(sock)
    s.sendall(raw)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_the_socket_is_root_only_and_answers_ping_and_version(sock):
    mode = os.stat(sock).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660 and os.stat(sock).st_uid == 0
    status, headers, body = http(sock, b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200 and headers["api-version"] == "1.47" and body == b""
    r = docker(sock, "version", "--format", "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}")
    assert r.returncode == 0 and r.stdout.split() == ["1.47", "1.24", "linux"], r.stderr


def test_docker_run_prints_the_output_exits_with_the_code_and_removes_the_container(sock):
    r = docker(sock, "run", "--rm", "busybox", "echo", "hi")
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    r = docker(sock, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert lk.ps(all=True) == []  # AutoRemove: labkitd removed them (the CLI sends no DELETE)


def test_a_detached_container_with_limits_ports_and_env_as_docker_shows_it(sock, box):
    r = docker(sock, "run", "-d", "--name", "dweb", "-m", "64m", "--cpus", "0.5", "--pids-limit", "50", "-e", "K=V",
               "-p", "127.0.0.1:18123:80", "busybox", "httpd", "-f", "-p", "80")
    assert r.returncode == 0 and len(r.stdout.strip()) == 64, r.stderr
    box.append(lk.container("dweb"))
    info = json.loads(docker(sock, "inspect", "dweb").stdout)[0]
    assert info["State"]["Running"] and info["State"]["Pid"] == lk.container("dweb").pid
    assert info["HostConfig"]["Memory"] == 64 << 20 and info["HostConfig"]["NanoCpus"] == 500_000_000
    assert info["HostConfig"]["PidsLimit"] == 50 and "K=V" in info["Config"]["Env"]
    assert info["NetworkSettings"]["IPAddress"] == lk.container("dweb").ip
    ps = docker(sock, "ps", "--format", "{{.Names}} {{.Ports}}").stdout
    assert "dweb 127.0.0.1:18123->80/tcp" in ps
    # the limits are in the kernel, not only in the answer
    assert lk.container("dweb").stats().memory_limit == 64 << 20
    assert docker(sock, "stop", "-t", "1", "dweb").returncode == 0
    assert json.loads(docker(sock, "inspect", "dweb").stdout)[0]["State"]["Status"] == "exited"
    assert docker(sock, "rm", "dweb").returncode == 0
    box.clear()
    r = docker(sock, "inspect", "dweb")
    assert r.returncode != 0 and "No such object: dweb" in r.stderr  # the CLI's words for a 404 there


def test_errors_in_dockers_shape_and_bad_requests_refused_cleanly(sock):
    status, _, body = http(sock, b"GET /v1.47/no/such/thing HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 404 and "no GET /no/such/thing" in json.loads(body)["message"]
    bad = b'{"Image": "busybox", "Cmd": '
    status, _, body = http(sock, b"POST /containers/create HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(bad), bad))
    assert status == 400 and "not JSON" in json.loads(body)["message"]
    status, _, body = http(sock, b"POST /containers/create HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n")
    assert status == 400 and "too large" in json.loads(body)["message"]
    status, _, body = http(sock, b"hello there\r\n\r\n")
    assert status == 400
    body = json.dumps({"Image": "busybox", "HostConfig": {"Memory": 1}}).encode()
    status, _, out = http(sock, b"POST /containers/create HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    assert status == 400 and "memory" in json.loads(out)["message"]
    r = docker(sock, "rm", "no-such-container")
    assert r.returncode != 0 and "No such container" in r.stderr
    r = docker(sock, "run", "--rm", "localhost/no-such-image:1", "true")
    assert r.returncode != 0  # 404 on create: the CLI tries to pull, and says why it failed


def test_a_slow_half_sent_request_does_not_stall_anyone_else(sock):
    slow = socket.socket(socket.AF_UNIX)
    slow.connect(sock)
    slow.sendall(b"POST /containers/create HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"Ima")  # and then nothing
    try:
        r = docker(sock, "ps")  # answered while the slow one still owes 95 bytes (it never sends them)
        assert r.returncode == 0 and "CONTAINER ID" in r.stdout
    finally:
        slow.close()


def test_docker_exec_with_exit_codes_and_both_streams(sock, box):
    assert docker(sock, "run", "-d", "--name", "dex", "busybox", "sleep", "600").returncode == 0
    box.append(lk.container("dex"))
    r = docker(sock, "exec", "dex", "sh", "-c", "echo out; echo err >&2; exit 4")
    assert (r.returncode, r.stdout, r.stderr) == (4, "out\n", "err\n")
    r = docker(sock, "exec", "dex", "no-such-command")
    assert r.returncode == 127 and "not found" in r.stderr  # docker's code for a command not found


def test_docker_py_drives_labkit(sock, box):
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=f"unix://{sock}")
    assert client.version()["ApiVersion"] == "1.47"
    assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\n"
    here = os.path.dirname(os.path.abspath(__file__))
    assert client.containers.run("busybox", "head -c 13 /t/test_docker_api.py", remove=True,
                                 volumes={here: {"bind": "/t", "mode": "ro"}}) == b'"""The Docker'
    v = client.volumes.create("pyvol")
    assert [x.name for x in client.volumes.list()] == ["pyvol"]
    v.remove()
    c = client.containers.run("busybox", "sh -c 'echo started; sleep 600'", detach=True, name="pyd")
    box.append(lk.container("pyd"))
    for _ in range(100):  # until its first line is in the log
        if c.logs() == b"started\n":
            break
        time.sleep(0.05)
    assert c.logs() == b"started\n"
    assert c.exec_run("sh -c 'echo x; exit 2'") == (2, b"x\n")
    assert client.containers.get("pyd").status == "running"
    assert "busybox:latest" in [t for i in client.images.list() for t in i.tags]
    assert client.images.pull("busybox", tag="latest").id == client.images.get("busybox").id
    c.stop(timeout=1)
    assert client.containers.get("pyd").status == "exited"
    c.remove()
    box.clear()
    assert [x.name for x in client.containers.list(all=True)] == []


def test_docker_top_pause_unpause_restart_and_network_ls(sock, box):
    assert docker(sock, "run", "-d", "--name", "dlife", "busybox", "sleep", "600").returncode == 0
    c = lk.container("dlife")
    box.append(c)
    top = docker(sock, "top", "dlife")
    assert top.returncode == 0 and "sleep 600" in top.stdout and str(c.pid) in top.stdout
    assert docker(sock, "pause", "dlife").returncode == 0
    assert c.status == "paused"  # the freezer, read back
    assert "(Paused)" in docker(sock, "ps", "--format", "{{.Status}}").stdout
    assert docker(sock, "unpause", "dlife").returncode == 0 and c.status == "running"
    before = c.pid
    assert docker(sock, "restart", "-t", "1", "dlife").returncode == 0
    assert c.status == "running" and c.pid != before
    nets = docker(sock, "network", "ls", "--format", "{{.Name}} {{.Driver}}").stdout.split("\n")
    assert "bridge bridge" in nets and "host host" in nets and "none none" in nets
    assert docker(sock, "ps", "-q").stdout.split() == [c.id[:12]]
    info = docker(sock, "info", "--format", "{{.ContainersRunning}} {{.OSType}}")
    assert info.stdout.split() == ["1", "linux"], info.stderr
    assert "busybox" in docker(sock, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()[0]
    waiting = subprocess.Popen([DOCKER, "-H", f"unix://{sock}", "wait", "dlife"], stdout=subprocess.PIPE, text=True)
    assert docker(sock, "kill", "-s", "KILL", "dlife").returncode == 0
    assert waiting.communicate(timeout=30)[0].strip() == "137" and c.status == "exited"  # 128 + SIGKILL
    assert docker(sock, "wait", "dlife").stdout.strip() == "137"  # an exited one answers at once
    assert docker(sock, "ps", "-q").stdout == "" and docker(sock, "ps", "-a", "-q").stdout.split() == [c.id[:12]]


def test_docker_tag_and_rmi(sock, box):
    assert docker(sock, "tag", "busybox", "localhost/dtag:1").returncode == 0
    assert "localhost/dtag:1" in lk.images.names()
    assert docker(sock, "run", "--rm", "localhost/dtag:1", "true").returncode == 0
    r = docker(sock, "rmi", "localhost/dtag:1")
    assert r.returncode == 0 and "Untagged: localhost/dtag:1" in r.stdout, r.stderr
    assert "localhost/dtag:1" not in lk.images.names() and "docker.io/library/busybox:latest" in lk.images.names()


def test_an_attach_waiting_for_a_start_ends_when_the_container_is_removed(sock):
    cid = json.loads(http(sock, b"POST /containers/create HTTP/1.1\r\nContent-Length: 37\r\n\r\n"
                            b'{"Image": "busybox", "Cmd": ["true"]}')[2])["Id"]
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(sock)
    s.sendall(b"POST /containers/%s/attach?stream=1&stdout=1 HTTP/1.1\r\nUpgrade: tcp\r\n\r\n" % cid.encode())
    assert s.recv(65536).startswith(b"HTTP/1.1 101")
    assert docker(sock, "rm", cid).returncode == 0
    assert s.recv(65536) == b""  # the stream ends: labkitd keeps no connection for a container that is gone
    s.close()


def test_docker_volumes_binds_and_tmpfs(sock, box, tmp_path):
    (tmp_path / "f").write_text("from the host\n")
    r = docker(sock, "run", "--rm", "-v", f"{tmp_path}:/h:ro", "-v", "dvol:/v", "--tmpfs", "/t:size=1m",
               "--mount", "type=tmpfs,target=/m,tmpfs-mode=1770", "busybox",
               "sh", "-c", "cat /h/f; echo kept > /v/k; grep -E ' /(h|t|m) ' /proc/mounts")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "from the host"
    mounts = {line.split()[1]: line.split()[3] for line in lines[1:]}
    assert "ro" in mounts["/h"].split(",") and "size=1024k" in mounts["/t"] and "mode=1770" in mounts["/m"]
    assert docker(sock, "run", "--rm", "-v", "dvol:/v", "busybox", "cat", "/v/k").stdout == "kept\n"
    assert docker(sock, "volume", "ls", "-q").stdout.split() == ["dvol"]
    info = json.loads(docker(sock, "volume", "inspect", "dvol").stdout)[0]
    assert info["Name"] == "dvol" and info["Driver"] == "local" and os.path.isdir(info["Mountpoint"])
    r = docker(sock, "run", "-d", "--name", "dv", "-v", "dvol:/v", "-v", "/anon", "busybox", "sleep", "600")
    box.append(lk.container("dv"))
    mounts = json.loads(docker(sock, "inspect", "dv").stdout)[0]["Mounts"]
    assert sorted((m["Type"], m["Destination"]) for m in mounts) == [("volume", "/anon"), ("volume", "/v")]
    r = docker(sock, "volume", "rm", "dvol")
    assert r.returncode == 1 and "in use" in r.stderr
    assert docker(sock, "rm", "-f", "-v", "dv").returncode == 0
    box.clear()
    assert docker(sock, "volume", "ls", "-q").stdout.split() == ["dvol"]  # -v took the anonymous one only
    assert docker(sock, "volume", "rm", "dvol").returncode == 0
    assert docker(sock, "volume", "ls", "-q").stdout.split() == []
    r = docker(sock, "run", "--rm", "-v", "/no/such/labkit/dir:/d", "busybox", "true")
    assert r.returncode == 125 and "does not exist" in r.stderr


def test_docker_network_create_connect_disconnect_rm(sock, box):
    assert docker(sock, "network", "create", "--subnet", "10.231.77.0/24", "dnet").returncode == 0
    assert "dnet" in docker(sock, "network", "ls", "--format", "{{.Name}}").stdout.split()
    docker(sock, "run", "-d", "--name", "dn1", "busybox", "sleep", "600")
    box.append(lk.container("dn1"))
    assert docker(sock, "network", "connect", "dnet", "dn1").returncode == 0
    r = docker(sock, "exec", "dn1", "ip", "-4", "-o", "addr")
    assert "10.231.77.2/24" in r.stdout, r.stdout
    info = json.loads(docker(sock, "network", "inspect", "dnet").stdout)[0]
    assert info["IPAM"]["Config"][0]["Subnet"] == "10.231.77.0/24" and len(info["Containers"]) == 1
    r = docker(sock, "network", "rm", "dnet")
    assert r.returncode == 1 and "dn1" in r.stderr  # in use: refused
    assert docker(sock, "network", "disconnect", "dnet", "dn1").returncode == 0
    assert "10.231.77." not in docker(sock, "exec", "dn1", "ip", "-4", "-o", "addr").stdout
    assert docker(sock, "network", "rm", "dnet").returncode == 0
    assert docker(sock, "network", "inspect", "dnet").returncode == 1


def test_docker_logs_follow_timestamps_tail_and_stats(sock, box):
    r = docker(sock, "run", "-d", "--name", "dl", "-m", "64m", "--pids-limit", "50", "busybox", "sh", "-c",
               "for i in 1 2 3 4 5; do echo line $i; echo err $i >&2; sleep 0.2; done; printf partial; touch /done; sleep 600")
    box.append(lk.container("dl"))
    # -f: what was logged, then each line as it is logged; a line still partial comes once it ends (here: at exit)
    p = subprocess.Popen([DOCKER, "-H", f"unix://{sock}", "logs", "-f", "-t", "dl"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    for _ in range(200):
        if docker(sock, "exec", "dl", "test", "-f", "/done").returncode == 0:  # "partial" was printed
            break
        time.sleep(0.05)
    lk.container("dl").kill()
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0
    lines = out.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [f"line {i}" for i in range(1, 6)] + ["partial"]
    assert all(line[:4].isdigit() and line.split(" ", 1)[0].endswith("Z") for line in lines)  # RFC 3339 stamps
    assert [line.split(" ", 1)[1] for line in err.splitlines()] == [f"err {i}" for i in range(1, 6)]
    r = docker(sock, "logs", "--tail", "2", "dl")
    assert (r.stdout, r.stderr) == ("partial", "err 5\n")  # the last two entries, each on its stream
    assert docker(sock, "logs", "--tail", "x", "dl").returncode == 1
    # stats: a busy container near 100% of a CPU, its limits as given
    r = docker(sock, "run", "-d", "--name", "ds", "-m", "64m", "--pids-limit", "50", "busybox", "sh", "-c", "while :; do :; done")
    box.append(lk.container("ds"))
    time.sleep(0.5)
    r = docker(sock, "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}", "ds")
    name, cpu, usage, _, limit, pids = r.stdout.split()
    assert name == "ds" and float(cpu.rstrip("%")) > 50 and limit == "64MiB" and pids == "1", r.stdout


@pytest.mark.skipif(not os.access(DEBIAN_DOCKER, os.X_OK), reason="./lab setup puts Debian's docker CLI in the venv")
def test_debians_older_docker_cli_works_too(sock, box):
    def old(*args, **kw):
        return subprocess.run([DEBIAN_DOCKER, "-H", f"unix://{sock}", *args], capture_output=True, text=True, timeout=60, **kw)

    r = old("version", "--format", "{{.Client.APIVersion}} {{.Server.APIVersion}}")
    assert r.returncode == 0, r.stderr
    client, server = r.stdout.split()
    assert server == "1.47" and tuple(map(int, client.split("."))) <= (1, 47)  # it speaks its own, older version
    r = old("run", "--rm", "busybox", "sh", "-c", "echo hi; exit 4")
    assert (r.returncode, r.stdout) == (4, "hi\n"), r.stderr
    r = old("run", "-i", "--rm", "busybox", "cat", input="piped\n")
    assert (r.returncode, r.stdout) == (0, "piped\n"), r.stderr
    assert old("ps", "-a", "-q").stdout == ""


def test_docker_push_and_pull_with_the_local_registry_and_no_stall_meanwhile(sock, busybox, inst):
    from labkit.images import local_registry

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    reg = local_registry.start(port=port, inst=inst)
    try:
        name = f"{reg.host}/lab/bb:1"
        assert docker(sock, "tag", "busybox", name).returncode == 0
        r = docker(sock, "push", name)
        assert r.returncode == 0 and "1: digest: sha256:" in r.stdout, r.stderr
        assert docker(sock, "rmi", name).returncode == 0
        r = docker(sock, "pull", name)
        assert r.returncode == 0 and "Downloaded newer image" in r.stdout, r.stderr
        assert docker(sock, "run", "--rm", name, "echo", "from the registry").stdout == "from the registry\n"
        docker(sock, "rmi", name)
    finally:
        local_registry.stop(inst)
    r = docker(sock, "pull", "alpine")  # refused by labkitd before any connection: nothing leaves the machine
    assert r.returncode == 1 and "labkit pull" in r.stderr
    # A registry that never answers: its pull waits in a helper process, and labkitd serves everyone meanwhile.
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)  # the kernel completes connections; nobody ever answers them
    try:
        p = subprocess.Popen([DOCKER, "-H", f"unix://{sock}", "pull", f"localhost:{mute.getsockname()[1]}/x:1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        assert p.poll() is None  # still waiting on the mute registry
        assert docker(sock, "ps", "-a", timeout=10).returncode == 0
        assert docker(sock, "run", "--rm", "busybox", "true", timeout=20).returncode == 0
    finally:
        mute.close()  # its connections reset: the pull ends with an error
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1, (out, err)


def test_docker_exec_output_streams_as_it_comes_and_large_output_arrives_whole(sock, box):
    docker(sock, "run", "-d", "--name", "dx", "busybox", "sleep", "600")
    box.append(lk.container("dx"))
    p = subprocess.Popen([DOCKER, "-H", f"unix://{sock}", "exec", "dx", "sh", "-c", "echo first; sleep 600"],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "first\n"  # while the command still runs (it used to come at its exit)
    finally:
        p.kill()
        p.wait()
    r = subprocess.run(f"{DOCKER} -H unix://{sock} exec dx sh -c 'head -c 5000000 /dev/zero' | wc -c",
                       shell=True, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "5000000"


def test_refused_execs_leave_no_descriptor_open_in_labkitd(sock, box, inst):
    from labkit.runtime.client import labkitd as client

    docker(sock, "run", "-d", "--name", "dy", "busybox", "sleep", "600")
    box.append(lk.container("dy"))
    pid = int((inst.run / "labkitd.pid").read_text())
    before = len(os.listdir(f"/proc/{pid}/fd"))
    r, w = os.pipe()
    try:
        for bad in ({"id": "dy", "args": ""}, {"id": "dy", "args": "x", "workdir": "rel"}, {"id": "nope", "args": "ls"}):
            with pytest.raises(lk.LabkitError):
                client.call("exec", (w, w), inst=inst, **bad)
    finally:
        os.close(r)
        os.close(w)
    assert settled_fds(pid, before) <= before
    # The Docker API's exec makes its own pipes: an exec started after its container stopped is refused, and they go.
    payload = b'{"Cmd": ["ls"]}'
    status, _, body = http(sock, b"POST /v1.47/containers/dy/exec HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))
    assert status == 201
    eid = json.loads(body)["Id"]
    lk.container("dy").kill()
    lk.container("dy").wait()
    before = len(os.listdir(f"/proc/{pid}/fd"))
    for _ in range(5):
        http(sock, f"POST /v1.47/exec/{eid}/start HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode())
    assert settled_fds(pid, before) <= before


def settled_fds(pid: int, want: int) -> int:
    """labkitd's open descriptors, once its connections that are closing have closed (up to 5 s)."""
    for _ in range(100):
        n = len(os.listdir(f"/proc/{pid}/fd"))
        if n <= want:
            return n
        time.sleep(0.05)
    return n


def labkitd_tcp_listeners(pid: int) -> list[str]:
    """The TCP sockets labkitd listens on, from /proc/net/tcp{,6} (state 0A) and its descriptors."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(table).read().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and f[9] in inodes:
                found.append(f[1])
    return found


def test_tcp_only_when_asked_only_on_loopback_and_with_a_warning(sock, inst):
    pid = int((inst.run / "labkitd.pid").read_text())
    assert labkitd_tcp_listeners(pid) == []  # nothing on TCP by default
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    lab = [sys.executable, "-m", "labkit.cli", "api", "tcp"]
    p = subprocess.run(lab + [str(port)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "root on this host" in p.stderr, p.stderr
    assert labkitd_tcp_listeners(pid) == [f"0100007F:{port:04X}"]  # 127.0.0.1 only
    r = subprocess.run([DOCKER, "-H", f"tcp://127.0.0.1:{port}", "run", "--rm", "busybox", "echo", "over tcp"],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout == "over tcp\n", r.stderr
    from labkit.runtime.client import labkitd as client

    with pytest.raises(lk.NotPermitted):
        client.call("docker_tcp", inst=inst, host="0.0.0.0", port=port)
    assert subprocess.run(lab + ["off"], capture_output=True, timeout=30).returncode == 0
    assert labkitd_tcp_listeners(pid) == []


@pytest.mark.parametrize("body", [
    {"Image": "busybox", "HostConfig": "x"},
    {"Image": "busybox", "HostConfig": {"Binds": "/tmp:/x"}},
    {"Image": "busybox", "HostConfig": {"Mounts": ["type=tmpfs"]}},
    {"Image": "busybox", "HostConfig": {"Tmpfs": ["/run"]}},
    {"Image": "busybox", "HostConfig": {"NanoCpus": "0.5"}},
    {"Image": "busybox", "HostConfig": {"PidsLimit": True}},
    {"Image": "busybox", "HostConfig": {"PortBindings": {"80/tcp": "8080"}}},
    {"Image": "busybox", "HostConfig": {"Memory": [1]}},
    {"Image": "busybox", "Entrypoint": 5},
    {"Image": 5},
])
def test_wrong_types_in_a_create_are_a_400_that_names_the_field(sock, body):
    """A 400 with a message, no traceback in labkitd's log (the fixture checks), nothing made."""
    data = json.dumps(body).encode()
    status, _, answer = http(sock, b"POST /v1.47/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
    assert status == 400 and json.loads(answer)["message"], answer
    assert lk.ps(all=True) == []


# -- the smaller holes of issue 21: a 400 naming what is wrong, never a 500, a hang or a silent drop ------
def request(sock, method: str, target: str, body: dict | None = None, timeout=10) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else b""
    status, _, answer = http(sock, f"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                   f"Content-Length: {len(data)}\r\n\r\n".encode() + data, timeout=timeout)
    return status, answer


def test_a_null_byte_in_a_container_name_is_not_found_not_a_500(sock, inst):
    for target in ("/v1.47/containers/%00%00/json", "/containers/%00/json", "/containers/a%00b/logs?stdout=1"):
        status, answer = request(sock, "GET", target)
        assert status == 404 and "No such container" in json.loads(answer)["message"], (target, answer)
    from labkit.runtime import state
    with pytest.raises(lk.ContainerNotFound):
        state.resolve(inst, "web\0")


@pytest.mark.parametrize("host,field", [
    ({"CpuShares": -1}, "HostConfig.CpuShares"),
    ({"CpuShares": 512}, "HostConfig.CpuShares"),
    ({"CpuQuota": -7}, "HostConfig.CpuQuota"),
    ({"CpuQuota": 500}, "HostConfig.CpuQuota"),
    ({"CpuPeriod": 1}, "HostConfig.CpuPeriod"),
    ({"CpuPeriod": 50000}, "HostConfig.CpuPeriod"),
    ({"CpuPeriod": 100000, "CpuQuota": 50000, "NanoCpus": 500000000}, "HostConfig.NanoCpus"),
    ({"NanoCpus": -5}, "HostConfig.NanoCpus"),
    ({"Privileged": True}, "HostConfig.Privileged"),
    ({"CapAdd": ["SYS_ADMIN"]}, "HostConfig.CapAdd"),
    ({"SecurityOpt": ["seccomp=unconfined"]}, "HostConfig.SecurityOpt"),
    ({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}}, "HostConfig.RestartPolicy"),
    ({"LogConfig": {"Type": "syslog", "Config": {}}}, "HostConfig.LogConfig.Type"),
    ({"Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"}]}, "HostConfig.Devices"),
])
def test_a_create_asking_for_what_labkit_does_not_do_is_a_400_naming_the_field(sock, host, field):
    """Refused, never dropped: a container without the asked-for limit or privilege would run as if it had it."""
    status, answer = request(sock, "POST", "/v1.47/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": host})
    assert status == 400 and field in json.loads(answer)["message"], answer
    assert lk.ps(all=True) == []


def test_labels_and_a_fixed_address_are_refused_and_the_clis_defaults_are_not(sock, box):
    for body, field in (({"Labels": {"team": "a"}}, "Labels"),
                        ({"NetworkingConfig": {"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv4Address": "172.30.0.99"}}}}},
                         "NetworkingConfig")):
        status, answer = request(sock, "POST", "/containers/create", {"Image": "busybox", **body})
        assert status == 400 and json.loads(answer)["message"].startswith(field), answer
    r = docker(sock, "run", "-l", "team=a", "--rm", "busybox", "true")
    assert r.returncode != 0 and "Labels" in r.stderr
    # every field the CLI sends for flags not given asks nothing: a plain run is taken
    r = docker(sock, "run", "--rm", "busybox", "echo", "plain")
    assert (r.returncode, r.stdout) == (0, "plain\n"), r.stderr


def cpu_quota_of(pid: int) -> int | None:
    """The CFS quota the kernel holds for a process's group, on v1 (cpu.cfs_quota_us) or v2 (cpu.max)."""
    lines = [line.rstrip("\n").split(":", 2) for line in open(f"/proc/{pid}/cgroup")]
    for _, controllers, path in lines:
        if "cpu" in controllers.split(","):
            value = int(open(f"/sys/fs/cgroup/cpu{path}/cpu.cfs_quota_us").read())
            return None if value < 0 else value
    for _, controllers, path in lines:
        if controllers == "":
            quota, period = open(f"/sys/fs/cgroup{path}/cpu.max").read().split()
            return None if quota == "max" else int(quota) * 100_000 // int(period)
    return None


@pytest.mark.v2
def test_cpu_quota_and_period_and_log_options_reach_the_kernel_and_the_log(sock, box):
    r = docker(sock, "run", "-d", "--name", "dquota", "--cpu-quota", "25000", "--cpu-period", "50000",
               "--log-opt", "max-size=4k", "--log-opt", "max-file=2", "busybox", "sh", "-c",
               "i=0; while [ $i -lt 400 ]; do echo line-$i-of-some-length; i=$((i+1)); "
               "[ $((i % 20)) = 0 ] && usleep 20000; done; sleep 300")  # in batches: a log rotates between writes
    assert r.returncode == 0, r.stderr
    c = lk.container("dquota")
    box.append(c)
    assert cpu_quota_of(c.pid) == 50_000  # half a CPU, at the kernel's 100 ms period
    info = json.loads(docker(sock, "inspect", "dquota").stdout)[0]
    assert info["HostConfig"]["NanoCpus"] == 500_000_000
    _until_true(lambda: "line-399-" in c.logs())
    from labkit.paths import instance
    from labkit.runtime import state

    logs = sorted(p.name for p in state.bundle_dir(instance(), c.id).glob("log.json*"))
    assert logs == ["log.json", "log.json.1"]  # max-file=2: rotated at 4 KiB, one old file kept


def _until_true(check, timeout=20):
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "not reached in time"
        time.sleep(0.05)


@pytest.mark.parametrize("target,words", [
    ("/containers/json?filters=%7Bbad", "not JSON"),
    ("/containers/json?filters=%5B1,2%5D", "not an object"),
    ("/containers/json?filters=%7B%22colour%22:%5B%22red%22%5D%7D", "invalid filter 'colour'"),
    ("/containers/json?filters=%7B%22status%22:%7B%22sleepy%22:true%7D%7D", "invalid filter 'status=sleepy'"),
    ("/containers/json?filters=%7B%22name%22:%7B%22x%22:5%7D%7D", "filter 'name'"),
    ("/containers/json?filters=%7B%22name%22:%5B%22(%22%5D%7D", "invalid filter 'name=('"),
    ("/containers/json?filters=%7B%22exited%22:%5B%22x%22%5D%7D", "invalid filter 'exited=x'"),
    ("/images/json?filters=%7Bbad", "not JSON"),
    ("/images/json?filters=%7B%22size%22:%5B%221%22%5D%7D", "invalid filter 'size'"),
    ("/networks?filters=%5B%5D", "not an object"),
    ("/volumes?filters=%7B%22dangling%22:%5B%22maybe%22%5D%7D", "invalid filter 'dangling=maybe'"),
])
def test_a_filter_that_cannot_be_read_is_a_400_not_the_whole_list(sock, target, words):
    status, answer = request(sock, "GET", target)
    assert status == 400 and words in json.loads(answer)["message"], answer


def test_filters_choose_as_dockers_do(sock, box):
    for name, cmd in (("fa-web", "sleep 300"), ("fb-db", "sleep 300"), ("fc-done", "exit 3")):
        r = docker(sock, "run", "-d", "--name", name, "busybox", "sh", "-c", cmd)
        assert r.returncode == 0, r.stderr
        box.append(lk.container(name))
    lk.container("fc-done").wait(timeout=30)

    def names(*args):
        r = docker(sock, "ps", "--format", "{{.Names}}", *args)
        assert r.returncode == 0, r.stderr
        return sorted(r.stdout.split())

    assert names() == ["fa-web", "fb-db"]
    assert names("-a") == ["fa-web", "fb-db", "fc-done"]
    assert names("--filter", "name=web") == ["fa-web"]
    assert names("-a", "--filter", "name=^f[ac]-") == ["fa-web", "fc-done"]
    assert names("--filter", "status=exited") == ["fc-done"]  # a status filter looks past running ones, as docker's
    assert names("-a", "--filter", "exited=3") == ["fc-done"] and names("-a", "--filter", "exited=0") == []
    assert names("--filter", "id=" + lk.container("fb-db").id[:8]) == ["fb-db"]
    assert names("-a", "--filter", "ancestor=busybox") == ["fa-web", "fb-db", "fc-done"]
    assert names("-a", "--filter", "label=team") == []  # labkit's containers have no labels
    assert names("-a", "--filter", "name=web", "--filter", "name=db") == ["fa-web", "fb-db"]  # one key: any
    assert names("-a", "--filter", "name=web", "--filter", "status=exited") == []  # two keys: all
    r = docker(sock, "ps", "--filter", "colour=red")
    assert r.returncode != 0 and "invalid filter 'colour'" in r.stderr
    r = docker(sock, "images", "--format", "{{.Repository}}", "--filter", "reference=busy*")
    assert r.returncode == 0 and r.stdout.split() == ["busybox"], r.stdout + r.stderr
    r = docker(sock, "images", "--format", "{{.Repository}}", "--filter", "reference=nothing-like-it")
    assert r.returncode == 0 and r.stdout == ""
    r = docker(sock, "network", "ls", "--format", "{{.Name}}", "--filter", "type=builtin")
    assert sorted(r.stdout.split()) == ["bridge", "host", "none"], r.stdout + r.stderr
    r = docker(sock, "volume", "create", "labkit-fvol")
    assert r.returncode == 0, r.stderr
    try:
        r = docker(sock, "volume", "ls", "-q", "--filter", "dangling=true")
        assert "labkit-fvol" in r.stdout.split(), r.stdout + r.stderr
        r = docker(sock, "volume", "ls", "-q", "--filter", "name=nothing-like-it")
        assert r.stdout == ""
    finally:
        docker(sock, "volume", "rm", "labkit-fvol")


def test_a_wait_condition_that_is_not_dockers_is_a_400_at_once_and_each_condition_waits_as_dockers(sock, box):
    r = docker(sock, "create", "--name", "dwait", "busybox", "sh", "-c", "exit 4")
    assert r.returncode == 0, r.stderr
    box.append(lk.container("dwait"))
    status, answer = request(sock, "POST", "/containers/dwait/wait?condition=bogus", timeout=10)
    assert status == 400 and "invalid condition" in json.loads(answer)["message"]
    # not-running, on one made and never started: at once, as dockerd answers
    status, answer = request(sock, "POST", "/containers/dwait/wait", timeout=10)
    assert status == 200 and json.loads(answer)["StatusCode"] == 0
    assert docker(sock, "start", "dwait").returncode == 0
    lk.container("dwait").wait(timeout=30)
    status, answer = request(sock, "POST", "/containers/dwait/wait?condition=not-running", timeout=10)
    assert status == 200 and json.loads(answer)["StatusCode"] == 4
    # next-exit, on one that has exited: not the old exit, the next one
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(sock)
    s.sendall(b"POST /containers/dwait/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert b" 200 " in head.split(b"\r\n")[0]
    assert b"StatusCode" not in head  # the headers now, no code yet
    assert docker(sock, "start", "dwait").returncode == 0
    data = head
    while b"StatusCode" not in data:
        chunk = s.recv(4096)
        assert chunk, data
        data += chunk
    s.close()
    assert b'"StatusCode": 4' in data
