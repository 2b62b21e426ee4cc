# Solutions of notebook 03's exercises (see 02-namespaces.py for how they are used).

# exercise: 03.memory-limits
survives = lk.run("busybox", "dd if=/dev/zero of=/dev/null bs=48M count=1", memory="128M", rm=True, stream=False)
killed = lk.run("busybox", "dd if=/dev/zero of=/dev/null bs=48M count=1", memory="16M", rm=True, stream=False)
print("exit codes:", survives.exit_code, killed.exit_code, "| OOM kill recorded by the kernel:", killed.oom_killed)
lk.exercise("03.memory-limits").verify(survives=survives.exit_code == 0,
                                       killed=killed.exit_code == 137 and killed.oom_killed)
