# Solutions of notebook 10's exercises: each starts with its "# exercise: ID" line and replaces the
# cell of that ID when the tests run the notebook "with the solutions" (tests/test_notebooks.py). They
# are also the last hint a learner can unfold.

# exercise: 10.raw-list
lk.tidy("nb10-listed")   # what a try before this one left
listed = lk.run("busybox", "true", name="nb10-listed")      # exited: only ?all=1 lists it
r = lk.api.request("GET", "/v1.47/containers/json?all=1")
answer = r.json() if r.status == 200 else None
names = [n for item in answer for n in item.get("Names", [])] if isinstance(answer, list) else []
print(r.status, names)
lk.container("nb10-listed").remove()
lk.exercise("10.raw-list").verify(ok=r.status == 200, listed="/nb10-listed" in names)
