# 笔记本 01 练习的解答：每个解答以它的 "# exercise: ID" 行开头，测试“带解答运行”笔记本时
# 替换那个 ID 的单元格（tests/test_notebooks.py）。它们也是学员能展开的
# 最后一级提示。

# exercise: 01.host-pid
c = proof()   # 要找的容器（如果下面的清理单元格删掉了它，就重新启动）
found = [p.pid for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "3001"]]   # 1. 一个列表：命令行是 sleep 3001 的进程在主机上的 PID（psutil）
pid_ns = os.readlink(f"/proc/{found[0]}/ns/pid")   # 2. found[0] 所在的 PID 命名空间，按 /proc/PID/ns/ 的叫法（"pid:[4026532...]"）
parent = psutil.Process(psutil.Process(found[0]).ppid()).name()   # 3. found[0] 的父进程的名字（psutil）
print("host PIDs running it:", found, "| its PID namespace:", pid_ns, "| its parent:", parent, "| labkit says PID", c.pid)
truth = psutil.Process(c.pid)
lk.exercise("01.host-pid").verify(found=c.pid in found, one=len(found) == 1,
                                  namespace=pid_ns == os.readlink(f"/proc/{c.pid}/ns/pid") != os.readlink("/proc/self/ns/pid"),
                                  parent=parent == psutil.Process(truth.ppid()).name())
