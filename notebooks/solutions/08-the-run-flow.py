# Solutions of notebook 08's exercises (see 02-namespaces.py for how they are used).

# exercise: 08.no-network
lk.tidy("nb08-nonet")                                      # what a try before this one left
mode = "none"                                                 # the network mode
r3 = lk.run("busybox", "true", network=mode, trace=True, rm=True, stream=False)
print(r3.trace_table())                                    # its steps: is there a network step among them?
c3 = lk.run("busybox", "sleep 30", network=mode, detach=True, name="nb08-nonet")   # one more, kept running: the kernel is asked
links = [line.split(":")[0].strip() for line in open(f"/proc/{c3.pid}/net/dev").read().splitlines()[2:]]   # its namespace's links
c3.remove(force=True)
print("the links in its network namespace:", links)
lk.exercise("08.no-network").verify(only_lo=links == ["lo"], no_veth_step="network" not in r3.steps)

# exercise: 08.by-hand
lk.tidy("nb08-by-hand")                                    # what a try before this one left: its overlay, its cgroup
layers = lk.layers("busybox")                              # step 1: busybox's layer folders, pulled first if it is not here
ov = lk.overlay(layers, name="nb08-by-hand")               # step 2: a writable layer over them: an overlay named nb08-by-hand
g = lk.cgroup("nb08-by-hand", memory="32M")                # step 2: its cgroup, nb08-by-hand, with a 32 MiB memory limit
p = g.spawn(["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", f"--mount-proc={ov.merged}/proc",
             "chroot", str(ov.merged), "sh", "-c", "echo ran > /ran; echo ready; exec sleep 60"])   # steps 3 (lo only) and 4
ready = p.stdout.readline().strip() == "ready"
root = [l.split() for l in open("/proc/self/mountinfo") if l.split()[4] == str(ov.merged)]   # the kernel's mount table
running = {"overlay": bool(root) and root[-1][root[-1].index("-") + 1] == "overlay",
           "limit": g.stats().memory_limit == 32 << 20, "in_group": "nb08-by-hand" in open(f"/proc/{p.pid}/cgroup").read(),
           "wrote": (ov.upper / "ran").exists()}
g.kill(); p.wait()                                         # step 4: the command ends
ov.unmount(remove=True); g.remove()                        # ... and what the container used goes: the overlay, then the cgroup
gone = not os.path.ismount(ov.merged) and not any(d.exists() for d in g.paths)
print("while it ran:", running, "| after its end, nothing left:", gone)
lk.exercise("08.by-hand").verify(step_1=all(os.path.isdir(d) for d in layers), step_2=ready and running["overlay"] and running["wrote"],
                                 limited=running["limit"] and running["in_group"], step_4=gone)
