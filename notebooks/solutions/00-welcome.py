# Solutions of notebook 00's exercises: each starts with its "# exercise: ID" line and replaces the
# cell of that ID when the tests run the notebook "with the solutions" (tests/test_notebooks.py). They
# are also the last hint a learner can unfold.

# exercise: 00.my-box
lk.tidy("nb00-mine")                                    # what a try before this one left
mine = lk.run("busybox", "sleep 60", detach=True, name="nb00-mine",
              hostname="lab",                           # 1. its hostname: lab
              memory="24M",                             # 2. a memory limit of 24 MiB
              pids_limit=10)                            # 3. at most 10 processes
seen = lk.nsenter(mine.pid, ["uts"], "hostname").stdout.strip()
held = mine.stats()                                     # its cgroup's files, read now
print("hostname in its UTS namespace:", seen, "| memory limit:", held.memory_limit, "bytes | pids limit:", held.pids_limit)
mine.remove(force=True)
lk.exercise("00.my-box").verify(named=seen == "lab", memory=held.memory_limit == 24 << 20, pids=held.pids_limit == 10)
