# 笔记本 02 练习的解答：每个解答以它的 "# exercise: ID" 行开头，测试“带解答运行”笔记本时
# 替换那个 ID 的单元格（tests/test_notebooks.py）。它们也是学员能展开的
# 最后一级提示。

# exercise: 02.uts-not-pid
r = lk.unshare(["uts", "net"], "busybox hostname; echo my PID is $$", hostname="mine")
print(r.stdout)
lk.exercise("02.uts-not-pid").verify(uts_new="uts" in r.view.isolated(), net_new="net" in r.view.isolated(),
                                     pid_shared="pid" in r.view.shared(), hostname_set=r.inside.get("hostname") == "mine")

# exercise: 02.pid-one
r = lk.unshare(["pid", "mnt"], "echo my PID is $$; busybox ps -o pid,comm")
print(r.stdout)
lk.exercise("02.pid-one").verify(pid_new="pid" in r.view.isolated(), pid_one=r.inside.get("pid") == 1,   # 里面的 getpid()，内核的回答
                                 own_proc="mnt" in r.view.isolated())   # 自己的 /proc 需要自己的挂载命名空间

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
k.unshare(k.CLONE_NEWUTS | k.CLONE_NEWNET)   # 1. 给这个进程新的 UTS 和网络命名空间：一次 unshare 调用，两个 CLONE_NEW 标志
socket.sethostname("mine")   # 2. 主机名 "mine"，只在它新的 UTS 命名空间里
print("ready", flush=True); sys.stdin.read()              # 它一直留着，直到单元格关闭它的标准输入
"""
second = """
import os, sys
from labkit.kernel import syscalls as k
pid = int(sys.argv[1])                                     # first 的 PID，按主机的编号
k.setns(os.open(f"/proc/{pid}/ns/uts", os.O_RDONLY))   # 3. 加入 first 的 UTS 命名空间（别的都不加入）：打开 /proc/PID/ns 下它的文件，对它 setns
print("ready", flush=True); sys.stdin.read()
"""

def start(program: str, *args: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", program, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "ready":             # 它失败了：它的错误信息会说明原因
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
if renamed:                                                # first 给主机的 UTS 命名空间改了名：把名字改回去
    socket.sethostname(host_name)
print(*(f"{who:<12} uts {v['uts']}  net {v['net']}" for who, v in seen.items()), f"first's hostname, by nsenter: {named!r}", sep="\n")
lk.exercise("02.by-hand").verify(
    own_namespaces=None not in seen["first"].values() and all(seen["first"][k] != here[k] for k in here),
    named=named == "mine" and not renamed,
    joined=seen["second"]["uts"] is not None and seen["second"]["uts"] == seen["first"]["uts"] and seen["second"]["net"] == here["net"])
