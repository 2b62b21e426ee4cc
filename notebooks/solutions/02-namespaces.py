# Solutions of notebook 02's exercises: each starts with its "# exercise: ID" line and replaces the
# cell of that ID when the tests run the notebook "with the solutions" (tests/test_notebooks.py). They
# are also the last hint a learner can unfold.

# exercise: 02.uts-not-pid
r = lk.unshare(["uts", "net"], "busybox hostname; echo my PID is $$", hostname="mine")
print(r.stdout)
lk.exercise("02.uts-not-pid").verify(uts_new="uts" in r.view.isolated(), net_new="net" in r.view.isolated(),
                                     pid_shared="pid" in r.view.shared(), hostname_set=r.inside.get("hostname") == "mine")

# exercise: 02.pid-one
r = lk.unshare(["pid", "mnt"], "echo my PID is $$; busybox ps -o pid,comm")
print(r.stdout)
lk.exercise("02.pid-one").verify(pid_new="pid" in r.view.isolated(), pid_one=r.inside.get("pid") == 1,   # getpid() inside, the kernel's answer
                                 own_proc="mnt" in r.view.isolated())   # a /proc of its own needs a mount namespace of its own

# exercise: 02.host-network
h = lk.run("busybox", "sleep 300", detach=True, name="nb02-hostnet", network="host")
view = lk.namespaces_of(h.pid)
print(view)
h.remove(force=True)
lk.exercise("02.host-network").verify(net_shared="net" in view.shared(),
                                      rest_own=all(k in view.isolated() for k in ("pid", "mnt", "uts", "ipc")))

# exercise: 02.by-hand
import os, socket, subprocess, sys
first = """
import socket, sys
from labkit.kernel import syscalls as k
k.unshare(k.CLONE_NEWUTS | k.CLONE_NEWNET)   # 1. new UTS and network namespaces for this process: one unshare call, two CLONE_NEW flags
socket.sethostname("mine")   # 2. the hostname "mine", in its new UTS namespace only
print("ready", flush=True); sys.stdin.read()              # it stays until the cell closes its stdin
"""
second = """
import os, sys
from labkit.kernel import syscalls as k
pid = int(sys.argv[1])                                     # first's PID, as the host numbers it
k.setns(os.open(f"/proc/{pid}/ns/uts", os.O_RDONLY))   # 3. join first's UTS namespace (and no other): open its file under /proc/PID/ns, setns to it
print("ready", flush=True); sys.stdin.read()
"""

def start(program: str, *args: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", program, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "ready":             # it failed: its error says why
        print(p.stderr.read()[-600:])
    return p

def ns(p: subprocess.Popen, kind: str):
    try:
        return os.readlink(f"/proc/{p.pid}/ns/{kind}") if p.poll() is None else None
    except OSError:
        return None

host_name = socket.gethostname()
a = start(first)
b = start(second, str(a.pid))
here = {kind: os.readlink(f"/proc/self/ns/{kind}") for kind in ("uts", "net")}
named = subprocess.run(["nsenter", "--target", str(a.pid), "--uts", "hostname"], capture_output=True, text=True).stdout.strip() if ns(a, "uts") else ""
seen = {"first": {kind: ns(a, kind) for kind in here}, "second": {kind: ns(b, kind) for kind in here}, "this kernel": here}
for p in (a, b):
    p.stdin.close(); p.wait()
renamed = socket.gethostname() != host_name
if renamed:                                                # first named the host's UTS namespace: its name goes back
    socket.sethostname(host_name)
print(*(f"{who:<12} uts {v['uts']}  net {v['net']}" for who, v in seen.items()), f"first's hostname, by nsenter: {named!r}", sep="\n")
lk.exercise("02.by-hand").verify(
    own_namespaces=None not in seen["first"].values() and all(seen["first"][k] != here[k] for k in here),
    named=named == "mine" and not renamed,
    joined=seen["second"]["uts"] is not None and seen["second"]["uts"] == seen["first"]["uts"] and seen["second"]["net"] == here["net"])
