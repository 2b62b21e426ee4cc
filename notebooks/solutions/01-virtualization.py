# Solutions of notebook 01's exercises: each starts with its "# exercise: ID" line and replaces the
# cell of that ID when the tests run the notebook "with the solutions" (tests/test_notebooks.py). They
# are also the last hint a learner can unfold.

# exercise: 01.host-pid
c = proof()   # the container to find (started again if the clean-up cell below removed it)
found = [p.pid for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "3001"]]   # 1. a list: the host's PIDs of the processes whose command line is sleep 3001 (psutil)
pid_ns = os.readlink(f"/proc/{found[0]}/ns/pid")   # 2. the PID namespace found[0] is in, as /proc/PID/ns/ names it ("pid:[4026532...]")
parent = psutil.Process(psutil.Process(found[0]).ppid()).name()   # 3. the name of found[0]'s parent process (psutil)
print("host PIDs running it:", found, "| its PID namespace:", pid_ns, "| its parent:", parent, "| labkit says PID", c.pid)
truth = psutil.Process(c.pid)
lk.exercise("01.host-pid").verify(found=c.pid in found, one=len(found) == 1,
                                  namespace=pid_ns == os.readlink(f"/proc/{c.pid}/ns/pid") != os.readlink("/proc/self/ns/pid"),
                                  parent=parent == psutil.Process(truth.ppid()).name())
