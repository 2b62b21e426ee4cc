# 笔记本 03 练习的解答（用法见 02-namespaces.py）。

# exercise: 03.memory-limits
survives = lk.run("busybox", "dd if=/dev/zero of=/dev/null bs=48M count=1", memory="128M", rm=True, stream=False)
killed = lk.run("busybox", "dd if=/dev/zero of=/dev/null bs=48M count=1", memory="16M", rm=True, stream=False)
print("exit codes:", survives.exit_code, killed.exit_code, "| OOM kill recorded by the kernel:", killed.oom_killed)
lk.exercise("03.memory-limits").verify(survives=survives.exit_code == 0,
                                       killed=killed.exit_code == 137 and killed.oom_killed)

# exercise: 03.cpu-quarter
busy = lk.run("busybox", ["sh", "-c", "while :; do :; done"], detach=True, name="nb03-mine", cpus=0.25)
w = lk.monitor(busy, interval=0.25, seconds=3)
got = [x for x in w.sampler.series("nb03-mine")["cpu_percent"] if x is not None][1:]
mean = sum(got) / max(1, len(got))
quota = w.sampler.series("nb03-mine")["cpu_limit"][-1]   # 从 cpu.max / cpu.cfs_quota_us 读出
busy.remove(force=True)
print(f"quota in the kernel's file: {quota} CPU; it got {mean:.0f} % of one core")
lk.exercise("03.cpu-quarter").verify(quota=quota == 0.25, measured=10 <= mean <= 40)

# exercise: 03.by-hand
import subprocess
from pathlib import Path
from labkit import cgroups
from labkit.cgroups.figures import memory_limit_in
from labkit.paths import instance
v2 = cgroups.layout().version == 2
place = cgroups.group(f"{instance().tag}/nb03-by-hand")            # 本实验室的组在每个层级里放在哪里
mine = next(d for d in place.dirs if v2 or "/memory/" in str(d))   # 这个组的目录，在 memory 控制器下
print("this host: cgroup v%d; the group's folder:" % (2 if v2 else 1), mine)
sleeper = subprocess.Popen(["sleep", "60"])
mine.mkdir()   # 1. 创建这个组
(mine / ("memory.max" if v2 else "memory.limit_in_bytes")).write_text(str(32 << 20))   # 2. 给它 32 MiB 的内存限制
(mine / "cgroup.procs").write_text(str(sleeper.pid))   # 3. 把那个 sleep 进程移进去
made = mine.is_dir()
limit = memory_limit_in(mine, 2 if v2 else 1)                      # 内核现在记着的值
inside = "nb03-by-hand" in Path(f"/proc/{sleeper.pid}/cgroup").read_text()
print("limit:", limit, "| the sleeper's /proc/PID/cgroup names the group:", inside)
sleeper.kill(); sleeper.wait()
if mine.is_dir():
    mine.rmdir()                                                     # 组空了以后，用 rmdir 删除
lk.exercise("03.by-hand").verify(made=made, limited=limit == 32 << 20, joined=inside)
