# Solutions of notebook 04's exercises: each starts with its "# exercise: ID" line and replaces the
# cell of that ID when the tests run the notebook "with the solutions" (tests/test_notebooks.py). They
# are also the last hint a learner can unfold. Each level's solution is where the next level starts.

# exercise: 04.level-1
ov, g = by_hand()   # made again if the clean-up cell below removed them
g.update(memory="32M", pids_limit=20)
r = g.run(["sh", "-c", "cat /proc/self/cgroup"])
print(r.stdout)
lk.exercise("04.level-1").verify(limited=g.stats().memory_limit == 32 << 20, joined="nb04-by-hand" in r.stdout)

# exercise: 04.level-2
ov, g = by_hand()   # made again if the clean-up cell below removed them
p = g.spawn(["unshare", "--fork", "--pid", "--uts", "--mount", "--ipc", "--net", "sh", "-c", "echo ready; exec sleep 30"])
p.stdout.readline()                      # the command has started (or unshare has failed)
import psutil
inner = psutil.Process(p.pid).children() if p.poll() is None else []   # unshare's child: the command
seen = {}
if inner:                                # the kernel's answers, read from the host: its namespaces, its PID in each
    seen = {k: os.readlink(f"/proc/{inner[0].pid}/ns/{k}") for k in ("pid", "uts", "mnt", "ipc", "net")}
    seen["NSpid"] = open(f"/proc/{inner[0].pid}/status").read().split("NSpid:")[1].split("\n")[0].split()
g.kill(); p.wait()
print(p.stderr.read(), *(f"{k}: {v}" for k, v in seen.items()), sep="\n")
mine = {k: os.readlink(f"/proc/self/ns/{k}") for k in ("pid", "uts", "mnt", "ipc", "net")}
lk.exercise("04.level-2").verify(pid_one=seen.get("NSpid", [""])[-1] == "1",
                                 all_new=bool(seen) and all(seen[k] != mine[k] for k in mine))

# exercise: 04.level-3
ov, g = by_hand()   # made again if the clean-up cell below removed them
r = g.run(["unshare", "--fork", "--pid", "--uts", "--mount", "--ipc", "--net", "--mount-proc=" + str(ov.merged / "proc"),
           "chroot", str(ov.merged), "/bin/sh", "-c", "echo made by hand > /made-by-hand; ls /"])
print(r.stdout, r.stderr)
lk.exercise("04.level-3").verify(in_upper=(ov.upper / "made-by-hand").exists(),
                                 host_untouched=not os.path.exists("/made-by-hand"))

# exercise: 04.level-4
ov, g = by_hand()   # made again if the clean-up cell below removed them
script = f"""
mount --make-rprivate /                  # mounts made here stay here: none propagates to the host
mount --bind {ov.merged} {ov.merged}     # as runc does: pivot_root wants a mount point (a plain folder is none)
cd {ov.merged}
mkdir -p old-root                        # 1. make the folder the old root goes to: old-root, under the new root
pivot_root . old-root                    # 2. swap the roots: the overlay becomes /, the old root goes under old-root
exec /bin/sh -c 'mount -t proc proc /proc && umount -l /old-root && rmdir /old-root && echo ready && exec sleep 60'   # 3. let the old root go (a new /proc first: nested, the kernel mounts one only while the old is in sight)
"""
p = g.spawn(["unshare", "--fork", "--pid", "--uts", "--mount", "--ipc", "--net", "sh", "-c", script])
ready = p.stdout.readline().strip() == "ready"
try:
    seen = open(f"/proc/{p.pid}/mountinfo").read().splitlines()
except OSError:
    seen = []                            # it ended (gone, or a zombie): pivot_root or what follows failed
g.kill(); p.wait()
print(p.stderr.read(), *seen, sep="\n")
lk.exercise("04.level-4").verify(pivoted=ready and any(" / / " in m and " - overlay " in m for m in seen),
                                 old_root_gone=ready and len(seen) <= 3 and not any("old-root" in m for m in seen))
