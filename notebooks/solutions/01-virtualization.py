# Solutions of notebook 01's exercises: each starts with its "# exercise: ID" line and replaces the
# cell of that ID when the tests run the notebook "with the solutions" (tests/test_notebooks.py). They
# are also the last hint a learner can unfold.

# exercise: 01.host-pid
c = proof()   # the container to find (started again if the clean-up cell below removed it)
found = [p.pid for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "3001"]]
print("host PIDs running it:", found, "| labkit says PID", c.pid)
lk.exercise("01.host-pid").verify(found=c.pid in found, one=len(found) == 1)
