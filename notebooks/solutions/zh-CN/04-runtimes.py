# 笔记本 04 练习的解答：每个解答以它的 "# exercise: ID" 行开头，测试“带解答运行”笔记本时
# 替换那个 ID 的单元格（tests/test_notebooks.py）。它们也是学员能展开的
# 最后一级提示。每一关的解答就是下一关的起点。

# exercise: 04.level-1
ov, g = by_hand()   # 如果下面的清理单元格删掉了它们，就重新创建
g.update(memory="32M", pids_limit=20)
r = g.run(["sh", "-c", "cat /proc/self/cgroup"])
print(r.stdout)
lk.exercise("04.level-1").verify(limited=g.stats().memory_limit == 32 << 20, joined="nb04-by-hand" in r.stdout)

# exercise: 04.level-2
ov, g = by_hand()   # 如果下面的清理单元格删掉了它们，就重新创建
p = g.spawn(["unshare", "--fork", "--pid", "--uts", "--mount", "--ipc", "--net", "sh", "-c", "echo ready; exec sleep 30"])
p.stdout.readline()                      # 命令已经启动（或者 unshare 失败了）
import psutil
inner = psutil.Process(p.pid).children() if p.poll() is None else []   # unshare 的子进程：那个命令
seen = {}
if inner:                                # 内核的回答，从主机上读取：它的命名空间，它在每个命名空间里的 PID
    seen = {k: os.readlink(f"/proc/{inner[0].pid}/ns/{k}") for k in ("pid", "uts", "mnt", "ipc", "net")}
    seen["NSpid"] = open(f"/proc/{inner[0].pid}/status").read().split("NSpid:")[1].split("\n")[0].split()
g.kill(); p.wait()
print(p.stderr.read(), *(f"{k}: {v}" for k, v in seen.items()), sep="\n")
mine = {k: os.readlink(f"/proc/self/ns/{k}") for k in ("pid", "uts", "mnt", "ipc", "net")}
lk.exercise("04.level-2").verify(pid_one=seen.get("NSpid", [""])[-1] == "1",
                                 all_new=bool(seen) and all(seen[k] != mine[k] for k in mine))

# exercise: 04.level-3
ov, g = by_hand()   # 如果下面的清理单元格删掉了它们，就重新创建
r = g.run(["unshare", "--fork", "--pid", "--uts", "--mount", "--ipc", "--net", "--mount-proc=" + str(ov.merged / "proc"),
           "chroot", str(ov.merged), "/bin/sh", "-c", "echo made by hand > /made-by-hand; ls /"])
print(r.stdout, r.stderr)
lk.exercise("04.level-3").verify(in_upper=(ov.upper / "made-by-hand").exists(),
                                 host_untouched=not os.path.exists("/made-by-hand"))

# exercise: 04.level-4
ov, g = by_hand()   # 如果下面的清理单元格删掉了它们，就重新创建
script = f"""
mount --make-rprivate /                  # 在这里做的挂载只留在这里：不会传播到主机
mount --bind {ov.merged} {ov.merged}     # 和 runc 一样：pivot_root 需要一个挂载点（普通目录不是）
cd {ov.merged}
mkdir -p old-root                        # 1. 创建旧根要去的目录：新根下的 old-root
pivot_root . old-root                    # 2. 交换根：overlay 成为 /，旧根移到 old-root 下
exec /bin/sh -c 'mount -t proc proc /proc && umount -l /old-root && rmdir /old-root && echo ready && exec sleep 60'   # 3. 放掉旧根（先挂新的 /proc：嵌套时，旧的还看得见，内核才肯挂新的）
"""
p = g.spawn(["unshare", "--fork", "--pid", "--uts", "--mount", "--ipc", "--net", "sh", "-c", script])
ready = p.stdout.readline().strip() == "ready"
try:
    seen = open(f"/proc/{p.pid}/mountinfo").read().splitlines()
except OSError:
    seen = []                            # 它结束了（已经不在，或者是僵尸进程）：pivot_root 或者之后的步骤失败了
g.kill(); p.wait()
print(p.stderr.read(), *seen, sep="\n")
lk.exercise("04.level-4").verify(pivoted=ready and any(" / / " in m and " - overlay " in m for m in seen),
                                 old_root_gone=ready and len(seen) <= 3 and not any("old-root" in m for m in seen))
