# 笔记本 11 练习的解答：每个解答以它的 "# exercise: ID" 行开头，测试“带解答运行”笔记本时
# 替换那个 ID 的单元格（tests/test_notebooks.py）。它们也是学员能展开的
# 最后一级提示。

# exercise: 11.limit-inside
c = box()   # 如果下面的清理单元格删掉了它，就重新启动
from labkit import cgroups
print("cgroup version", cgroups.layout().version, "| inside:", c.exec("ls /sys/fs/cgroup").stdout.split()[:8])
path = "/sys/fs/cgroup/memory.max" if cgroups.layout().version == 2 else "/sys/fs/cgroup/memory/memory.limit_in_bytes"
got = c.exec(["cat", path]).stdout.strip()
print(path, "says", got)
lk.exercise("11.limit-inside").verify(limit=got == str(64 << 20))

# exercise: 11.by-hand
import subprocess, sys, time
from labkit.kernel import capabilities as caps
program = """
import os
from labkit.kernel import syscalls as k, capabilities as caps
for name in set(caps.NAMES) - set(caps.DOCKER_DEFAULT): k.prctl(k.PR_CAPBSET_DROP, caps.NUMBER[name])   # 1. 边界集：去掉 Docker 不保留的每项能力（caps.NAMES、caps.DOCKER_DEFAULT、k.PR_CAPBSET_DROP）
k.prctl(k.PR_SET_NO_NEW_PRIVS, 1)   # 2. no_new_privs：从这里往后运行的程序都得不到新特权（setuid 文件、文件能力）
os.execvp("sleep", ["sleep", "60"])                        # root 运行一个程序：它得到边界集允许的那些能力
"""
p = subprocess.Popen([sys.executable, "-c", program], stderr=subprocess.PIPE, text=True)
status = ""
for _ in range(100):                                       # 直到程序变成 sleep（或者失败）
    try:
        status = open(f"/proc/{p.pid}/status").read()
    except FileNotFoundError:
        status = ""
    if p.poll() is not None or "Name:\tsleep" in status:
        break
    time.sleep(0.05)
p.kill(); p.wait()
if "Name:\tsleep" not in status:
    print(p.stderr.read()[-600:])                          # 程序失败的原因
fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
bounding, effective = (int(fields.get(f, "0"), 16) for f in ("CapBnd", "CapEff"))
print(f"CapBnd {bounding:016x}  CapEff {effective:016x}  NoNewPrivs {fields.get('NoNewPrivs', '?').strip()}"
      f"   (Docker's 14: {caps.mask(caps.DOCKER_DEFAULT):016x})")
print("dropped, as the kernel says:", ", ".join(n[4:].lower() for n in caps.names(~bounding & caps.mask(caps.NAMES)))[:200] or "none")
lk.exercise("11.by-hand").verify(bounding=bounding == caps.mask(caps.DOCKER_DEFAULT),
                                 effective=effective == caps.mask(caps.DOCKER_DEFAULT),
                                 no_new_privs=fields.get("NoNewPrivs", "").strip() == "1")
