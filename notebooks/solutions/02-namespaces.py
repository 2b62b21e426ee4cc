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
listed = [line for line in r.stdout.splitlines()[2:] if line.strip()]
lk.exercise("02.pid-one").verify(pid_new="pid" in r.view.isolated(), few_processes=0 < len(listed) <= 3)

# exercise: 02.host-network
h = lk.run("busybox", "sleep 300", detach=True, name="nb02-hostnet", network="host")
view = lk.namespaces_of(h.pid)
print(view)
h.remove(force=True)
lk.exercise("02.host-network").verify(net_shared="net" in view.shared(),
                                      rest_own=all(k in view.isolated() for k in ("pid", "mnt", "uts", "ipc")))
