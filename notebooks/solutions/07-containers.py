# Solutions of notebook 07's exercises (see 02-namespaces.py for how they are used).

# exercise: 07.graceful
import time
g = lk.run("busybox", ["sh", "-c", "trap 'echo bye; exit 0' TERM" + "; echo ready; while :; do sleep 0.1; done"], detach=True, name="nb07-graceful")
for _ in range(200):                     # the stop must come after the shell set its handler, not before
    if "ready" in g.logs() or g.status != "running":
        break
    time.sleep(0.05)
code = g.stop(timeout=5)
outcome = lk.exercise("07.graceful").verify(exit_zero=code == 0, said_bye="bye" in g.logs())
g.remove()
outcome

# exercise: 07.predict-kill
predicted = 0
r = lk.run("busybox", ["sh", "-c", "kill -9 $$; echo still here"], rm=True, stream=False)
print(f"it printed {r.stdout.strip()!r} and exited with {r.exit_code}")
lk.exercise("07.predict-kill").verify(right=predicted == r.exit_code)

# exercise: 07.predict-orphans
still_running = False
import psutil, time
k = lk.run("busybox", ["sh", "-c", "sleep 100 & sleep 1"], detach=True, name="nb07-orphans")
time.sleep(0.3)
orphan = [p.pid for p in psutil.Process(k.pid).children() if p.cmdline() == ["sleep", "100"]]
k.wait()
alive = any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in orphan)
print("the background sleep, host PID", orphan, "is", "running" if alive else "gone")
k.remove()
lk.exercise("07.predict-orphans").verify(found=bool(orphan), right=still_running == alive)
