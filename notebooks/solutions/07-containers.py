# Solutions of notebook 07's exercises (see 02-namespaces.py for how they are used).

# exercise: 07.graceful
g = lk.run("busybox", ["sh", "-c", "trap 'echo bye; exit 0' TERM" + "; while :; do sleep 0.1; done"], detach=True,
           name="nb07-graceful")
code = g.stop(timeout=5)
outcome = lk.exercise("07.graceful").verify(exit_zero=code == 0, said_bye="bye" in g.logs())
g.remove()
outcome
