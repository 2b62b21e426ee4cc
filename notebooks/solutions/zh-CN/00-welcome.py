# 笔记本 00 练习的解答：每个解答以它的 "# exercise: ID" 行开头，测试“带解答运行”笔记本时
# 替换那个 ID 的单元格（tests/test_notebooks.py）。它们也是学员能展开的
# 最后一级提示。

# exercise: 00.my-box
lk.tidy("nb00-mine")                                    # 上一次尝试留下的东西
mine = lk.run("busybox", "sleep 60", detach=True, name="nb00-mine",
              hostname="lab",                           # 1. 它的主机名：lab
              memory="24M",                             # 2. 24 MiB 的内存限制
              pids_limit=10)                            # 3. 最多 10 个进程
seen = lk.nsenter(mine.pid, ["uts"], "hostname").stdout.strip()
held = mine.stats()                                     # 它的控制组文件，现在读取
print("hostname in its UTS namespace:", seen, "| memory limit:", held.memory_limit, "bytes | pids limit:", held.pids_limit)
mine.remove(force=True)
lk.exercise("00.my-box").verify(named=seen == "lab", memory=held.memory_limit == 24 << 20, pids=held.pids_limit == 10)
