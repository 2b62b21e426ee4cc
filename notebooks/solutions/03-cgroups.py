# Solutions of notebook 03's exercises (see 02-namespaces.py for how they are used).

# exercise: 03.memory-limits
survives = lk.run("busybox", "dd if=/dev/zero of=/dev/null bs=48M count=1", memory="128M", rm=True, stream=False)
killed = lk.run("busybox", "dd if=/dev/zero of=/dev/null bs=48M count=1", memory="16M", rm=True, stream=False)
print("exit codes:", survives.exit_code, killed.exit_code, "| OOM kill recorded by the kernel:", killed.oom_killed)
lk.exercise("03.memory-limits").verify(survives=survives.exit_code == 0,
                                       killed=killed.exit_code == 137 and killed.oom_killed)

# exercise: 03.cpu-quarter
busy = lk.run("busybox", ["sh", "-c", "while :; do :; done"], detach=True, name="nb03-mine", cpus=0.25)
w = lk.monitor(busy, interval=0.25, seconds=3)
got = [x for x in w.sampler.series("nb03-mine")["cpu_percent"] if x is not None][1:]
mean = sum(got) / max(1, len(got))
quota = w.sampler.series("nb03-mine")["cpu_limit"][-1]   # read from cpu.max / cpu.cfs_quota_us
busy.remove(force=True)
print(f"quota in the kernel's file: {quota} CPU; it got {mean:.0f} % of one core")
lk.exercise("03.cpu-quarter").verify(quota=quota == 0.25, measured=10 <= mean <= 40)
