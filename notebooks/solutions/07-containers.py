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

# exercise: 07.init
import time
lk.tidy("nb07-init")                                        # what a try before this one left
script = """
sh -c 'trap "exit 42" TERM; touch /tmp/up; while :; do sleep 0.1; done' &    # the service: not PID 1; on TERM it exits 42
service=$!
until [ -e /tmp/up ]; do sleep 0.02; done                 # its handler is set (a TERM before it would end it with 143)
trap 'kill -TERM $service' TERM   # 1. PID 1's handler: on TERM, send TERM on to the service
echo ready
wait $service; wait $service; exit $?   # 2. wait for the service, then exit with the service's exit code
"""
i = lk.run("busybox", ["sh", "-c", script], detach=True, name="nb07-init")
for _ in range(200):                                        # the stop comes after PID 1 has set its handler
    if "ready" in i.logs() or i.status != "running":
        break
    time.sleep(0.05)
code = i.stop(timeout=3)                                    # TERM to PID 1; KILL 3 s later if it is still there
print("the container's exit code, as the kernel gave it to labkitd:", code)
i.remove()
lk.exercise("07.init").verify(forwarded=code in (42, 143), its_code=code == 42)
