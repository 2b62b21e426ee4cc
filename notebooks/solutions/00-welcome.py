# Solutions of notebook 00's exercises: each starts with its "# exercise: ID" line and replaces the
# cell of that ID when the tests run the notebook "with the solutions" (tests/test_notebooks.py). They
# are also the last hint a learner can unfold.

# exercise: 00.hostname
mine = lk.run("busybox", "sleep 60", detach=True, name="nb00-mine", hostname="lab")
seen = lk.nsenter(mine.pid, ["uts"], "hostname").stdout.strip()
print("the hostname in its UTS namespace, as the kernel says:", seen)
mine.remove(force=True)
lk.exercise("00.hostname").verify(named=seen == "lab")
