# 笔记本 07 练习的解答（用法见 02-namespaces.py）。

# exercise: 07.graceful
import time
g = lk.run("busybox", ["sh", "-c", "trap 'echo bye; exit 0' TERM" + "; echo ready; while :; do sleep 0.1; done"], detach=True, name="nb07-graceful")
for _ in range(200):                     # 停止必须在 shell 设好它的处理函数之后，而不是之前
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
lk.tidy("nb07-init")                                        # 上一次尝试留下的东西
script = """
sh -c 'trap "exit 42" TERM; touch /tmp/up; while :; do sleep 0.1; done' &    # 服务：不是 PID 1；收到 TERM 时以 42 退出
service=$!
until [ -e /tmp/up ]; do sleep 0.02; done                 # 它的处理函数已设好（在这之前收到 TERM 会以 143 结束）
trap 'kill -TERM $service' TERM   # 1. PID 1 的处理函数：收到 TERM 时，把 TERM 转发给服务
echo ready
wait $service; wait $service; exit $?   # 2. 等待服务结束，然后以服务的退出码退出
"""
i = lk.run("busybox", ["sh", "-c", script], detach=True, name="nb07-init")
for _ in range(200):                                        # 停止在 PID 1 设好它的处理函数之后到来
    if "ready" in i.logs() or i.status != "running":
        break
    time.sleep(0.05)
code = i.stop(timeout=3)                                    # 给 PID 1 发 TERM；3 秒后它还在就发 KILL
print("the container's exit code, as the kernel gave it to labkitd:", code)
i.remove()
lk.exercise("07.init").verify(forwarded=code in (42, 143), its_code=code == 42)
